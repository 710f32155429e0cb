"""
Several server processes (C{http.workers}) under a real C{twistd}: real
clients spread over them, an upload session continues in another process,
notifications from every process arrive, a worker that dies is started
again, and stopping or killing the registry leaves no worker behind.
"""

import json
import os
import signal
import subprocess
from urllib.parse import urljoin

import requests
import yaml
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.clients import Skopeo, patch_chunk, push_blob, sha256_digest
from tests.integration.images import read_oci_layout, sample_image
from tests.integration.processes import (
    RegistryProcess,
    base_config,
    process_exists,
    temporary_directory,
    wait_for,
)
from tests.integration.receiver import WebhookReceiver

WORKERS = 3


def worker_pids(parent: int) -> dict[int, int]:
    """
    The worker processes of registry process C{parent}, by index.
    """
    workers = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as stat:
                ppid = int(stat.read().rpartition(")")[2].split()[1])
            with open(f"/proc/{name}/cmdline", "rb") as cmdline:
                argv = cmdline.read().split(b"\0")
        except (OSError, ValueError):
            continue
        if ppid == parent and b"worker" in argv and process_exists(int(name)):
            workers[int(argv[argv.index(b"--index") + 1])] = int(name)
    return workers


def log_events(log: str) -> list[dict]:
    """
    The events of a JSON log, from its complete lines only (the registry may
    be writing the last one), skipping any line that is not JSON (such as a
    warning the interpreter writes to standard error).
    """
    events = []
    for line in log[:log.rfind("\n") + 1].splitlines():
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events


def listening_workers(log: str) -> set[int]:
    """
    The workers that said, in a JSON log, that they listen.
    """
    events = log_events(log)
    return {event["worker"] for event in events
            if "worker" in event and "listening on" in event.get("log_format", "")}


def served_by(log: str) -> dict[int, int]:
    """
    How many access log lines each process wrote, by worker index (0 for
    the registry's own process), from a JSON log.
    """
    counts = {}
    for event in log_events(log):
        if event.get("log_namespace") == "txregistry.access":
            index = event.get("worker", 0)
            counts[index] = counts.get(index, 0) + 1
    return counts


