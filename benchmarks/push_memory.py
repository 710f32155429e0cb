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
import hashlib
import http.client
import importlib.metadata
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.parse
from typing import Self

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from tests.integration.processes import RegistryProcess, base_config  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

#: The client's read and write unit (and its generator's buffer size).
BLOCK = 1 * MiB
#: How often the sampler reads the server's RSS, in seconds.
SAMPLE_INTERVAL = 0.02
#: The size of each blob pushed (and pulled) during the warm-up.
WARMUP_SIZE = 256 * KiB
MODES = ("monolithic", "chunked", "streamed")

_SIZE_RE = re.compile(r"\s*(\d+)\s*([KMG]i?B?|B)?\s*\Z", re.IGNORECASE)
_UNITS = {"": 1, "B": 1, "K": KiB, "M": MiB, "G": GiB}


def parse_size(text: str) -> int:
    """
    A size given as C{1GiB}, C{16MiB}, C{512KiB}, C{8M} or a byte count;
    units are powers of 1024 whether or not the C{i} is written.

    @raise argparse.ArgumentTypeError: if C{text} is not a size.
    """
    match = _SIZE_RE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    unit = (match.group(2) or "")[:1].upper()
    return int(match.group(1)) * _UNITS[unit]


def format_mib(size: int) -> str:
    """
    C{size} bytes in MiB, with one decimal.
    """
    return f"{size / MiB:.1f}"


def format_size(size: int) -> str:
    """
    C{size} bytes in the largest binary unit that divides it, else in bytes.
    """
    for unit, name in ((GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} B"


class BlobSource:
    """
    C{size} pseudo-random bytes, the same for the same C{seed}, read in
    pieces: an AES-128-CTR keystream written into one reused buffer.

    @ivar sha256: the hash of every byte read so far.
    """

    def __init__(self, seed: int, size: int):
        key = hashlib.sha256(b"txregistry benchmark %d" % (seed,)).digest()[:16]
        self._encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
        self._zeros = memoryview(bytes(BLOCK))
        # update_into wants room for one more cipher block than it writes.
        self._buffer = bytearray(BLOCK + 15)
        self._view = memoryview(self._buffer)
        self._remaining = size
        self.sha256 = hashlib.sha256()

    def read(self, size: int = -1) -> memoryview:
        """
        The next piece, at most C{min(size, BLOCK)} bytes; empty at the end.
        The piece is only valid until the next call.
        """
        if size < 0:
            size = BLOCK
        count = min(size, BLOCK, self._remaining)
        if count <= 0:
            return self._view[:0]
        self._encryptor.update_into(self._zeros[:count], self._buffer)
        piece = self._view[:count]
        self.sha256.update(piece)
        self._remaining -= count
        return piece

    def pieces(self):
        """
        Yield every remaining piece (for a chunked transfer encoding body).
        """
        while True:
            piece = self.read()
            if not piece:
                return
            yield piece

    def digest(self) -> str:
        """
        C{sha256:<hex>} of the bytes read so far.
        """
        return "sha256:" + self.sha256.hexdigest()


class Slice:
    """
    The next C{length} bytes of a L{BlobSource}, as a file-like body.
    """

    def __init__(self, source: BlobSource, length: int):
        self._source = source
        self._remaining = length

    def read(self, size: int = -1) -> memoryview:
        """
        The next piece of this slice; empty at its end.
        """
        if size < 0:
            size = self._remaining
        piece = self._source.read(min(size, self._remaining))
        self._remaining -= len(piece)
        return piece


def blob_digest(seed: int, size: int) -> str:
    """
    The digest of the blob made from C{seed}, by generating it once.
    """
    source = BlobSource(seed, size)
    while source.read():
        pass
    return source.digest()


def memory_status(pid: int) -> dict:
    """
    C{VmRSS} and C{VmHWM} of process C{pid}, in bytes.
    """
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                values[key] = int(rest.split()[0]) * KiB
    return values


def cpu_seconds(pid: int) -> float:
    """
    The CPU time (user and system, all threads) process C{pid} has used.
    """
    with open(f"/proc/{pid}/stat") as stat:
        # The command name, in parentheses, may hold spaces: split after it.
        fields = stat.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int) -> bool:
    """
    Reset the kernel's C{VmHWM} of process C{pid} to its current RSS.

    @return: whether that worked.
    """
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


class RSSSampler:
    """
    A context manager that polls a process's C{VmRSS} in a thread while its
    block runs, and reads C{VmHWM} at the end.

    @ivar peak: the highest C{VmRSS} sampled.
    @ivar hwm: C{VmHWM} at the end; since the start of the block if
        C{hwm_reset}, else since the process started.
    @ivar samples: how many samples were taken.
    """

    def __init__(self, pid: int, interval: float = SAMPLE_INTERVAL):
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.peak = 0
        self.hwm = 0
        self.hwm_reset = False
        self.samples = 0

    def _sample(self) -> None:
        self.peak = max(self.peak, memory_status(self._pid)["VmRSS"])
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> Self:
        self.hwm_reset = reset_peak(self._pid)
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.hwm = memory_status(self._pid)["VmHWM"]


