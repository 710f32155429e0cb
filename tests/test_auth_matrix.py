"""
The access control matrix: every API endpoint, refused for every kind of
missing or bad credentials (leaving storage as it was), and allowed with
the right ones; in memory, through the registry's own site.
"""

import json

from twisted.internet.task import Clock
from twisted.logger import formatEvent, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.processes import temporary_directory
from tests.memory_client import OCI_MANIFEST, MemoryClient, sha256
from tests.pki import write_htpasswd
from tests.test_auth_htpasswd import basic
from tests.tokens import SERVICE, Issuer
from txregistry.auth.files import inline
from txregistry.auth.htpasswd import HtpasswdAccessController, HtpasswdUsers
from txregistry.auth.token import TokenAccessController
from txregistry.testing import MemoryRegistry

NAME = "team/app"
OTHER = "team/other"
BLOB = b"a blob to push"
PULL, PUSH, DELETE = "pull", "push", "delete"


def snapshot(case, driver) -> dict:
    """
    Everything a driver stores: path to content (C{None} for directories).
    """
    found = []
    case.successResultOf(driver.walk("/", found.append))
    return {info.path: None if info.is_dir else case.successResultOf(driver.get_content(info.path))
            for info in found}


class World:
    """
    A registry holding C{team/app:v1} (with a referrer), a blob in
    C{team/other} and an open upload session in C{team/app}; served again
    with an access controller.
    """

    def __init__(self, case, controller):
        open_registry = MemoryClient(case)
        client = open_registry
        self.manifest, self.digest = client.push_image(NAME, "v1", layers=[b"layer"])
        self.layer = sha256(b"layer")
        referrer = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                    "artifactType": "application/example",
                    "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                               "digest": client.push_blob(NAME, b"{}"), "size": 2},
                    "layers": [],
                    "subject": {"mediaType": OCI_MANIFEST, "digest": self.digest,
                                "size": len(self.manifest)}}
        case.assertEqual(client.push_manifest(NAME, "ref", referrer).code, 201)
        self.other_blob = client.push_blob(OTHER, b"other blob")
        started = client.request("POST", f"/v2/{NAME}/blobs/uploads/")
        self.upload = started.header("location").split("/")[-1]
        self.client = MemoryClient(case, MemoryRegistry(
            driver=open_registry.memory.driver, access_controller=controller))

    def endpoints(self):
        """
        C{(label, method, path, body, headers, needed, success)} for every
        endpoint: the actions it needs on C{team/app} (C{None}: only
        authentication; C{"catalog"}: the catalog) and its success status.
        """
        manifest2 = json.loads(self.manifest)
        manifest2["annotations"] = {"v": "2"}
        uploads = f"/v2/{NAME}/blobs/uploads/"
        session = uploads + self.upload
        return [
            ("base", "GET", "/v2/", b"", {}, None, 200),
            ("base head", "HEAD", "/v2/", b"", {}, None, 200),
            ("catalog", "GET", "/v2/_catalog", b"", {}, "catalog", 200),
            ("tags", "GET", f"/v2/{NAME}/tags/list", b"", {}, (PULL,), 200),
            ("manifest get", "GET", f"/v2/{NAME}/manifests/v1", b"", {}, (PULL,), 200),
            ("manifest head", "HEAD", f"/v2/{NAME}/manifests/v1", b"", {}, (PULL,), 200),
            ("manifest put", "PUT", f"/v2/{NAME}/manifests/v2", json.dumps(manifest2).encode(),
             {"Content-Type": OCI_MANIFEST}, (PULL, PUSH), 201),
            ("manifest delete", "DELETE", f"/v2/{NAME}/manifests/{self.digest}", b"", {},
             (DELETE,), 202),
            ("blob get", "GET", f"/v2/{NAME}/blobs/{self.layer}", b"", {}, (PULL,), 200),
            ("blob head", "HEAD", f"/v2/{NAME}/blobs/{self.layer}", b"", {}, (PULL,), 200),
            ("blob delete", "DELETE", f"/v2/{NAME}/blobs/{self.layer}", b"", {}, (DELETE,), 202),
            ("upload start", "POST", uploads, b"", {}, (PULL, PUSH), 202),
            ("upload monolithic", "POST", f"{uploads}?digest={sha256(BLOB)}", BLOB,
             {"Content-Type": "application/octet-stream"}, (PULL, PUSH), 201),
            ("mount", "POST", f"{uploads}?mount={self.other_blob}&from={OTHER}", b"", {},
             (PULL, PUSH), 201),
            ("upload status", "GET", session, b"", {}, (PULL,), 204),
            ("upload patch", "PATCH", session, BLOB,
             {"Content-Type": "application/octet-stream"}, (PULL, PUSH), 202),
            ("upload put", "PUT", f"{session}?digest={sha256(BLOB)}", BLOB,
             {"Content-Type": "application/octet-stream"}, (PULL, PUSH), 201),
            ("upload cancel", "DELETE", session, b"", {}, (DELETE,), 204),
            ("referrers", "GET", f"/v2/{NAME}/referrers/{self.digest}", b"", {}, (PULL,), 200),
        ]


