"""
Online garbage collection while pushes continue: a real registry (twistd,
filesystem storage) collecting every second with a grace period of two
seconds and C{deleteuntagged}, while several clients push random
multi-layer images (sharing layers, mounting them across repositories,
uploading some in chunks), multi-platform indexes and referrers, and
another client deletes random manifests.

Afterwards every manifest whose push succeeded and that was not deleted
pulls completely with every digest verified, and storage holds no blob
that no manifest references and that is older than the grace period, nor
a link to a blob that is gone.
"""

import json
import os
import random
import re
import threading
import time
import traceback
from urllib.parse import urljoin

import attrs
import requests
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.harness import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    assert_quiet_log,
    sha256,
    temporary_directory,
    time_limit,
)
from tests.integration.processes import RegistryProcess, base_config

SEED = 5
#: Seconds the clients run.
DURATION = 60.0
INTERVAL = "1s"
DELAY = 2.0
PUSHERS = 4
DELETERS = 2
REPOSITORIES = ("stress/a", "stress/b", "stress/c", "stress/d")
#: Shared layers kept for reuse at most.
SHARED = 40
V2 = os.path.join("docker", "registry", "v2")
_SUMMARY = re.compile(
    r"garbage collection deleted (\d+) manifests, (\d+) blobs .* and (\d+) layer links"
)


@attrs.define
class Pushed:
    """
    A manifest whose push succeeded.

    @ivar blobs: the digests of the blobs it refers to.
    @ivar children: for an index, each child manifest's digest and blobs.
    @ivar subject: for a referrer, the digest of its subject.
    """

    repository: str
    digest: str
    kind: str
    tag: str | None
    blobs: list
    children: list = attrs.Factory(list)
    subject: str | None = None


class Workload:
    """
    What the clients did, shared between their threads.
    """

    def __init__(self, url: str, seed: int):
        self.url = url
        self.lock = threading.Lock()
        self.random = random.Random(seed)
        self.stop = threading.Event()
        self.pushed = []
        self.deleted = set()
        self.refused = 0
        self.shared = []
        self.counter = 0
        self.errors = []
        self.latencies = []
        self.mounts = 0
        self.chunked = 0
        self.skipped_uploads = 0

    def next_number(self) -> int:
        with self.lock:
            self.counter += 1
            return self.counter

    def fail(self, message: str) -> None:
        with self.lock:
            self.errors.append(message)
        self.stop.set()


