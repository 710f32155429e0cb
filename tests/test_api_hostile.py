"""
Hostile and careless requests that once made the API fail, in memory.

The socket-level table of such requests is in
L{tests.integration.test_bad_input}; these are the cases that found a bug,
kept here where they run fast and without a server process.
"""

from twisted.trial.unittest import SynchronousTestCase

from tests.memory_client import MemoryClient


class PathTests(SynchronousTestCase):
    """
    Paths no route was written for.
    """

    def setUp(self):
        self.client = MemoryClient(self)

    def test_double_slash(self):
        """
        A path with an empty segment (C{//}) is a JSON 4xx, not a redirect
        that the error handlers took for an unexpected failure (a 500).
        """
        for path in ("/v2//etc/passwd/tags/list", "/v2/%2Fetc%2Fpasswd/tags/list"):
            reply = self.client.request("GET", path)
            self.assertEqual(reply.code, 404, path)
            self.assertEqual(reply.error_codes(), ["UNSUPPORTED"], path)
        for method, path in (("GET", "/v2/foo//bar/tags/list"),
                             ("POST", "/v2/foo//blobs/uploads/")):
            reply = self.client.request(method, path)
            self.assertEqual((reply.code, reply.error_codes()), (400, ["NAME_INVALID"]), path)

    def test_not_utf8(self):
        """
        A path that is not UTF-8 once percent-decoded gets the spec's JSON
        error for the part it spoils, not Klein's plain-text 400; an upload
        body sent to such a path is refused like any other.
        """
        for method, path, code, error in (
            ("GET", "/v2/foo%ff/tags/list", 400, "NAME_INVALID"),
            ("GET", "/v2/foo/manifests/%ff%fe", 404, "MANIFEST_UNKNOWN"),
            ("PUT", "/v2/foo/manifests/a%c3", 400, "TAG_INVALID"),
            ("GET", "/v2/foo/blobs/sha256:%ff", 400, "DIGEST_INVALID"),
            ("PATCH", "/v2/foo/blobs/uploads/%ff", 404, "BLOB_UPLOAD_UNKNOWN"),
            ("PUT", "/v2/foo/blobs/uploads/%80?digest=sha256:00", 400, "DIGEST_INVALID"),
        ):
            reply = self.client.request(method, path, b"body")
            self.assertEqual((reply.code, reply.error_codes()), (code, [error]), path)
            self.assertEqual(reply.header("content-type"), "application/json")
