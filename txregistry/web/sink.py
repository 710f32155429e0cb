"""
Where request bodies go while they arrive.

twisted.web buffers a whole body (in memory or a temporary file) before a
resource sees the request.  L{RegistryRequest} replaces that buffer, once the
headers are in, by one of these:

 - L{BodySink} streams the body to an L{IBodyConsumer} (a blob upload) as it
   arrives, pausing the client's transport while the consumer is behind;
 - L{BoundedBody} keeps a small body (a manifest) in memory up to a limit
   and discards the rest, remembering that it overflowed.

Both offer the file-like methods twisted.web calls on C{request.content}.
"""

import collections
import fcntl
import socket
import struct
import termios

from twisted.internet.abstract import FileDescriptor
from twisted.internet.defer import Deferred, ensureDeferred
from twisted.logger import Logger
from zope.interface import Interface

_PENDING = object()

#: The most bytes read from the client's socket at once while a body
#: streams (twisted's default is 64 KiB); each read is handed to the
#: consumer as one piece, without copying.
READ_SIZE = 1024 * 1024
#: Pause the client when this many bytes wait in memory...
HIGH_WATER = 8 * 1024 * 1024
#: ...and let it send again below this many.
LOW_WATER = 2 * 1024 * 1024


class IBodyConsumer(Interface):
    """
    Takes a request body piece by piece.
    """

    def write(data):
        """
        Take the next piece.

        @return: a L{Deferred} that fires once the piece is stored.
        """

    def finish():
        """
        The body is complete and every write has fired.

        @return: a L{Deferred} of the request's outcome, handed to the handler.
        """

    def abort():
        """
        The body will not be completed (the client went away, or a write
        failed); release what is held.

        @return: a L{Deferred}.
        """


class _FileLike:
    """
    The part of the file interface twisted.web uses on C{request.content}.
    """

    def seek(self, offset, whence=0):
        """
        Ignored: the body is not kept for rereading.
        """

    def tell(self) -> int:
        """
        @return: 0, so twisted.web does not parse the body as a form.
        """
        return 0

    def read(self, size=-1) -> bytes:
        """
        @return: C{b""}; read the body through the sink's own API.
        """
        return b""

    def close(self):
        """
        Called by twisted.web when the request is done or lost.
        """


class BoundedBody(_FileLike):
    """
    A body kept in memory up to C{limit} bytes.

    @ivar overflowed: whether more than C{limit} bytes arrived.
    @ivar length: how many bytes arrived in all.
    """

    def __init__(self, limit: int):
        self._limit = limit
        self._pieces = []
        self._kept = 0
        self.length = 0
        self.overflowed = False

    def write(self, data: bytes) -> None:
        """
        Keep C{data}, unless over the limit.
        """
        self.length += len(data)
        if self._kept + len(data) > self._limit:
            self.overflowed = True
            self._pieces = []
            return
        if not self.overflowed:
            self._pieces.append(data)
            self._kept += len(data)

    def getvalue(self) -> bytes:
        """
        @return: the body (empty if it overflowed).
        """
        return b"".join(self._pieces)


class _ReadThreshold:
    """
    The receive low-water mark (C{SO_RCVLOWAT}) of a TCP socket while a body
    of known length streams in: the reactor is woken once L{READ_SIZE} bytes,
    or the rest of the body, are waiting, instead of for every few segments
    a client sends (64 KiB on average from skopeo, and each wake-up costs
    the reactor the same Python whatever its size).

    A client slower than the mark would leave bytes unread until the
    channel's idle timeout; L{read_waiting} then lets them be read.
    """

    def __init__(self, sock: socket.socket, remaining: int):
        self._socket: socket.socket | None = sock
        self._remaining = remaining
        self._mark = 1
        self._follow()

    @classmethod
    def of(cls, transport, length: int | None) -> "_ReadThreshold | None":
        """
        A threshold for C{transport}'s socket if it is TCP and the body's
        C{length} is known, else C{None}.
        """
        sock = getattr(transport, "socket", None)
        if length is None or not isinstance(sock, socket.socket) or sock.family not in (
                socket.AF_INET, socket.AF_INET6):
            return None
        return cls(sock, length)

    def received(self, count: int) -> None:
        """
        C{count} more bytes of the body were read.
        """
        self._remaining -= count
        self._follow()

    def read_waiting(self) -> bool:
        """
        If bytes wait below the mark, lower it so they are read now.

        @return: whether any were waiting.
        """
        if self._socket is None or self._mark == 1:
            return False
        try:
            waiting = struct.unpack(
                "i", fcntl.ioctl(self._socket.fileno(), termios.FIONREAD, b"\0" * 4))[0]
        except OSError:
            waiting = 0
        if waiting:
            self._set(1)
        return bool(waiting)

    def release(self) -> None:
        """
        The body is in (or abandoned): wake for any byte again, as before.
        """
        self._set(1)
        self._socket = None

    def _follow(self) -> None:
        wanted = max(1, min(READ_SIZE, self._remaining))
        if wanted != self._mark:
            self._set(wanted)

    def _set(self, mark: int) -> None:
        if self._socket is None:
            return
        try:
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, mark)
            self._mark = mark
        except OSError:
            self._socket = None  # closed, or not supported: read as before


