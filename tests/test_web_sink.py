"""
Tests for L{txregistry.web.sink}.
"""

import socket
import time

from twisted.internet.abstract import FileDescriptor
from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from txregistry.web.sink import READ_SIZE, BodySink, IBodyConsumer


class _Channel:
    def setTimeout(self, timeout):
        return None


@implementer(IBodyConsumer)
class _Consumer:
    def __init__(self):
        self.pieces = []

    def write(self, data):
        self.pieces.append(data)
        return succeed(None)

    def finish(self):
        return succeed(len(self.pieces))

    def abort(self):
        return succeed(None)


def _tcp_pair(case):
    """
    A connected pair of loopback TCP sockets (server side, client side),
    closed at the end of the test.
    """
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    for sock in (server, client):
        case.addCleanup(sock.close)
    return server, client


def _low_water(sock):
    return sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT)


class _SocketTransport(FileDescriptor):
    """
    A file descriptor transport holding a real socket.
    """

    def __init__(self, sock):
        super().__init__()
        self.socket = sock


class ReadThresholdTests(TestCase):
    """
    While a body of known length streams in over TCP, the reactor is woken
    for a whole piece, or the rest of the body, not for every segment.
    """

    def test_follows_the_body(self):
        """
        The mark is a piece while more than one remains, then the rest of
        the body; it is back to one byte when the body is in.
        """
        server, _ = _tcp_pair(self)
        sink = BodySink(_SocketTransport(server), _Channel(), succeed(_Consumer()),
                        length=2 * READ_SIZE + 100)
        self.assertEqual(_low_water(server), READ_SIZE)
        sink.write(b"x" * READ_SIZE)
        sink.write(b"x" * (READ_SIZE - 50))
        self.assertEqual(_low_water(server), 150)
        sink.write(b"x" * 150)
        sink.body_complete()
        self.assertEqual(_low_water(server), 1)

    def test_released_when_the_client_goes(self):
        """
        The mark is back to one byte when the client goes away mid-body.
        """
        server, _ = _tcp_pair(self)
        sink = BodySink(_SocketTransport(server), _Channel(), succeed(_Consumer()),
                        length=10 * READ_SIZE)
        sink.connection_lost()
        self.assertEqual(_low_water(server), 1)

    def test_unknown_length(self):
        """
        Without a length (chunked transfer encoding) the mark is left alone:
        the body's end could sit below any mark.
        """
        server, _ = _tcp_pair(self)
        BodySink(_SocketTransport(server), _Channel(), succeed(_Consumer()))
        self.assertEqual(_low_water(server), 1)

    def test_not_tcp(self):
        """
        A Unix socket is read as before.
        """
        server, client = socket.socketpair()
        self.addCleanup(server.close)
        self.addCleanup(client.close)
        sink = BodySink(_SocketTransport(server), _Channel(), succeed(_Consumer()),
                        length=10 * READ_SIZE)
        self.assertEqual(_low_water(server), 1)
        self.assertFalse(sink.read_waiting())

    def test_read_waiting(self):
        """
        Asked after an idle timeout, the sink says whether bytes wait below
        the mark, and if so lowers it so they are read.
        """
        server, client = _tcp_pair(self)
        sink = BodySink(_SocketTransport(server), _Channel(), succeed(_Consumer()),
                        length=10 * READ_SIZE)
        self.assertFalse(sink.read_waiting())
        self.assertEqual(_low_water(server), READ_SIZE)
        client.sendall(b"x" * 1000)
        deadline = time.monotonic() + 5
        while not sink.read_waiting():
            self.assertLess(time.monotonic(), deadline, "the bytes never arrived")
            time.sleep(0.01)
        self.assertEqual(_low_water(server), 1)
        # Read: the next piece raises the mark again.
        sink.write(server.recv(1000))
        self.assertEqual(_low_water(server), READ_SIZE)


class ReadSizeTests(TestCase):
    """
    While a body streams, the client's socket is read in big pieces, each
    handed on as it came.
    """

    def sink(self, consumer):
        transport = FileDescriptor()
        default = transport.bufferSize
        sink = BodySink(transport, _Channel(), succeed(consumer))
        self.assertEqual(transport.bufferSize, READ_SIZE)
        return transport, default, sink

    def test_body_complete(self):
        """
        The socket's read size is restored once the body is in; the pieces
        reach the consumer unjoined.
        """
        consumer = _Consumer()
        transport, default, sink = self.sink(consumer)
        pieces = [b"a" * 10, b"b" * 20, b"c" * 30]
        for piece in pieces:
            sink.write(piece)
        sink.body_complete()
        self.assertEqual(transport.bufferSize, default)
        self.assertEqual(consumer.pieces, pieces)
        self.assertEqual(self.successResultOf(sink.wait()), 3)

    def test_connection_lost(self):
        """
        The read size is restored when the client goes away mid-body.
        """
        transport, default, sink = self.sink(_Consumer())
        sink.write(b"x")
        sink.connection_lost()
        self.assertEqual(transport.bufferSize, default)
        self.assertIsInstance(self.successResultOf(sink.wait()), ConnectionError)

    def test_other_transport(self):
        """
        A transport that is not a socket (TLS) is left as it is.
        """
        transport = object()
        sink = BodySink(transport, _Channel(), Deferred())
        sink.body_complete()
        self.assertFalse(hasattr(transport, "bufferSize"))
