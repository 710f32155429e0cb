"""
txregistry against Distribution, side by side on the same machine.

This script starts txregistry (C{twistd -n txregistry}) and, when it is
installed, Debian's C{docker-registry} (Distribution 2.8) on loopback, with
equivalent configurations: filesystem storage in a fresh temporary root
each, deletes enabled, no authentication, access log disabled, log level
C{warn}, upload purging disabled.  It then drives both with the same
clients and prints one table with each figure for both registries and
their ratio.

Figures (C{--small} shrinks every size for a quick smoke run):

 - C{monolithic push}: C{POST}, then one C{PUT ?digest=} carrying a
   C{--blob-size} (256 MiB) body; MiB/s from the C{POST} to the C{201}.
 - C{chunked push}: C{POST}, C{PATCH}es of C{--chunk} (8 MiB) with
   C{Content-Range}, an empty C{PUT ?digest=}; MiB/s likewise.
 - C{disk: write + fdatasync}: what the disk allows a push, measured just
   before each server's monolithic push, and again (the second such row)
   before its chunked push: this script writes the same bytes to a file
   beside the storage roots, 1 MiB per C{write}, then C{fdatasync}, and
   deletes the file; MiB/s.  A registry must store a blob's bytes and make
   them durable before it answers C{201}, so no push is faster than this
   for long; its ratio says whether both servers met the same disk.  A
   second table gives each push as a share of the figure measured before
   it, and the disk figure divided by Distribution's monolithic push: the
   largest push ratio the disk allowed in that run.  Every push follows
   its probe, for both servers alike, because the probe also decides
   which memory the push's page cache takes: the deleted file leaves
   memory just used behind.  On the virtual machines measured here, page
   cache growing into memory not used lately is written at 400 to 600
   MiB/s instead of about 2,800 (a plain loop of 1 MiB C{write}s), and
   once the first run's pushes are stored every new page is of that kind:
   a push that follows nothing then measures that, not the registry.
 - C{blob pull}: C{GET} of the blob the monolithic push stored; MiB/s.
   These three use one keep-alive C{http.client} connection and a blob
   generated and hashed in memory beforehand, so the client only makes
   system calls while timed (a different blob in every run).
 - C{manifest GET}: C{wrk} with C{--connections} (64) connections for
   C{--duration} (10) seconds on C{GET /v2/<name>/manifests/latest} with
   an C{Accept} header naming the OCI and Docker manifest types;
   requests/s and the 99th percentile latency (C{wrk --latency}).
 - C{tags list} and C{catalog}: the same with C{GET /v2/<name>/tags/list}
   (a repository with 101 tags) and C{GET /v2/_catalog?n=100}, in a store
   of C{--repositories} (10,000) repositories: 100 namespaces of 100
   repositories (C{ns000/repo00} ...), each holding one small image tagged
   C{latest}.  They are written straight into each storage root in
   Distribution's layout before the servers start (one tree, copied), not
   pushed.
 - C{skopeo push} and C{skopeo pull}: C{skopeo copy} of a three-layer OCI
   image of C{--image-size} (100 MB) of incompressible data, from an OCI
   layout to C{docker://}, then back to a fresh layout (checked: same
   manifest digest, every blob re-hashed); seconds per copy, the median of
   C{--skopeo-copies} (3) images copied in and out one after the other
   (different images in every run).  A copy takes well under a second,
   most of it skopeo's own work, and one copy's time moves by 10% from
   one to the next; a median of several steadies the run's figure.
 - C{peak RSS growth, 1 GiB push}: one monolithic push of C{--memory-size}
   (1 GiB) streamed from an AES-CTR generator; the server's peak resident
   set (the larger of C{VmRSS} sampled every 20 ms and C{VmHWM}, reset
   through C{clear_refs} before the push) minus its C{VmRSS} just before.
   The target is absolute: under 64 MiB for txregistry in every run.
 - C{RSS after requests}: C{VmRSS} after C{--requests} (100,000) more
   requests, made by C{wrk} cycling through the manifest by tag, the tag
   list and the config blob of every repository (not catalog pages:
   Distribution 2.8 walks every repository before the C{last} of a later
   page, seconds per request here).  It is measured once,
   at the end of the last run, so it is the server's memory after
   everything else too.

Method: both servers run for the whole benchmark.  A warm-up round (small
sizes, C{wrk} for 3 s) comes first and is not counted; then C{--runs} runs,
each measuring every figure on both servers one after the other, the order
alternating from one run to the next (txregistry first in odd runs).  The
table gives each server's median over the runs, and as ratio the median of
the per-run ratios txregistry/Distribution: the machine may be shared and
noisy, and only figures measured side by side compare.  No figure includes
the client's set-up (generating blobs and images, hashing them).  Before
each timed push, pull and skopeo copy, dirty pages are written back
(C{sync}), so that neither server pays for the disk writes of what ran
before it (the other server's work, the image written for skopeo).

Every response is checked: pushes must answer C{201} with the digest,
pulls the full length (and, in the warm-up, the right digest), C{wrk} runs
must see no non-2xx response and no socket error, skopeo must exit 0.  A
workload that fails is reported, its figures are left out (C{null} in the
JSON), the others go on, and the script exits with status 1.

C{--json OUT} writes every raw number; C{--record FILE} appends a dated
section with the machine's description and the table to C{FILE} (usually
C{docs/benchmarks.md}).  The exit status is 0 when everything was
measured, whether or not the targets are met, 1 if a workload failed.

Needs the project's environment (Twisted, PyYAML, cryptography) and the
Debian packages C{wrk} and C{skopeo}; C{docker-registry} is optional.
"""

import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import attrs

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.common import (  # noqa: E402
    GiB,
    KiB,
    MiB,
    BlobSource,
    Client,
    MemorySource,
    blob_digest,
    describe_machine,
    cpu_seconds,
    format_size,
    machine,
    measure,
    memory_status,
    parse_size,
    progress,
    pull,
    push_chunked,
    push_monolithic,
    remove_workdir,
    set_child_pythonpath,
)
from tests.integration.images import (  # noqa: E402
    OCI_MANIFEST,
    make_oci_layout,
    random_files,
    read_oci_layout,
)
from tests.integration.processes import (  # noqa: E402
    DistributionProcess,
    RegistryProcess,
    accepts_connections,
    base_config,
    free_port,
    read_text,
    tool,
    wait_for,
)

