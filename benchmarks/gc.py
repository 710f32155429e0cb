"""
How long does garbage collection take on a large root, and how much memory
does it use, beside Distribution's C{registry garbage-collect}?

The script writes a storage root in Distribution's layout directly (files,
not pushes): C{--repositories} repositories of C{--manifests} manifests
each (by default 500 x 20: 10,000 manifests and over 50,000 blobs).  Each
image has a config of its own, one layer from a pool shared by all
repositories and three layers of its own; every tenth manifest is an image
index of the two images before it; three manifests in five are tagged
(every index is); each repository also holds ten linked blobs no manifest
uses, and a thousand blobs are in no repository at all.

Then, for each set of flags (none, C{-m}), it copies the root and runs each
tool on its own copy: C{txregistry garbage-collect} (this checkout) and, if
installed, Debian's C{docker-registry garbage-collect}.  Each run is a
child process; the table gives its wall-clock time, its peak resident set
size (C{ru_maxrss} from C{wait4}), and the counts it printed.  Both print
a line per mark and per deletion, to a file.

With C{--online}, it also starts txregistry (twistd) on a copy with online
collection every few seconds, times a C{GET /v2/} every 10 ms while the
first collection runs, and reports the collection's duration and the
requests' latency: how long a collection holds requests back.

C{--small} builds a root of 20 x 10 manifests, for a quick check that the
script works.
"""

import argparse
import hashlib
import importlib.util
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

import requests
import yaml

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from tests.integration.processes import RegistryProcess, base_config, tool  # noqa: E402

MiB = 1024 * 1024
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
#: Layers shared by every repository.
POOL = 200
#: Blobs linked into each repository that no manifest uses.
ORPHANS_PER_REPOSITORY = 10
#: Blobs in no repository.
LOOSE_ORPHANS = 1000
_COUNTS = re.compile(r"(\d+) blobs marked, (\d+) blobs and (\d+) manifests eligible")


def _load_push_memory():
    spec = importlib.util.spec_from_file_location(
        "push_memory", os.path.join(REPO_ROOT, "benchmarks", "push_memory.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class RootWriter:
    """
    Writes registry content as files under a root, in Distribution's layout.

    @ivar manifests: how many manifests were written.
    @ivar blobs: how many blobs were written.
    """

    def __init__(self, root: str, seed: int):
        self._v2 = os.path.join(root, "docker", "registry", "v2")
        self._random = random.Random(seed)
        self.manifests = 0
        self.blobs = 0

    def _write(self, relative: str, content: bytes) -> None:
        path = os.path.join(self._v2, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)

    def blob(self, content: bytes) -> str:
        encoded = hashlib.sha256(content).hexdigest()
        self._write(f"blobs/sha256/{encoded[:2]}/{encoded}/data", content)
        self.blobs += 1
        return f"sha256:{encoded}"

    def random_blob(self) -> str:
        return self.blob(self._random.randbytes(self._random.randint(64, 512)))

    def link(self, name: str, digest: str) -> None:
        self._write(f"repositories/{name}/_layers/sha256/{digest[7:]}/link", digest.encode())

    def manifest(self, name: str, document: dict, tag: str | None) -> str:
        digest = self.blob(json.dumps(document).encode())
        self.manifests += 1
        self._write(f"repositories/{name}/_manifests/revisions/sha256/{digest[7:]}/link",
                    digest.encode())
        if tag is not None:
            tag_dir = f"repositories/{name}/_manifests/tags/{tag}"
            self._write(f"{tag_dir}/index/sha256/{digest[7:]}/link", digest.encode())
            self._write(f"{tag_dir}/current/link", digest.encode())
        return digest

    def image(self, name: str, pool: list, tag: str | None) -> str:
        config = self.blob(json.dumps({"image": self.manifests}).encode())
        layers = [self._random.choice(pool)] + [self.random_blob() for _ in range(3)]
        for digest in [config] + layers:
            self.link(name, digest)
        return self.manifest(name, {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config, "size": 1},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                        "digest": digest, "size": 1} for digest in layers],
        }, tag)

    def index(self, name: str, children: list, tag: str) -> str:
        return self.manifest(name, {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": child, "size": 1,
                           "platform": {"architecture": arch, "os": "linux"}}
                          for child, arch in zip(children, ("amd64", "arm64"))],
        }, tag)

    def build(self, repositories: int, manifests: int) -> None:
        """
        Write the whole root (see the module's docstring).
        """
        pool = [self.random_blob() for _ in range(POOL)]
        for r in range(repositories):
            name = f"bench/repo{r:04d}"
            images = []
            for m in range(manifests):
                if m % 10 == 9:
                    self.index(name, images[-2:], f"index{m}")
                    continue
                tagged = self._random.random() < 0.6
                images.append(self.image(name, pool, f"v{m}" if tagged else None))
            for _ in range(ORPHANS_PER_REPOSITORY):
                self.link(name, self.random_blob())
        for _ in range(LOOSE_ORPHANS):
            self.random_blob()


