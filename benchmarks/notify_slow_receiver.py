"""
Does a slow webhook receiver slow pushes down?

txregistry appends every event to an on-disk spool before it answers the
request that caused it, then delivers from the spool, one request at a
time per endpoint.  Delivery must stay out of the request path: a receiver
that takes a second per event must not change how fast clients push.  This
script measures that, comparing registries with different notification
setups (C{--setups}):

 - C{none}: no endpoint, the baseline;
 - C{fast}: one endpoint whose receiver (a real HTTP server on loopback, in
   this process) answers at once; one event per request; the default
   configuration otherwise (C{notifications.fsync: false}: events are
   written before the answer, flushed to the device every second);
 - C{slow}: the same, with a receiver that takes C{--delay} seconds (1 s)
   before answering each request;
 - C{slow-fsync}: the same with C{notifications.fsync: true} (push events
   flushed to the device before the answer).

One txregistry per setup runs for the whole benchmark (twistd, filesystem
storage in a temporary directory, access log off).  The measurement is
made of C{--trials} trials; in each, every setup in turn (in an order that
rotates from trial to trial) gets a batch of C{--images} new images:
C{--clients} threads with a keep-alive connection each push them (a config
and C{--layers} layers of C{--size} incompressible bytes, each blob a
C{POST} and a C{PUT ?digest=}, then the manifest by tag), then pull them
(the manifest by tag, every blob).  Interleaving short trials makes the
setups share whatever else the machine is doing.  After a C{fast} trial the
script waits (untimed) until its receiver has every event, so that its
deliveries do not run during another setup's trial; a slow receiver falls
further behind with every trial, which is the point.

For each setup: push throughput is the bytes of blobs and manifests pushed
over the time spent pushing, in all trials; pull throughput is requests
per second; C{server CPU s} is the CPU time its registry used.  The ratio
to C{none} is given for the totals and, trial by trial, as the median and
quartiles of the per-trial ratios.

The claim holds when the push throughput of C{slow} is at least (1 -
C{--tolerance}) times that of C{none} (5 %), in total.  The verdict is
printed; with C{--check} the exit status is 1 when it does not hold.
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

from benchmarks.common import (  # noqa: E402
    MiB,
    Client,
    cpu_seconds,
    format_size,
    machine,
    parse_size,
    progress,
)

from tests.integration.processes import RegistryProcess, base_config, wait_for  # noqa: E402
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


def make_images(seed: int, count: int, layers: int, size: int) -> list[dict]:
    """
    A batch of images no registry has seen: their layers come from C{seed}.

    @return: per image its name, tag, blobs (config first) and manifest.
    """
    generator = random.Random(seed)
    images = []
    for index in range(count):
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "batch": seed, "n": index}).encode()
        blobs = [config] + [generator.randbytes(size) for _ in range(layers)]
        manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": digest_of(config), "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": digest_of(blob), "size": len(blob)} for blob in blobs[1:]],
        }).encode()
        images.append({"name": f"bench/app{index % 4}", "tag": f"b{seed}-{index}",
                       "blobs": blobs, "manifest": manifest})
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


class Setup:
    """
    One setup's registry, its receiver, and what was measured on it.
    """

    def __init__(self, name: str, delay: float, workdir: str):
        self.name = name
        self.receiver = None
        self.spooled = 0
        self.push_seconds = self.pull_seconds = self.server_cpu = 0.0
        self.pushed_bytes = self.requests = 0
        self.trials = []
        directory = os.path.join(workdir, name)
        os.makedirs(directory)
        config = base_config(os.path.join(directory, "root"))
        config["storage"]["maintenance"] = {"uploadpurging": {"enabled": False}}
        if SETUPS[name] is not None:
            slow, fsync = SETUPS[name]
            self.receiver = WebhookReceiver(delay=delay if slow else 0.0).start()
            config["notifications"] = {
                "spool": os.path.join(directory, "spool"),
                "fsync": fsync,
                # The slow receiver takes --delay per request: let it answer.
                "endpoints": [{"name": "hook", "url": self.receiver.url, "timeout": "30s"}],
            }
        self.server = RegistryProcess(config, directory)

    def start(self, images: list[dict], clients: int) -> None:
        """
        Start the registry and warm it up with a batch of images (not
        measured), so that the first trial does not pay for first uses.
        """
        self.server.start()
        self.trial(images, clients, measured=False)

    def trial(self, images: list[dict], clients: int, measured: bool = True) -> None:
        """
        Push then pull a batch of images; if the receiver is fast, wait for
        it to have every event.
        """
        pid, port = self.server.process.pid, self.server.port
        cpu = cpu_seconds(pid)
        push_seconds, pushed = in_parallel(port, clients, images, push_image)
        pull_seconds, requests = in_parallel(port, clients, images, pull_image)
        if measured:
            self.server_cpu += cpu_seconds(pid) - cpu
            self.push_seconds += push_seconds
            self.pull_seconds += pull_seconds
            self.pushed_bytes += pushed
            self.requests += requests
            self.trials.append({"push_mib_per_s": pushed / MiB / push_seconds,
                                "pull_requests_per_s": requests / pull_seconds})
        if self.receiver is not None:
            self.spooled += sum(len(image["blobs"]) + 1 for image in images) + requests
            if SETUPS[self.name][0] is False:
                wait_for(lambda: len(self.receiver.events()) >= self.spooled, 120,
                         f"the {self.name} receiver to catch up")

    def stop(self) -> None:
        """
        Stop the registry and the receiver.
        """
        self.server.stop()
        if self.receiver is not None:
            self.receiver.stop()

    def row(self) -> dict:
        """
        The totals (the events count the warm-up's too).
        """
        return {
            "setup": self.name,
            "push_seconds": self.push_seconds,
            "push_mib_per_s": self.pushed_bytes / MiB / self.push_seconds,
            "pull_seconds": self.pull_seconds,
            "pull_requests_per_s": self.requests / self.pull_seconds,
            "server_cpu_seconds": self.server_cpu,
            "events": self.spooled,
            "delivered": len(self.receiver.events()) if self.receiver else 0,
            "trials": self.trials,
        }


def ratios(rows: dict, name: str, key: str) -> dict:
    """
    C{key} of setup C{name} relative to C{none}: in total, and the
    quartiles of the ratios trial by trial.
    """
    base = rows["none"]
    mine = rows[name]
    paired = sorted(
        trial[key] / reference[key] for trial, reference in zip(mine["trials"], base["trials"])
    )
    quartiles = statistics.quantiles(paired, n=4) if len(paired) > 1 else paired * 3
    return {"total": mine[key] / base[key], "q1": quartiles[0], "median": quartiles[1],
            "q3": quartiles[2]}


def markdown(header: list[str], lines: list[list[str]]) -> str:
    """
    A Markdown table.
    """
    rows = [header, ["---"] * len(header)] + lines
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def parse_args(argv=None):
    """
    The command line.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20, help="trials (default: 20)")
    parser.add_argument("--images", type=int, default=8,
                        help="images per setup and trial (default: 8)")
    parser.add_argument("--layers", type=int, default=2, help="layers per image (default: 2)")
    parser.add_argument("--size", type=parse_size, default=parse_size("1MiB"),
                        help="bytes per layer, e.g. 1MiB (default: 1MiB)")
    parser.add_argument("--clients", type=int, default=4,
                        help="concurrent clients (default: 4)")
    parser.add_argument("--delay", type=float, default=1.0,
                        help="seconds the slow receiver takes per request (default: 1)")
    parser.add_argument("--setups", default="none,slow",
                        help=f"comma-separated, among {', '.join(SETUPS)}; none is always "
                             "included (default: none,slow)")
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="largest acceptable push slowdown of slow (default: 0.05)")
    parser.add_argument("--check", action="store_true",
                        help="exit with status 1 when the claim does not hold")
    parser.add_argument("--json", metavar="OUT", help="write the raw results to OUT")
    args = parser.parse_args(argv)
    args.setups = ["none"] + [s for s in args.setups.split(",") if s and s != "none"]
    unknown = set(args.setups) - set(SETUPS)
    if unknown:
        parser.error(f"unknown setups: {', '.join(sorted(unknown))}")
    if min(args.trials, args.images, args.layers, args.clients, args.size) <= 0:
        parser.error("--trials, --images, --layers, --size and --clients must be positive")
    return args


