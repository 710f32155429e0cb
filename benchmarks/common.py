"""
Helpers shared by the benchmark scripts: sizes, a fast pseudo-random blob
source, the registry API over C{http.client}, and a process's memory and
CPU figures read from C{/proc}.

The scripts are run as files (C{python benchmarks/NAME.py}); each puts the
repository root on C{sys.path} and imports this module as
C{benchmarks.common}.
"""

import argparse
import hashlib
import http.client
import importlib.metadata
import os
import platform
import re
import shutil
import sys
import threading
import time
import urllib.parse
from typing import Self

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

#: The client's read and write unit (and its generator's buffer size).
BLOCK = 1 * MiB
#: How often the sampler reads the server's RSS, in seconds.
SAMPLE_INTERVAL = 0.02

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


class MemorySource:
    """
    A blob held in memory, read like a L{BlobSource} but without copying or
    hashing: for throughput figures where the client's own work should be
    as small as possible.

    @ivar data: the bytes.
    """

    def __init__(self, data: bytes | bytearray, digest: str):
        self.data = data
        self._view = memoryview(data)
        self._offset = 0
        self._digest = digest

    @classmethod
    def generated(cls, seed: int, size: int) -> "MemorySource":
        """
        The blob L{BlobSource} makes from C{seed}, generated and hashed now.
        """
        source = BlobSource(seed, size)
        data = bytearray()
        while piece := source.read():
            data += piece
        return cls(data, source.digest())

    def read(self, size: int = -1) -> memoryview:
        """
        The next piece, at most C{min(size, BLOCK)} bytes, as a view into
        the data; empty at the end.
        """
        if size < 0:
            size = BLOCK
        piece = self._view[self._offset:self._offset + min(size, BLOCK)]
        self._offset += len(piece)
        return piece

    def rewind(self) -> None:
        """
        Read from the start again.
        """
        self._offset = 0

    def digest(self) -> str:
        """
        C{sha256:<hex>} of the whole blob (known in advance).
        """
        return self._digest


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


def _stat_fields(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as stat:
        # The command name, in parentheses, may hold spaces: split after it.
        return stat.read().rpartition(")")[2].split()


def process_family(pid: int) -> list[int]:
    """
    Process C{pid} and its descendants (a registry with several workers is
    a family of processes).
    """
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                parents[int(name)] = int(_stat_fields(int(name))[1])
            except (OSError, IndexError, ValueError):
                continue  # gone meanwhile
    family = [pid]
    for member in family:
        family.extend(child for child, parent in parents.items() if parent == member)
    return family


def memory_status(pid: int, family: list[int] | None = None) -> dict:
    """
    C{VmRSS} and C{VmHWM} of process C{pid}, with its descendants', in bytes
    (the sum of the descendants' C{VmHWM} may exceed the family's real peak).

    @param family: C{pid} and its descendants, if already known (finding
        them reads every process's C{/proc} entry).
    """
    values = {"VmRSS": 0, "VmHWM": 0}
    for member in family or process_family(pid):
        try:
            with open(f"/proc/{member}/status") as status:
                for line in status:
                    key, _, rest = line.partition(":")
                    if key in values:
                        values[key] += int(rest.split()[0]) * KiB
        except FileNotFoundError:
            if member == pid:
                raise
    return values


def cpu_seconds(pid: int) -> float:
    """
    The CPU time (user and system, all threads) process C{pid} and its
    running descendants have used.
    """
    ticks = 0
    for member in process_family(pid):
        try:
            fields = _stat_fields(member)
        except FileNotFoundError:
            if member == pid:
                raise
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def reset_peak(pid: int) -> bool:
    """
    Reset the kernel's C{VmHWM} of process C{pid} and its descendants to
    their current RSS.

    @return: whether that worked.
    """
    try:
        for member in process_family(pid):
            with open(f"/proc/{member}/clear_refs", "w") as clear_refs:
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
        self._family = [pid]
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.peak = 0
        self.hwm = 0
        self.hwm_reset = False
        self.samples = 0

    def _sample(self) -> None:
        self.peak = max(self.peak, memory_status(self._pid, self._family)["VmRSS"])
        self.samples += 1

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self._sample()

    def __enter__(self) -> Self:
        # The family is found once: sampling must cost the client little.
        self._family = process_family(self._pid)
        self.hwm_reset = reset_peak(self._pid)
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()
        self.hwm = memory_status(self._pid, self._family)["VmHWM"]


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


def pull(client: Client, name: str, digest: str, size: int, verify: bool = True) -> str:
    """
    C{GET} the blob, hashing it as it arrives: it must match.

    @param verify: hash the body; if false, only its length is checked
        (for a throughput figure that should not include the client's
        hashing).
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
        if verify:
            hasher.update(view[:count])
        received += count
    actual = "sha256:" + hasher.hexdigest() if verify else digest
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


def describe_machine(info: dict) -> str:
    """
    L{machine}'s description in words.
    """
    return (f"{info['cpus']} CPUs ({info['cpu']}), {info['memory'] / GiB:.1f} GiB RAM, "
            f"Linux {info['kernel']}, Python {info['python']}, Twisted {info['twisted']}")


def remove_workdir(workdir: str, keep: bool) -> None:
    """
    Remove a benchmark's temporary directory, or say where it is kept.
    """
    if keep:
        progress(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)


def progress(message: str) -> None:
    """
    Say what is happening, on standard error.
    """
    print(message, file=sys.stderr, flush=True)


def set_child_pythonpath() -> None:
    """
    Put the repository root first on C{PYTHONPATH}, so that servers started
    from here (twistd) run this checkout's txregistry.
    """
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [REPO_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
