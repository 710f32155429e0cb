"""
Tests for L{txregistry.web.producer}.
"""

from twisted.internet.abstract import FileDescriptor
from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import TestCase

from txregistry.web.producer import READ_AHEAD, READ_SIZE, ReaderProducer


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
