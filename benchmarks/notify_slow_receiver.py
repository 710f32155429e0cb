"""
Does a slow webhook receiver slow pushes down?

txregistry appends every event to an on-disk spool before it answers the
request that caused it, then delivers from the spool, one request at a
time per endpoint.  Delivery must stay out of the request path: a receiver
that takes a second per event must not change how fast clients push.  This
script measures that.  It pushes, then pulls, the same images through fresh
registries with different notification setups (C{--setups}):

 - C{none}: no endpoint, the baseline;
 - C{fast}: one endpoint whose receiver (a real HTTP server on loopback, in
   this process) answers at once; one event per request; the default
   configuration otherwise (C{notifications.fsync: false}: events are
   written before the answer, flushed to the device every second);
 - C{slow}: the same, with a receiver that takes C{--delay} seconds (1 s)
   before answering each request;
 - C{slow-fsync}: the same with C{notifications.fsync: true} (push events
   flushed to the device before the answer).

Each round runs every setup once, on a fresh txregistry (twistd,
filesystem storage in a temporary directory, access log off), rounds
interleaved so that changes in the machine's load hit all setups alike.  In
a run, C{--clients} threads with a keep-alive connection each push
C{--images} images between them (a config and C{--layers} layers of
C{--size} incompressible bytes, each blob a C{POST} and a C{PUT ?digest=},
then the manifest by tag), then pull them all (the manifest by tag, every
blob).  Push throughput is the bytes of blobs and manifests pushed over the
wall time of the push phase; pull throughput is requests per second.
C{server CPU s} is the CPU time the registry used in both phases.

Every request that succeeds emits one event (push or pull); with a slow
receiver nearly all of them are still queued when a run ends: the table
says how many were spooled and how many the receiver had got by then.

The claim holds when the median push throughput of C{slow} over the rounds
is at least (1 - C{--tolerance}) times that of C{none} (5 %).  The verdict
is printed; with C{--check} the exit status is 1 when it does not hold.
"""

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from push_memory import (  # noqa: E402
    MiB,
    Client,
    cpu_seconds,
    format_size,
    machine,
    parse_size,
    progress,
)

from tests.integration.processes import RegistryProcess, base_config  # noqa: E402
from tests.integration.receiver import WebhookReceiver  # noqa: E402

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
#: Per setup: whether the receiver is slow and C{notifications.fsync}, or
#: C{None} for no endpoint.
SETUPS = {"none": None, "fast": (False, False), "slow": (True, False),
          "slow-fsync": (True, True)}


def digest_of(data: bytes) -> str:
    """
    C{sha256:<hex>} of C{data}.
    """
    return "sha256:" + hashlib.sha256(data).hexdigest()


def make_images(count: int, layers: int, size: int) -> list[dict]:
    """
    The images pushed in every run: the same bytes each time.

    @return: per image its name, tag, blobs (config first) and manifest.
    """
    generator = random.Random(20261127)
    images = []
    for index in range(count):
        config = json.dumps({"architecture": "amd64", "os": "linux", "n": index}).encode()
        blobs = [config] + [generator.randbytes(size) for _ in range(layers)]
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": digest_of(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": digest_of(blob), "size": len(blob)} for blob in blobs[1:]],
        }).encode()
        images.append({"name": f"bench/app{index % 4}", "tag": f"v{index}", "blobs": blobs,
                       "manifest": manifest})
    return images


def push_image(client: Client, image: dict) -> int:
    """
    Push an image's blobs (monolithic) and its manifest by tag.

    @return: the bytes pushed.
    """
    name = image["name"]
    for blob in image["blobs"]:
        response = client.request("POST", f"/v2/{name}/blobs/uploads/", expect=202)
        location = urlsplit(response.getheader("Location"))
        query = f"{location.query}&" if location.query else ""
        client.request("PUT", f"{location.path}?{query}digest={digest_of(blob)}",
                       body=io.BytesIO(blob), expect=201,
                       headers={"Content-Type": "application/octet-stream",
                                "Content-Length": str(len(blob))})
    client.request("PUT", f"/v2/{name}/manifests/{image['tag']}",
                   body=io.BytesIO(image["manifest"]), expect=201,
                   headers={"Content-Type": OCI_MANIFEST,
                            "Content-Length": str(len(image["manifest"]))})
    return sum(map(len, image["blobs"])) + len(image["manifest"])


