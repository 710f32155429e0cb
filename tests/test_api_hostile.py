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
