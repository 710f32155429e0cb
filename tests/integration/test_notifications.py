"""
Notifications end to end: a real registry process POSTing to a real webhook
receiver on loopback while real clients push and pull.

 - skopeo pushes and pulls an image, curl-like requests do the rest: every
   event arrives, field for field as Distribution 2.8.2 sent them for the
   same requests (the events it sent are in
   C{tests/fixtures/notifications/distribution-2.8.2.json});
 - while the receiver does not answer, then is gone, pushes go on at full
   speed; when it is back it gets every event, in order;
 - a registry killed with SIGKILL with events pending delivers them all
   after a restart.
"""

import json
import os
import random
import time

import requests
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.clients import Skopeo, push_blob
from tests.integration.harness import assert_quiet_log, manifest_body, sha256, time_limit
from tests.integration.images import OCI_MANIFEST, read_oci_layout, sample_image
from tests.integration.processes import (
    RegistryProcess,
    base_config,
    free_port,
    temporary_directory,
    wait_for,
)
from tests.integration.receiver import WebhookReceiver

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                       "fixtures", "notifications", "distribution-2.8.2.json")
V1 = "application/vnd.docker.distribution.events.v1+json"


def registry(case, url: str, spool: str | None = None, **endpoint) -> RegistryProcess:
    """
    A registry (not started) whose endpoint C{hook} is C{url}, its queue
    in C{spool} (default: a temporary directory).
    """
    work = temporary_directory(case, "txregistry-notify-")
    config = base_config(os.path.join(work, "root"), notifications={
        "spool": spool or os.path.join(work, "spool"),
        "events": {"includereferences": True},
        "endpoints": [{"name": "hook", "url": url,
                       "headers": {"Authorization": ["Bearer s3cret"]}, **endpoint}],
    })
    config["storage"]["maintenance"] = {"uploadpurging": {"enabled": False}}
    return RegistryProcess.prepared(case, config)


def receiving(case, **options) -> WebhookReceiver:
    """
    A receiver, started, stopped when the test ends.
    """
    receiver = WebhookReceiver(**options).start()
    case.addCleanup(receiver.stop)
    return receiver


def key(event: dict) -> tuple:
    """
    What identifies an event in these tests: action, digest, tag.
    """
    target = event["target"]
    return event["action"], target.get("digest", ""), target.get("tag", "")


def push_image(url: str, name: str, tag: str, seed: int) -> list[tuple]:
    """
    Push an image of a config and one layer over HTTP, the manifest tagged.

    @return: the L{key}s of the events this must cause, in order.
    """
    generator = random.Random(seed)
    config = json.dumps({"seed": seed}).encode()
    layer = generator.randbytes(20_000)
    expected = [("push", push_blob(url, name, blob), "") for blob in (config, layer)]
    body = manifest_body((sha256(config), len(config)), [(sha256(layer), len(layer))])
    response = requests.put(f"{url}/v2/{name}/manifests/{tag}", data=body, timeout=30,
                            headers={"Content-Type": OCI_MANIFEST})
    if response.status_code != 201:
        raise AssertionError(f"manifest push: {response.status_code} {response.text}")
    return expected + [("push", sha256(body), tag)]


def normalized(event: dict) -> dict:
    """
    An event without what differs between two registries and two runs:
    ids, times, the client's and the server's addresses, the client's
    version.
    """
    target = dict(event["target"])
    if "url" in target:
        target["url"] = "/" + target["url"].split("/", 3)[3]
    request = {k: v for k, v in event["request"].items() if k == "method"}
    return {"action": event["action"], "target": target, "request": request,
            "actor": event["actor"], "keys": list(event), "source": sorted(event["source"])}


