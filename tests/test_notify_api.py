"""
Tests for the events the API emits (L{txregistry.notifications.emitter}):
which operations emit what, with which fields, only after success, and the
answer waiting until the events are spooled.
"""

import json

from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from tests.memory_client import OCI_MANIFEST, MemoryClient, sha256
from txregistry.api.urls import URLBuilder
from txregistry.notifications.emitter import (
    NO_EVENTS,
    EventEmitter,
    actor_record,
    client_address,
)
from txregistry.notifications.events import SourceRecord
from txregistry.registry.registry import RegistryPolicy
from txregistry.testing import MemoryRegistry

BLOB = b"some layer bytes"
SOURCE = SourceRecord("registry-0:5000", "instance-1")


class CollectingNotifier:
    """
    Keeps the events written; answers each write with C{answer} (fired by
    default).
    """

    def __init__(self):
        self.events = []
        self.answer = None

    def write(self, events):
        """
        Keep C{events}.
        """
        self.events.extend(events)
        return self.answer if self.answer is not None else succeed(None)


class EmissionTestCase(SynchronousTestCase):
    """
    A registry in memory whose events are collected.
    """

    include_references = False
    urls = URLBuilder()

    def setUp(self):
        self.notifier = CollectingNotifier()
        emitter = EventEmitter(self.notifier, SOURCE, self.urls, self.include_references,
                               clock=lambda: 1_764_242_076_000_000_000)
        memory = MemoryRegistry(RegistryPolicy(delete_enabled=True), urls=self.urls,
                                events=emitter)
        self.client = MemoryClient(self, memory)

    def take(self) -> list[dict]:
        """
        The events emitted since the last call, as v1 JSON.
        """
        events, self.notifier.events = self.notifier.events, []
        return [event.to_json("v1") for event in events]

    def summary(self) -> list[tuple]:
        """
        C{(action, method, target)} of each event since the last call.
        """
        return [(e["action"], e["request"]["method"], e["target"]) for e in self.take()]

    def image(self, name: str = "team/app", tag: str = "v1"):
        """
        Push a one-layer image; forget its events.

        @return: the manifest's bytes and digest, and the layer's digest.
        """
        body, digest = self.client.push_image(name, tag, layers=(BLOB,))
        self.take()
        return body, digest, sha256(BLOB)


class BlobEventTests(EmissionTestCase):
    """
    Blob pushes, pulls, mounts and deletes.
    """

    def blob_target(self, name: str = "team/app", digest: str | None = None, **fields) -> dict:
        """
        The v1 target of an event about the blob L{BLOB}.
        """
        digest = digest or sha256(BLOB)
        return {"mediaType": "application/octet-stream", "size": len(BLOB), "digest": digest,
                "length": len(BLOB), "repository": name, **fields,
                "url": f"http://registry.test/v2/{name}/blobs/{digest}"}

    def test_push(self):
        """
        A completed upload emits one push, on the final PUT; starting it
        emits nothing.
        """
        self.client.push_blob("team/app", BLOB)
        self.assertEqual(self.summary(), [("push", "PUT", self.blob_target())])

    def test_pushMonolithic(self):
        """
        A single-request push emits a push on the POST.
        """
        reply = self.client.request("POST", f"/v2/team/app/blobs/uploads/?digest={sha256(BLOB)}",
                                    BLOB)
        self.assertEqual(reply.code, 201)
        self.assertEqual(self.summary(), [("push", "POST", self.blob_target())])

    def test_pushRefused(self):
        """
        An upload whose digest does not match emits nothing.
        """
        started = self.client.request("POST", "/v2/team/app/blobs/uploads/")
        reply = self.client.request("PUT", started.header("location") + "?digest=" +
                                    sha256(b"other"), BLOB)
        self.assertEqual(reply.code, 400)
        self.assertEqual(self.take(), [])

    def test_pull(self):
        """
        A GET, a HEAD and a ranged GET each emit a pull with their method.
        """
        self.client.push_blob("team/app", BLOB)
        self.take()
        path = f"/v2/team/app/blobs/{sha256(BLOB)}"
        self.client.request("GET", path)
        self.client.request("HEAD", path)
        self.assertEqual(self.client.request("GET", path, headers={"Range": "bytes=0-3"}).code,
                         206)
        self.assertEqual(self.summary(), [("pull", method, self.blob_target())
                                          for method in ("GET", "HEAD", "GET")])

    def test_pullFailed(self):
        """
        Unknown blobs and unsatisfiable ranges emit nothing.
        """
        self.client.push_blob("team/app", BLOB)
        self.take()
        self.assertEqual(self.client.request("GET", f"/v2/team/app/blobs/{sha256(b'x')}").code,
                         404)
        reply = self.client.request("GET", f"/v2/team/app/blobs/{sha256(BLOB)}",
                                    headers={"Range": "bytes=1000-"})
        self.assertEqual(reply.code, 416)
        self.assertEqual(self.take(), [])

    def test_mount(self):
        """
        A mount emits a mount naming the repository it came from; a mount
        that falls back to an upload session emits nothing.
        """
        self.client.push_blob("team/app", BLOB)
        self.take()
        reply = self.client.request(
            "POST", f"/v2/other/app/blobs/uploads/?mount={sha256(BLOB)}&from=team/app")
        self.assertEqual(reply.code, 201)
        self.assertEqual(self.summary(), [
            ("mount", "POST", self.blob_target("other/app", fromRepository="team/app")),
        ])
        reply = self.client.request(
            "POST", f"/v2/third/app/blobs/uploads/?mount={sha256(b'none')}&from=team/app")
        self.assertEqual(reply.code, 202)
        self.assertEqual(self.take(), [])

    def test_delete(self):
        """
        A blob delete emits the digest and repository.
        """
        self.client.push_blob("team/app", BLOB)
        self.take()
        reply = self.client.request("DELETE", f"/v2/team/app/blobs/{sha256(BLOB)}")
        self.assertEqual(reply.code, 202)
        self.assertEqual(self.summary(), [
            ("delete", "DELETE", {"digest": sha256(BLOB), "repository": "team/app"}),
        ])
        self.client.request("DELETE", f"/v2/team/app/blobs/{sha256(BLOB)}")
        self.assertEqual(self.take(), [])


