"""
Tests for L{txregistry.notifications.http}: the webhook requests, how
answers are judged, timeouts on a L{Clock}, and certificate verification
against a real HTTPS receiver on loopback.
"""

import datetime
import json
import os

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from treq.testing import HasHeaders, RequestSequence, StringStubbingResource, StubTreq
from twisted.internet import reactor
from twisted.internet.defer import fail
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.ssl import Certificate, PrivateCertificate
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import BrowserLikePolicyForHTTPS, ResponseNeverReceived
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site

from tests.integration.processes import temporary_directory

from txregistry.notifications.events import ENVELOPE_MEDIA_TYPES
from txregistry.notifications.http import USER_AGENT, HTTPSink, retry_after
from txregistry.notifications.interfaces import DeliveryFailed, DeliveryRefused
from txregistry.plugins.builtin_sinks import HTTPSinkFactory

URL = "http://hooks.example/registry"
EVENTS = [b'{"id":"1"}', b'{"id":"2"}']
BODY = b'{"events":[{"id":"1"},{"id":"2"}]}'


def stubbed(answer, clock=None, timeout=1.0) -> tuple[HTTPSink, StubTreq]:
    """
    A sink whose requests reach C{answer(method, url, params, headers,
    data)} in memory.
    """
    stub = StubTreq(StringStubbingResource(answer))
    sink = HTTPSink(URL, {"Authorization": ["Bearer s3cret"]}, timeout,
                    ENVELOPE_MEDIA_TYPES["v1"], clock or Clock(), client=stub)
    return sink, stub


class RequestTests(SynchronousTestCase):
    """
    A batch is one POST of the envelope, with the configured headers.
    """

    def test_request(self):
        """
        Method, URL, headers (media type, configured, user agent) and body
        are as expected.
        """
        expected = (b"post", URL, {}, HasHeaders({
            "Content-Type": [ENVELOPE_MEDIA_TYPES["v1"]],
            "Authorization": ["Bearer s3cret"],
            "User-Agent": [USER_AGENT],
        }), BODY)
        sequence = RequestSequence([(expected, (202, {}, b""))])
        sink, stub = stubbed(sequence)
        with sequence.consume(self.fail):
            sent = sink.send(EVENTS)
            stub.flush()
            self.assertIsNone(self.successResultOf(sent))

    def test_configuredUserAgent(self):
        """
        A C{User-Agent} among the configured headers wins.
        """
        seen = []

        def answer(method, url, params, headers, data):
            seen.append(headers[b"User-Agent"])
            return 200, {}, b""

        stub = StubTreq(StringStubbingResource(answer))
        sink = HTTPSink(URL, {"User-Agent": ["mine"]}, 1.0, ENVELOPE_MEDIA_TYPES["v2"],
                        Clock(), client=stub)
        sink.send(EVENTS)
        stub.flush()
        self.assertEqual(seen, [[b"mine"]])

    def test_factory(self):
        """
        The plugin's factory makes a sink with the endpoint's URL, headers,
        timeout and envelope media type, for http and https.
        """
        class Endpoint:
            url = URL
            headers = {"X-A": ["b"]}
            timeout = 2.5
            envelope = "v2"

        factory = HTTPSinkFactory()
        self.assertEqual(factory.schemes, ("http", "https"))
        sink = factory.create(Endpoint(), Clock())
        self.assertEqual((sink._url, sink._timeout, sink._headers["Content-Type"],
                          sink._headers["X-A"]), (URL, 2.5, [ENVELOPE_MEDIA_TYPES["v2"]], ["b"]))