#: What a manifest GET accepts (as skopeo and containerd send it).
ACCEPT_MANIFESTS = ", ".join((
    OCI_MANIFEST,
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
))
#: Repositories per namespace in the populated store.
PER_NAMESPACE = 100
#: Extra tags of the repository whose tag list is fetched.
EXTRA_TAGS = 100
#: The directory of Distribution's layout inside a storage root.
LAYOUT_ROOT = os.path.join("docker", "registry", "v2")
#: The wrk script that makes the requests counted for the RSS figure.
CYCLE_SCRIPT = """\
-- Cycle through the requests listed in a file ("METHOD PATH" per line),
-- threads interleaved.  Each thread stops after its share of responses and
-- says so by creating a file named after it in a directory: wrk itself
-- runs for its whole duration unless interrupted (SIGINT), which the
-- caller does once every thread is done.
local next_id = 0

function setup(thread)
   thread:set("id", next_id)
   next_id = next_id + 1
end

function init(args)
   limit = tonumber(args[1])
   stride = tonumber(args[3])
   methods, paths = {}, {}
   for line in io.lines(args[2]) do
      local method, path = line:match("^(%S+) (%S+)$")
      methods[#methods + 1] = method
      paths[#paths + 1] = path
   end
   done_dir = args[4]
   sent, received = 0, 0
end

function request()
   local i = (sent * stride + id) % #paths + 1
   sent = sent + 1
   return wrk.format(methods[i], paths[i])
end

function response(status, headers, body)
   received = received + 1
   if received == limit then
      io.open(done_dir .. "/" .. id, "w"):close()
      wrk.thread:stop()
   end
end
"""


@attrs.frozen
class Sizes:
    """
    How big each workload is.

    @ivar blob: bytes per blob for the push and pull figures.
    @ivar chunk: bytes per C{PATCH} in the chunked push.
    @ivar memory_push: bytes of the push whose peak RSS is measured.
    @ivar requests: requests made before the RSS figure.
    @ivar duration: seconds per C{wrk} run.
    @ivar image: bytes of layer data in the skopeo image (three layers).
    """

    blob: int
    chunk: int
    memory_push: int
    requests: int
    duration: int
    image: int


FULL = Sizes(blob=256 * MiB, chunk=8 * MiB, memory_push=GiB, requests=100_000, duration=10,
             image=100_000_000)
SMALL = Sizes(blob=8 * MiB, chunk=2 * MiB, memory_push=32 * MiB, requests=2_000, duration=2,
              image=3_000_000)
#: The warm-up round: never bigger than this, nor than the measured runs.
WARMUP = Sizes(blob=16 * MiB, chunk=4 * MiB, memory_push=16 * MiB, requests=1_000, duration=3,
               image=3_000_000)


@attrs.frozen
class Figure:
    """
    One row of the table.

    @ivar key: its name in the JSON.
    @ivar label: its name in the table.
    @ivar unit: what its values count.
    @ivar digits: decimals shown.
    @ivar target: the target as C{(operator, value)}: C{(">=", 3)} for a
        ratio txregistry/Distribution of at least 3, C{("<=", 1)} for at
        most 1, C{("abs<", 64)} for a txregistry value under 64 in every
        run; C{None} if there is none.
    """

    key: str
    label: str
    unit: str
    digits: int
    target: tuple | None


FIGURES = (
    Figure("push_monolithic", "monolithic push", "MiB/s", 0, (">=", 3)),
    Figure("push_chunked", "chunked push", "MiB/s", 0, (">=", 3)),
    Figure("disk_write", "disk: write + fdatasync", "MiB/s", 0, None),
    Figure("disk_write_chunked", "disk: write + fdatasync, before the chunked push",
           "MiB/s", 0, None),
    Figure("pull", "blob pull", "MiB/s", 0, (">=", 0.8)),
    Figure("manifest_get", "manifest GET", "requests/s", 0, (">=", 1.5)),
    Figure("manifest_get_p99", "manifest GET p99", "ms", 1, ("<=", 1.0)),
    Figure("tags_list", "tags list", "requests/s", 0, (">=", 1.5)),
    Figure("catalog", "catalog (n=100)", "requests/s", 0, (">=", 1.5)),
    Figure("skopeo_push", "skopeo copy, push", "s", 2, ("<=", 1.0)),
    Figure("skopeo_pull", "skopeo copy, pull", "s", 2, ("<=", 1.0)),
    Figure("push_peak_rss_growth", "peak RSS growth, push", "MiB", 1, ("abs<", 64)),
    Figure("rss_after_requests", "RSS after requests", "MiB", 1, None),
)
FIGURE_KEYS = tuple(figure.key for figure in FIGURES)


class Server:
    """
    A registry under test, running in a child process on loopback.

    @ivar name: C{txregistry} or C{distribution}.
    @ivar root: its storage root.
    """

    def __init__(self, name: str, root: str, workdir: str, workers: int = 1):
        """
        @param workers: txregistry's C{http.workers}.
        """
        self.name = name
        self.root = root
        os.makedirs(workdir)
        if name == "txregistry":
            config = base_config(
                root,
                log={"level": "warn", "accesslog": {"disabled": True}},
                http={"addr": f"127.0.0.1:{free_port()}", "workers": workers},
            )
            config["storage"]["maintenance"] = {"uploadpurging": {"enabled": False}}
            self.process = RegistryProcess(config, workdir)
            self.port = int(config["http"]["addr"].rpartition(":")[2])
        else:
            self.process = DistributionProcess(root, workdir)
            self.port = self.process.port

    @property
    def pid(self) -> int:
        """
        The server's process id.
        """
        return self.process.process.pid

    @property
    def address(self) -> str:
        """
        C{127.0.0.1:<port>}.
        """
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        """
        Start it and wait until it accepts connections (at level C{warn},
        txregistry does not log where it listens).
        """
        if self.name == "txregistry":
            self.process.launch()

            def ready():
                if self.process.process.poll() is not None:
                    raise RuntimeError(f"txregistry exited at start:\n{self.log()}")
                return accepts_connections(self.port)

            wait_for(ready, 30, "txregistry to listen")
        else:
            self.process.start()

    def stop(self) -> None:
        """
        Stop it.
        """
        self.process.stop()

    def log(self) -> str:
        """
        What it wrote to its output.
        """
        return read_text(self.process.log_path)