class SkopeoTests(SynchronousTestCase):
    """
    skopeo pushes and pulls an image; then the requests of the fixture's
    scenario: the events are Distribution's.
    """

    def setUp(self):
        time_limit(self, 240)
        self.skopeo = Skopeo(self)
        self.receiver = receiving(self)
        self.registry = registry(self, self.receiver.url).start()
        with open(FIXTURE) as f:
            self.distribution = json.load(f)["events"]

    def test_pushPull(self):
        """
        Every event of a skopeo push and pull arrives, with Distribution's
        fields and values; then each request of the fixture's scenario
        emits exactly what Distribution emitted.
        """
        work = temporary_directory(self, "notify-layout-")
        image = sample_image(os.path.join(work, "in"), "v1")
        destination = f"docker://{self.registry.address}/team/app:v1"
        self.skopeo.copy(f"oci:{work}/in:v1", destination)
        pushed = self.receiver.wait_for(5, 30)
        self.assertEqual(len(pushed), 5)
        self.assertEqual(sorted(map(json.dumps, map(normalized, pushed))),
                         sorted(map(json.dumps, map(normalized, self.distribution[:5]))))
        self.assertEqual(key(pushed[-1]), ("push", image["_digest"], "v1"))

        self.skopeo.copy(destination, f"oci:{work}/out:v1")
        pulled = self.receiver.wait_for(10, 30)[5:]
        self.assertEqual(read_oci_layout(os.path.join(work, "out"), "v1")["_digest"],
                         image["_digest"])
        self.assertEqual(len(pulled), 5)
        self.assertEqual(key(pulled[0]), ("pull", image["_digest"], "v1"))
        self.assertEqual({(e["action"], e["target"]["digest"], e["target"]["size"],
                           e["request"]["method"]) for e in pulled[1:]},
                         {("pull", digest, size, "GET")
                          for digest, size in image["_blobs"].items()})

        for event in pushed + pulled:
            self.assertEqual(event["request"]["host"], self.registry.address)
            self.assertRegex(event["request"]["addr"], r"^127\.0\.0\.1:\d+$")
            self.assertTrue(event["request"]["useragent"].startswith("skopeo/"))
            self.assertTrue(event["target"]["url"].startswith(self.registry.url + "/v2/team/app/"))
        for headers, body in self.receiver.envelopes:
            self.assertEqual(headers["Content-Type"], V1)
            self.assertEqual(headers["Authorization"], "Bearer s3cret")
            self.assertEqual(len(body["events"]), 1)
        self.assertEqual(len({e["id"] for e in pushed + pulled}), 10)
        self.assertEqual(len({e["source"]["instanceID"] for e in pushed + pulled}), 1)

        self.scenario(image)

    def scenario(self, image: dict) -> None:
        """
        The fixture's requests after the push, with their events compared
        one by one (pulls aside, Distribution's order).
        """
        url, digest = self.registry.url, image["_digest"]
        config_digest = image["config"]["digest"]
        accept = {"Accept": OCI_MANIFEST}
        count = len(self.receiver.events())
        requests.head(f"{url}/v2/team/app/manifests/v1", headers=accept, timeout=30)
        manifest = requests.get(f"{url}/v2/team/app/manifests/{digest}", headers=accept,
                                timeout=30).content
        requests.get(f"{url}/v2/team/app/blobs/{config_digest}", timeout=30)
        requests.head(f"{url}/v2/team/app/blobs/{config_digest}", timeout=30)
        mounted = requests.post(f"{url}/v2/other/app/blobs/uploads/",
                                params={"mount": config_digest, "from": "team/app"}, timeout=30)
        self.assertEqual(mounted.status_code, 201)
        requests.put(f"{url}/v2/team/app/manifests/v2", data=manifest, timeout=30,
                     headers={"Content-Type": OCI_MANIFEST})
        self.assertEqual(
            requests.delete(f"{url}/v2/team/app/manifests/{digest}", timeout=30).status_code, 202)
        self.assertEqual(
            requests.delete(f"{url}/v2/other/app/blobs/{config_digest}", timeout=30).status_code,
            202)
        theirs = self.distribution[5:]
        ours = self.receiver.wait_for(count + len(theirs), 30)[count:]
        self.assertEqual([normalized(e) for e in ours], [normalized(e) for e in theirs])
        assert_quiet_log(self, self.registry)