class AnswerTests(SynchronousTestCase):
    """
    2xx is delivered; 408, 429, 5xx and 3xx are retried; other 4xx are
    refusals.
    """

    def outcome(self, code: int, headers=None, body: bytes = b""):
        """
        What sending a batch gives when the receiver answers so.
        """
        sink, stub = stubbed(lambda *request: (code, headers or {}, body))
        sent = sink.send(EVENTS)
        stub.flush()
        return sent

    def test_success(self):
        """
        Any 2xx means delivered.
        """
        for code in (200, 201, 202, 204):
            self.assertIsNone(self.successResultOf(self.outcome(code)))

    def test_retried(self):
        """
        408, 429 and 5xx fail with L{DeliveryFailed}.
        """
        for code in (408, 429, 500, 502, 503):
            failure = self.failureResultOf(self.outcome(code), DeliveryFailed)
            self.assertEqual(str(failure.value), f"HTTP {code}")

    def test_retryAfter(self):
        """
        C{Retry-After} comes with the failure.
        """
        failure = self.failureResultOf(self.outcome(503, {b"Retry-After": b"120"}),
                                       DeliveryFailed)
        self.assertEqual(failure.value.retry_after, 120.0)

    def test_redirectNotFollowed(self):
        """
        A redirect is not followed and is not a delivery.
        """
        failure = self.failureResultOf(
            self.outcome(307, {b"Location": b"http://elsewhere.example/"}), DeliveryFailed
        )
        self.assertEqual(str(failure.value), "HTTP 307 to http://elsewhere.example/")

    def test_refused(self):
        """
        Other 4xx are refusals, with the start of the answer's body.
        """
        for code in (400, 401, 404, 422):
            failure = self.failureResultOf(self.outcome(code, body=b"bad envelope\n"),
                                           DeliveryRefused)
            self.assertEqual(str(failure.value), f"HTTP {code}: bad envelope")

    def test_transportError(self):
        """
        A transport error is a L{DeliveryFailed} saying what happened.
        """
        class Refusing:
            def post(self, *args, **kwargs):
                return fail(ResponseNeverReceived([Failure(ConnectionRefusedError())]))

        sink = HTTPSink(URL, {}, 1.0, ENVELOPE_MEDIA_TYPES["v1"], Clock(), client=Refusing())
        failure = self.failureResultOf(sink.send(EVENTS), DeliveryFailed)
        self.assertIn("Connection was refused", str(failure.value))


class StallingResource(Resource):
    """
    Answers with headers and part of a body, then nothing more.
    """

    isLeaf = True

    def __init__(self, headers_only: bool):
        super().__init__()
        self.headers_only = headers_only

    def render_POST(self, request):
        """
        Start an answer and never finish it.
        """
        if not self.headers_only:
            request.setHeader(b"Content-Length", b"100")
            request.write(b"partial")
        return NOT_DONE_YET


class TimeoutTests(SynchronousTestCase):
    """
    C{timeout} bounds the whole exchange, reading the answer included.
    """

    def assertTimesOut(self, resource):
        """
        A request to C{resource} fails after the timeout, not before.
        """
        clock = Clock()
        stub = StubTreq(resource)
        sink = HTTPSink(URL, {}, 2.0, ENVELOPE_MEDIA_TYPES["v1"], clock, client=stub)
        sent = sink.send(EVENTS)
        stub.flush()
        clock.advance(1.9)
        self.assertNoResult(sent)
        clock.advance(0.1)
        failure = self.failureResultOf(sent, DeliveryFailed)
        self.assertEqual(str(failure.value), "no answer within 2 s")

    def test_noAnswer(self):
        """
        A receiver that never answers.
        """
        self.assertTimesOut(StallingResource(headers_only=True))

    def test_stalledBody(self):
        """
        A receiver that stops in the middle of its answer's body.
        """
        self.assertTimesOut(StallingResource(headers_only=False))


class RetryAfterTests(SynchronousTestCase):
    """
    L{retry_after} reads both forms of the header.
    """

    def test_seconds(self):
        """
        Delay seconds.
        """
        self.assertEqual(retry_after(b"30", 0.0), 30.0)

    def test_date(self):
        """
        An HTTP date, relative to now; a past date is no wait.
        """
        now = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
        self.assertEqual(retry_after(b"Thu, 01 Jan 2026 00:01:00 GMT", now), 60.0)
        self.assertEqual(retry_after(b"Wed, 31 Dec 2025 00:00:00 GMT", now), 0.0)

    def test_nothing(self):
        """
        No header, or one that does not parse, is no wait asked for.
        """
        for value in (None, b"", b"soon"):
            self.assertIsNone(retry_after(value, 0.0))


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, issuer: str, key, signing_key, ca: bool, names=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if names:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False
        )
    return builder.sign(signing_key, hashes.SHA256())


