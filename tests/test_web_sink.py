"""
Tests for L{txregistry.web.sink}.
"""

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