class Pusher:
    """
    One client pushing images, indexes and referrers until told to stop.
    """

    def __init__(self, workload: Workload, seed: int):
        self.workload = workload
        self.random = random.Random(seed)
        self.session = requests.Session()

    def run(self) -> None:
        try:
            while not self.workload.stop.is_set():
                repository = self.random.choice(REPOSITORIES)
                roll = self.random.random()
                if roll < 0.15:
                    self.push_index(repository)
                elif roll < 0.3:
                    self.push_referrer(repository)
                else:
                    self.push_image(repository, tag=f"t{self.workload.next_number()}")
        except Exception:
            self.workload.fail(traceback.format_exc())

    def blob_url(self, repository: str, digest: str) -> str:
        return f"{self.workload.url}/v2/{repository}/blobs/{digest}"

    def ensure_blob(self, repository: str, data: bytes, source: str | None) -> str:
        """
        Make C{data} a blob of C{repository}: skip it if C{HEAD} finds it,
        mount it from C{source} if given, upload it otherwise (in one
        request, in two, or in chunks).
        """
        digest = sha256(data)
        if self.session.head(self.blob_url(repository, digest), timeout=30).status_code == 200:
            with self.workload.lock:
                self.workload.skipped_uploads += 1
            return digest
        base = f"{self.workload.url}/v2/{repository}/blobs/uploads/"
        if source is not None and source != repository:
            reply = self.session.post(base, params={"mount": digest, "from": source}, timeout=30)
            if reply.status_code == 201:
                with self.workload.lock:
                    self.workload.mounts += 1
                return digest
            self.expect(reply, 202, "mount fallback")
            location = urljoin(self.workload.url, reply.headers["Location"])
        else:
            style = self.random.random()
            if style < 0.3:
                reply = self.session.post(base, params={"digest": digest}, data=data, timeout=30)
                self.expect(reply, 201, "single-request upload")
                return digest
            reply = self.session.post(base, timeout=30)
            self.expect(reply, 202, "upload start")
            location = urljoin(self.workload.url, reply.headers["Location"])
        if len(data) > 64 * 1024:
            with self.workload.lock:
                self.workload.chunked += 1
            offset = 0
            for start in range(0, len(data), 100 * 1024):
                chunk = data[start:start + 100 * 1024]
                reply = self.session.patch(location, data=chunk, timeout=30, headers={
                    "Content-Type": "application/octet-stream",
                    "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
                })
                self.expect(reply, 202, "chunk")
                location = urljoin(self.workload.url, reply.headers["Location"])
                offset += len(chunk)
            reply = self.session.put(location, params={"digest": digest}, timeout=30)
        else:
            reply = self.session.put(location, params={"digest": digest}, data=data, timeout=30)
        self.expect(reply, 201, "upload end")
        return digest

    def expect(self, reply, status: int, what: str) -> None:
        if reply.status_code != status:
            raise AssertionError(f"{what}: {reply.status_code} {reply.text}")

    def layer(self, repository: str) -> tuple[bytes, str | None]:
        """
        A layer to use: a shared one (with the repository it was pushed to)
        or new random bytes, a few of them large enough to go in chunks.
        """
        with self.workload.lock:
            if self.workload.shared and self.random.random() < 0.4:
                return self.random.choice(self.workload.shared)
        size = self.random.choice((1024, 8 * 1024, 48 * 1024, 48 * 1024, 300 * 1024))
        data = self.random.randbytes(size)
        with self.workload.lock:
            self.workload.shared.append((data, repository))
            del self.workload.shared[:-SHARED]
        return data, None

    def build_image(self, repository: str) -> tuple[bytes, list]:
        layers = []
        for _ in range(self.random.randint(1, 4)):
            data, source = self.layer(repository)
            layers.append((self.ensure_blob(repository, data, source), len(data)))
        config = json.dumps({"n": self.workload.next_number()}).encode()
        config_digest = self.ensure_blob(repository, config, None)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": s} for d, s in layers],
        }
        return json.dumps(manifest).encode(), [config_digest] + [d for d, _ in layers]

    def pause(self) -> None:
        """
        What a client does between its uploads and its manifest: mostly
        little, sometimes longer than the grace period.
        """
        self.workload.stop.wait(self.random.choice((0, 0.05, 0.3, 0.8, 1.5, 2.5)))

    def put_manifest(self, repository: str, reference: str, body: bytes,
                     media_type: str) -> bool:
        reply = self.session.put(
            f"{self.workload.url}/v2/{repository}/manifests/{reference}", data=body,
            headers={"Content-Type": media_type}, timeout=30,
        )
        if reply.status_code == 201:
            return True
        codes = [error["code"] for error in reply.json()["errors"]]
        if reply.status_code != 400 or set(codes) != {"MANIFEST_BLOB_UNKNOWN"}:
            raise AssertionError(f"manifest PUT: {reply.status_code} {reply.text}")
        # Garbage collected meanwhile: refused, which is allowed.
        with self.workload.lock:
            self.workload.refused += 1
        return False

    def push_image(self, repository: str, tag: str | None) -> Pushed | None:
        body, blobs = self.build_image(repository)
        self.pause()
        digest = sha256(body)
        if not self.put_manifest(repository, tag or digest, body, OCI_MANIFEST):
            return None
        pushed = Pushed(repository, digest, "image", tag, blobs)
        if tag is not None:
            with self.workload.lock:
                self.workload.pushed.append(pushed)
        return pushed

    def push_index(self, repository: str) -> None:
        children = [self.push_image(repository, None) for _ in range(2)]
        if None in children:
            return
        index = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": child.digest,
                 "size": 0, "platform": {"architecture": arch, "os": "linux"}}
                for child, arch in zip(children, ("amd64", "arm64"))
            ],
        }
        for entry, child in zip(index["manifests"], children):
            entry["size"] = len(self.session.get(
                f"{self.workload.url}/v2/{repository}/manifests/{child.digest}",
                headers={"Accept": OCI_MANIFEST}, timeout=30).content)
        self.pause()
        body = json.dumps(index).encode()
        tag = f"i{self.workload.next_number()}"
        if self.put_manifest(repository, tag, body, OCI_INDEX):
            with self.workload.lock:
                self.workload.pushed.append(Pushed(
                    repository, sha256(body), "index", tag, [],
                    [(child.digest, child.blobs) for child in children],
                ))

    def push_referrer(self, repository: str) -> None:
        with self.workload.lock:
            subjects = [p for p in self.workload.pushed
                        if p.repository == repository and p.kind == "image"
                        and (p.repository, p.digest) not in self.workload.deleted]
            if not subjects:
                return
            subject = self.random.choice(subjects)
        empty = b"{}"
        config = self.ensure_blob(repository, empty, None)
        payload = self.ensure_blob(repository, self.random.randbytes(512), None)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.example.signature",
            "config": {"mediaType": "application/vnd.oci.empty.v1+json", "digest": config,
                       "size": 2},
            "layers": [{"mediaType": "application/octet-stream", "digest": payload,
                        "size": 512}],
            "subject": {"mediaType": OCI_MANIFEST, "digest": subject.digest, "size": 1},
        }
        body = json.dumps(manifest).encode()
        self.pause()
        if self.put_manifest(repository, sha256(body), body, OCI_MANIFEST):
            with self.workload.lock:
                self.workload.pushed.append(Pushed(
                    repository, sha256(body), "referrer", None, [config, payload],
                    subject=subject.digest,
                ))