def copy_root(root: str, copy: str) -> None:
    """
    Replace C{copy} with a copy of C{root} (C{rm} and C{cp} are much faster
    than Python's for a hundred thousand small files).
    """
    subprocess.run(["rm", "-rf", copy], check=True)
    subprocess.run(["cp", "-a", root, copy], check=True)


def run_tool(argv: list, output: str) -> dict:
    """
    Run a collector to its end, output to a file; measure it.

    @return: seconds, peak RSS in bytes, the exit status and the counts it
        printed.
    """
    with open(output, "w") as out:
        started = time.monotonic()
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.monotonic() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    with open(output) as f:
        text = f.read()
    counts = _COUNTS.findall(text)
    if process.returncode != 0 or not counts:
        raise RuntimeError(f"{argv} failed ({process.returncode}):\n{text[-3000:]}")
    marked, blobs, manifests = map(int, counts[-1])
    return {"seconds": seconds, "peak_rss": usage.ru_maxrss * 1024, "marked": marked,
            "blobs": blobs, "manifests": manifests}


def collectors(distribution: str | None) -> list:
    """
    The tools to compare: C{(name, argv before the flags)}.
    """
    tools = [("txregistry", [sys.executable, "-m", "txregistry", "garbage-collect"])]
    if distribution is not None:
        tools.append(("distribution 2.8", [distribution, "garbage-collect"]))
    return tools


def offline(workdir: str, root: str, distribution: str | None, progress) -> list:
    """
    Run each tool with each set of flags on a fresh copy of C{root}.
    """
    rows = []
    for flags in ([], ["-m"]):
        for name, argv in collectors(distribution):
            copy = os.path.join(workdir, "copy")
            copy_root(root, copy)
            config = os.path.join(workdir, "copy.yml")
            with open(config, "w") as f:
                yaml.safe_dump({"version": 0.1,
                                "storage": {"filesystem": {"rootdirectory": copy}}}, f)
            progress(f"{name} garbage-collect {' '.join(flags)}")
            row = run_tool(argv + flags + [config], os.path.join(workdir, "output.txt"))
            rows.append(dict(row, tool=name, flags=" ".join(flags) or "(none)"))
    return rows