class _Matrix:
    """
    The checks every controller's matrix shares.
    """

    def world(self) -> World:
        """
        A fresh L{World} behind this test's controller.
        """
        return World(self, self.controller())

    def assertRefused(self, world, endpoint, authorization, kind):
        """
        The request is refused with a 401, its challenge and (but for HEAD)
        the spec's C{UNAUTHORIZED}; storage is unchanged.
        """
        label, method, path, body, headers, needed, success = endpoint
        before = snapshot(self, world.client.memory.driver)
        if authorization is not None:
            headers = dict(headers, Authorization=authorization)
        reply = world.client.request(method, path, body, headers)
        where = f"{label} with {kind}"
        self.assertEqual(reply.code, 401, f"{where}: {reply.body!r}")
        self.assertTrue(reply.header("www-authenticate"), where)
        if method != "HEAD":
            self.assertEqual(reply.error_codes(), ["UNAUTHORIZED"], where)
        self.assertEqual(snapshot(self, world.client.memory.driver), before, where)
        return reply

    def assertAllAllowed(self, authorization):
        """
        Every endpoint succeeds, each in a fresh world.

        @param authorization: gives the C{Authorization} for an endpoint's
            needs.
        """
        for index in range(len(self.world().endpoints())):
            world = self.world()
            label, method, path, body, headers, needed, success = world.endpoints()[index]
            headers = dict(headers, Authorization=authorization(needed))
            reply = world.client.request(method, path, body, headers)
            self.assertEqual(reply.code, success, f"{label}: {reply.body!r}")

    def test_noSecretsLogged(self):
        """
        Neither credentials nor tokens, good or bad, appear in any log
        event (the access log included) of a request to any endpoint.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        world = self.world()
        world.client.memory.site._access_log = True
        secrets = []
        for endpoint in world.endpoints():
            label, method, path, body, headers, needed, success = endpoint
            for authorization in self.authorizations(needed):
                secrets.append(authorization.split(" ", 1)[1])
                world.client.request(method, path, body, dict(headers, Authorization=authorization))
        logged = "\n".join(formatEvent(event) + repr(event) for event in events)
        self.assertIn("txregistry.access", logged)
        for secret in secrets + self.plain_secrets:
            self.assertNotIn(secret, logged)


class HtpasswdMatrixTests(_Matrix, SynchronousTestCase):
    """
    htpasswd: no credentials, a wrong password, an unknown user.
    """

    def controller(self):
        """
        An htpasswd controller for alice.
        """
        path = write_htpasswd(temporary_directory(self) + "/htpasswd", {"alice": "secret"})
        return HtpasswdAccessController("registry", HtpasswdUsers(path, Clock(), inline))

    plain_secrets = ["secret", "wrong-password"]

    def authorizations(self, needed):
        """
        Good and bad credentials, for L{_Matrix.test_noSecretsLogged}.
        """
        return [basic(user, password).decode()
                for user, password in (("alice", "secret"), ("alice", "wrong-password"))]

    def test_refused(self):
        """
        Every endpoint refuses every bad credential, storage unchanged.
        """
        world = self.world()
        for endpoint in world.endpoints():
            for kind, authorization in (("no credentials", None),
                                        ("a wrong password", basic("alice", "wrong")),
                                        ("an unknown user", basic("mallory", "secret"))):
                reply = self.assertRefused(world, endpoint, authorization, kind)
                self.assertEqual(reply.header("www-authenticate"), 'Basic realm="registry"')

    def test_allowed(self):
        """
        Every endpoint serves alice.
        """
        self.assertAllAllowed(lambda needed: basic("alice", "secret"))

    def test_mountWithoutSource(self):
        """
        htpasswd grants everything, so a mount without C{from} still finds
        any blob of the store.
        """
        world = self.world()
        reply = world.client.request(
            "POST", f"/v2/{NAME}/blobs/uploads/?mount={world.other_blob}",
            headers={"Authorization": basic("alice", "secret")})
        self.assertEqual(reply.code, 201)

    def test_actor(self):
        """
        The account is the request's actor, in the access log's user field.
        """
        events = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        world = self.world()
        world.client.memory.site._access_log = True
        world.client.request("GET", "/v2/", headers={"Authorization": basic("alice", "secret")})
        world.client.request("GET", "/v2/")
        users = [e["user"] for e in events if e.get("log_namespace") == "txregistry.access"]
        self.assertEqual(users, ["alice", "-"])


class TokenMatrixTests(_Matrix, SynchronousTestCase):
    """
    Token auth: no token, every bad token, a token for another repository,
    a token lacking the action.
    """

    def setUp(self):
        self.issuer = Issuer()

    def controller(self):
        """
        A token controller trusting the test issuer.
        """
        return TokenAccessController(self.issuer.verifier(), "https://auth.example/token",
                                     SERVICE)

    plain_secrets = []

    def authorizations(self, needed):
        """
        A good token and every bad one, for L{_Matrix.test_noSecretsLogged}.
        """
        granted = self.granting(needed or (PULL,))
        return [self.bearer(granted)] + [
            "Bearer " + token for token in self.issuer.bad_tokens(granted).values()]

    def bearer(self, access) -> str:
        """
        A valid token for C{access}.
        """
        return "Bearer " + self.issuer.token(access)

    def granting(self, needed, missing=None):
        """
        Token access for an endpoint's needs, without C{missing}.
        """
        if needed == "catalog":
            return [("registry", "catalog", ["*"] if missing is None else ["pull"])]
        actions = [a for a in (PULL, PUSH, DELETE) if a != missing]
        if missing is None:
            actions = list(needed)
        return [(NAME, actions), (OTHER, [PULL])]

    def test_refused(self):
        """
        Every endpoint refuses every bad token, storage unchanged; every
        endpoint but C{/v2/} (which only authenticates) refuses valid
        tokens for another repository or lacking the action.
        """
        world = self.world()
        for endpoint in world.endpoints():
            needed = endpoint[5]
            kinds = [("no token", None)] + [
                (kind, "Bearer " + token)
                for kind, token in self.issuer.bad_tokens(self.granting(needed or (PULL,))).items()
            ]
            if needed is not None:
                missing = "*" if needed == "catalog" else needed[-1]
                kinds += [
                    ("a token for another repository",
                     self.bearer([("team/elsewhere", ["*"]), ("repository", "catalog", ["*"])])),
                    ("a token lacking the action", self.bearer(self.granting(needed, missing))),
                ]
            for kind, authorization in kinds:
                reply = self.assertRefused(world, endpoint, authorization, kind)
                challenge = reply.header("www-authenticate")
                self.assertTrue(challenge.startswith(
                    'Bearer realm="https://auth.example/token",service="test-registry"'))
                if kind == "a token lacking the action":
                    self.assertIn('error="insufficient_scope"', challenge)

    def test_allowed(self):
        """
        Every endpoint serves a token granting exactly what it needs.
        """
        self.assertAllAllowed(lambda needed: self.bearer(self.granting(needed or ())))

    def test_mountWithoutPullOnSource(self):
        """
        Without pull on the source, a mount falls back to an ordinary upload
        session (202), as does a mount without C{from}: a token grants no
        blob of repositories it does not name.
        """
        world = self.world()
        token = self.bearer([(NAME, [PULL, PUSH])])
        for query in (f"mount={world.other_blob}&from={OTHER}", f"mount={world.other_blob}"):
            reply = world.client.request("POST", f"/v2/{NAME}/blobs/uploads/?{query}",
                                         headers={"Authorization": token})
            self.assertEqual(reply.code, 202, query)
            self.assertIn("/blobs/uploads/", reply.header("location"))
        head = world.client.request("HEAD", f"/v2/{NAME}/blobs/{world.other_blob}",
                                    headers={"Authorization": token})
        self.assertEqual(head.code, 404)

    def test_challengeScope(self):
        """
        A mount's challenge asks for pull on the source too.
        """
        world = self.world()
        reply = world.client.request(
            "POST", f"/v2/{NAME}/blobs/uploads/?mount={world.other_blob}&from={OTHER}")
        self.assertIn(f'scope="repository:{NAME}:pull,push repository:{OTHER}:pull"',
                      reply.header("www-authenticate"))
        self.assertEqual(reply.json()["errors"][0]["detail"], [
            {"Type": "repository", "Class": "", "Name": NAME, "Action": "pull"},
            {"Type": "repository", "Class": "", "Name": NAME, "Action": "push"},
        ])
