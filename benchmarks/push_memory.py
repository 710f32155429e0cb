"""
How much memory does txregistry use while it takes a large blob?

The registry streams request bodies into storage as they arrive (pausing the
client when storage falls behind) and streams stored blobs out through a
producer, so its memory use should not depend on the size of a blob.  This
script checks that: it starts a fresh txregistry (twistd, filesystem
storage in a temporary directory, access log off), pushes one blob of
C{--size} bytes per upload style, and watches the server's resident set
size (RSS) meanwhile.

Upload styles (C{--mode}):

 - C{monolithic}: C{POST} opens a session, one C{PUT ?digest=} carries the
   whole blob with a C{Content-Length};
 - C{chunked}: C{POST}, then one C{PATCH} per C{--chunk} bytes with
   C{Content-Range} and C{Content-Length}, then an empty C{PUT ?digest=};
 - C{streamed}: C{POST}, then a single C{PATCH} without C{Content-Range},
   its body in chunked transfer encoding (as podman sends it), then an
   empty C{PUT ?digest=}.

The blob bytes are an AES-CTR keystream from a fixed key per mode: not
compressible, generated on demand in fixed-size pieces, never held whole by
the client.  Each blob is checked afterwards with C{HEAD}
(C{Docker-Content-Digest}, C{Content-Length}); with C{--verify-pull} it is
also downloaded, hashed again, and the download is measured like a push.

Memory is read from C{/proc/<pid>/status}: a baseline C{VmRSS} after a
warm-up (a small blob pushed in every style and pulled), then C{VmRSS} every
20 ms while a transfer runs, and C{VmHWM} (the kernel's own peak, reset
before each transfer through C{/proc/<pid>/clear_refs}) when it ends.

Reading the table: C{peak growth} is the larger of the sampled peak and
C{VmHWM}, minus the baseline.  It is what one transfer of C{--size} bytes
cost the server in memory, and it is measured against the same baseline for
every row, so memory kept after one transfer shows up in the next ones.  A
row passes when its growth is below C{--bound} (64 MiB); the script exits
with status 1 if any row fails.

C{seconds} and C{MiB/s} are wall-clock time for the whole exchange, from the
C{POST} to the last response (for a push that includes the server's
C{fsync} of the blob when the upload completes); the client generates and
hashes its data meanwhile on the same machine.  C{server CPU s} is the CPU
time (user and system, all threads) the server used meanwhile.

The script needs the project's own environment: Twisted and PyYAML for the
server, and C{cryptography} (which Twisted's TLS support brings) for the
data.
"""

import argparse
import functools
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    GiB,
    KiB,
    MiB,
    Client,
    describe_machine,
    format_mib,
    format_size,
    machine,
    measure,
    memory_status,
    parse_size,
    prepare,
    progress,
    pull,
    push,
    remove_workdir,
    set_child_pythonpath,
    verify_head,
)
from tests.integration.processes import RegistryProcess, base_config  # noqa: E402

#: The size of each blob pushed (and pulled) during the warm-up.
WARMUP_SIZE = 256 * KiB
MODES = ("monolithic", "chunked", "streamed")

def warm_up(client: Client) -> None:
    """
    Exercise every code path once with small blobs, so that imports, thread
    pools and caches are in the baseline rather than in the first row.
    """
    client.request("GET", "/v2/")
    for index, mode in enumerate(MODES):
        seed = 1000 + index
        name = f"warmup/{mode}"
        digest = push(client, mode, name, seed, WARMUP_SIZE, WARMUP_SIZE // 4,
                      prepare(mode, seed, WARMUP_SIZE))
        verify_head(client, name, digest, WARMUP_SIZE)
        pull(client, name, digest, WARMUP_SIZE)


COLUMNS = (
    ("mode", lambda r: r["mode"]),
    ("op", lambda r: r["operation"]),
    ("size", lambda r: format_size(r["size"])),
    ("seconds", lambda r: f"{r['seconds']:.2f}"),
    ("MiB/s", lambda r: f"{r['mib_per_s']:.0f}"),
    ("server CPU s", lambda r: f"{r['server_cpu_seconds']:.2f}"),
    ("baseline RSS MiB", lambda r: format_mib(r["baseline_rss"])),
    ("peak RSS (sampled) MiB", lambda r: format_mib(r["peak_rss_sampled"])),
    ("VmHWM MiB", lambda r: format_mib(r["vm_hwm"])),
    ("peak growth MiB", lambda r: format_mib(r["peak_growth"])),
    ("result", lambda r: "PASS" if r["passed"] else "FAIL"),
)