class Client:
    """
    The registry API over one keep-alive HTTP/1.1 connection.
    """

    def __init__(self, host: str, port: int):
        self._connection = http.client.HTTPConnection(host, port, timeout=600, blocksize=BLOCK)

    def close(self) -> None:
        """
        Close the connection.
        """
        self._connection.close()

    def request(self, method: str, target: str, body=None, headers=None,
                expect: int = 200) -> http.client.HTTPResponse:
        """
        Send a request and read the response, whose body must be small.

        @param body: C{None}, a file-like object (give C{Content-Length} in
            C{headers}), or an iterable of pieces (sent in chunked transfer
            encoding).
        @raise RuntimeError: if the status is not C{expect}.
        """
        response = self.open(method, target, body, headers)
        content = response.read()
        if response.status != expect:
            raise RuntimeError(
                f"{method} {target}: {response.status} {response.reason}, expected {expect}: "
                f"{content[:500]!r}"
            )
        return response

    def open(self, method: str, target: str, body=None, headers=None) -> http.client.HTTPResponse:
        """
        Send a request; return the response with its body unread.
        """
        headers = headers or {}
        if body is None or hasattr(body, "read"):
            # http.client sends Content-Length: 0 itself for an empty POST,
            # PUT or PATCH.
            self._connection.request(method, target, body=body, headers=headers)
        else:
            self._send_chunked(method, target, body, headers)
        return self._connection.getresponse()

    def _send_chunked(self, method: str, target: str, pieces, headers: dict) -> None:
        """
        Send a request whose body is C{pieces} in chunked transfer encoding,
        one chunk per piece.  http.client would copy each piece to frame it;
        here the frame and the piece go out separately.
        """
        connection = self._connection
        connection.putrequest(method, target)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Transfer-Encoding", "chunked")
        connection.endheaders()
        for piece in pieces:
            connection.send(b"%X\r\n" % (len(piece),))
            connection.send(piece)
            connection.send(b"\r\n")
        connection.send(b"0\r\n\r\n")


def _target(location: str) -> str:
    """
    The request target of a C{Location} header (absolute or not).
    """
    parts = urllib.parse.urlsplit(location)
    return parts.path + ("?" + parts.query if parts.query else "")


def _with_digest(target: str, digest: str) -> str:
    """
    C{target} with the query argument C{digest=}.
    """
    separator = "&" if "?" in target else "?"
    return f"{target}{separator}digest={urllib.parse.quote(digest)}"


def _octets(length: int) -> dict:
    """
    The headers of a binary body of C{length} bytes.
    """
    return {"Content-Type": "application/octet-stream", "Content-Length": str(length)}


def _start(client: Client, name: str) -> str:
    """
    C{POST}: open an upload session.

    @return: the session's request target.
    """
    response = client.request("POST", f"/v2/{name}/blobs/uploads/", expect=202)
    return _target(response.getheader("Location"))


def push_monolithic(client: Client, name: str, source: BlobSource, size: int,
                    chunk: int, digest: str) -> str:
    """
    C{POST}, then one C{PUT ?digest=} with the whole blob as a
    C{Content-Length} body.  The digest must be known before the body is
    sent: the caller computes it beforehand with L{blob_digest}.  (C{chunk}
    is not needed.)

    @return: the digest.
    """
    location = _start(client, name)
    client.request("PUT", _with_digest(location, digest), body=Slice(source, size),
                   headers=_octets(size), expect=201)
    if source.digest() != digest:
        raise RuntimeError(f"sent {source.digest()}, announced {digest}")
    return digest


def push_chunked(client: Client, name: str, source: BlobSource, size: int,
                 chunk: int, digest: str | None) -> str:
    """
    C{POST}, one C{PATCH} with C{Content-Range} per C{chunk} bytes, then an
    empty C{PUT ?digest=} with the digest hashed while sending (C{digest}
    is not needed).

    @return: the digest.
    """
    location = _start(client, name)
    offset = 0
    while offset < size:
        length = min(chunk, size - offset)
        headers = _octets(length)
        headers["Content-Range"] = f"{offset}-{offset + length - 1}"
        response = client.request("PATCH", location, body=Slice(source, length),
                                  headers=headers, expect=202)
        location = _target(response.getheader("Location"))
        offset += length
    digest = source.digest()
    client.request("PUT", _with_digest(location, digest), expect=201)
    return digest