class ManifestEventTests(EmissionTestCase):
    """
    Manifest pushes, pulls and deletes, and tag deletes.
    """

    def manifest_target(self, body: bytes, digest: str, **fields) -> dict:
        """
        The v1 target of an event about a manifest.
        """
        return {"mediaType": OCI_MANIFEST, "size": len(body), "digest": digest,
                "length": len(body), "repository": "team/app",
                "url": f"http://registry.test/v2/team/app/manifests/{digest}", **fields}

    def test_push(self):
        """
        A push by tag names the tag; a push by digest does not.  Blob pushes
        come first.
        """
        body, digest = self.client.push_image("team/app", "v1", layers=(BLOB,))
        summary = self.summary()
        self.assertEqual([action for action, _, _ in summary], ["push"] * 3)
        self.assertEqual(summary[-1], ("push", "PUT", self.manifest_target(body, digest,
                                                                           tag="v1")))
        self.assertEqual(self.client.push_manifest("team/app", digest, body).code, 201)
        self.assertEqual(self.summary(), [("push", "PUT", self.manifest_target(body, digest))])

    def test_pushRefused(self):
        """
        A manifest refused (it names a blob the repository lacks) emits
        nothing.
        """
        body, _, _ = self.image()
        manifest = json.loads(body)
        manifest["layers"][0]["digest"] = sha256(b"missing")
        self.assertEqual(self.client.push_manifest("team/app", "v2", manifest).code, 400)
        self.assertEqual(self.take(), [])

    def test_pull(self):
        """
        GET and HEAD, by tag or by digest, each emit a pull; a 304 and an
        unknown manifest emit nothing.
        """
        body, digest, _ = self.image()
        self.client.request("GET", "/v2/team/app/manifests/v1")
        self.client.request("HEAD", f"/v2/team/app/manifests/{digest}")
        reply = self.client.request("GET", "/v2/team/app/manifests/v1",
                                    headers={"If-None-Match": f'"{digest}"'})
        self.assertEqual(reply.code, 304)
        self.assertEqual(self.client.request("GET", "/v2/team/app/manifests/v9").code, 404)
        self.assertEqual(self.summary(), [
            ("pull", "GET", self.manifest_target(body, digest, tag="v1")),
            ("pull", "HEAD", self.manifest_target(body, digest)),
        ])

    def test_deleteByDigest(self):
        """
        Deleting a manifest emits its delete, then one delete per tag that
        went with it, as Distribution does.
        """
        body, digest, _ = self.image()
        self.client.push_manifest("team/app", "v2", body)
        self.take()
        self.assertEqual(self.client.request("DELETE", f"/v2/team/app/manifests/{digest}").code,
                         202)
        self.assertEqual(self.summary(), [
            ("delete", "DELETE", {"digest": digest, "repository": "team/app"}),
            ("delete", "DELETE", {"repository": "team/app", "tag": "v1"}),
            ("delete", "DELETE", {"repository": "team/app", "tag": "v2"}),
        ])

    def test_deleteTag(self):
        """
        Deleting a tag emits a delete naming it; deleting it again emits
        nothing.
        """
        self.image()
        self.assertEqual(self.client.request("DELETE", "/v2/team/app/manifests/v1").code, 202)
        self.assertEqual(self.summary(), [
            ("delete", "DELETE", {"repository": "team/app", "tag": "v1"}),
        ])
        self.assertEqual(self.client.request("DELETE", "/v2/team/app/manifests/v1").code, 404)
        self.assertEqual(self.take(), [])


class ReferencesTests(EmissionTestCase):
    """
    With C{notifications.events.includereferences}, manifest events list
    what the manifest refers to.
    """

    include_references = True

    def test_references(self):
        """
        The config and layers, as descriptors, on pushes and pulls; none on
        blob events.
        """
        body, digest = self.client.push_image("team/app", "v1", layers=(BLOB,))
        manifest = json.loads(body)
        expected = [
            {"mediaType": d["mediaType"], "size": d["size"], "digest": d["digest"]}
            for d in [manifest["config"]] + manifest["layers"]
        ]
        events = self.take()
        self.assertEqual(events[-1]["target"]["references"], expected)
        self.assertNotIn("references", events[0]["target"])
        self.client.request("GET", f"/v2/team/app/manifests/{digest}")
        [pulled] = self.take()
        self.assertEqual(pulled["target"]["references"], expected)