class DeadReceiverTests(SynchronousTestCase):
    """
    A receiver that does not answer, then is gone, slows no push; when it
    is back it gets every event, in order, once.
    """

    def setUp(self):
        time_limit(self, 180)

    def test_downThenBack(self):
        """
        Pushes answered while the receiver swallows requests, and while
        nothing listens, take no longer than pushes usually do (bounded
        far below the endpoint's 30 s timeout, which they would wait for
        if they depended on delivery); then every event arrives in the
        order the pushes were answered.
        """
        receiver = receiving(self, black_hole=True)
        server = registry(self, receiver.url, timeout="30s", threshold=1, backoff="100ms",
                          maxbackoff="500ms").start()
        expected, started = [], time.monotonic()
        for n in range(5):
            expected += push_image(server.url, "team/app", f"v{n}", n)
        receiver.stop()
        for n in range(5, 10):
            expected += push_image(server.url, "team/app", f"v{n}", n)
        elapsed = time.monotonic() - started
        self.assertLess(elapsed, 15.0)
        self.assertEqual(receiver.events(), [])

        receiver.black_hole = False
        receiver.start()
        events = receiver.wait_for(len(expected), 60)
        time.sleep(0.5)
        self.assertEqual([key(e) for e in receiver.events()], expected)
        self.assertEqual([key(e) for e in events], expected)
        assert_quiet_log(self, server)


class DurabilityTests(SynchronousTestCase):
    """
    Events acknowledged to clients survive a SIGKILL of the registry.
    """

    def setUp(self):
        time_limit(self, 180)
        self.spool = os.path.join(temporary_directory(self, "notify-spool-"), "spool")

    def restart(self, server: RegistryProcess) -> None:
        """
        SIGKILL the registry and start it again on the same root and
        spool.
        """
        server.kill()
        server.start()

    def test_killedWhileReceiverDown(self):
        """
        With nothing listening, every event stays queued; after a SIGKILL
        and a restart, all arrive, each once, in order.
        """
        port = free_port()
        server = registry(self, f"http://127.0.0.1:{port}/hook", self.spool, threshold=1,
                          backoff="100ms", maxbackoff="200ms").start()
        expected = []
        for n in range(6):
            expected += push_image(server.url, "team/app", f"v{n}", n)
        self.restart(server)
        expected += push_image(server.url, "team/app", "after", 99)
        receiver = receiving(self, port=port)
        receiver.wait_for(len(expected), 60)
        time.sleep(0.5)
        self.assertEqual([key(e) for e in receiver.events()], expected)
        assert_quiet_log(self, server)

    def test_killedWhileDelivering(self):
        """
        With a slow receiver, events are delivered while the registry is
        killed; after the restart all arrive, in order, and only an event
        being delivered at the kill may arrive twice.
        """
        receiver = receiving(self, delay=0.1)
        server = registry(self, receiver.url, self.spool, timeout="5s").start()
        expected = []
        for n in range(8):
            expected += push_image(server.url, "team/app", f"v{n}", n)
        wait_for(lambda: receiver.events(), 30, "the first deliveries")
        self.restart(server)
        self.assertLess(len(receiver.events()), len(expected))
        receiver.wait_for(len(expected), 60)
        time.sleep(0.5)
        received = [key(e) for e in receiver.events()]
        first_seen = list(dict.fromkeys(received))
        self.assertEqual(first_seen, expected)
        self.assertLessEqual(len(received) - len(expected), 1)
        ids = [e["id"] for e in receiver.events()]
        self.assertLessEqual(len(ids) - len(set(ids)), 1)
        assert_quiet_log(self, server)


class SpoolLockTests(SynchronousTestCase):
    """
    Two registries cannot share a spool directory.
    """

    def test_secondRefused(self):
        """
        A second registry on the same spool exits at start, naming the key.
        """
        time_limit(self, 60)
        spool = os.path.join(temporary_directory(self, "notify-spool-"), "spool")
        url = f"http://127.0.0.1:{free_port()}/hook"
        registry(self, url, spool).start()
        second = registry(self, url, spool)
        with self.assertRaises(RuntimeError):
            second.start(timeout=20)
        log = second.log()
        self.assertIn("invalid configuration: notifications.spool:", log)
        self.assertIn("is used by another txregistry process (pid ", log)
        self.assertNotIn("listening on", log)
        self.assertNotIn("Traceback", log)
