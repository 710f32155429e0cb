"""
Crash durability: a real registry killed with SIGKILL at random moments
while clients push blobs in every way the API allows, push manifests and
move tags, then restarted on the same root.

After each kill, before the restart, the storage root must hold nothing a
reader could be misled by: every blob's bytes hash to their name, every link
holds a digest, every manifest revision is JSON.  After each restart,
everything the server acknowledged must be there, with the right bytes, and
upload sessions cut off by the kill can be continued from the offset the
server reports.
"""

import hashlib
import json
import os
import random
import re
import socket
import threading
import time
import traceback

import attrs
from twisted.trial.unittest import SynchronousTestCase

from tests.integration import rawhttp
from tests.integration.harness import (
    OCI_MANIFEST,
    assert_quiet_log,
    location_path,
    manifest_body,
    sha256,
    start_registry,
    temporary_directory,
    time_limit,
    upload_offset,
)

SEED = 20261127
#: Kills, and the seconds the clients run before each.
KILLS = 6
RUN_BEFORE_KILL = (2.0, 4.0)
#: Seconds the clients run after the last restart.
FINAL_RUN = 2.0
WORKERS = 4
#: The largest blob pushed.
LARGE = 30 * 1024 * 1024
#: How long a request may fail before its failure counts as real rather
#: than caused by a kill.
KILL_GRACE = 15.0

_LINK = re.compile(rb"sha256:[0-9a-f]{64}\Z")
_HEX = re.compile(r"[0-9a-f]{64}\Z")


class Interrupted(Exception):
    """
    A request failed because the server was killed.
    """


class Server:
    """
    The registry under test, as the client threads see it: up or down, and
    which incarnation.

    @ivar generation: incremented at each kill.
    """

    def __init__(self, process):
        self.process = process
        self.generation = 0
        self.stopping = False
        self._condition = threading.Condition()
        self._up = True

    def current(self) -> tuple[int, tuple]:
        """
        Wait until the server is up (and released to the clients).

        @return: its generation and address.
        """
        with self._condition:
            self._condition.wait_for(lambda: self._up)
            return self.generation, ("127.0.0.1", self.process.port)

    def kill(self) -> None:
        """
        SIGKILL the server; clients wait from now on.
        """
        with self._condition:
            self._up = False
        self.process.kill()
        with self._condition:
            self.generation += 1
            self._condition.notify_all()

    def restart(self) -> tuple:
        """
        Start the server again on the same root (clients still wait).

        @return: its address.
        """
        self.process.start()
        return ("127.0.0.1", self.process.port)

    def release(self) -> None:
        """
        Let the clients use the restarted server.
        """
        with self._condition:
            self._up = True
            self._condition.notify_all()

    def killed_since(self, generation: int, timeout: float) -> bool:
        """
        Whether a kill happens after C{generation}, waiting up to C{timeout}.
        """
        with self._condition:
            return self._condition.wait_for(lambda: self.generation != generation, timeout)


@attrs.define
class Ledger:
    """
    What the server acknowledged, and what went wrong, across all clients.

    @ivar blobs: C{(name, digest)} to size, for every blob pushed with a
        201 (or found committed after a cut-off push).
    @ivar rejected: C{(name, wrong digest)} of pushes answered 400.
    @ivar manifests: C{(name, digest)} to the bytes pushed with a 201.
    @ivar tags: C{(name, tag)} to the digests pushed to it in order, each
        with whether it was acknowledged.
    @ivar referrers: C{(name, subject)} to the acknowledged manifests that
        refer to it.
    @ivar styles: how many blobs were acknowledged per upload style.
    @ivar resumed: upload sessions continued after a restart.
    @ivar failures: what went wrong, as text.
    """

    blobs: dict = attrs.Factory(dict)
    rejected: list = attrs.Factory(list)
    manifests: dict = attrs.Factory(dict)
    tags: dict = attrs.Factory(dict)
    referrers: dict = attrs.Factory(dict)
    styles: dict = attrs.Factory(dict)
    resumed: int = 0
    failures: list = attrs.Factory(list)
    lock: threading.Lock = attrs.Factory(threading.Lock)

    def tag_targets(self, key) -> tuple[set, bool]:
        """
        What a tag may point to after a kill: its last acknowledged digest,
        or a digest pushed after it without an answer.

        @return: those digests, and whether the tag may be missing (nothing
            pushed to it was acknowledged).
        """
        history = self.tags.get(key, [])
        acknowledged = [i for i, (_, acked) in enumerate(history) if acked]
        start = acknowledged[-1] if acknowledged else 0
        return {digest for digest, _ in history[start:]}, not acknowledged