def push_streamed(client: Client, name: str, source: BlobSource, size: int,
                  chunk: int, digest: str | None) -> str:
    """
    C{POST}, one C{PATCH} without C{Content-Range} whose body goes in
    chunked transfer encoding, then an empty C{PUT ?digest=} with the
    digest hashed while sending (C{chunk} and C{digest} are not needed).

    @return: the digest.
    """
    location = _start(client, name)
    response = client.request("PATCH", location, body=source.pieces(),
                              headers={"Content-Type": "application/octet-stream"}, expect=202)
    if response.getheader("Range") != f"0-{size - 1}":
        raise RuntimeError(f"streamed PATCH: Range {response.getheader('Range')!r}")
    location = _target(response.getheader("Location"))
    digest = source.digest()
    client.request("PUT", _with_digest(location, digest), expect=201)
    return digest


PUSHES = {"monolithic": push_monolithic, "chunked": push_chunked, "streamed": push_streamed}


def prepare(mode: str, seed: int, size: int) -> str | None:
    """
    What a push needs before it starts: the digest for C{monolithic}.
    """
    return blob_digest(seed, size) if mode == "monolithic" else None


def verify_head(client: Client, name: str, digest: str, size: int) -> None:
    """
    C{HEAD} the blob: it must exist with this digest and size.
    """
    response = client.request("HEAD", f"/v2/{name}/blobs/{digest}")
    found = (response.getheader("Docker-Content-Digest"), response.getheader("Content-Length"))
    if found != (digest, str(size)):
        raise RuntimeError(f"HEAD {name}@{digest}: digest and length are {found}")


def pull(client: Client, name: str, digest: str, size: int) -> str:
    """
    C{GET} the blob, hashing it as it arrives: it must match.

    @return: the digest.
    """
    response = client.open("GET", f"/v2/{name}/blobs/{digest}")
    if response.status != 200:
        raise RuntimeError(f"GET {name}@{digest}: {response.status} {response.read()[:500]!r}")
    hasher = hashlib.sha256()
    buffer = bytearray(BLOCK)
    view = memoryview(buffer)
    received = 0
    while count := response.readinto(buffer):
        hasher.update(view[:count])
        received += count
    actual = "sha256:" + hasher.hexdigest()
    if (actual, received) != (digest, size):
        raise RuntimeError(f"GET {name}@{digest}: got {received} bytes hashing to {actual}")
    return digest


def push(client: Client, mode: str, name: str, seed: int, size: int, chunk: int,
         digest: str | None) -> str:
    """
    Push the blob of C{seed} in style C{mode}.

    @param digest: what L{prepare} returned for it.
    @return: its digest.
    """
    return PUSHES[mode](client, name, BlobSource(seed, size), size, chunk, digest)


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


def measure(pid: int, baseline: int, bound: int, row: dict, action) -> dict:
    """
    Run C{action()} while sampling the server's memory.

    @param action: pushes or pulls a blob and returns its digest.
    @return: C{row} completed with the digest, timings and memory figures
        (in bytes).
    """
    with RSSSampler(pid) as sampler:
        server_cpu = cpu_seconds(pid)
        client_cpu = time.process_time()
        started = time.perf_counter()
        row["digest"] = action()
        seconds = time.perf_counter() - started
        client_cpu = time.process_time() - client_cpu
        server_cpu = cpu_seconds(pid) - server_cpu
    peak = max(sampler.peak, sampler.hwm) if sampler.hwm_reset else sampler.peak
    growth = peak - baseline
    row.update(
        seconds=seconds,
        mib_per_s=row["size"] / MiB / seconds,
        server_cpu_seconds=server_cpu,
        client_cpu_seconds=client_cpu,
        baseline_rss=baseline,
        peak_rss_sampled=sampler.peak,
        vm_hwm=sampler.hwm,
        vm_hwm_per_transfer=sampler.hwm_reset,
        samples=sampler.samples,
        peak_growth=growth,
        passed=growth < bound,
    )
    return row


def machine() -> dict:
    """
    What the numbers were measured on (no host names, no paths).
    """
    cpu = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.partition(":")[2].strip()
                break
    with open("/proc/meminfo") as meminfo:
        memory = int(meminfo.readline().split()[1]) * KiB
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "twisted": importlib.metadata.version("twisted"),
    }


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


def progress(message: str) -> None:
    """
    Say what is happening, on standard error.
    """
    print(message, file=sys.stderr, flush=True)


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
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [REPO_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
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
        if args.keep:
            progress(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    load_after = os.getloadavg()[0]
    info = machine()
    print(f"{info['cpus']} CPUs ({info['cpu']}), {info['memory'] / GiB:.1f} GiB RAM, "
          f"Linux {info['kernel']}, Python {info['python']}, Twisted {info['twisted']}; "
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