def delete_loop(workload: Workload, seed: int) -> None:
    """
    Delete a random tagged manifest by digest every two seconds or so (a
    referrer may be collected once its subject is deleted).
    """
    chooser = random.Random(seed)
    session = requests.Session()
    try:
        while not workload.stop.wait(chooser.uniform(1.0, 3.0)):
            with workload.lock:
                alive = [p for p in workload.pushed if p.tag is not None
                         and (p.repository, p.digest) not in workload.deleted]
                if not alive:
                    continue
                victim = chooser.choice(alive)
                workload.deleted.add((victim.repository, victim.digest))
            reply = session.delete(
                f"{workload.url}/v2/{victim.repository}/manifests/{victim.digest}", timeout=30)
            if reply.status_code != 202:
                raise AssertionError(f"DELETE {victim}: {reply.status_code} {reply.text}")
    except Exception:
        workload.fail(traceback.format_exc())


def probe_loop(workload: Workload) -> None:
    """
    Time a C{GET /v2/} every 20 ms: how long requests wait meanwhile.
    """
    session = requests.Session()
    while not workload.stop.wait(0.02):
        started = time.monotonic()
        session.get(f"{workload.url}/v2/", timeout=30)
        workload.latencies.append(time.monotonic() - started)


def digest_of_path(path: str) -> str:
    algorithm, encoded = path.split(os.sep)[-2:]
    return f"{algorithm}:{encoded}"


def read_link(path: str) -> str:
    with open(path, "rb") as f:
        return f.read().decode("ascii")


def read_manifest(v2: str, digest: str) -> dict:
    algorithm, encoded = digest.split(":")
    with open(os.path.join(v2, "blobs", algorithm, encoded[:2], encoded, "data"), "rb") as f:
        return json.load(f)


class StorageAudit:
    """
    What the storage root holds, read from the files.
    """

    def __init__(self, root: str):
        self.v2 = os.path.join(root, V2)
        self.blobs = {}
        blobs = os.path.join(self.v2, "blobs", "sha256")
        for fan_out in os.listdir(blobs):
            for encoded in os.listdir(os.path.join(blobs, fan_out)):
                data = os.path.join(blobs, fan_out, encoded, "data")
                if os.path.exists(data):
                    self.blobs[f"sha256:{encoded}"] = os.stat(data).st_mtime
        self.revisions = []
        self.layer_links = []
        self.tags = []
        for directory, _, files in os.walk(os.path.join(self.v2, "repositories")):
            if "link" not in files:
                continue
            link = os.path.join(directory, "link")
            relative = os.path.relpath(directory, os.path.join(self.v2, "repositories"))
            if "/_manifests/revisions/" in relative:
                self.revisions.append((relative.split("/_manifests/")[0], read_link(link)))
            elif "/_layers/" in relative:
                self.layer_links.append((relative.split("/_layers/")[0], read_link(link)))
            elif relative.endswith("/current"):
                self.tags.append((relative.split("/_manifests/")[0], read_link(link)))

    def referenced(self) -> set:
        """
        Every digest a stored manifest revision references, and the
        manifests themselves.
        """
        found = set()
        for _, digest in self.revisions:
            found.add(digest)
            manifest = read_manifest(self.v2, digest)
            for descriptor in [manifest.get("config")] + manifest.get("layers", []) \
                    + manifest.get("manifests", []):
                if descriptor:
                    found.add(descriptor["digest"])
        return found