class RelativeURLTests(EmissionTestCase):
    """
    Event URLs are built like C{Location} headers.
    """

    urls = URLBuilder(relative=True)

    def test_relative(self):
        """
        With C{http.relativeurls}, the URL is a path.
        """
        self.client.push_blob("team/app", BLOB)
        [event] = self.take()
        self.assertEqual(event["target"]["url"], f"/v2/team/app/blobs/{sha256(BLOB)}")


class RequestFactsTests(EmissionTestCase):
    """
    Events carry the facts of the request that caused them.
    """

    def test_facts(self):
        """
        Request id, client address, host, method, user agent; the source;
        an empty actor for anonymous requests; a UUID and the time.
        """
        self.client.request("POST", f"/v2/team/app/blobs/uploads/?digest={sha256(BLOB)}", BLOB,
                            headers={"User-Agent": "skopeo/1.9.3"})
        [event] = self.take()
        request = event["request"]
        self.assertRegex(request["id"], r"^[0-9a-f-]{36}$")
        self.assertEqual((request["host"], request["method"], request["useragent"]),
                         ("registry.test", "POST", "skopeo/1.9.3"))
        self.assertRegex(request["addr"], r"^.+:\d+$")
        self.assertEqual(event["source"], {"addr": "registry-0:5000", "instanceID": "instance-1"})
        self.assertEqual(event["actor"], {})
        self.assertRegex(event["id"], r"^[0-9a-f-]{36}$")
        self.assertEqual(event["timestamp"], "2025-11-27T11:14:36Z")

    def test_idsDiffer(self):
        """
        Every event has an id of its own; events of one request share its
        request id.
        """
        body, digest, _ = self.image()
        self.client.push_manifest("team/app", "v2", body)
        self.take()
        self.client.request("DELETE", f"/v2/team/app/manifests/{digest}")
        events = self.take()
        self.assertEqual(len({e["id"] for e in events}), 3)
        self.assertEqual(len({e["request"]["id"] for e in events}), 1)

    def test_waitsForSpool(self):
        """
        The answer is sent only once the events are spooled.
        """
        spooled = Deferred()
        self.notifier.answer = spooled
        memory = self.client.memory
        answered = memory.client.request(
            "POST", f"http://registry.test/v2/team/app/blobs/uploads/?digest={sha256(BLOB)}",
            data=BLOB)
        memory.flush()
        self.assertNoResult(answered)
        self.assertEqual(len(self.notifier.events), 1)
        spooled.callback(None)
        memory.flush()
        self.assertEqual(self.successResultOf(answered).code, 201)


class AddressTests(SynchronousTestCase):
    """
    L{client_address} and L{actor_record} read the request as Distribution
    does.
    """

    def request(self, **headers) -> DummyRequest:
        """
        A request from 192.0.2.1:40000 with C{headers}.
        """
        request = DummyRequest([b""])
        request.client = IPv4Address("TCP", "192.0.2.1", 40000)
        for name, value in headers.items():
            request.requestHeaders.setRawHeaders(name.replace("_", "-"), [value])
        return request

    def test_peer(self):
        """
        Without forwarding headers, the peer's C{host:port}.
        """
        self.assertEqual(client_address(self.request()), "192.0.2.1:40000")

    def test_forwardedFor(self):
        """
        The first C{X-Forwarded-For} entry when it is an IP address.
        """
        request = self.request(X_Forwarded_For="203.0.113.9, 10.0.0.1")
        self.assertEqual(client_address(request), "203.0.113.9")
        request = self.request(X_Forwarded_For="unknown, 10.0.0.1", X_Real_IP="2001:db8::1")
        self.assertEqual(client_address(request), "2001:db8::1")
        self.assertEqual(client_address(self.request(X_Real_IP="nope")), "192.0.2.1:40000")

    def test_actor(self):
        """
        The actor is C{request.actor}: a name, or an account with a name.
        """
        request = self.request()
        request.actor = None
        self.assertEqual(actor_record(request).to_json(), {})
        request.actor = "alice"
        self.assertEqual(actor_record(request).to_json(), {"name": "alice"})

        class Account:
            name = "bob"

        request.actor = Account()
        self.assertEqual(actor_record(request).to_json(), {"name": "bob"})


class NoEndpointTests(SynchronousTestCase):
    """
    Without endpoints, the API emits nothing and does not wait.
    """

    def test_nothing(self):
        """
        L{NO_EVENTS} answers at once, without looking at the request.
        """
        self.assertIsNone(self.successResultOf(NO_EVENTS.blob_pulled(None, "a", "d", 1)))
        self.assertIsNone(self.successResultOf(NO_EVENTS.manifest_deleted(None, "a", "d", [])))