class WorkersTests(SynchronousTestCase):
    """
    A registry with three server processes on one address.
    """

    def setUp(self):
        self.scratch = temporary_directory(self)
        self.receiver = WebhookReceiver().start()
        self.addCleanup(self.receiver.stop)
        config = base_config(
            os.path.join(self.scratch, "root"),
            log={"level": "info", "formatter": "json", "accesslog": {"disabled": False}},
            http={"addr": "127.0.0.1:0", "workers": WORKERS},
            notifications={
                "spool": os.path.join(self.scratch, "spool"),
                "endpoints": [{"name": "receiver", "url": self.receiver.url,
                               "timeout": "5s", "backoff": "100ms"}],
            },
        )
        self.registry = RegistryProcess.started(self, config)
        wait_for(lambda: len(listening_workers(self.registry.log())) == WORKERS - 1, 30,
                 "the workers to listen")

    def assertServedByAll(self):
        """
        Every process wrote access lines (they reach the log through the
        first process, a moment after the responses).
        """
        wait_for(lambda: sorted(served_by(self.registry.log())) == list(range(WORKERS)), 10,
                 "access lines from every process")

    def test_clients_spread(self):
        """
        skopeo pushes and pulls an image; requests, each on a new
        connection, reach every process; the image comes back whole.
        """
        image = sample_image(os.path.join(self.scratch, "layout"))
        skopeo = Skopeo(self)
        skopeo.copy(f"oci:{self.scratch}/layout:v1",
                    f"docker://{self.registry.address}/spread/image:v1")
        for _ in range(30):
            self.assertEqual(requests.get(f"{self.registry.url}/v2/", timeout=30).status_code, 200)
        skopeo.copy(f"docker://{self.registry.address}/spread/image:v1",
                    f"oci:{self.scratch}/pulled:v1")
        pulled = read_oci_layout(os.path.join(self.scratch, "pulled"), "v1")
        self.assertEqual(pulled["_digest"], image["_digest"])
        self.assertEqual(pulled["_blobs"], image["_blobs"])
        self.assertServedByAll()

    def test_upload_across_processes(self):
        """
        A chunked upload whose requests each open a new connection (so land
        on different processes) completes with the right bytes; every event
        of every process reaches the receiver.
        """
        chunks = [os.urandom(100_000) for _ in range(12)]
        started = requests.post(f"{self.registry.url}/v2/chunks/blob/blobs/uploads/", timeout=30)
        self.assertEqual(started.status_code, 202)
        location = urljoin(self.registry.url, started.headers["Location"])
        offset = 0
        for chunk in chunks:
            patched = patch_chunk(location, offset, chunk)
            self.assertEqual(patched.status_code, 202, patched.text)
            offset += len(chunk)
            location = urljoin(self.registry.url, patched.headers["Location"])
        data = b"".join(chunks)
        digest = sha256_digest(data)
        done = requests.put(location, params={"digest": digest}, timeout=30)
        self.assertEqual(done.status_code, 201, done.text)
        digests = {digest} | {push_blob(self.registry.url, "chunks/blob", os.urandom(1000))
                              for _ in range(20)}
        for blob in digests:
            fetched = requests.get(f"{self.registry.url}/v2/chunks/blob/blobs/{blob}", timeout=30)
            self.assertEqual(sha256_digest(fetched.content), blob)
        self.assertServedByAll()
        events = self.receiver.wait_for(2 * len(digests), 30)
        pushed = {e["target"]["digest"] for e in events if e["action"] == "push"}
        pulled = {e["target"]["digest"] for e in events if e["action"] == "pull"}
        self.assertEqual((pushed, pulled), (digests, digests))
        self.assertTrue(os.path.isdir(os.path.join(self.scratch, "spool-worker1")))

    def test_worker_restarted(self):
        """
        A worker killed with SIGKILL is started again, and once the registry
        has seen it exit (connections it had accepted or queued die with it;
        its socket closes only when its last thread is gone, after its main
        thread shows as a zombie) the others serve every request meanwhile.
        """
        parent = self.registry.process.pid
        before = worker_pids(parent)
        os.kill(before[1], signal.SIGKILL)

        def exits():
            return [event for event in log_events(self.registry.log())
                    if event.get("log_namespace") == "txregistry.workers.pool"]

        wait_for(exits, 15, "the registry to see worker 1 exit")
        for _ in range(20):
            self.assertEqual(requests.get(f"{self.registry.url}/v2/", timeout=30).status_code, 200)
        after = wait_for(lambda: worker_pids(parent).get(1, before[1]) != before[1], 30,
                         "worker 1 to start again")
        self.assertTrue(after)
        after = worker_pids(parent)
        self.assertEqual(after[2], before[2])
        self.assertEqual([(e["index"], e["delay"]) for e in exits()], [(1, 1.0)])
        self.assertIn("signal 9", exits()[0]["reason"])

    def test_stop(self):
        """
        SIGTERM to the registry stops every worker with it.
        """
        workers = worker_pids(self.registry.process.pid)
        # twistd ends by the signal it was stopped with, after shutting down.
        self.assertEqual(self.registry.stop(), -signal.SIGTERM)
        self.assertIn("Server Shut Down.", self.registry.log())
        for pid in workers.values():
            wait_for(lambda: not process_exists(pid), 15, f"worker {pid} to exit")

    def test_fewer_workers(self):
        """
        Started again with fewer workers, the registry warns that the queue
        of a worker that no longer runs waits.
        """
        self.registry.stop()
        with open(self.registry.config_path) as f:
            config = yaml.safe_load(f)
        config["http"]["workers"] = WORKERS - 1
        with open(self.registry.config_path, "w") as f:
            yaml.safe_dump(config, f)
        self.registry.start()

        def warnings():
            return [event for event in log_events(self.registry.log())
                    if "queue of worker" in event.get("log_format", "")]

        # Said just after the registry says where it listens.
        wait_for(warnings, 15, "the warning about worker 2's queue")
        self.assertEqual([(e["index"], e["directory"]) for e in warnings()],
                         [(WORKERS - 1, os.path.join(self.scratch, f"spool-worker{WORKERS - 1}"))])

    def test_parent_killed(self):
        """
        When the registry's own process is killed, its workers notice (their
        standard input closes) and exit.
        """
        workers = worker_pids(self.registry.process.pid)
        self.registry.kill()
        for pid in workers.values():
            wait_for(lambda: not process_exists(pid), 15, f"worker {pid} to exit")


class WorkersConfigTests(SynchronousTestCase):
    """
    Configurations several processes cannot serve are refused before
    anything listens.
    """

    def test_refused(self):
        """
        The in-memory driver with two workers: twistd exits non-zero naming
        C{http.workers}.
        """
        scratch = temporary_directory(self)
        registry = RegistryProcess(
            {"version": "0.1", "storage": {"inmemory": {}},
             "http": {"addr": "127.0.0.1:0", "workers": 2}},
            scratch,
        )
        result = subprocess.run(registry.default_command(), cwd=scratch, env=registry.env,
                                capture_output=True, text=True, timeout=60)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("http.workers", result.stdout + result.stderr)
        self.assertIn("inmemory", result.stdout + result.stderr)