class OnlineGarbageCollectionStressTests(SynchronousTestCase):
    """
    Pushes, mounts, chunked uploads and deletes against a registry that
    collects garbage every second.
    """

    def setUp(self):
        time_limit(self, int(DURATION) + 240)
        self.root = temporary_directory(self, "txregistry-gc-stress-")
        config = base_config(self.root)
        config["log"]["level"] = "info"
        config["storage"]["maintenance"] = {
            "uploadpurging": {"enabled": False},
            "gc": {"enabled": True, "interval": INTERVAL, "delay": f"{DELAY}s",
                   "deleteuntagged": True},
        }
        self.registry = RegistryProcess.started(self, config)
        self.workload = Workload(self.registry.url, SEED)

    def run_workload(self) -> None:
        threads = [threading.Thread(target=Pusher(self.workload, SEED + n).run)
                   for n in range(PUSHERS)]
        threads += [threading.Thread(target=delete_loop, args=(self.workload, SEED - 1 - n))
                    for n in range(DELETERS)]
        threads.append(threading.Thread(target=probe_loop, args=(self.workload,)))
        self.addCleanup(self.workload.stop.set)
        for thread in threads:
            thread.start()
        self.workload.stop.wait(DURATION)
        self.workload.stop.set()
        for thread in threads:
            thread.join(60)
        self.assertEqual(self.workload.errors, [], "\n".join(self.workload.errors))

    def pull(self, repository: str, digest: str, blobs) -> None:
        reply = requests.get(f"{self.registry.url}/v2/{repository}/manifests/{digest}",
                             headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}, timeout=30)
        self.assertEqual(reply.status_code, 200, f"{repository}@{digest}: {reply.text}")
        self.assertEqual(sha256(reply.content), digest)
        for blob in blobs:
            reply = requests.get(f"{self.registry.url}/v2/{repository}/blobs/{blob}", timeout=30)
            self.assertEqual(reply.status_code, 200, f"{repository}: blob {blob} of {digest}")
            self.assertEqual(sha256(reply.content), blob)

    def test_pushes_survive_collection(self):
        """
        After a minute of pushes, deletes and collections every second,
        every acknowledged manifest that was not deleted pulls completely;
        and once the grace period has passed, storage holds no unreferenced
        blob and no dangling link.
        """
        self.run_workload()
        # Let collections run past the grace period with no client around.
        time.sleep(DELAY + 4)
        workload = self.workload
        alive = [p for p in workload.pushed if (p.repository, p.digest) not in workload.deleted]
        checked = 0
        for pushed in alive:
            if pushed.kind == "referrer" and (pushed.repository, pushed.subject) in workload.deleted:
                continue  # a referrer of a deleted manifest is garbage
            self.pull(pushed.repository, pushed.digest, pushed.blobs)
            for child, blobs in pushed.children:
                self.pull(pushed.repository, child, blobs)
            if pushed.tag is not None:
                reply = requests.head(
                    f"{self.registry.url}/v2/{pushed.repository}/manifests/{pushed.tag}",
                    headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}, timeout=30)
                self.assertEqual(reply.headers.get("Docker-Content-Digest"), pushed.digest)
            checked += 1

        audit = StorageAudit(self.root)
        referenced = audit.referenced()
        now = time.time()
        unreferenced = [digest for digest, mtime in audit.blobs.items()
                        if digest not in referenced and mtime < now - DELAY]
        self.assertEqual(unreferenced, [])
        for repository, digest in audit.revisions + audit.tags:
            self.assertIn(digest, audit.blobs, f"{repository}: manifest {digest} is gone")
        for repository, digest in audit.layer_links:
            self.assertIn(digest, audit.blobs, f"{repository}: link to {digest} dangles")

        runs = [tuple(map(int, m)) for m in _SUMMARY.findall(self.registry.log())]
        deleted = [sum(column) for column in zip(*runs)]
        assert_quiet_log(self, self.registry)
        latencies = sorted(workload.latencies)
        print(
            f"\n{len(workload.pushed)} pushes acknowledged ({checked} checked), "
            f"{workload.refused} refused as MANIFEST_BLOB_UNKNOWN, {len(workload.deleted)} "
            f"deleted; {workload.mounts} mounts, {workload.chunked} chunked uploads, "
            f"{workload.skipped_uploads} uploads skipped after HEAD; {len(runs)} collections "
            f"deleted {deleted} (manifests, blobs, links); GET /v2/ latency max "
            f"{latencies[-1] * 1000:.0f} ms, 99th percentile "
            f"{latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms"
        )
        self.assertGreater(len(runs), DURATION / 2)
        self.assertGreater(deleted[0], 0)
        self.assertGreater(deleted[1], 0)
        self.assertGreater(checked, 50)
