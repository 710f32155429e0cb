"""
Hostile and careless requests, in memory.

The socket-level table of such requests is in
L{tests.integration.test_bad_input}; here are the cases that found a bug,
and checks of what refused requests leave behind, which are easier to make
without a server process.
"""

from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.trial.unittest import SynchronousTestCase

from tests.memory_client import MemoryClient, sha256
from txregistry.testing import MemoryRegistry


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


class MalformedHeadTests(SynchronousTestCase):
    """
    Request heads refused with a bare 400 before any route runs.
    """

    def send(self, data: bytes) -> StringTransport:
        """
        Feed C{data} to a new connection of a registry site.

        @return: the connection's transport.
        """
        site = MemoryRegistry().site
        channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
        # Its idle and abort timers on a clock of the test's, not the reactor.
        channel.callLater = Clock().callLater
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(data)
        return transport

    def test_long_header_line(self):
        """
        A header line over the limit is answered with a 400 before the
        connection closes, not just dropped.
        """
        transport = self.send(b"GET /v2/ HTTP/1.1\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 400 "))
        self.assertTrue(transport.disconnecting)

    def test_content_length_too_long(self):
        """
        A C{Content-Length} of more digits than any 64-bit length is a 400,
        not an unhandled error that drops the connection.
        """
        transport = self.send(b"PUT /v2/foo/manifests/x HTTP/1.1\r\nContent-Length: "
                              + b"9" * 5000 + b"\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 400 "))
        self.assertTrue(transport.disconnecting)

    def test_host_not_utf8(self):
        """
        A C{Host} that is not UTF-8 is a bare 400, not Klein's text/html one
        with a traceback in the log.
        """
        transport = self.send(b"GET /v2/ HTTP/1.1\r\nHost: \xff\xfe\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 400 "))
        self.assertNotIn(b"text/html", transport.value())

    def test_long_request_line(self):
        """
        So is a request line over the limit.
        """
        transport = self.send(b"GET /v2/" + b"a/" * 10000 + b"tags/list HTTP/1.1\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 400 "))
        self.assertTrue(transport.disconnecting)


class RefusedRequestTests(SynchronousTestCase):
    """
    Requests refused with a 4xx leave the state they aimed at as it was.
    """

    def setUp(self):
        self.client = MemoryClient(self)

    def session(self, name: str, first: bytes) -> str:
        """
        Open a session of C{name} holding C{first}.

        @return: its path.
        """
        started = self.client.request("POST", f"/v2/{name}/blobs/uploads/")
        location = started.header("location")
        reply = self.client.request("PATCH", location, first,
                                    {"Content-Range": f"0-{len(first) - 1}"})
        self.assertEqual(reply.code, 202)
        return location

    def test_refused_chunks(self):
        """
        Chunks with a bad C{Content-Range}, or a C{Content-Length} that does
        not match it, leave the session's offset where it was, and the
        upload then completes with the right bytes.
        """
        location = self.session("foo", b"first")
        for content_range, body, code in (("bytes 5-9/10", b"12345", 416), ("9-5", b"12345", 416),
                                          ("0-4", b"12345", 416), ("5-9", b"123", 400),
                                          ("5-" + "9" * 25, b"12345", 416)):
            reply = self.client.request("PATCH", location, body, {"Content-Range": content_range})
            self.assertEqual(reply.code, code, content_range)
            self.assertEqual(self.client.request("GET", location).header("range"), "0-4")
        digest = sha256(b"first second")
        reply = self.client.request("PUT", f"{location}?digest={digest}", b" second")
        self.assertEqual(reply.code, 201, reply.body)
        self.assertEqual(self.client.request("GET", f"/v2/foo/blobs/{digest}").body,
                         b"first second")

    def test_other_repository_session(self):
        """
        A session cannot be read, appended to, completed or cancelled
        through another repository's URL; it carries on untouched.
        """
        location = self.session("owner", b"mine")
        stolen = location.replace("/v2/owner/", "/v2/thief/")
        for method, suffix, body in (("GET", "", b""), ("PATCH", "", b"theirs"),
                                     ("PUT", f"?digest={sha256(b'minetheirs')}", b"theirs"),
                                     ("DELETE", "", b"")):
            reply = self.client.request(method, stolen + suffix, body)
            self.assertEqual((reply.code, reply.error_codes()), (404, ["BLOB_UPLOAD_UNKNOWN"]))
        self.assertEqual(self.client.request("GET", location).header("range"), "0-3")
        reply = self.client.request("PUT", f"{location}?digest={sha256(b'mine')}")
        self.assertEqual(reply.code, 201, reply.body)
        self.assertEqual(self.client.request("GET", f"/v2/thief/blobs/{sha256(b'mine')}").code,
                         404)


class RangeTests(SynchronousTestCase):
    """
    C{Range} headers with absurd numbers.
    """

    def test_positions_past_int_limit(self):
        """
        Positions longer than int() converts (4300 digits) are positions
        past the end, not a 500: the end is clamped, a suffix covers the
        whole blob, a start is unsatisfiable.
        """
        client = MemoryClient(self)
        data = b"0123456789"
        url = f"/v2/foo/blobs/{client.push_blob('foo', data)}"
        huge = "9" * 5000
        for value, code, body in ((f"bytes=2-{huge}", 206, data[2:]),
                                  (f"bytes=-{huge}", 206, data),
                                  (f"bytes=0000{huge}-", 416, None)):
            reply = client.request("GET", url, headers={"Range": value})
            self.assertEqual(reply.code, code, value[:20])
            if body is None:
                self.assertEqual(reply.error_codes(), ["RANGE_INVALID"])
            else:
                self.assertEqual(reply.body, body)
