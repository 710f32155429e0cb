"""
Access control and notifications together: a refused request emits no
event, an allowed one names its account as the actor.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.processes import temporary_directory
from tests.memory_client import MemoryClient, sha256
from tests.pki import write_htpasswd
from tests.test_auth_htpasswd import basic
from tests.test_notify_api import SOURCE, CollectingNotifier
from txregistry.api.urls import URLBuilder
from txregistry.auth.files import inline
from txregistry.auth.htpasswd import HtpasswdAccessController, HtpasswdUsers
from txregistry.notifications.emitter import EventEmitter
from txregistry.registry.registry import RegistryPolicy
from txregistry.testing import MemoryRegistry

BLOB = b"layer bytes"


class RefusedRequestEventTests(SynchronousTestCase):
    """
    Events of a registry behind htpasswd.
    """

    def setUp(self):
        path = write_htpasswd(temporary_directory(self) + "/htpasswd", {"alice": "secret"})
        controller = HtpasswdAccessController("registry", HtpasswdUsers(path, Clock(), inline))
        self.notifier = CollectingNotifier()
        emitter = EventEmitter(self.notifier, SOURCE, URLBuilder(), False)
        self.client = MemoryClient(self, MemoryRegistry(
            RegistryPolicy(delete_enabled=True), access_controller=controller, events=emitter))

    def test_refused_emit_nothing(self):
        """
        Pushes, pulls, mounts and deletes without valid credentials are
        refused and emit no event.
        """
        wrong = {"Authorization": basic("alice", "wrong")}
        digest = sha256(BLOB)
        for headers in ({}, wrong):
            attempts = [
                ("POST", f"/v2/foo/blobs/uploads/?digest={digest}", BLOB),
                ("POST", f"/v2/foo/blobs/uploads/?mount={digest}&from=bar", b""),
                ("GET", f"/v2/foo/blobs/{digest}", b""),
                ("HEAD", "/v2/foo/manifests/latest", b""),
                ("DELETE", f"/v2/foo/blobs/{digest}", b""),
                ("DELETE", "/v2/foo/manifests/latest", b""),
            ]
            for method, path, body in attempts:
                reply = self.client.request(method, path, body, headers)
                self.assertEqual(reply.code, 401, (method, path))
        self.assertEqual(self.notifier.events, [])

    def test_actor(self):
        """
        An allowed push is reported with the account as actor.
        """
        good = {"Authorization": basic("alice", "secret")}
        digest = sha256(BLOB)
        reply = self.client.request("POST", f"/v2/foo/blobs/uploads/?digest={digest}", BLOB, good)
        self.assertEqual(reply.code, 201)
        [event] = [e.to_json("v1") for e in self.notifier.events]
        self.assertEqual((event["action"], event["actor"]), ("push", {"name": "alice"}))