def measure(args) -> list[dict]:
    """
    Start a registry per setup, run the trials, stop them.

    @return: the totals of each setup, in the order given.
    """
    workdir = tempfile.mkdtemp(prefix="txregistry-notify-bench-")
    setups = [Setup(name, args.delay, workdir) for name in args.setups]
    try:
        for number, setup in enumerate(setups):
            setup.start(make_images(-1 - number, args.images, args.layers, args.size),
                        args.clients)
        for trial in range(args.trials):
            progress(f"trial {trial + 1} of {args.trials}")
            turn = trial % len(setups)
            for offset, setup in enumerate(setups[turn:] + setups[:turn]):
                seed = trial * len(setups) + offset
                setup.trial(make_images(seed, args.images, args.layers, args.size),
                            args.clients)
        return [setup.row() for setup in setups]
    except BaseException:
        for setup in setups:
            progress(f"{setup.name} server log:\n" + setup.server.log()[-3000:])
        raise
    finally:
        for setup in setups:
            setup.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def main(argv=None) -> int:
    """
    Run the benchmark; print the tables and the verdict.

    @return: the exit status.
    """
    args = parse_args(argv)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [REPO_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    load_before = os.getloadavg()[0]
    rows = measure(args)
    load_after = os.getloadavg()[0]
    by_name = {row["setup"]: row for row in rows}
    for row in rows:
        row["push_ratio"] = ratios(by_name, row["setup"], "push_mib_per_s")
        row["pull_ratio"] = ratios(by_name, row["setup"], "pull_requests_per_s")
    info = machine()
    print(f"{info['cpus']} CPUs ({info['cpu']}), {info['memory'] / 1024**3:.1f} GiB RAM, "
          f"Linux {info['kernel']}, Python {info['python']}, Twisted {info['twisted']}; "
          f"load average {load_before:.2f} before, {load_after:.2f} after")
    print(f"{args.trials} trials of {args.images} images (a config and {args.layers} x "
          f"{format_size(args.size)} layers) per setup, {args.clients} clients, "
          f"receiver delay {args.delay:g} s\n")

    def ratio(r: dict) -> str:
        return f"{r['total']:.3f} ({r['q1']:.2f}-{r['median']:.2f}-{r['q3']:.2f})"

    print(markdown(
        ["setup", "push s", "push MiB/s", "vs none (trials: q1-median-q3)", "pull s",
         "pull req/s", "vs none (trials: q1-median-q3)", "server CPU s", "events spooled",
         "delivered by the end"],
        [[row["setup"], f"{row['push_seconds']:.2f}", f"{row['push_mib_per_s']:.1f}",
          ratio(row["push_ratio"]), f"{row['pull_seconds']:.2f}",
          f"{row['pull_requests_per_s']:.0f}", ratio(row["pull_ratio"]),
          f"{row['server_cpu_seconds']:.2f}", str(row["events"]), str(row["delivered"])]
         for row in rows],
    ))
    holds = "slow" not in by_name or (
        by_name["slow"]["push_ratio"]["total"] >= 1 - args.tolerance
    )
    if "slow" in by_name:
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
                "holds": holds,
            }, out, indent=2)
    return 1 if args.check and not holds else 0


if __name__ == "__main__":
    sys.exit(main())