@attrs.define
class Upload:
    """
    One blob push, resumable across kills.

    @ivar style: C{monolithic} (POST, PUT with the body), C{single} (POST
        C{?digest=} with the body), C{chunked} (PATCHes with
        C{Content-Range}, then PUT) or C{streamed} (one PATCH in the chunked
        transfer coding without C{Content-Range}, then PUT).
    @ivar digest: the digest claimed, wrong if C{wrong}.
    @ivar location: the session's path, once started.
    @ivar cut: whether a kill interrupted it.
    """

    name: str
    data: bytes
    style: str
    wrong: bool
    digest: str
    location: str | None = None
    cut: bool = False


class Client(threading.Thread):
    """
    A client thread pushing blobs, manifests and tags until told to stop,
    riding out kills by resuming what they cut off.
    """

    def __init__(self, index: int, server: Server, ledger: Ledger):
        super().__init__(name=f"durability-client-{index}", daemon=True)
        self.index = index
        self.server = server
        self.ledger = ledger
        self.rng = random.Random(SEED + index)
        self.repositories = (f"durability/c{index}", "durability/shared")
        self.tags = [f"c{index}-t{k}" for k in range(3)]
        self.layers = {name: [] for name in self.repositories}
        self.manifests = {name: [] for name in self.repositories}

    def run(self):
        """
        Push until the server is stopping; record any failure.
        """
        try:
            if self.index == 0:
                self.push(self.upload(self.repositories[0], LARGE, "chunked", wrong=False))
            while not self.server.stopping:
                self.step()
        except Exception:  # noqa: BLE001 - reported by the test, not lost with the thread
            with self.ledger.lock:
                self.ledger.failures.append(f"{self.name}:\n{traceback.format_exc()}")

    def call(self, method: str, target: str, headers=(), body: bytes = b"") -> rawhttp.Response:
        """
        One request to the current server.

        @raise Interrupted: if it failed because the server was killed.
        @raise AssertionError: if it failed otherwise, or got a 5xx.
        """
        generation, address = self.server.current()
        try:
            reply = rawhttp.request(address, method, target, headers, body)
        except OSError as error:
            if self.server.killed_since(generation, KILL_GRACE):
                raise Interrupted() from error
            raise AssertionError(f"{method} {target} failed with the server up: {error!r}")
        assert reply.status < 500, f"{method} {target}: {reply.status} {reply.body[:500]!r}"
        return reply

    def size(self) -> int:
        """
        A blob size: mostly small, sometimes a few MB, rarely up to L{LARGE}.
        """
        roll = self.rng.random()
        if roll < 0.65:
            return self.rng.randint(1024, 64 * 1024)
        if roll < 0.93:
            return self.rng.randint(64 * 1024, 1024 * 1024)
        if roll < 0.995:
            return self.rng.randint(1024 * 1024, 6 * 1024 * 1024)
        return self.rng.randint(16 * 1024 * 1024, LARGE)

    def upload(self, name: str, size: int, style: str, wrong: bool) -> Upload:
        """
        A new push of C{size} random bytes.
        """
        data = self.rng.randbytes(size)
        digest = sha256(data + b"wrong") if wrong else sha256(data)
        return Upload(name, data, style, wrong, digest)

    def step(self) -> None:
        """
        Push one blob; sometimes a manifest after it.
        """
        name = self.rng.choice(self.repositories)
        style = self.rng.choice(("monolithic", "single", "chunked", "streamed"))
        job = self.upload(name, self.size(), style, wrong=self.rng.random() < 0.15)
        self.push(job)
        if not job.wrong:
            self.layers[name].append((job.digest, len(job.data)))
            if self.rng.random() < 0.4:
                self.push_manifest(name)

    def push(self, job: Upload) -> None:
        """
        Push C{job} to the end, resuming it after each kill.
        """
        while True:
            try:
                self.attempt(job)
                return
            except Interrupted:
                job.cut = True

    def attempt(self, job: Upload) -> None:
        """
        Push C{job}, or continue it where a kill left it.
        """
        if job.style == "single":
            self.attempt_single(job)
            return
        offset = 0
        if job.location is None:
            reply = self.call("POST", f"/v2/{job.name}/blobs/uploads/")
            assert reply.status == 202, reply
            job.location = location_path(reply)
        else:
            # A kill cut the session off: continue from where it is.
            reply = self.call("GET", job.location)
            if reply.status == 404:
                self.session_gone(job)
                return
            assert reply.status == 204, reply
            offset = upload_offset(reply)
            assert offset <= len(job.data), (offset, len(job.data))
            with self.ledger.lock:
                self.ledger.resumed += 1
        rest = job.data[offset:]
        if job.style == "monolithic":
            self.complete(job, rest)
            return
        if job.style == "chunked":
            self.send_chunks(job, offset)
        else:
            pieces = (rest[i:i + 65536] for i in range(0, len(rest), 65536))
            reply = self.call("PATCH", job.location, [("Transfer-Encoding", "chunked")],
                              rawhttp.chunked(pieces))
            assert reply.status == 202, reply
            assert upload_offset(reply) == len(job.data), reply
        self.complete(job, b"")

    def send_chunks(self, job: Upload, offset: int) -> None:
        """
        PATCH the rest of C{job} from C{offset} in chunks with C{Content-Range}.
        """
        while offset < len(job.data):
            end = min(offset + self.rng.randint(32 * 1024, 4 * 1024 * 1024), len(job.data))
            reply = self.call("PATCH", job.location, [("Content-Range", f"{offset}-{end - 1}")],
                              job.data[offset:end])
            assert reply.status == 202, reply
            assert reply.header("range") == f"0-{end - 1}", reply
            offset = end

    def complete(self, job: Upload, body: bytes) -> None:
        """
        PUT C{?digest=} with the last bytes: 201, or 400 for a wrong digest.
        """
        reply = self.call("PUT", f"{job.location}?digest={job.digest}", body=body)
        self.outcome(job, reply)

    def attempt_single(self, job: Upload) -> None:
        """
        POST C{?digest=} with the whole blob; after a kill, the blob is
        either there or pushed again.
        """
        if job.cut and not job.wrong:
            head = self.call("HEAD", f"/v2/{job.name}/blobs/{job.digest}")
            if head.status == 200:
                self.committed(job)
                return
        reply = self.call("POST", f"/v2/{job.name}/blobs/uploads/?digest={job.digest}",
                          body=job.data)
        self.outcome(job, reply)

    def outcome(self, job: Upload, reply: rawhttp.Response) -> None:
        """
        Check and record the answer to a completing request.
        """
        if job.wrong:
            assert reply.status == 400, reply
            assert reply.error_codes() == ["DIGEST_INVALID"], reply
            with self.ledger.lock:
                self.ledger.rejected.append((job.name, job.digest))
            return
        assert reply.status == 201, reply
        assert reply.header("docker-content-digest") == job.digest, reply
        self.committed(job)

    def session_gone(self, job: Upload) -> None:
        """
        A session cut off by a kill no longer exists: its completing PUT
        went through before the kill (or was refused, for a wrong digest).
        """
        if job.wrong:
            with self.ledger.lock:
                self.ledger.rejected.append((job.name, job.digest))
            return
        head = self.call("HEAD", f"/v2/{job.name}/blobs/{job.digest}")
        assert head.status == 200, f"session of {job.digest} gone but blob missing: {head}"
        self.committed(job)

    def committed(self, job: Upload) -> None:
        """
        Record a blob the server has.
        """
        with self.ledger.lock:
            self.ledger.blobs[(job.name, job.digest)] = len(job.data)
            self.ledger.styles[job.style] = self.ledger.styles.get(job.style, 0) + 1

    def push_manifest(self, name: str) -> None:
        """
        Push a config blob and an image manifest over some of the layers
        pushed to C{name}, sometimes referring to an earlier manifest, by
        tag (moving it) or by digest; retried after a kill until
        acknowledged.
        """
        config = json.dumps({"architecture": "amd64", "os": "linux",
                             "client": self.index, "n": self.rng.random()}).encode()
        self.push(Upload(name, config, "single", False, sha256(config)))
        layers = self.rng.sample(self.layers[name], min(3, len(self.layers[name])))
        subject = None
        if self.manifests[name] and self.rng.random() < 0.3:
            subject = self.rng.choice(self.manifests[name])
        body = manifest_body((sha256(config), len(config)), layers, subject)
        digest = sha256(body)
        tag = self.rng.choice(self.tags) if self.rng.random() < 0.7 else None
        history = None
        if tag is not None:
            with self.ledger.lock:
                history = self.ledger.tags.setdefault((name, tag), [])
                history.append((digest, False))
        while True:
            try:
                reply = self.call("PUT", f"/v2/{name}/manifests/{tag or digest}",
                                  [("Content-Type", OCI_MANIFEST)], body)
                break
            except Interrupted:
                continue
        assert reply.status == 201, reply
        assert reply.header("docker-content-digest") == digest, reply
        self.manifests[name].append((digest, len(body)))
        with self.ledger.lock:
            self.ledger.manifests[(name, digest)] = body
            if history is not None:
                history[history.index((digest, False))] = (digest, True)
            if subject is not None:
                assert reply.header("oci-subject") == subject[0], reply
                self.ledger.referrers.setdefault((name, subject[0]), set()).add(digest)


