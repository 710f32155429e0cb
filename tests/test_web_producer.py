"""
Tests for L{txregistry.web.producer}.
"""

import os
import re
import socket
import time

from twisted.internet import reactor
from twisted.internet.abstract import FileDescriptor
from twisted.internet.defer import Deferred, ensureDeferred, fail, succeed
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import TestCase
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Site
from zope.interface import alsoProvides

from tests.driver_suite import temporary_directory
from txregistry.storage.drivers.filesystem import FilesystemDriver
from txregistry.storage.drivers.filesystem import _Reader as FilesystemReader
from txregistry.storage.interfaces import IFileSender
from txregistry.web import producer as producer_module
from txregistry.web.producer import READ_AHEAD, READ_SIZE, ReaderProducer, send_stored


class _Reader:
    """
    Serves C{content}; each read waits until the test fires it.
    """

    def __init__(self, content: bytes):
        self._content = content
        self._position = 0
        self.pending = []
        self.closed = False

    def read(self, max_bytes):
        d = Deferred()
        self.pending.append((d, max_bytes))
        return d

    def answer(self):
        d, max_bytes = self.pending.pop(0)
        piece = self._content[self._position : self._position + max_bytes]
        self._position += len(piece)
        d.callback(piece)

    def close(self):
        self.closed = True
        return succeed(None)


class _Channel:
    def __init__(self, transport):
        self.transport = transport


class _Request:
    def __init__(self, transport):
        self.channel = _Channel(transport)
        self.producer = None
        self.written = []

    def registerProducer(self, producer, streaming):
        self.producer = producer

    def unregisterProducer(self):
        self.producer = None

    def write(self, data):
        self.written.append(data)