def pull_image(client: Client, image: dict) -> int:
    """
    Pull an image: its manifest by tag, then every blob.

    @return: the number of requests made.
    """
    name = image["name"]
    client.request("GET", f"/v2/{name}/manifests/{image['tag']}",
                   headers={"Accept": OCI_MANIFEST})
    for blob in image["blobs"]:
        client.request("GET", f"/v2/{name}/blobs/{digest_of(blob)}")
    return 1 + len(image["blobs"])


def in_parallel(port: int, clients: int, images: list[dict], work) -> tuple[float, int]:
    """
    Run C{work(client, image)} for every image, spread over C{clients}
    threads with a connection each.

    @return: the wall time and the sum of what C{work} returned.
    """
    totals = [0] * clients
    errors = []

    def worker(index: int) -> None:
        client = Client("127.0.0.1", port)
        try:
            for image in images[index::clients]:
                totals[index] += work(client, image)
        except BaseException as error:  # reported below, in the main thread
            errors.append(error)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started, sum(totals)


def registry_config(root: str, setup: str, receiver: WebhookReceiver | None,
                    spool: str) -> dict:
    """
    The configuration of a run's registry.
    """
    config = base_config(root)
    config["storage"]["maintenance"] = {"uploadpurging": {"enabled": False}}
    if receiver is not None:
        config["notifications"] = {
            "spool": spool,
            "fsync": SETUPS[setup][1],
            # The receiver takes --delay per request: give it time to answer.
            "endpoints": [{"name": "slow", "url": receiver.url, "timeout": "30s"}],
        }
    return config


def run_once(args, setup: str, images: list[dict], workdir: str) -> dict:
    """
    One run: a fresh registry with C{setup}, the pushes, the pulls.

    @return: the row.
    """
    receiver = None
    if SETUPS[setup] is not None:
        slow, _ = SETUPS[setup]
        receiver = WebhookReceiver(delay=args.delay if slow else 0.0).start()
    run_dir = tempfile.mkdtemp(prefix=f"{setup}-", dir=workdir)
    server = RegistryProcess(
        registry_config(os.path.join(run_dir, "root"), setup, receiver,
                        os.path.join(run_dir, "spool")),
        run_dir,
    )
    try:
        server.start()
        warm_up = Client("127.0.0.1", server.port)
        warm_up.request("GET", "/v2/")
        warm_up.close()
        cpu_before = cpu_seconds(server.process.pid)
        push_seconds, pushed = in_parallel(server.port, args.clients, images, push_image)
        pull_seconds, requests = in_parallel(server.port, args.clients, images, pull_image)
        server_cpu = cpu_seconds(server.process.pid) - cpu_before
        delivered = len(receiver.events()) if receiver else 0
    except BaseException:
        progress("server log:\n" + server.log()[-4000:])
        raise
    finally:
        server.stop()
        if receiver is not None:
            receiver.stop()
        shutil.rmtree(run_dir, ignore_errors=True)
    pushes = sum(len(image["blobs"]) + 1 for image in images)
    return {
        "setup": setup,
        "push_seconds": push_seconds,
        "push_mib_per_s": pushed / MiB / push_seconds,
        "pull_seconds": pull_seconds,
        "pull_requests_per_s": requests / pull_seconds,
        "server_cpu_seconds": server_cpu,
        "events": pushes + requests if receiver else 0,
        "delivered": delivered,
    }


COLUMNS = (
    ("setup", "setup", "{}"),
    ("round", "round", "{}"),
    ("push s", "push_seconds", "{:.2f}"),
    ("push MiB/s", "push_mib_per_s", "{:.1f}"),
    ("pull s", "pull_seconds", "{:.2f}"),
    ("pull req/s", "pull_requests_per_s", "{:.0f}"),
    ("server CPU s", "server_cpu_seconds", "{:.2f}"),
    ("events spooled", "events", "{}"),
    ("delivered by the end", "delivered", "{}"),
)