def repository_name(index: int) -> str:
    """
    The name of the populated repository number C{index}.
    """
    return f"ns{index // PER_NAMESPACE:03d}/repo{index % PER_NAMESPACE:02d}"


def populate(roots: list, count: int, scratch: str) -> dict:
    """
    Write C{count} repositories into each of the storage C{roots}, in
    Distribution's layout, as pushing them would: the blobs of one small
    image (config, one layer, manifest), and in each repository the blob
    links, the manifest revision link, and the tag C{latest} (current link
    and history entry).  The first repository has L{EXTRA_TAGS} more tags
    (C{v000} ...) on the same manifest.  (Writing each root is faster here
    than copying the first one.)

    @param scratch: an empty directory to build the image in.
    @return: C{manifest}, C{config} and C{layer} digests, and the names
        used by the benchmark (C{manifest_repository}, C{tags_repository}).
    """
    image = make_oci_layout(scratch, [random_files("catalog", 1, 4096)])
    digests = [image["config"]["digest"], image["layers"][0]["digest"], image["_digest"]]
    bases = [os.path.join(root, LAYOUT_ROOT) for root in roots]

    def write(relative: str, content: bytes) -> None:
        for base in bases:
            path = os.path.join(base, relative)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(content)

    for digest in digests:
        encoded = digest.split(":")[1]
        with open(os.path.join(scratch, "blobs", "sha256", encoded), "rb") as f:
            write(os.path.join("blobs", "sha256", encoded[:2], encoded, "data"), f.read())
    manifest = image["_digest"]
    manifest_hex = manifest.split(":")[1]
    link = manifest.encode()

    def tag(repository: str, name: str) -> None:
        tag_dir = os.path.join(repository, "_manifests", "tags", name)
        write(os.path.join(tag_dir, "current", "link"), link)
        write(os.path.join(tag_dir, "index", "sha256", manifest_hex, "link"), link)

    for index in range(count):
        repository = os.path.join("repositories", repository_name(index))
        for digest in digests[:2]:
            write(os.path.join(repository, "_layers", "sha256", digest.split(":")[1], "link"),
                  digest.encode())
        write(os.path.join(repository, "_manifests", "revisions", "sha256", manifest_hex, "link"),
              link)
        tag(repository, "latest")
        if index == 0:
            for extra in range(EXTRA_TAGS):
                tag(repository, f"v{extra:03d}")
    return {
        "manifest": manifest,
        "config": digests[0],
        "layer": digests[1],
        "manifest_repository": repository_name(0),
        "tags_repository": repository_name(0),
    }


# wrk ---------------------------------------------------------------------

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(output: str) -> dict:
    """
    The figures in C{wrk --latency}'s report.

    @return: C{requests} (completed), C{seconds}, C{rps}, C{p50_ms} and
        C{p99_ms} (C{None} without C{--latency}), C{non_2xx}, and
        C{socket_errors} (connect, read, write and timeout added up).
    @raise ValueError: the report lacks its totals.
    """
    totals = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)\b", output, re.MULTILINE)
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", output, re.MULTILINE)
    if totals is None or rate is None:
        raise ValueError(f"not a wrk report:\n{output}")
    result = {
        "requests": int(totals.group(1)),
        "seconds": float(totals.group(2)) * _UNIT_MS[totals.group(3)] / 1000,
        "rps": float(rate.group(1)),
        "non_2xx": 0,
        "socket_errors": 0,
    }
    for percentile in (50, 99):
        match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
        result[f"p{percentile}_ms"] = (
            None if match is None else float(match.group(1)) * _UNIT_MS[match.group(2)])
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", output)
    if non_2xx:
        result["non_2xx"] = int(non_2xx.group(1))
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                       output)
    if errors:
        result["socket_errors"] = sum(int(n) for n in errors.groups())
    return result


def child_cpu_seconds() -> float:
    """
    CPU time (user and system) used so far by this process's waited-for
    children (wrk, skopeo).
    """
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# The benchmark -----------------------------------------------------------