class ReaderProducerTests(TestCase):
    """
    L{ReaderProducer} streams a reader's pieces to a request.
    """

    def test_streams_with_read_ahead(self):
        """
        Up to L{READ_AHEAD} pieces are read while the transport is paused;
        every byte is written in order and the reader is closed.
        """
        content = bytes(range(256)) * (READ_SIZE * 5 // 256 + 7)
        reader = _Reader(content)
        request = _Request(None)
        producer = ReaderProducer(reader, request, len(content))
        producer.pauseProducing()
        done = producer.send()
        while reader.pending:
            reader.answer()
        self.assertEqual(len(request.written), 0)
        self.assertEqual(len(producer._ready), READ_AHEAD)
        producer.resumeProducing()
        while reader.pending:
            reader.answer()
        self.successResultOf(done)
        self.assertEqual(b"".join(request.written), content)
        self.assertTrue(reader.closed)
        self.assertIsNone(request.producer)

    def test_send_limit_raised_while_streaming(self):
        """
        A TCP transport sends a whole piece per writable event while the
        producer streams, and goes back to its own limit afterwards.
        """
        transport = FileDescriptor()
        default = transport.SEND_LIMIT
        content = b"x" * (READ_SIZE + 10)
        reader = _Reader(content)
        request = _Request(transport)
        done = ReaderProducer(reader, request, len(content)).send()
        self.assertGreaterEqual(transport.SEND_LIMIT, READ_SIZE)
        while reader.pending:
            reader.answer()
        self.successResultOf(done)
        self.assertEqual(transport.SEND_LIMIT, default)
        self.assertEqual(b"".join(request.written), content)

    def test_stopped(self):
        """
        A client that goes away stops the reads; the limit is restored.
        """
        transport = FileDescriptor()
        default = transport.SEND_LIMIT
        reader = _Reader(b"y" * (3 * READ_SIZE))
        request = _Request(transport)
        producer = ReaderProducer(reader, request, 3 * READ_SIZE)
        done = producer.send()
        reader.answer()
        producer.stopProducing()
        self.successResultOf(done)
        self.assertEqual(transport.SEND_LIMIT, default)
        while reader.pending:
            reader.answer()
        self.assertTrue(reader.closed)


class _Stored(Resource):
    """
    Serves C{/blob} of a filesystem driver with L{send_stored}:
    C{?start=&length=} pick the bytes.
    """

    isLeaf = True

    def __init__(self, driver):
        super().__init__()
        self.driver = driver
        self.sent = []

    def render_GET(self, request):
        ensureDeferred(self._serve(request))
        return NOT_DONE_YET

    async def _serve(self, request):
        start = int(request.args[b"start"][0])
        length = int(request.args[b"length"][0])
        request.setHeader(b"Content-Length", b"%d" % (length,))
        reader = await self.driver.reader("/blob", start)
        await send_stored(reader, request, length)
        self.sent.append(request.sentLength)
        if not request._disconnected:
            request.finish()


def _exchange(port: int, requests: list[bytes], wait: float, receive_buffer: int | None,
              stop_after: int | None = None) -> bytes:
    """
    Send C{requests} at once on one connection, wait, then read everything
    until the server closes or resets (or C{stop_after} bytes, then close).
    Blocking: run in a thread.
    """
    with socket.socket() as client:
        if receive_buffer is not None:
            client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        client.connect(("127.0.0.1", port))
        client.sendall(b"".join(requests))
        time.sleep(wait)
        received = bytearray()
        while stop_after is None or len(received) < stop_after:
            try:
                piece = client.recv(65536)
            except ConnectionResetError:
                break
            if not piece:
                break
            received += piece
        return bytes(received)


def _get(start: int, length: int, close: bool = False) -> bytes:
    connection = b"Connection: close\r\n" if close else b""
    return (b"GET /blob?start=%d&length=%d HTTP/1.1\r\nHost: x\r\n%s\r\n"
            % (start, length, connection))


class SocketCopyTests(TestCase):
    """
    Over a real TCP connection, the filesystem driver's readers copy blobs
    straight to the socket (L{SocketCopyProducer}).
    """

    def setUp(self):
        root = temporary_directory(self)
        os.makedirs(os.path.join(root, "root"))
        self.content = bytes(range(256)) * (9 * 4096 + 1)  # 9 MiB and 256 bytes
        with open(os.path.join(root, "root", "blob"), "wb") as f:
            f.write(self.content)
        self.driver = FilesystemDriver(os.path.join(root, "root"), reactor)
        self.addCleanup(self.driver.close)
        self.resource = _Stored(self.driver)
        self.port = reactor.listenTCP(0, Site(self.resource), interface="127.0.0.1")
        self.addCleanup(self.port.stopListening)
        self.steps = []
        original = FilesystemReader.send_to

        def send_to(reader, socket_fd, max_bytes):
            self.steps.append(max_bytes)
            return original(reader, socket_fd, max_bytes)

        self.patch(FilesystemReader, "send_to", send_to)
        self.original_read = FilesystemReader.read
        self.patch(FilesystemReader, "read", lambda *args: self.fail("read through the reactor"))

    def exchange(self, requests, wait=0.0, receive_buffer=None, stop_after=None):
        return deferToThread(
            _exchange, self.port.getHost().port, requests, wait, receive_buffer, stop_after
        )

    def responses(self, received: bytes, count: int) -> list[bytes]:
        bodies = []
        for _ in range(count):
            head, _, rest = received.partition(b"\r\n\r\n")
            self.assertTrue(head.startswith(b"HTTP/1.1 200 "), head)
            length = int(re.search(rb"(?im)^content-length: (\d+)", head).group(1))
            bodies.append(rest[:length])
            received = rest[length:]
        self.assertEqual(received, b"")
        return bodies

    async def test_copies_in_steps(self):
        """
        A client that reads late fills the socket: the body is copied in
        several steps, byte-exact, and a request pipelined behind it (a
        range) is answered after it, intact.
        """
        received = await self.exchange(
            [_get(0, len(self.content)), _get(5, 1000, close=True)], wait=0.3,
            receive_buffer=65536,
        )
        bodies = self.responses(received, 2)
        self.assertEqual(bodies[0], self.content)
        self.assertEqual(bodies[1], self.content[5:1005])
        self.assertGreater(len(self.steps), 2)
        self.assertEqual(self.resource.sent, [len(self.content), 1000])

    async def test_client_goes_away(self):
        """
        A client that closes part way: the copy stops, the reader and the
        duplicated descriptor are closed, nothing is logged as a failure,
        and the server goes on serving.
        """
        logged = []
        self.patch(producer_module, "_log", _FailureLog(logged))
        # What the driver and the reactor open once, opened before counting.
        await self.exchange([_get(0, 10, close=True)])
        descriptors = len(os.listdir("/proc/self/fd"))
        received = await self.exchange(
            [_get(0, len(self.content))], receive_buffer=65536, stop_after=100_000
        )
        self.assertGreaterEqual(len(received), 100_000)
        for _ in range(100):
            if len(os.listdir("/proc/self/fd")) <= descriptors:
                break
            await deferLater(reactor, 0.05, lambda: None)
        self.assertLessEqual(len(os.listdir("/proc/self/fd")), descriptors)
        self.assertEqual(logged, [])
        again = await self.exchange([_get(7, 300_000, close=True)])
        self.assertEqual(self.responses(again, 1), [self.content[7:300_007]])

    async def test_storage_cannot_copy(self):
        """
        If storage cannot copy the content to the socket, it is read and
        written through the reactor instead, intact.
        """
        self.patch(FilesystemReader, "read", self.original_read)
        self.patch(
            FilesystemReader, "send_to", lambda *args: fail(NotImplementedError("no sendfile"))
        )
        received = await self.exchange([_get(3, len(self.content) - 3, close=True)])
        self.assertEqual(self.responses(received, 1), [self.content[3:]])

    async def test_stored_content_short(self):
        """
        Stored content shorter than announced (damaged storage): the
        response is cut short by closing the connection, and the failure
        logged.
        """
        logged = []
        self.patch(producer_module, "_log", _FailureLog(logged))
        length = len(self.content) + 1000
        received = await self.exchange([_get(0, length)])
        head, _, body = received.partition(b"\r\n\r\n")
        self.assertIn(b"Content-Length: %d" % (length,), head)
        self.assertTrue(self.content.startswith(body))
        self.assertEqual([args[0] for args in logged], ["sending stored content failed"])

    def test_other_transports_read(self):
        """
        Without a plain socket (TLS, or no connection any more), the bytes
        are read and written through the reactor.
        """
        reader = _Reader(b"z" * 10)
        reader.send_to = lambda *args: self.fail("copied")
        alsoProvides(reader, IFileSender)
        request = _Request(object())
        done = send_stored(reader, request, 10)
        reader.answer()
        self.successResultOf(done)
        self.assertEqual(b"".join(request.written), b"z" * 10)


class _FailureLog:
    """
    Collects what L{Logger.failure} is given.
    """

    def __init__(self, logged):
        self._logged = logged

    def failure(self, *args, **kwargs):
        self._logged.append(args)
