"""
Streaming stored bytes out to a client.
"""

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

#: Bytes read from storage per step.
READ_SIZE = 1024 * 1024


@implementer(IPushProducer)
class ReaderProducer:
    """
    Writes C{length} bytes from an L{IFileReader} to a request, reading one
    piece ahead and pausing when the transport asks it to.

    Use L{send}; the reader is closed when it is done.
    """

    _log = Logger()

    def __init__(self, reader, request, length: int):
        self._reader = reader
        self._request = request
        self._remaining = length
        self._paused = False
        self._stopped = False
        self._reading = None
        self._ready = None
        self._done = Deferred()

    def send(self) -> Deferred:
        """
        Start streaming.

        @return: a L{Deferred} that fires when every byte was written (or the
            client went away), after the reader is closed.
        """
        self._request.registerProducer(self, True)
        self._read_next()
        return self._done

    def _read_next(self) -> None:
        if self._remaining <= 0 or self._stopped:
            return
        self._reading = self._reader.read(min(READ_SIZE, self._remaining))
        self._reading.addCallbacks(self._got, self._failed)

    def _got(self, data: bytes) -> None:
        self._reading = None
        if self._stopped:
            return
        if not data:
            self._failed(EOFError("stored content ended early"))
            return
        self._remaining -= len(data)
        self._ready = data
        self._flush()

    def _flush(self) -> None:
        if self._paused or self._ready is None or self._stopped:
            return
        data, self._ready = self._ready, None
        # Read ahead before writing: the read runs while the socket drains.
        self._read_next()
        self._request.write(data)
        if self._remaining <= 0 and self._reading is None:
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