class StorageWalk:
    """
    Checks of a storage root at rest, remembering the hashes of blob files
    already checked (a blob's file never changes once in place).
    """

    def __init__(self, root: str):
        self.v2 = os.path.join(root, "docker", "registry", "v2")
        self._hashed = {}

    def blob_path(self, digest: str) -> str:
        """
        Where the bytes of blob C{digest} are.
        """
        hexdigest = digest.split(":", 1)[1]
        return os.path.join(self.v2, "blobs", "sha256", hexdigest[:2], hexdigest, "data")

    def _hash(self, path: str) -> str:
        status = os.stat(path)
        key = (path, status.st_ino, status.st_size, status.st_mtime_ns)
        if key not in self._hashed:
            hasher = hashlib.sha256()
            with open(path, "rb") as f:
                while piece := f.read(1 << 20):
                    hasher.update(piece)
            self._hashed[key] = hasher.hexdigest()
        return self._hashed[key]

    def problems(self) -> list[str]:
        """
        Everything wrong with the root.
        """
        found = []
        blobs = os.path.join(self.v2, "blobs")
        for directory, _, files in os.walk(blobs):
            if "data" not in files:
                continue
            relative = os.path.relpath(directory, blobs).split(os.sep)
            if len(relative) != 3 or relative[0] != "sha256" or not _HEX.match(relative[2]) \
                    or relative[1] != relative[2][:2]:
                found.append(f"blob data at an unexpected place: {directory}")
            elif self._hash(os.path.join(directory, "data")) != relative[2]:
                found.append(f"blob {relative[2]} holds other bytes")
        for directory, _, files in os.walk(os.path.join(self.v2, "repositories")):
            if "link" in files:
                found.extend(self._link_problems(os.path.join(directory, "link")))
        return found

    def _link_problems(self, path: str) -> list[str]:
        with open(path, "rb") as f:
            content = f.read()
        if not _LINK.match(content):
            return [f"{path} holds {content[:100]!r}"]
        target = self.blob_path(content.decode())
        if not os.path.isfile(target):
            return [f"{path} points to a blob that is not stored"]
        if os.sep + "revisions" + os.sep in path:
            try:
                with open(target, "rb") as f:
                    json.loads(f.read())
            except ValueError:
                return [f"manifest revision {path} is not JSON"]
        if path.endswith(os.path.join("current", "link")):
            repository = path.split(os.sep + "_manifests" + os.sep)[0]
            hexdigest = content.decode().split(":")[1]
            revision = os.path.join(repository, "_manifests", "revisions", "sha256", hexdigest,
                                    "link")
            if not os.path.isfile(revision):
                return [f"{path} points to a manifest with no revision"]
        return []