def table(rows: list) -> str:
    """
    The rows as a Markdown table.
    """
    lines = ["| " + " | ".join(name for name, _ in COLUMNS) + " |",
             "|" + "|".join(" --- " for _ in COLUMNS) + "|"]
    for row in rows:
        lines.append("| " + " | ".join(cell(row) for _, cell in COLUMNS) + " |")
    return "\n".join(lines)


def run(args, server: RegistryProcess) -> list:
    """
    Warm the running server up, take the baseline, then push (and pull)
    one blob per mode.

    @return: the table's rows.
    """
    pid = server.process.pid
    client = Client("127.0.0.1", server.port)
    try:
        warm_up(client)
        time.sleep(0.5)
        baseline = memory_status(pid)["VmRSS"]
        progress(f"baseline RSS after warm-up: {format_mib(baseline)} MiB")
        modes = MODES if args.mode == "all" else (args.mode,)
        rows = []
        for index, mode in enumerate(modes):
            seed = index + 1
            name = f"bench/{mode}"
            digest = prepare(mode, seed, args.size)
            progress(f"{mode}: pushing {format_size(args.size)}")
            row = measure(pid, baseline, args.bound,
                          {"mode": mode, "operation": "push", "size": args.size},
                          functools.partial(push, client, mode, name, seed, args.size,
                                            args.chunk, digest))
            rows.append(row)
            verify_head(client, name, row["digest"], args.size)
            if args.verify_pull:
                progress(f"{mode}: pulling it back")
                rows.append(measure(pid, baseline, args.bound,
                                    {"mode": mode, "operation": "pull", "size": args.size},
                                    functools.partial(pull, client, name, row["digest"],
                                                      args.size)))
        return rows
    finally:
        client.close()


def parse_args(argv=None):
    """
    The command line.
    """
    parser = argparse.ArgumentParser(
        description="Peak RSS of a fresh txregistry while it takes (and serves) a large blob.")
    parser.add_argument("--size", type=parse_size, default=GiB,
                        help="bytes per blob, e.g. 1GiB, 16MiB (default: 1GiB)")
    parser.add_argument("--mode", choices=MODES + ("all",), default="all",
                        help="upload style (default: all)")
    parser.add_argument("--chunk", type=parse_size, default=8 * MiB,
                        help="PATCH size in chunked mode (default: 8MiB)")
    parser.add_argument("--bound", type=parse_size, default=64 * MiB,
                        help="largest acceptable peak growth (default: 64MiB)")
    parser.add_argument("--verify-pull", action="store_true",
                        help="also GET each blob, re-hash it and measure the download")
    parser.add_argument("--json", metavar="OUT", help="write the raw results to OUT")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (storage root, config, log)")
    args = parser.parse_args(argv)
    if args.size <= 0 or args.chunk <= 0:
        parser.error("--size and --chunk must be positive")
    return args


def main(argv=None) -> int:
    """
    Run the benchmark; print the table.

    @return: the exit status: 0 if every row passed, 1 otherwise.
    """
    args = parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="txregistry-bench-")
    set_child_pythonpath()
    server = RegistryProcess(base_config(os.path.join(workdir, "root")), workdir)
    # Other work on the machine changes the timings (not the memory figures).
    load_before = os.getloadavg()[0]
    try:
        server.start()
        try:
            rows = run(args, server)
        except BaseException:
            progress("server log:\n" + server.log()[-4000:])
            raise
    finally:
        server.stop()
        remove_workdir(workdir, args.keep)
    load_after = os.getloadavg()[0]
    info = machine()
    print(f"{describe_machine(info)}; "
          f"load average {load_before:.2f} before, {load_after:.2f} after; "
          f"bound {format_mib(args.bound)} MiB")
    print(table(rows))
    if args.json:
        with open(args.json, "w") as out:
            json.dump({
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "arguments": sys.argv[1:] if argv is None else list(argv),
                "size": args.size,
                "chunk": args.chunk,
                "bound": args.bound,
                "machine": info,
                "load_average": {"before": load_before, "after": load_after},
                "rows": rows,
            }, out, indent=2)
    return 0 if all(row["passed"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