class Benchmark:
    """
    One side-by-side benchmark: the servers, the data, and the results.

    @ivar results: server name -> figure key -> one value per run.
    @ivar details: server name -> workload -> one dict of raw numbers per
        run (times, CPU seconds, wrk's report, memory figures in bytes).
    """

    def __init__(self, args, servers: list, workdir: str, store: dict):
        self.args = args
        self.servers = servers
        self.workdir = workdir
        self.store = store
        self.results = {s.name: {key: [] for key in FIGURE_KEYS} for s in servers}
        #: The sizes of the warm-up round.
        self.warmup = Sizes(*(min(a, b) for a, b in zip(attrs.astuple(WARMUP),
                                                        attrs.astuple(args.sizes))))
        #: Whether the figures being measured are kept (not in the warm-up).
        self.recording = False
        #: What failed, one line each.
        self.failures = []
        self.details = {s.name: {} for s in servers}
        self._pushed = {}
        self._cycle_script = os.path.join(workdir, "cycle.lua")
        with open(self._cycle_script, "w") as f:
            f.write(CYCLE_SCRIPT)
        self._cycle_paths = os.path.join(workdir, "cycle.txt")
        with open(self._cycle_paths, "w") as f:
            f.write(cycle_requests(store, args.repositories))

    # Each workload takes (server, run label, sizes, data for the run) and
    # returns (figures, details).

    def push_monolithic(self, server, label, sizes, data):
        """
        C{POST}, then one C{PUT ?digest=} with the whole blob.
        """
        source = data["monolithic"]
        name = f"bench/{label}"
        result = self._push_after_disk(server, sizes, source, "push_monolithic", "disk_write",
                                       lambda client: push_monolithic(
                                           client, name, source, sizes.blob, sizes.chunk,
                                           source.digest()))
        self._pushed[server.name, label] = name
        return result

    def push_chunked(self, server, label, sizes, data):
        """
        C{POST}, C{PATCH}es of C{sizes.chunk}, an empty C{PUT ?digest=}.
        """
        source = data["chunked"]
        return self._push_after_disk(server, sizes, source, "push_chunked", "disk_write_chunked",
                                     lambda client: push_chunked(
                                         client, f"bench/{label}-chunked", source, sizes.blob,
                                         sizes.chunk, None))

    def _push_after_disk(self, server, sizes, source, key: str, disk_key: str, push):
        """
        Measure the disk with C{source}'s bytes, then time C{push(client)}
        of them.

        @return: the push's MiB/s as C{key} and the disk's as C{disk_key},
            and the details.
        """
        disk_seconds = self._disk_write(source.data)
        source.rewind()
        seconds, cpu = self._timed(server, push)
        return ({key: sizes.blob / MiB / seconds, disk_key: sizes.blob / MiB / disk_seconds},
                dict(_transfer(sizes.blob, seconds, cpu), disk_write_seconds=disk_seconds))

    def _disk_write(self, data) -> float:
        """
        Write C{data} to a new file beside the storage roots, 1 MiB per
        C{write}, and C{fdatasync} it, once the dirty pages are written back;
        then delete it.

        @return: the seconds it took (not counting the deletion).
        """
        path = os.path.join(self.workdir, "disk-write")
        view = memoryview(data)
        os.sync()
        started = time.perf_counter()
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            for offset in range(0, len(view), MiB):
                piece = view[offset:offset + MiB]
                while piece:
                    piece = piece[os.write(fd, piece):]
            os.fdatasync(fd)
        finally:
            os.close(fd)
        seconds = time.perf_counter() - started
        os.unlink(path)
        return seconds

    def pull(self, server, label, sizes, data):
        """
        C{GET} of the blob of the monolithic push (pushed now if that
        workload was not selected).
        """
        source = data["monolithic"]
        if (server.name, label) not in self._pushed:
            self.push_monolithic(server, label, sizes, data)
        name = self._pushed[server.name, label]
        # Hash what arrives in the warm-up only: the timed runs measure the
        # server, not the client's hashing.
        verify = label == "warmup"
        seconds, cpu = self._timed(
            server, lambda client: pull(client, name, source.digest(), sizes.blob, verify))
        return {"pull": sizes.blob / MiB / seconds}, _transfer(sizes.blob, seconds, cpu)

    def manifest_get(self, server, label, sizes, data):
        """
        C{wrk} on a manifest by tag: requests/s and p99.
        """
        report = self._wrk(server, sizes, f"/v2/{self.store['manifest_repository']}"
                                          "/manifests/latest")
        return {"manifest_get": report["rps"], "manifest_get_p99": report["p99_ms"]}, report

    def tags_list(self, server, label, sizes, data):
        """
        C{wrk} on the tag list of the repository with L{EXTRA_TAGS} tags.
        """
        report = self._wrk(server, sizes, f"/v2/{self.store['tags_repository']}/tags/list")
        return {"tags_list": report["rps"]}, report

    def catalog(self, server, label, sizes, data):
        """
        C{wrk} on the catalog's first page of 100.
        """
        report = self._wrk(server, sizes, "/v2/_catalog?n=100")
        return {"catalog": report["rps"]}, report

    def skopeo(self, server, label, sizes, data):
        """
        C{skopeo copy} of each of the run's images in, then out to a fresh
        layout, checked by its manifest digest; the median times.
        """
        copies = []
        copy = os.path.join(self.workdir, f"pulled-{server.name}-{label}")
        for index, image in enumerate(data["images"]):
            reference = f"docker://{server.address}/bench/skopeo-{label}-{index}:latest"
            push = self._skopeo(server, f"oci:{image['layout']}:latest", reference,
                                "--dest-tls-verify=false")
            pulled = self._skopeo(server, reference, f"oci:{copy}:latest",
                                  "--src-tls-verify=false")
            digest = read_oci_layout(copy, "latest")["_digest"]
            shutil.rmtree(copy)
            if digest != image["digest"]:
                raise RuntimeError(f"{server.name}: skopeo pulled {digest}, "
                                   f"pushed {image['digest']}")
            copies.append({"push": push, "pull": pulled})
        return ({"skopeo_push": statistics.median(c["push"]["seconds"] for c in copies),
                 "skopeo_pull": statistics.median(c["pull"]["seconds"] for c in copies)},
                {"copies": copies})

    def push_memory(self, server, label, sizes, data):
        """
        A streamed monolithic push of C{sizes.memory_push} bytes while the
        server's memory is watched.
        """
        client = Client("127.0.0.1", server.port)
        try:
            baseline = memory_status(server.pid)["VmRSS"]
            row = measure(server.pid, baseline, 64 * MiB, {"size": sizes.memory_push},
                          lambda: push_monolithic(
                              client, f"bench/{label}-memory",
                              BlobSource(data["memory_seed"], sizes.memory_push),
                              sizes.memory_push, sizes.chunk, data["memory_digest"]))
        finally:
            client.close()
        return {"push_peak_rss_growth": row["peak_growth"] / MiB}, row

    def requests_memory(self, server, label, sizes, data):
        """
        C{sizes.requests} requests over every repository, then C{VmRSS}.
        """
        before = memory_status(server.pid)["VmRSS"]
        report = self._wrk(server, sizes, "/", requests=sizes.requests)
        if report["requests"] < sizes.requests:
            raise RuntimeError(f"{server.name}: only {report['requests']} of {sizes.requests} "
                               "requests were made")
        # Let the server finish with the last connections.
        time.sleep(0.5)
        after = memory_status(server.pid)["VmRSS"]
        report.update(rss_before=before, rss_after=after)
        return {"rss_after_requests": after / MiB}, report

    #: Each workload (a method) and the figures it measures.
    WORKLOADS = {
        "push_monolithic": ("push_monolithic", "disk_write"),
        "push_chunked": ("push_chunked", "disk_write_chunked"),
        "pull": ("pull",),
        "manifest_get": ("manifest_get", "manifest_get_p99"),
        "tags_list": ("tags_list",),
        "catalog": ("catalog",),
        "skopeo": ("skopeo_push", "skopeo_pull"),
        "push_memory": ("push_peak_rss_growth",),
        "requests_memory": ("rss_after_requests",),
    }

    def _timed(self, server, action) -> tuple[float, dict]:
        """
        Run C{action(client)} on a fresh connection to C{server}, once the
        dirty pages are written back.

        @return: the seconds it took and the CPU seconds the server and the
            client used meanwhile.
        """
        client = Client("127.0.0.1", server.port)
        try:
            os.sync()
            server_cpu = cpu_seconds(server.pid)
            client_cpu = time.process_time()
            started = time.perf_counter()
            action(client)
            seconds = time.perf_counter() - started
            return seconds, {"server_cpu_seconds": cpu_seconds(server.pid) - server_cpu,
                             "client_cpu_seconds": time.process_time() - client_cpu}
        finally:
            client.close()

    def _wrk(self, server, sizes, target: str, requests: int | None = None) -> dict:
        """
        Run C{wrk} against C{server} and check that every response was a
        success.

        @param requests: make this many requests (cycling through
            L{cycle_requests}, without C{--latency}) rather than request
            C{target} for C{sizes.duration} seconds.
        @return: L{parse_wrk}'s figures, with the server's and wrk's CPU
            seconds.
        """
        threads = min(self.args.threads, self.args.connections)
        command = [tool("wrk"), f"-t{threads}", f"-c{self.args.connections}",
                   f"-d{sizes.duration if requests is None else 3600}s", "--timeout", "10s",
                   "-H", f"Accept: {ACCEPT_MANIFESTS}"]
        if requests is None:
            command.append("--latency")
        else:
            done = tempfile.mkdtemp(prefix="wrk-done-", dir=self.workdir)
            command += ["-s", self._cycle_script]
        command.append(f"http://{server.address}{target}")
        if requests is not None:
            command += ["--", str(-(-requests // threads)), self._cycle_paths, str(threads), done]
        server_cpu = cpu_seconds(server.pid)
        client_cpu = child_cpu_seconds()
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, stdin=subprocess.DEVNULL)
        try:
            if requests is not None:
                wait_for(lambda: process.poll() is not None or len(os.listdir(done)) == threads,
                         3600, f"{requests} requests")
                process.send_signal(signal.SIGINT)
            stdout, stderr = process.communicate(timeout=900)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"{command} exited with {process.returncode}:\n{stdout}\n{stderr}")
        report = parse_wrk(stdout)
        # A warm-up run may end before the first slow responses (wrk counts
        # only those completed in time); a measured one must see some.
        if report["non_2xx"] or report["socket_errors"] or not (
                report["requests"] or not self.recording):
            raise RuntimeError(f"{server.name}: wrk saw failures on {target}:\n{stdout}")
        report.update(server_cpu_seconds=cpu_seconds(server.pid) - server_cpu,
                      client_cpu_seconds=child_cpu_seconds() - client_cpu,
                      target=target)
        return report

    def _skopeo(self, server, source: str, destination: str, *options: str) -> dict:
        """
        C{skopeo copy} from C{source} to C{destination}, timed.
        """
        command = [tool("skopeo"), "--insecure-policy", "copy", "--quiet", *options,
                   source, destination]
        os.sync()
        server_cpu = cpu_seconds(server.pid)
        client_cpu = child_cpu_seconds()
        started = time.perf_counter()
        result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                                stdin=subprocess.DEVNULL, check=False)
        seconds = time.perf_counter() - started
        if result.returncode != 0:
            raise RuntimeError(f"{command} exited with {result.returncode}:\n"
                               f"{result.stdout}\n{result.stderr}")
        return {"seconds": seconds, "server_cpu_seconds": cpu_seconds(server.pid) - server_cpu,
                "client_cpu_seconds": child_cpu_seconds() - client_cpu}

    def prepare_run(self, label: str, seed: int, sizes: Sizes) -> dict:
        """
        The data of one run, made before anything is timed: two blobs in
        memory, the digest of the streamed push, the skopeo images.
        """
        progress(f"{label}: generating data")
        images = []
        for index in range(self.args.skopeo_copies):
            layout = os.path.join(self.workdir, f"image-{label}-{index}")
            image = make_oci_layout(layout, [
                random_files(f"{label}-{index}-{n}", 1, sizes.image // 3) for n in range(3)])
            images.append({"layout": layout, "digest": image["_digest"]})
        return {
            "monolithic": MemorySource.generated(seed, sizes.blob),
            "chunked": MemorySource.generated(seed + 1, sizes.blob),
            "memory_seed": seed + 2,
            "memory_digest": blob_digest(seed + 2, sizes.memory_push),
            "images": images,
        }

    def run(self, label: str, order: list, sizes: Sizes, data: dict, record: bool,
            last: bool) -> None:
        """
        Measure every selected workload on each server of C{order} in turn.

        @param record: keep the figures (not for the warm-up).
        @param last: this is the last run: the only one where the RSS after
            C{sizes.requests} requests is measured (it takes minutes, and
            is a figure of the server's whole life rather than of one run).
        """
        self.recording = record
        for workload in self.WORKLOADS:
            if workload not in self.args.only or (
                    workload == "requests_memory" and record and not last):
                continue
            for server in order:
                progress(f"{label}: {workload} on {server.name}")
                try:
                    figures, details = getattr(self, workload)(server, label, sizes, data)
                except Exception as error:
                    progress(f"{label}: {workload} on {server.name} FAILED: {error}")
                    self.failures.append(f"{label}: {workload} on {server.name}: {error}")
                    figures, details = {}, {"failed": str(error)}
                if record:
                    for key in self.WORKLOADS[workload]:
                        self.results[server.name][key].append(figures.get(key))
                    self.details[server.name].setdefault(workload, []).append(details)


def _transfer(size: int, seconds: float, cpu: dict) -> dict:
    return dict(cpu, bytes=size, seconds=seconds)


def cycle_requests(store: dict, count: int) -> str:
    """
    The requests the RSS figure cycles through, one C{METHOD PATH} a line:
    for every repository its manifest by tag, its tag list and its config
    blob.
    """
    lines = []
    for index in range(count):
        name = repository_name(index)
        lines += [f"GET /v2/{name}/manifests/latest", f"GET /v2/{name}/tags/list",
                  f"GET /v2/{name}/blobs/{store['config']}"]
    return "\n".join(lines) + "\n"


# Results -----------------------------------------------------------------


def ratio_met(figure: Figure, ratio: float | None, values: list) -> bool | None:
    """
    Whether C{figure}'s target is met: by the median ratio, or for an
    absolute target by every txregistry value; C{None} if it cannot be
    told.
    """
    if figure.target is None:
        return None
    operator, bound = figure.target
    if operator == "abs<":
        return all(v < bound for v in values) if values else None
    if ratio is None:
        return None
    return ratio >= bound if operator == ">=" else ratio <= bound


def summarize(results: dict) -> list:
    """
    One summary per figure: each server's median, the per-run ratios and
    their median, the target and whether it is met.
    """
    rows = []
    ours = results.get("txregistry", {})
    theirs = results.get("distribution", {})
    for figure in FIGURES:
        # A failed measurement is None: left out, and so is its ratio.  An
        # absolute target has no ratio (Distribution's growth may be 0.1 MiB).
        absolute = figure.target is not None and figure.target[0] == "abs<"
        ratios = [a / b for a, b in zip(ours.get(figure.key, []), theirs.get(figure.key, []))
                  if a is not None and b and not absolute]
        mine = [v for v in ours.get(figure.key, []) if v is not None]
        other = [v for v in theirs.get(figure.key, []) if v is not None]
        ratio = statistics.median(ratios) if ratios else None
        rows.append({
            "figure": figure.key,
            "label": figure.label,
            "unit": figure.unit,
            "txregistry": statistics.median(mine) if mine else None,
            "distribution": statistics.median(other) if other else None,
            "ratios": ratios,
            "ratio": ratio,
            "target": list(figure.target) if figure.target else None,
            "met": ratio_met(figure, ratio, mine),
        })
    return rows


def _target_text(target) -> str:
    if target is None:
        return ""
    operator, bound = target
    if operator == "abs<":
        return f"< {bound:g} (absolute)"
    return f"{'≥' if operator == '>=' else '≤'} {bound:g}x"


def table(rows: list, distribution_label: str) -> str:
    """
    The summary as a Markdown table.
    """
    figures = {figure.key: figure for figure in FIGURES}
    lines = [f"| figure | unit | txregistry | {distribution_label} | ratio | target | met |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        if row["txregistry"] is None and row["distribution"] is None:
            continue
        digits = figures[row["figure"]].digits

        def number(value):
            return "–" if value is None else f"{value:,.{digits}f}"

        ratio = "–" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        lines.append(f"| {row['label']} | {row['unit']} | {number(row['txregistry'])} | "
                     f"{number(row['distribution'])} | {ratio} | "
                     f"{_target_text(row['target'])} | {met} |")
    return "\n".join(lines)


def disk_bounds(results: dict) -> dict:
    """
    The pushes against the disk figure of the same run: for each server the
    median share of it its monolithic and chunked pushes reached (each run's
    push divided by the disk figure measured just before it), and per run
    the disk figure measured for txregistry divided by Distribution's
    monolithic push, with its median: the largest monolithic push ratio a
    registry writing at the disk's speed could have shown.  Runs where
    something failed are left out.
    """
    def ratios(numerators: list, denominators: list) -> list:
        return [a / b for a, b in zip(numerators, denominators) if a is not None and b]

    def median(values: list) -> float | None:
        return statistics.median(values) if values else None

    shares = {}
    for server, figures in results.items():
        shares[server] = {push: median(ratios(figures.get(push, []), figures.get(disk, [])))
                          for push, disk in (("push_monolithic", "disk_write"),
                                             ("push_chunked", "disk_write_chunked"))}
    allowed = ratios(results.get("txregistry", {}).get("disk_write", []),
                     results.get("distribution", {}).get("push_monolithic", []))
    return {"shares": shares, "allowed_ratios": allowed, "allowed_ratio": median(allowed)}


def disk_table(bounds: dict, distribution_label: str) -> str:
    """
    L{disk_bounds} as a Markdown table and a sentence; empty if no disk
    figure was measured.
    """
    shares = bounds["shares"]
    if all(value is None for server in shares.values() for value in server.values()):
        return ""

    def share(server: str, push: str) -> str:
        value = shares.get(server, {}).get(push)
        return "–" if value is None else f"{value:.0%}"

    lines = [f"| push, share of the disk figure | txregistry | {distribution_label} |",
             "| --- | --- | --- |"]
    for push, label in (("push_monolithic", "monolithic push"), ("push_chunked", "chunked push")):
        lines.append(f"| {label} | {share('txregistry', push)} | {share('distribution', push)} |")
    if bounds["allowed_ratio"] is not None:
        runs = ", ".join(f"{ratio:.2f}x" for ratio in bounds["allowed_ratios"])
        lines += ["", "The disk figure divided by Distribution's monolithic push, the largest "
                  "monolithic push ratio a registry writing at the disk's speed could show: "
                  f"{bounds['allowed_ratio']:.2f}x (per run: {runs})."]
    return "\n".join(lines)


def cpu_table(details: dict, distribution_label: str) -> str:
    """
    The servers' CPU cost per unit of work (medians over the runs), as a
    Markdown table: what a figure costs independently of how busy the
    machine was.
    """
    measures = (
        ("push_monolithic", "monolithic push", "CPU s per GiB",
         lambda d: d["server_cpu_seconds"] / (d["bytes"] / GiB)),
        ("push_chunked", "chunked push", "CPU s per GiB",
         lambda d: d["server_cpu_seconds"] / (d["bytes"] / GiB)),
        ("pull", "blob pull", "CPU s per GiB",
         lambda d: d["server_cpu_seconds"] / (d["bytes"] / GiB)),
        ("manifest_get", "manifest GET", "CPU µs per request",
         lambda d: d["server_cpu_seconds"] / d["requests"] * 1e6),
        ("tags_list", "tags list", "CPU µs per request",
         lambda d: d["server_cpu_seconds"] / d["requests"] * 1e6),
        ("catalog", "catalog", "CPU µs per request",
         lambda d: d["server_cpu_seconds"] / d["requests"] * 1e6),
        ("skopeo", "skopeo push + pull", "CPU s",
         lambda d: statistics.median(c["push"]["server_cpu_seconds"]
                                     + c["pull"]["server_cpu_seconds"] for c in d["copies"])),
    )
    lines = [f"| workload | server cost | txregistry | {distribution_label} |",
             "| --- | --- | --- | --- |"]
    for workload, label, unit, cost in measures:
        values = []
        for server in ("txregistry", "distribution"):
            runs = [d for d in details.get(server, {}).get(workload, []) if "failed" not in d]
            values.append(f"{statistics.median(cost(d) for d in runs):,.2f}" if runs else "–")
        if values != ["–", "–"]:
            lines.append(f"| {label} | {unit} | {values[0]} | {values[1]} |")
    return "\n".join(lines)


def versions() -> dict:
    """
    The versions of the programs involved (C{None} where not installed).
    """
    found = {}
    for name, command, pattern in (
        ("distribution", ["docker-registry", "--version"], r"(\d+\.\d+\.\d+\S*)"),
        ("wrk", ["wrk", "-v"], r"wrk (?:debian/)?(\S+)"),
        ("skopeo", ["skopeo", "--version"], r"version (\S+)"),
    ):
        path = tool(command[0])
        if path is None:
            found[name] = None
            continue
        result = subprocess.run([path, *command[1:]], capture_output=True, text=True,
                                check=False, stdin=subprocess.DEVNULL)
        match = re.search(pattern, result.stdout + result.stderr)
        found[name] = match.group(1) if match else "unknown"
    return found


def describe(info: dict, found: dict, load: tuple) -> str:
    """
    The machine and programs, in one sentence (no host name, no path).
    """
    return (f"{describe_machine(info)}; "
            f"Distribution {found['distribution'] or 'not installed'}, wrk {found['wrk']}, "
            f"skopeo {found['skopeo']}; load average {load[0]:.2f} before, "
            f"{load[1]:.2f} after")


def settings_text(args) -> str:
    """
    The workload sizes, in one sentence.
    """
    return (f"{args.runs} run(s) after a warm-up; blobs of {format_size(args.sizes.blob)} "
            f"({format_size(args.sizes.chunk)} PATCHes); wrk {args.connections} connections, "
            f"{args.threads} threads, {args.sizes.duration} s per figure; "
            f"txregistry http.workers {args.workers}; "
            f"{args.repositories:,} repositories; {args.skopeo_copies} skopeo image(s) of "
            f"{args.sizes.image / 1e6:g} MB in three layers per run; RSS push of "
            f"{format_size(args.sizes.memory_push)}; {args.sizes.requests:,} requests before "
            "the last RSS figure")


def record(path: str, date: str, description: str, settings: str, command: str,
           summary: str, disk: str, cpu: str, failures: list) -> None:
    """
    Append a dated section to the Markdown file C{path}.
    """
    failed = "".join(f"\n- failed: {failure}" for failure in failures)
    disk_section = f"\nPushes against the disk (medians):\n\n{disk}\n" if disk else ""
    section = f"""
## {date}: txregistry against Distribution, side by side

**Machine.** {description}.

**Command.** `{command}`: {settings}.

Medians over the runs; the ratio is the median of the per-run ratios
txregistry/Distribution (only figures measured side by side compare).
`benchmarks/compare.py`'s module docstring says how each figure is made.

{summary}
{disk_section}
Server CPU time per unit of work (medians):

{cpu}
{failed}"""
    with open(path, "a") as out:
        out.write(section)


# Command line ------------------------------------------------------------

#: Options whose value is a local path, left out of the recorded command.
PATH_OPTIONS = ("--json", "--record")


def public_arguments(arguments: list) -> list:
    """
    C{arguments} without the options that name local files (and without
    C{--keep}), for the command written into the record.
    """
    kept = []
    skip = False
    for argument in arguments:
        if skip:
            skip = False
        elif argument in PATH_OPTIONS:
            skip = True
        elif argument != "--keep" and not argument.startswith(
                tuple(option + "=" for option in PATH_OPTIONS)):
            kept.append(argument)
    return kept


def parse_args(argv=None):
    """
    The command line; C{sizes} is resolved from C{--small} and the size
    options.
    """
    parser = argparse.ArgumentParser(
        description="txregistry against Distribution (docker-registry), side by side.",
        allow_abbrev=False)
    parser.add_argument("--runs", type=int, default=None,
                        help="measured runs, after a warm-up (default: 3; 1 with --small)")
    parser.add_argument("--small", action="store_true",
                        help="tiny sizes and 100 repositories: a quick smoke run")
    parser.add_argument("--blob-size", type=parse_size, help="push and pull blob size (256MiB)")
    parser.add_argument("--chunk", type=parse_size, help="PATCH size for the chunked push (8MiB)")
    parser.add_argument("--memory-size", type=parse_size,
                        help="size of the push whose peak RSS is measured (1GiB)")
    parser.add_argument("--requests", type=int,
                        help="requests before the RSS figure (100000)")
    parser.add_argument("--duration", type=int, help="seconds per wrk figure (10)")
    parser.add_argument("--image-size", type=int, help="bytes in the skopeo image (100000000)")
    parser.add_argument("--skopeo-copies", type=int, default=None,
                        help="skopeo images copied in and out per server and run, the "
                             "median kept (3; 1 with --small)")
    parser.add_argument("--repositories", type=int,
                        help="repositories in the store (10000; 100 with --small)")
    parser.add_argument("--connections", type=int,
                        help="wrk connections (64; 8 with --small)")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    parser.add_argument("--workers", type=int, default=1,
                        help="txregistry's http.workers, its server processes (1)")
    parser.add_argument("--only", default=",".join(Benchmark.WORKLOADS),
                        help="comma-separated workloads to run (default: all): "
                             + ", ".join(Benchmark.WORKLOADS))
    parser.add_argument("--no-distribution", action="store_true",
                        help="measure txregistry alone")
    parser.add_argument("--json", metavar="OUT", help="write every raw number to OUT")
    parser.add_argument("--record", metavar="FILE",
                        help="append a dated section with the table to FILE "
                             "(docs/benchmarks.md)")
    parser.add_argument("--keep", action="store_true",
                        help="keep the temporary directory (storage roots, configs, logs)")
    args = parser.parse_args(argv)
    base = SMALL if args.small else FULL
    args.sizes = attrs.evolve(base, **{
        field: value for field, value in (
            ("blob", args.blob_size), ("chunk", args.chunk), ("memory_push", args.memory_size),
            ("requests", args.requests), ("duration", args.duration), ("image", args.image_size),
        ) if value is not None
    })
    if args.runs is None:
        args.runs = 1 if args.small else 3
    if args.skopeo_copies is None:
        args.skopeo_copies = 1 if args.small else 3
    if args.repositories is None:
        args.repositories = 100 if args.small else 10_000
    if args.connections is None:
        args.connections = 8 if args.small else 64
    args.only = [w.strip() for w in args.only.split(",") if w.strip()]
    unknown = set(args.only) - set(Benchmark.WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    if (min(args.runs, args.skopeo_copies, args.repositories, args.connections, args.threads) < 1
            or min(attrs.astuple(args.sizes)) <= 0):
        parser.error("runs, sizes, counts and durations must be positive")
    if args.sizes.image < 3 * KiB:
        parser.error("--image-size must be at least 3 KiB")
    return args


def main(argv=None) -> int:
    """
    Run the benchmark; print the table.

    @return: the exit status: 0 if everything was measured.
    """
    args = parse_args(argv)
    for needed in ("wrk", "skopeo"):
        if tool(needed) is None:
            progress(f"{needed} is not installed")
            return 2
    with_distribution = not args.no_distribution and tool("docker-registry") is not None
    if not with_distribution and not args.no_distribution:
        progress("docker-registry is not installed: measuring txregistry alone")
    set_child_pythonpath()
    workdir = tempfile.mkdtemp(prefix="txregistry-compare-")
    names = ["txregistry"] + (["distribution"] if with_distribution else [])
    servers = [Server(name, os.path.join(workdir, name, "root"), os.path.join(workdir, name),
                      args.workers)
               for name in names]
    load_before = os.getloadavg()[0]
    started = time.monotonic()
    try:
        progress(f"writing {args.repositories} repositories")
        scratch = os.path.join(workdir, "catalog-image")
        store = populate([server.root for server in servers], args.repositories, scratch)
        bench = Benchmark(args, servers, workdir, store)
        for server in servers:
            server.start()
            progress(f"{server.name}: pid {server.pid}, {server.address}")
        try:
            bench.run("warmup", servers, bench.warmup,
                      bench.prepare_run("warmup", 1000, bench.warmup), record=False, last=False)
            for run in range(args.runs):
                label = f"run{run + 1}"
                data = bench.prepare_run(label, 10 * (run + 1), args.sizes)
                order = servers if run % 2 == 0 else servers[::-1]
                bench.run(label, order, args.sizes, data, record=True,
                          last=run == args.runs - 1)
                for image in data["images"]:
                    shutil.rmtree(image["layout"])
        except BaseException:
            for server in servers:
                progress(f"{server.name} log:\n" + server.log()[-4000:])
            raise
        finally:
            for server in servers:
                server.stop()
    finally:
        remove_workdir(workdir, args.keep)
    load_after = os.getloadavg()[0]
    info = machine()
    found = versions()
    summary_rows = summarize(bench.results)
    distribution_label = f"Distribution {found['distribution']}" if with_distribution else \
        "Distribution"
    summary = table(summary_rows, distribution_label)
    bounds = disk_bounds(bench.results)
    disk = disk_table(bounds, distribution_label)
    cpu = cpu_table(bench.details, distribution_label)
    description = describe(info, found, (load_before, load_after))
    settings = settings_text(args)
    print(description)
    print(settings)
    print(summary)
    print()
    if disk:
        print(disk)
        print()
    print(cpu)
    date = time.strftime("%Y-%m-%d", time.gmtime())
    arguments = sys.argv[1:] if argv is None else list(argv)
    command = " ".join(["python", "benchmarks/compare.py", *public_arguments(arguments)])
    if args.json:
        with open(args.json, "w") as out:
            json.dump({
                "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "arguments": arguments,
                "sizes": attrs.asdict(args.sizes),
                "runs": args.runs,
                "repositories": args.repositories,
                "connections": args.connections,
                "threads": args.threads,
                "workers": args.workers,
                "machine": info,
                "versions": found,
                "load_average": {"before": load_before, "after": load_after},
                "wall_seconds": time.monotonic() - started,
                "store": store,
                "results": bench.results,
                "details": bench.details,
                "summary": summary_rows,
                "disk": bounds,
                "failures": bench.failures,
            }, out, indent=2)
    if args.record:
        record(args.record, date, description, settings, command, summary, disk, cpu,
               bench.failures)
    if bench.failures:
        progress("failed:\n" + "\n".join(bench.failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