class BodySink(_FileLike):
    """
    Streams a request body into an L{IBodyConsumer} with back-pressure.

    While the body arrives the client's socket is read in pieces of up to
    L{READ_SIZE}, and, when the body's length is known, only once that
    many bytes (or the rest of the body) are there; each piece goes to the
    consumer as it came.

    The consumer is not known when the first bytes may arrive: it comes
    from C{consumer}, a L{Deferred} (the session must be looked up in
    storage first); until then, bytes wait here.  If it fails, the body is
    read and dropped and the failure becomes the outcome.

    The request handler calls L{wait} for the outcome: the result of the
    consumer's C{finish}, or why the body could not be taken.
    """

    _log = Logger()

    def __init__(self, transport, channel, consumer: Deferred, length: int | None = None):
        """
        @param length: the body's C{Content-Length}; C{None} if unknown
            (chunked transfer encoding).
        """
        self._transport = transport
        self._channel = channel
        self._consumer = None
        self._queue = collections.deque()
        self._queued = 0
        self._in_flight = 0
        self._paused = False
        self._saved_timeout = None
        self._complete = False
        self._ended = False
        self._failure = None
        self._outcome = _PENDING
        self._waiters = []
        self._saved_read_size = None
        self._threshold = None
        if isinstance(transport, FileDescriptor):  # TLS reads in its own pieces
            self._saved_read_size = transport.bufferSize
            transport.bufferSize = READ_SIZE
            self._threshold = _ReadThreshold.of(transport, length)
        consumer.addCallbacks(self._got_consumer, self._fail)

    def wait(self) -> Deferred:
        """
        @return: a L{Deferred} of the outcome.  Cancelling it leaves the
            upload itself alone (it ends when the connection does).
        """
        d = Deferred()
        if self._outcome is _PENDING:
            self._waiters.append(d)
        else:
            d.callback(self._outcome)
        return d

    def _set_outcome(self, result) -> None:
        self._outcome = result
        waiters, self._waiters = self._waiters, []
        for d in waiters:
            if not d.called:
                d.callback(result)

    # twisted.web's side

    def write(self, data: bytes) -> None:
        """
        Called by twisted.web with each piece of the body.
        """
        if self._threshold is not None:
            self._threshold.received(len(data))
        if self._ended or self._failure is not None:
            return
        self._queue.append(data)
        self._queued += len(data)
        if self._queued + self._in_flight >= HIGH_WATER:
            self._pause()
        self._pump()

    def body_complete(self) -> None:
        """
        Called when the last byte of the body has arrived.
        """
        self._complete = True
        self._restore_read_size()
        self._pump()

    def connection_lost(self) -> None:
        """
        The client went away before the request was answered.
        """
        self._restore_read_size()
        if not self._ended:
            self._end_with(ConnectionError("the client closed the connection"))

    def read_waiting(self) -> bool:
        """
        The channel's idle timeout fired: if body bytes wait unread below the
        socket's low-water mark (a slow client), have them read.

        @return: whether any were waiting (the client is not idle).
        """
        return self._threshold is not None and self._threshold.read_waiting()

    def _restore_read_size(self) -> None:
        # The next request on the connection is read as twisted.web reads.
        if self._saved_read_size is not None:
            self._transport.bufferSize, self._saved_read_size = self._saved_read_size, None
        if self._threshold is not None:
            self._threshold.release()
            self._threshold = None

    # the consumer's side

    def _got_consumer(self, consumer) -> None:
        if self._ended:
            # Lost while the consumer was being prepared.
            ensureDeferred(_release(consumer))
            return
        self._consumer = consumer
        self._pump()

    def _pump(self) -> None:
        if self._consumer is None or self._ended:
            return
        while self._queue and self._in_flight < HIGH_WATER:
            piece = self._queue.popleft()
            self._queued -= len(piece)
            self._in_flight += len(piece)
            d = self._consumer.write(piece)
            d.addCallbacks(self._written, self._fail, callbackArgs=(len(piece),))
            if self._ended:
                return
        if self._paused and not self._complete and self._queued + self._in_flight < LOW_WATER:
            self._resume()
        if self._complete and not self._queue and self._in_flight == 0:
            self._ended = True
            self._consumer.finish().addBoth(self._set_outcome)

    def _written(self, _, length: int) -> None:
        self._in_flight -= length
        self._pump()

    def _fail(self, failure) -> None:
        if self._ended:
            if self._failure is None:
                self._log.failure("body consumer failed after the end", failure)
            return
        self._end_with(failure)

    def _end_with(self, failure) -> None:
        # Drop what waits, read and discard the rest of the body, release
        # the consumer, report the failure.
        self._ended = True
        self._failure = failure
        self._queue.clear()
        self._queued = 0
        if self._paused and not self._complete:
            self._resume()
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            d = ensureDeferred(_release(consumer))
        else:
            d = Deferred()
            d.callback(None)
        d.addCallback(lambda _: self._set_outcome(failure))

    # flow control

    def _pause(self) -> None:
        if self._paused or self._complete or self._transport is None:
            return
        self._paused = True
        self._transport.pauseProducing()
        # The channel's idle timer only restarts when bytes arrive; while we
        # hold the client paused it must not fire.
        self._saved_timeout = self._channel.setTimeout(None)

    def _resume(self) -> None:
        self._paused = False
        self._channel.setTimeout(self._saved_timeout)
        self._transport.resumeProducing()


async def _release(consumer) -> None:
    try:
        await consumer.abort()
    except Exception:
        BodySink._log.failure("releasing an abandoned upload failed")
