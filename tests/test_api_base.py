"""
The API root, routing and the headers every response carries.
"""

from twisted.trial.unittest import SynchronousTestCase

from tests.memory_client import MemoryClient
from txregistry.api.urls import URLBuilder
from txregistry.testing import MemoryRegistry


class BaseTests(SynchronousTestCase):
    """
    C{/v2/}, unknown paths and methods.
    """

    def setUp(self):
        self.client = MemoryClient(self)

    def test_version_check(self):
        """
        C{GET /v2/} answers 200 with C{{}} and the API version header.
        """
        reply = self.client.request("GET", "/v2/")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.json(), {})
        self.assertEqual(reply.header("docker-distribution-api-version"), "registry/2.0")
        self.assertEqual(reply.header("content-type"), "application/json")

    def test_version_check_without_slash(self):
        """
        C{/v2} is served directly, not redirected.
        """
        self.assertEqual(self.client.request("GET", "/v2").code, 200)

    def test_liveness(self):
        """
        C{GET /} answers 200 with an empty body.
        """
        reply = self.client.request("GET", "/")
        self.assertEqual((reply.code, reply.body), (200, b""))

    def test_unknown_path(self):
        """
        An unknown path under C{/v2/} is a JSON 404, with the version header.
        """
        reply = self.client.request("GET", "/v2/foo/bar")
        self.assertEqual(reply.code, 404)
        self.assertEqual(reply.error_codes(), ["UNSUPPORTED"])
        self.assertEqual(reply.header("docker-distribution-api-version"), "registry/2.0")

    def test_method_not_allowed(self):
        """
        A known path with an unsupported method is a JSON 405 with C{Allow}.
        """
        reply = self.client.request("POST", "/v2/foo/manifests/latest")
        self.assertEqual(reply.code, 405)
        self.assertEqual(reply.error_codes(), ["UNSUPPORTED"])
        allowed = {m.strip() for m in reply.header("allow").split(",")}
        self.assertEqual(allowed, {"GET", "HEAD", "PUT", "DELETE"})

    def test_configured_headers(self):
        """
        Headers from C{http.headers} are on every response, errors included.
        """
        memory = MemoryRegistry(headers=[("X-Content-Type-Options", ["nosniff"])])
        client = MemoryClient(self, memory)
        for path in ("/v2/", "/v2/nope/nope"):
            reply = client.request("GET", path)
            self.assertEqual(reply.header("x-content-type-options"), "nosniff")

    def test_prefix(self):
        """
        With C{http.prefix} the API lives under it, and Locations include it.
        """
        memory = MemoryRegistry(urls=URLBuilder(prefix="/registry/"))
        client = MemoryClient(self, memory)
        self.assertEqual(client.request("GET", "/registry/v2/").code, 200)
        self.assertEqual(client.request("GET", "/v2/").code, 404)
        reply = client.request("POST", "/registry/v2/foo/blobs/uploads/")
        self.assertEqual(reply.code, 202)
        self.assertTrue(
            reply.header("location").startswith("http://registry.test/registry/v2/foo/blobs/uploads/")
        )

    def test_relative_and_configured_host(self):
        """
        C{http.relativeurls} gives path-only Locations; C{http.host} replaces
        the request's host.
        """
        relative = MemoryClient(self, MemoryRegistry(urls=URLBuilder(relative=True)))
        location = relative.request("POST", "/v2/foo/blobs/uploads/").header("location")
        self.assertTrue(location.startswith("/v2/foo/blobs/uploads/"))
        hosted = MemoryClient(
            self, MemoryRegistry(urls=URLBuilder(host="https://reg.example.com:5000"))
        )
        location = hosted.request("POST", "/v2/foo/blobs/uploads/").header("location")
        self.assertTrue(location.startswith("https://reg.example.com:5000/v2/foo/blobs/uploads/"))

    def test_forwarded_headers(self):
        """
        Locations follow C{X-Forwarded-Proto}/C{X-Forwarded-Host} and C{Forwarded}.
        """
        reply = self.client.request(
            "POST", "/v2/foo/blobs/uploads/",
            headers={"X-Forwarded-Proto": "https", "X-Forwarded-Host": "front.example"},
        )
        self.assertTrue(reply.header("location").startswith("https://front.example/v2/"))
        reply = self.client.request(
            "POST", "/v2/foo/blobs/uploads/",
            headers={"Forwarded": 'for=1.2.3.4;proto=https;host="edge.example:8443"'},
        )
        self.assertTrue(reply.header("location").startswith("https://edge.example:8443/v2/"))
