"""
Streaming stored bytes out to a client.
"""

import collections
import os

from twisted.internet.abstract import FileDescriptor
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.logger import Logger
from zope.interface import implementer

from txregistry.storage.interfaces import IFileSender

#: Bytes read from storage per step.
READ_SIZE = 1024 * 1024
#: Pieces read ahead of what the transport has taken.
READ_AHEAD = 2
#: Bytes copied to the socket per step when storage copies them itself.
SEND_STEP = 4 * 1024 * 1024

_log = Logger()


def send_stored(reader, request, length: int) -> Deferred:
    """
    Send C{length} bytes of C{reader} as the body of C{request}'s response,
    whose headers are set.

    Over a plain socket (TCP or Unix), a reader that can copy to sockets
    itself (L{IFileSender}: the filesystem driver's, with C{sendfile(2)})
    does, so the bytes never enter the process; otherwise (TLS, other
    drivers) they are read and written through the reactor.

    @return: a L{Deferred} that fires when every byte was sent (or the
        client went away), after the reader is closed.
    """
    transport = _transport_of(request)
    if IFileSender.providedBy(reader) and isinstance(transport, FileDescriptor):
        return SocketCopyProducer(reader, request, transport, length).send()
    return ReaderProducer(reader, request, length).send()


def _transport_of(request):
    """
    The transport of C{request}'s connection, or C{None} once it is gone.
    """
    return request.channel.transport if request.channel else None


def _release(request, producer, reader) -> Deferred:
    """
    Unregister C{producer} from C{request} and close C{reader}.

    @return: a L{Deferred} firing once the reader is closed (a failure to
        close it is logged).
    """
    if request.producer is producer:
        request.unregisterProducer()
    closed = reader.close()
    closed.addErrback(lambda f: _log.failure("closing a reader failed", f))
    return closed


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
        transport = _transport_of(self._request)
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
            _log.failure("reading stored content failed", failure)
            # The status line is sent: all we can do is cut the response short.
            transport = _transport_of(self._request)
            if transport is not None:
                transport.abortConnection()
            self._finish()

    def _finish(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        if self._transport is not None:
            self._transport.SEND_LIMIT = self._saved_send_limit
        _release(self._request, self, self._reader).addBoth(lambda _: self._done.callback(None))

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


@implementer(IPushProducer)
class SocketCopyProducer:
    """
    Has an L{IFileSender} copy C{length} bytes straight to the request's
    socket, in steps of at most L{SEND_STEP} run in the storage driver's
    threads, each lasting until the socket is full.

    The status line and headers go out through the transport first.  Each
    step then starts once the transport reports the socket writable: the
    producer asks for that by marking the transport's producer (the HTTP
    channel, which passes it on here) paused and having it watch for
    writability, so the transport's own buffer is empty whenever a step
    copies.  The steps use a duplicate of the socket's descriptor, so a
    connection closed meanwhile cannot hand the number to another socket.
    If storage cannot copy this content (L{NotImplementedError} before any
    byte went), a L{ReaderProducer} sends it instead.

    Use L{send}; the reader is closed when it is done.
    """

    def __init__(self, reader, request, transport: FileDescriptor, length: int):
        self._reader = reader
        self._request = request
        self._transport = transport
        self._length = length
        self._unsent = length
        self._socket_fd = None
        self._step = None
        self._stopped = False
        self._done = Deferred()

    def send(self) -> Deferred:
        """
        Start sending.

        @return: a L{Deferred} that fires when every byte was copied (or the
            client went away), after the reader is closed.
        """
        self._request.registerProducer(self, True)
        self._request.write(b"")  # the status line and headers
        try:
            self._socket_fd = os.dup(self._transport.fileno())
        except (OSError, ValueError):  # the connection is closed already
            self._finish()
            return self._done
        self._when_writable()
        return self._done

    def _when_writable(self) -> None:
        if self._stopped:
            return
        # Once its buffer is empty and the socket writable, the transport
        # resumes its paused producer: the channel, which resumes this one.
        self._transport.producerPaused = True
        self._transport.startWriting()

    def _copy(self) -> None:
        self._step = self._reader.send_to(self._socket_fd, min(SEND_STEP, self._unsent))
        self._step.addCallbacks(self._copied, self._failed)

    def _copied(self, count: int) -> None:
        self._step = None
        if self._stopped:
            return
        self._unsent -= count
        self._request.sentLength += count
        if self._unsent <= 0:
            self._finish()
        else:
            self._when_writable()

    def _failed(self, failure) -> None:
        self._step = None
        if self._stopped:
            return
        if failure.check(NotImplementedError) and self._unsent == self._length:
            self._read_instead()
            return
        if not failure.check(ConnectionError):
            _log.failure("sending stored content failed", failure)
        # The status line is sent: all we can do is cut the response short.
        self._transport.abortConnection()
        self._finish()

    def _finish(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        # The reader's close waits for a step still running.
        _release(self._request, self, self._reader).addBoth(self._closed)

    def _read_instead(self) -> None:
        # Storage cannot copy this content to the socket: nothing was sent
        # yet, so the reader goes on through the reactor.
        self._stopped = True
        if self._request.producer is self:
            self._request.unregisterProducer()
        self._close_socket()
        ReaderProducer(self._reader, self._request, self._unsent).send().chainDeferred(self._done)

    def _close_socket(self) -> None:
        if self._socket_fd is not None:
            os.close(self._socket_fd)
            self._socket_fd = None

    def _closed(self, _) -> None:
        self._close_socket()
        self._done.callback(None)

    # IPushProducer

    def pauseProducing(self) -> None:
        """
        Nothing to do: the steps do not go through the transport's buffer.
        """

    def resumeProducing(self) -> None:
        """
        The transport's buffer is empty and the socket writable: copy.
        """
        if not self._stopped and self._step is None:
            self._copy()

    def stopProducing(self) -> None:
        """
        The client went away.
        """
        self._finish()