def _latency(latencies: list) -> dict:
    ordered = sorted(latencies)
    return {"requests": len(ordered), "median_ms": ordered[len(ordered) // 2] * 1000,
            "p99_ms": ordered[int(len(ordered) * 0.99)] * 1000, "max_ms": ordered[-1] * 1000}


def online(workdir: str, root: str, interval: float, progress) -> dict:
    """
    Time requests to txregistry on a copy of C{root}: from its start until
    its first collection starts (the baseline), then while it runs.
    """
    copy = os.path.join(workdir, "online")
    copy_root(root, copy)
    config = base_config(copy)
    config["log"]["level"] = "info"
    config["storage"]["maintenance"] = {
        "uploadpurging": {"enabled": False},
        "gc": {"enabled": True, "interval": f"{interval}s", "delay": "0s",
               "deleteuntagged": True},
    }
    os.makedirs(os.path.join(workdir, "server"))
    server = RegistryProcess(config, os.path.join(workdir, "server"))
    server.start()
    try:
        session = requests.Session()
        latencies = []
        progress(f"online: timing GET /v2/ for {interval} s, then while the first "
                 f"collection runs")
        deadline = time.monotonic() + interval + 1800
        while "garbage collection deleted" not in server.log():
            if time.monotonic() > deadline:
                raise RuntimeError("no collection ended:\n" + server.log()[-3000:])
            started = time.monotonic()
            session.get(f"{server.url}/v2/", timeout=30).raise_for_status()
            latencies.append((started, time.monotonic() - started))
            time.sleep(0.01)
        ended = time.monotonic()
        line = next(line for line in server.log().splitlines()
                    if "garbage collection deleted" in line)
    finally:
        server.stop()
    seconds = float(re.search(r"in ([\d.]+) s;", line).group(1))
    began = ended - seconds
    return {
        "collection_seconds": seconds,
        "baseline": _latency([latency for started, latency in latencies
                              if latencies[0][0] + 1 <= started < began - 0.5]),
        "during": _latency([latency for started, latency in latencies if started >= began]),
        "log": line.split("] ", 1)[-1],
    }


def table(rows: list) -> str:
    """
    The offline rows as a Markdown table.
    """
    lines = ["| tool | flags | seconds | peak RSS MiB | marked | blobs deleted | "
             "manifests deleted |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for row in rows:
        lines.append(f"| {row['tool']} | {row['flags']} | {row['seconds']:.2f} | "
                     f"{row['peak_rss'] / MiB:.1f} | {row['marked']} | {row['blobs']} | "
                     f"{row['manifests']} |")
    return "\n".join(lines)


def parse_args(argv=None):
    """
    The command line.
    """
    parser = argparse.ArgumentParser(
        description="Time and peak memory of garbage collection on a large root, "
                    "txregistry beside Distribution.")
    parser.add_argument("--repositories", type=int, default=500)
    parser.add_argument("--manifests", type=int, default=20,
                        help="manifests per repository (default: 20)")
    parser.add_argument("--small", action="store_true",
                        help="20 repositories of 10 manifests: a quick check")
    parser.add_argument("--online", action="store_true",
                        help="also time requests during an online collection")
    parser.add_argument("--no-distribution", action="store_true",
                        help="do not run docker-registry even if installed")
    parser.add_argument("--json", metavar="OUT", help="write the raw results to OUT")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.small:
        args.repositories, args.manifests = 20, 10
    return args


def main(argv=None) -> int:
    """
    Build the root, run the collectors, print the tables.
    """
    args = parse_args(argv)

    def progress(message):
        print(message, file=sys.stderr, flush=True)

    os.environ["PYTHONPATH"] = os.pathsep.join(
        [REPO_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])
    distribution = None if args.no_distribution else tool("docker-registry")
    workdir = tempfile.mkdtemp(prefix="txregistry-bench-gc-")
    try:
        root = os.path.join(workdir, "root")
        writer = RootWriter(root, seed=1)
        started = time.monotonic()
        progress(f"writing {args.repositories} x {args.manifests} manifests")
        writer.build(args.repositories, args.manifests)
        progress(f"wrote {writer.manifests} manifests and {writer.blobs} blobs in "
                 f"{time.monotonic() - started:.0f} s")
        rows = offline(workdir, root, distribution, progress)
        latency = online(workdir, root, 10.0, progress) if args.online else None
    finally:
        if args.keep:
            progress(f"kept {workdir}")
        else:
            subprocess.run(["rm", "-rf", workdir], check=False)
    info = _load_push_memory().machine()
    print(f"{info['cpus']} CPUs ({info['cpu']}), {info['memory'] / 2**30:.1f} GiB RAM, "
          f"Linux {info['kernel']}, Python {info['python']}, Twisted {info['twisted']}")
    print(f"root: {writer.manifests} manifests, {writer.blobs} blobs, "
          f"{args.repositories} repositories")
    print(table(rows))
    if latency is not None:
        print(f"online (deleteuntagged, delay 0s): collection {latency['collection_seconds']:.1f} s")
        print("| GET /v2/ | requests | median ms | 99th percentile ms | max ms |\n"
              "| --- | --- | --- | --- | --- |")
        for phase in ("baseline", "during"):
            row = latency[phase]
            print(f"| {phase} | {row['requests']} | {row['median_ms']:.1f} | "
                  f"{row['p99_ms']:.1f} | {row['max_ms']:.1f} |")
    if args.json:
        with open(args.json, "w") as out:
            json.dump({"date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "arguments": sys.argv[1:] if argv is None else list(argv),
                       "machine": info, "manifests": writer.manifests, "blobs": writer.blobs,
                       "rows": rows, "online": latency}, out, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
