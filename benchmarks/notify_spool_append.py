"""
What does writing an event to the notification spool cost a request?

Every API request that emits an event waits until the event is written to
the spool (in the spool's thread) before it is answered.  This script
measures, in one process with a real reactor, thread and files:

 - C{emit, no endpoint}: the CPU time the API spends on events when no
   endpoint is configured;
 - C{emit}: the reactor thread's CPU time to build one event from a request
   and hand it to the spool (L{EventEmitter} and the L{Notifier}, with the
   spool's thread replaced by a direct call and its files not flushed, so
   that mostly this part is timed);
 - C{append, one at a time}: the wall time of one append, from the call to
   its L{Deferred} firing, the next one started only then: the latency a
   lone request sees (a round trip to the spool's thread);
 - C{append, N at once}: N appends started together, divided by N: what
   each costs when requests come together and share a write (group
   commit);

the appends with C{notifications.fsync} off (the default: nothing waits
for the device) and on (an C{fdatasync} before each batch of appends
completes).
The table gives medians over C{--repeat} repetitions.
"""

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from twisted.internet import reactor  # noqa: E402
from twisted.internet.address import IPv4Address  # noqa: E402
from twisted.internet.defer import ensureDeferred, gatherResults, maybeDeferred  # noqa: E402
from twisted.internet.threads import deferToThreadPool  # noqa: E402
from twisted.python.threadpool import ThreadPool  # noqa: E402
from twisted.web.test.requesthelper import DummyRequest  # noqa: E402

from txregistry.notifications.emitter import NO_EVENTS, EventEmitter  # noqa: E402
from txregistry.notifications.endpoint import Backoff, Endpoint, Ignore  # noqa: E402
from txregistry.notifications.events import SourceRecord  # noqa: E402
from txregistry.notifications.service import Notifier  # noqa: E402
from txregistry.notifications.spool import (  # noqa: E402
    Disk,
    EndpointSpool,
    EndpointStats,
    Limits,
    SpoolThread,
)

DIGEST = "sha256:" + "ab" * 32
LIMITS = Limits(max_events=10**9, max_bytes=1 << 40, max_age=1e9)


def request() -> DummyRequest:
    """
    A request as a blob upload's final PUT looks to the emitter.
    """
    made = DummyRequest([b""])
    made.client = IPv4Address("TCP", "127.0.0.1", 40000)
    made.request_id = "0d8ac1a0-1111-4222-8333-444455556666"
    made.actor = None
    made.method = b"PUT"
    made.isSecure = lambda: False
    made.requestHeaders.setRawHeaders(b"host", [b"registry.example:5000"])
    made.requestHeaders.setRawHeaders(b"user-agent", [b"skopeo/1.9.3"])
    return made


def spool(directory: str, sync: bool, defer_to_thread) -> EndpointSpool:
    """
    An endpoint's spool in C{directory}, read back.
    """
    disk = Disk(sync)
    made = EndpointSpool("bench", directory, SpoolThread(disk, defer_to_thread), disk,
                         LIMITS, EndpointStats(), reactor)
    return made


def inline(function, *args):
    """
    Run the spool's file operations at once, in this thread.
    """
    return maybeDeferred(function, *args)


async def measure(args, workdir: str) -> list[dict]:
    """
    Run every measurement.

    @return: one row per measurement and C{fsync} setting.
    """
    pool = ThreadPool(minthreads=0, maxthreads=1, name="bench-spool")
    pool.start()

    def in_pool(function, *arguments):
        return deferToThreadPool(reactor, pool, function, *arguments)

    local = spool(tempfile.mkdtemp(dir=workdir), False, inline)
    await local.recover()
    endpoint = Endpoint("bench", "v1", Ignore(), local, None, reactor, Backoff(10, 1.0, 60.0))
    emitter = EventEmitter(Notifier([endpoint]), SourceRecord("registry:5000", "i"))
    made = request()
    rows = []
    for what, emitting in (("emit, no endpoint (CPU)", NO_EVENTS), ("emit (CPU)", emitter)):
        emits = []
        for _ in range(args.repeat):
            started = time.process_time()
            for _ in range(args.count):
                await emitting.blob_pushed(made, "team/app", DIGEST, 1234)
            emits.append((time.process_time() - started) / args.count)
        rows.append({"what": what, "fsync": "-", "microseconds": statistics.median(emits) * 1e6})
    try:
        for sync in (False, True):
            threaded = spool(tempfile.mkdtemp(dir=workdir), sync, in_pool)
            await threaded.recover()
            data = b'{"id":"' + b"x" * 900 + b'"}'
            singles, groups = [], []
            for _ in range(args.repeat):
                started = time.perf_counter()
                for _ in range(args.count):
                    await threaded.append(data, sync=True)
                singles.append((time.perf_counter() - started) / args.count)
                started = time.perf_counter()
                await gatherResults([threaded.append(data, sync=True)
                                     for _ in range(args.together)])
                groups.append((time.perf_counter() - started) / args.together)
            fsync = "on" if sync else "off"
            rows.append({"what": "append, one at a time", "fsync": fsync,
                         "microseconds": statistics.median(singles) * 1e6})
            rows.append({"what": f"append, {args.together} at once, each", "fsync": fsync,
                         "microseconds": statistics.median(groups) * 1e6})
    finally:
        pool.stop()
    return rows


def parse_args(argv=None):
    """
    The command line.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300,
                        help="events per timed sequence (default: 300)")
    parser.add_argument("--together", type=int, default=500,
                        help="appends started at once (default: 500)")
    parser.add_argument("--repeat", type=int, default=5, help="repetitions (default: 5)")
    parser.add_argument("--json", metavar="OUT", help="write the raw results to OUT")
    args = parser.parse_args(argv)
    if min(args.count, args.together, args.repeat) <= 0:
        parser.error("--count, --together and --repeat must be positive")
    return args


def main(argv=None) -> int:
    """
    Run the measurements on the reactor; print the table.
    """
    args = parse_args(argv)
    workdir = tempfile.mkdtemp(prefix="txregistry-spool-bench-")
    outcome = {}

    def run():
        done = ensureDeferred(measure(args, workdir))
        done.addCallbacks(lambda rows: outcome.update(rows=rows),
                          lambda failure: outcome.update(failure=failure))
        done.addBoth(lambda _: reactor.stop())

    load_before = os.getloadavg()[0]
    reactor.callWhenRunning(run)
    reactor.run()
    shutil.rmtree(workdir, ignore_errors=True)
    if "failure" in outcome:
        outcome["failure"].printTraceback()
        return 1
    print(f"load average {load_before:.2f} before, {os.getloadavg()[0]:.2f} after")
    print("| measurement | fsync | microseconds |")
    print("| --- | --- | --- |")
    for row in outcome["rows"]:
        print(f"| {row['what']} | {row['fsync']} | {row['microseconds']:.1f} |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"arguments": sys.argv[1:] if argv is None else list(argv),
                       "rows": outcome["rows"]}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