def markdown(header: list[str], lines: list[list[str]]) -> str:
    """
    A Markdown table.
    """
    rows = [header, ["---"] * len(header)] + lines
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def summarize(rows: list[dict], setups: list[str], tolerance: float) -> tuple[list, bool]:
    """
    The median figures per setup, relative to C{none}, and whether the
    claim holds (C{slow} pushes within C{tolerance} of C{none}).
    """
    medians = {}
    for setup in setups:
        mine = [row for row in rows if row["setup"] == setup]
        medians[setup] = {
            "push_mib_per_s": statistics.median(r["push_mib_per_s"] for r in mine),
            "pull_requests_per_s": statistics.median(r["pull_requests_per_s"] for r in mine),
        }
    base = medians.get("none")
    summary = []
    for setup in setups:
        entry = dict(medians[setup], setup=setup)
        if base is not None:
            entry["push_ratio"] = entry["push_mib_per_s"] / base["push_mib_per_s"]
            entry["pull_ratio"] = entry["pull_requests_per_s"] / base["pull_requests_per_s"]
        summary.append(entry)
    holds = all(
        entry.get("push_ratio", 1.0) >= 1 - tolerance
        for entry in summary if entry["setup"] == "slow"
    )
    return summary, holds


def parse_args(argv=None):
    """
    The command line.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=24, help="images per run (default: 24)")
    parser.add_argument("--layers", type=int, default=2, help="layers per image (default: 2)")
    parser.add_argument("--size", type=parse_size, default=parse_size("1MiB"),
                        help="bytes per layer, e.g. 1MiB (default: 1MiB)")
    parser.add_argument("--clients", type=int, default=4,
                        help="concurrent clients (default: 4)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default: 3)")
    parser.add_argument("--delay", type=float, default=1.0,
                        help="seconds the slow receiver takes per request (default: 1)")
    parser.add_argument("--setups", default="none,fast,slow",
                        help=f"comma-separated, among {', '.join(SETUPS)} "
                             "(default: none,fast,slow)")
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="largest acceptable push slowdown of slow (default: 0.05)")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when the claim does not hold")
    parser.add_argument("--json", metavar="OUT", help="write the raw results to OUT")
    args = parser.parse_args(argv)
    args.setups = [s for s in args.setups.split(",") if s]
    unknown = set(args.setups) - set(SETUPS)
    if unknown or not args.setups:
        parser.error(f"unknown setups: {', '.join(sorted(unknown)) or '(none given)'}")
    if min(args.images, args.layers, args.clients, args.rounds, args.size) <= 0:
        parser.error("--images, --layers, --size, --clients and --rounds must be positive")
    return args


def main(argv=None) -> int:
    """
    Run the benchmark; print the tables and the verdict.

    @return: the exit status.
    """
    args = parse_args(argv)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [REPO_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    images = make_images(args.images, args.layers, args.size)
    workdir = tempfile.mkdtemp(prefix="txregistry-notify-bench-")
    load_before = os.getloadavg()[0]
    rows = []
    try:
        for round_number in range(1, args.rounds + 1):
            for setup in args.setups:
                progress(f"round {round_number}: {setup}")
                row = run_once(args, setup, images, workdir)
                row["round"] = round_number
                rows.append(row)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    load_after = os.getloadavg()[0]
    summary, holds = summarize(rows, args.setups, args.tolerance)
    info = machine()
    print(f"{info['cpus']} CPUs ({info['cpu']}), {info['memory'] / 1024**3:.1f} GiB RAM, "
          f"Linux {info['kernel']}, Python {info['python']}, Twisted {info['twisted']}; "
          f"load average {load_before:.2f} before, {load_after:.2f} after")
    print(f"{args.images} images of a config and {args.layers} x {format_size(args.size)} "
          f"layers, {args.clients} clients, receiver delay {args.delay:g} s\n")
    print(markdown([name for name, _, _ in COLUMNS],
                   [[fmt.format(row[key]) for _, key, fmt in COLUMNS] for row in rows]))
    print()
    print(markdown(
        ["setup", "median push MiB/s", "vs none", "median pull req/s", "vs none"],
        [[entry["setup"], f"{entry['push_mib_per_s']:.1f}",
          f"{entry['push_ratio']:.3f}" if "push_ratio" in entry else "-",
          f"{entry['pull_requests_per_s']:.0f}",
          f"{entry['pull_ratio']:.3f}" if "pull_ratio" in entry else "-"]
         for entry in summary],
    ))
    if "slow" in args.setups and "none" in args.setups:
        print(f"\nslow receiver within {args.tolerance:.0%} of no endpoint: "
              f"{'yes' if holds else 'no'}")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "arguments": sys.argv[1:] if argv is None else list(argv),
                "machine": info,
                "load_average": {"before": load_before, "after": load_after},
                "rows": rows,
                "summary": summary,
                "holds": holds,
            }, out, indent=2)
    return 1 if args.check and not holds else 0


if __name__ == "__main__":
    sys.exit(main())