def make_pki(server_name: str) -> tuple[bytes, bytes]:
    """
    A test certificate authority and a server certificate it signed for
    C{server_name}.

    @return: the authority's certificate, and the server's key and
        certificate, as PEM.
    """
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("txregistry test CA", "txregistry test CA", ca_key, ca_key, True)
    key = ec.generate_private_key(ec.SECP256R1())
    server = _certificate(server_name, "txregistry test CA", key, ca_key, False, [server_name])
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return ca.public_bytes(pem), key_pem + server.public_bytes(pem)


class Receiver(Resource):
    """
    Records the bodies POSTed to it and answers 200.
    """

    isLeaf = True

    def __init__(self):
        super().__init__()
        self.bodies = []

    def render_POST(self, request):
        """
        Keep the body.
        """
        self.bodies.append(request.content.read())
        return b""


class HTTPSTests(TestCase):
    """
    HTTPS receivers are verified: the certificate must chain to a trusted
    authority and name the host.
    """

    def serve(self, server_name: str) -> tuple[bytes, int]:
        """
        Run an HTTPS receiver on loopback with a certificate for
        C{server_name}.

        @return: the authority's certificate (PEM) and the port.
        """
        ca_pem, server_pem = make_pki(server_name)
        self.receiver = Receiver()
        options = PrivateCertificate.loadPEM(server_pem).options()
        port = reactor.listenSSL(0, Site(self.receiver), options, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        return ca_pem, port.getHost().port

    def sink(self, port: int, tls_policy=None) -> HTTPSink:
        """
        A sink for the receiver, closed when the test ends.
        """
        sink = HTTPSink(f"https://localhost:{port}/hook", {}, 10.0, ENVELOPE_MEDIA_TYPES["v1"],
                        reactor, tls_policy=tls_policy)
        self.addCleanup(sink.close)
        return sink

    async def test_trusted(self):
        """
        A certificate from a trusted authority, for the host, is accepted.
        """
        ca_pem, port = self.serve("localhost")
        policy = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(ca_pem))
        await self.sink(port, policy).send(EVENTS)
        self.assertEqual([json.loads(b) for b in self.receiver.bodies], [json.loads(BODY)])

    async def test_untrusted(self):
        """
        By default only the platform's authorities are trusted: a test
        authority's certificate is refused, and nothing is delivered.
        """
        _, port = self.serve("localhost")
        with self.assertRaises(DeliveryFailed) as caught:
            await self.sink(port).send(EVENTS)
        self.assertIn("certificate verify failed", str(caught.exception))
        self.assertEqual(self.receiver.bodies, [])

    async def test_wrongHost(self):
        """
        A certificate from a trusted authority for another host is refused.
        """
        ca_pem, port = self.serve("other.example")
        policy = BrowserLikePolicyForHTTPS(trustRoot=Certificate.loadPEM(ca_pem))
        with self.assertRaises(DeliveryFailed):
            await self.sink(port, policy).send(EVENTS)
        self.assertEqual(self.receiver.bodies, [])

    async def test_platformTrustFromEnvironment(self):
        """
        The default trust is OpenSSL's, so C{SSL_CERT_FILE} adds an
        authority, as it does for Distribution (Go reads it too).
        """
        ca_pem, port = self.serve("localhost")
        path = os.path.join(temporary_directory(self), "ca.pem")
        with open(path, "wb") as f:
            f.write(ca_pem)
        previous = os.environ.get("SSL_CERT_FILE")
        os.environ["SSL_CERT_FILE"] = path
        if previous is None:
            self.addCleanup(os.environ.pop, "SSL_CERT_FILE")
        else:
            self.addCleanup(os.environ.__setitem__, "SSL_CERT_FILE", previous)
        await self.sink(port).send(EVENTS)
        self.assertEqual(len(self.receiver.bodies), 1)
