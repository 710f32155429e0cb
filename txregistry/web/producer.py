"""
Streaming stored bytes out to a client.
"""

import collections

from twisted.internet.abstract import FileDescriptor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

#: Bytes read from storage per step.
READ_SIZE = 1024 * 1024
#: Pieces read ahead of what the transport has taken.
READ_AHEAD = 2


@implementer(IPushProducer)
class ReaderProducer:
    """
    Writes C{length} bytes from an L{IFileReader} to a request, reading
    L{READ_AHEAD} pieces ahead and pausing when the transport asks it to.

    While it streams, a TCP transport sends up to a whole piece per writable
    event (twisted's C{SEND_LIMIT} is 128 KiB), so a piece does not take
    eight turns of the reactor.

    Use L{send}; the reader is closed when it is done.
    """

    _log = Logger()

    def __init__(self, reader, request, length: int):
        self._reader = reader
        self._request = request
        self._unread = length
        self._unsent = length
        self._paused = False
        self._stopped = False
        self._reading = None
        self._ready = collections.deque()
        self._done = Deferred()
        self._transport = None
        self._saved_send_limit = None

    def send(self) -> Deferred:
        """
        Start streaming.

        @return: a L{Deferred} that fires when every byte was written (or the
            client went away), after the reader is closed.
        """
        transport = self._request.channel.transport if self._request.channel else None
        if isinstance(transport, FileDescriptor):  # not TLS, which sends its own way
            self._transport = transport
            self._saved_send_limit = transport.SEND_LIMIT
            transport.SEND_LIMIT = max(READ_SIZE, transport.SEND_LIMIT)
        self._request.registerProducer(self, True)
        self._read_next()
        return self._done

    def _read_next(self) -> None:
        if (
            self._unread <= 0
            or self._stopped
            or self._reading is not None
            or len(self._ready) >= READ_AHEAD
        ):
            return
        self._reading = self._reader.read(min(READ_SIZE, self._unread))
        self._reading.addCallbacks(self._got, self._failed)

    def _got(self, data: bytes) -> None:
        self._reading = None
        if self._stopped:
            return
        if not data:
            self._failed(EOFError("stored content ended early"))
            return
        self._unread -= len(data)
        self._ready.append(data)
        self._read_next()
        self._flush()

    def _flush(self) -> None:
        while not self._paused and self._ready and not self._stopped:
            data = self._ready.popleft()
            self._unsent -= len(data)
            # Read ahead before writing: the read runs while the socket drains.
            self._read_next()
            self._request.write(data)
        if self._unsent <= 0:
            self._finish()

    def _failed(self, failure) -> None:
        self._reading = None
        if not self._stopped:
            self._log.failure("reading stored content failed", failure)
            # The status line is sent: all we can do is cut the response short.
            transport = self._request.channel.transport if self._request.channel else None
            if transport is not None:
                transport.abortConnection()
            self._finish()

    def _finish(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._transport is not None:
            self._transport.SEND_LIMIT = self._saved_send_limit
        if self._request.producer is self:
            self._request.unregisterProducer()
        d = self._reader.close()
        d.addErrback(lambda f: self._log.failure("closing a reader failed", f))
        d.addBoth(lambda _: self._done.callback(None))

    # IPushProducer

    def pauseProducing(self) -> None:
        """
        The transport's buffer is full.
        """
        self._paused = True

    def resumeProducing(self) -> None:
        """
        The transport's buffer drained.
        """
        self._paused = False
        self._flush()

    def stopProducing(self) -> None:
        """
        The client went away.
        """
        self._finish()