class DurabilityTests(SynchronousTestCase):
    """
    SIGKILL at random moments during concurrent pushes.
    """

    def setUp(self):
        time_limit(self, 150)
        self.root = os.path.join(temporary_directory(self, "txregistry-durability-"), "storage")
        self.server = Server(start_registry(self, self.root))
        self.ledger = Ledger()
        self.walk = StorageWalk(self.root)
        self.verified = set()
        self.rng = random.Random(SEED)

    def test_sigkill_during_pushes(self):
        """
        Several clients push blobs in all four upload styles (a few KB to
        30 MB, some with wrong digests), manifests (some with a subject) and
        tag moves, while the server is killed with SIGKILL and restarted on
        the same root, again and again.  After each kill the root is consistent; after each
        restart every acknowledged blob and manifest reads back with its
        bytes, every tag points to its last acknowledged manifest (or one
        whose push was cut off), every acknowledged referrer is listed, a
        session with an acknowledged chunk continues from exactly its end, a
        session cut off mid-chunk continues from the offset the server
        reports, and sessions the clients had going resume.
        """
        clients = [Client(i, self.server, self.ledger) for i in range(WORKERS)]
        for client in clients:
            client.start()
        try:
            for _ in range(KILLS):
                time.sleep(self.rng.uniform(*RUN_BEFORE_KILL))
                self.kill_and_restart()
            time.sleep(FINAL_RUN)
        finally:
            self.server.stopping = True
            self.server.release()
            for client in clients:
                client.join(60)
        self.assertEqual(self.ledger.failures, [])
        self.assertFalse(any(client.is_alive() for client in clients))
        address = ("127.0.0.1", self.server.process.port)
        self.check_acknowledged(address)
        self.server.process.stop()
        assert_quiet_log(self, self.server.process)
        self.assertEqual(self.walk.problems(), [])
        self.check_coverage()

    def kill_and_restart(self) -> None:
        """
        Prepare a session with an acknowledged chunk and one cut off
        mid-chunk, kill the server, check the root, restart, check that
        everything acknowledged is there and continue both sessions.
        """
        _, address = self.server.current()
        acked = self.session_with_chunk(address)
        *mid_chunk, hanging = self.session_mid_chunk(address)
        self.server.kill()
        hanging.close()
        self.assertEqual(self.walk.problems(), [])
        address = self.server.restart()
        self.continue_session(address, *acked, exact=True)
        self.continue_session(address, *mid_chunk, exact=False)
        self.check_acknowledged(address)
        self.server.release()

    def session_with_chunk(self, address: tuple) -> tuple:
        """
        Start a session and PATCH a first chunk, acknowledged.

        @return: its path, all its data and how much was acknowledged.
        """
        data = self.rng.randbytes(self.rng.randint(100 * 1024, 3 * 1024 * 1024))
        first = self.rng.randint(2, len(data) - 1)
        started = rawhttp.request(address, "POST", "/v2/durability/resume/blobs/uploads/")
        self.assertEqual(started.status, 202)
        location = location_path(started)
        reply = rawhttp.request(address, "PATCH", location,
                                [("Content-Range", f"0-{first - 1}")], data[:first])
        self.assertEqual((reply.status, reply.header("range")), (202, f"0-{first - 1}"))
        return location, data, first

    def session_mid_chunk(self, address: tuple) -> tuple:
        """
        Start a session and send half of a chunk, left hanging, until the
        server has stored some of it.

        @return: its path, all its data, how much of it was sent and the
            socket of the hanging PATCH.
        """
        data = self.rng.randbytes(self.rng.randint(2 * 1024 * 1024, 8 * 1024 * 1024))
        started = rawhttp.request(address, "POST", "/v2/durability/resume/blobs/uploads/")
        location = location_path(started)
        sock = socket.create_connection(address, rawhttp.TIMEOUT)
        head = rawhttp.build(b"PATCH", location.encode(),
                             [(b"Content-Range", b"0-%d" % (len(data) - 1,))], length=len(data))
        sent = len(data) // 2
        sock.sendall(head + data[:sent])
        deadline = time.monotonic() + 10
        while upload_offset(rawhttp.request(address, "GET", location)) == 0:
            self.assertLess(time.monotonic(), deadline, "the server stored none of the chunk")
            time.sleep(0.01)
        return location, data, sent, sock

    def continue_session(self, address: tuple, location: str, data: bytes, sent: int,
                         exact: bool) -> None:
        """
        After a restart, ask a session's offset, send the rest from there
        and complete it; the blob reads back whole.

        @param sent: how many bytes were sent before the kill.
        @param exact: whether all of them were acknowledged, so the offset
            must be exactly C{sent}; otherwise it is anything from 1 to it.
        """
        status = rawhttp.request(address, "GET", location)
        self.assertEqual(status.status, 204, status)
        offset = upload_offset(status)
        if exact:
            self.assertEqual(offset, sent)
        else:
            self.assertTrue(0 < offset <= sent, (offset, sent))
        reply = rawhttp.request(address, "PATCH", location,
                                [("Content-Range", f"{offset}-{len(data) - 1}")], data[offset:])
        self.assertEqual((reply.status, reply.header("range")), (202, f"0-{len(data) - 1}"))
        digest = sha256(data)
        done = rawhttp.request(address, "PUT", f"{location}?digest={digest}")
        self.assertEqual((done.status, done.header("docker-content-digest")), (201, digest))
        blob = rawhttp.request(address, "GET", f"/v2/durability/resume/blobs/{digest}")
        self.assertEqual(blob.body, data)
        with self.ledger.lock:
            self.ledger.blobs[("durability/resume", digest)] = len(data)
            self.ledger.resumed += 1
        self.verified.add(("durability/resume", digest))

    def check_acknowledged(self, address: tuple) -> None:
        """
        Every blob and manifest acknowledged so far reads back with its
        bytes (each checked once: nothing is ever deleted, and the walk of
        the root after each kill finds any blob whose bytes change), no blob
        pushed with a wrong digest exists, every tag points where it may, and
        the referrers of each subject include every acknowledged referrer.
        """
        with self.ledger.lock:
            blobs = dict(self.ledger.blobs)
            manifests = dict(self.ledger.manifests)
            rejected = list(self.ledger.rejected)
            tags = {key: self.ledger.tag_targets(key) for key in self.ledger.tags}
            referrers = {key: set(value) for key, value in self.ledger.referrers.items()}
        for (name, digest), size in blobs.items():
            if (name, digest) in self.verified:
                continue
            reply = rawhttp.request(address, "GET", f"/v2/{name}/blobs/{digest}")
            self.assertEqual(reply.status, 200, (name, digest))
            self.assertEqual((len(reply.body), sha256(reply.body)), (size, digest))
            self.verified.add((name, digest))
        for (name, digest), body in manifests.items():
            if ("manifest", name, digest) in self.verified:
                continue
            reply = rawhttp.request(address, "GET", f"/v2/{name}/manifests/{digest}",
                                    [("Accept", OCI_MANIFEST)])
            self.assertEqual((reply.status, reply.body), (200, body), (name, digest))
            self.verified.add(("manifest", name, digest))
        for name, digest in rejected:
            reply = rawhttp.request(address, "HEAD", f"/v2/{name}/blobs/{digest}")
            self.assertEqual(reply.status, 404, (name, digest))
        for (name, tag), (targets, may_be_missing) in tags.items():
            reply = rawhttp.request(address, "HEAD", f"/v2/{name}/manifests/{tag}",
                                    [("Accept", OCI_MANIFEST)])
            if reply.status == 404 and may_be_missing:
                continue
            self.assertEqual(reply.status, 200, (name, tag))
            self.assertIn(reply.header("docker-content-digest"), targets, (name, tag))
        for (name, subject), expected in referrers.items():
            reply = rawhttp.request(address, "GET", f"/v2/{name}/referrers/{subject}")
            listed = {d["digest"] for d in reply.json()["manifests"]}
            self.assertEqual(expected - listed, set(), (name, subject))

    def check_coverage(self) -> None:
        """
        The run exercised what it is meant to: every upload style, wrong
        digests, large blobs, manifests, tags and resumed sessions.
        """
        ledger = self.ledger
        self.assertEqual(set(ledger.styles), {"monolithic", "single", "chunked", "streamed"})
        self.assertTrue(ledger.rejected)
        self.assertTrue(ledger.manifests)
        self.assertTrue(ledger.referrers)
        self.assertTrue(any(acked for history in ledger.tags.values() for _, acked in history))
        self.assertGreaterEqual(max(ledger.blobs.values()), LARGE)
        self.assertGreaterEqual(ledger.resumed, 2 * KILLS)
