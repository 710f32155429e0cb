# -*- test-case-name: tests.test_notify_spool -*-
"""
The durable queue of events: one directory per endpoint under
C{notifications.spool}.

In an endpoint's directory:

 - segments, C{<first sequence number, 20 digits>.log}: append-only, one
   line per event, C{<seq> <spooled at, Unix seconds> <event JSON>};
 - C{cursor}: the sequence number of the first event not yet delivered,
   replaced (write, then rename) after each delivery;
 - C{deadletter.log}, and C{deadletter.log.1} before it: the events the
   receiver refused, one JSON object per line.

A segment is deleted once every event in it is delivered (or dropped).  On
start the directory is read back: events from the cursor on are delivered
again, a torn last line (a write cut short) is cut off.

Every file operation runs in one thread (L{SpoolThread}), one batch at a
time, in the order asked for; operations asked for while a batch runs form
the next batch, so appends made at the same time share one trip to the
thread (group commit).  An append is on disk when its L{Deferred} fires: in
the page cache, which a killed process cannot lose.  The files are flushed
to the device every second, in another thread so that appends do not wait
(L{Disk.detach}, L{flush_detached}); with C{fsync}, appends asked to be
synced are flushed before their L{Deferred} fires, one C{fdatasync} per
file and batch.
"""

import errno
import json
import os
import re

import attrs
from twisted.internet.defer import Deferred, fail, succeed
from twisted.logger import Logger
from twisted.python.failure import Failure

_log = Logger()

_SEGMENT_NAME = re.compile(r"(\d{20})\.log\Z")
CURSOR = "cursor"
DEAD_LETTERS = "deadletter.log"
DEAD_LETTER_BYTES = 16 * 1024 * 1024
"""The size at which the dead-letter file is rotated (one old file is kept)."""
#: The largest segment, in bytes and in events, whatever the limits.
MAX_SEGMENT_BYTES = 8 * 1024 * 1024
MAX_SEGMENT_EVENTS = 65536
#: Segments hold at most this fraction of an endpoint's limits, so that
#: dropping the oldest segment drops a small part of the queue.
SEGMENTS_PER_LIMIT = 16
#: How much of a segment one read takes.
READ_BYTES = 1024 * 1024


class SpoolUnavailable(Exception):
    """
    An endpoint's queue could not be read back at start, so it takes no
    events.
    """


def segment_name(first: int) -> str:
    """
    The file name of the segment whose first event is number C{first}.
    """
    return f"{first:020d}.log"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _record_fields(line: bytes):
    """
    C{(seq, spooled, event)} of a segment line (without its newline), or
    C{None} if it is damaged.
    """
    parts = line.split(b" ", 2)
    if len(parts) != 3 or not parts[2].startswith(b"{"):
        return None
    try:
        return int(parts[0]), float(parts[1]), parts[2]
    except ValueError:
        return None


@attrs.frozen
class RecoveredSegment:
    """
    A segment found on disk at start.

    @ivar start: the offset of its first event not yet delivered.
    @ivar end: the number after its last event's.
    @ivar newest: when its last event was spooled.
    """

    first: int
    size: int
    start: int
    end: int
    newest: float


@attrs.frozen
class Recovered:
    """
    What an endpoint's directory held at start.

    @ivar cursor: the first event not yet delivered.
    @ivar segments: the segments still holding such events, oldest first.
    @ivar damaged: lines that could not be read and are skipped.
    @ivar truncated: bytes of torn last lines cut off.
    """

    cursor: int
    segments: tuple[RecoveredSegment, ...]
    damaged: int
    truncated: int


class Disk:
    """
    The spool's file operations.  Only L{SpoolThread}'s thread calls them.

    Appends reach the page cache at once, and the device at the next
    L{flush}; with L{sync}, those asked to (the events of changes) reach
    the device before their batch ends.

    @ivar sync: C{notifications.fsync}.
    """

    def __init__(self, sync: bool):
        self.sync = sync
        self._open: dict[str, tuple[str, int]] = {}
        self._broken: set[str] = set()
        #: Descriptors to flush at the end of the batch.
        self._dirty: set[int] = set()
        #: Descriptors written to since they were last flushed, and
        #: directories with new files.
        self._unflushed: set[int] = set()
        self._new_entries: set[str] = set()

    def _close(self, directory: str) -> None:
        path, fd = self._open.pop(directory)
        try:
            if fd in self._unflushed:
                os.fdatasync(fd)
        finally:
            self._dirty.discard(fd)
            self._unflushed.discard(fd)
            os.close(fd)

    def _segment_fd(self, directory: str, path: str) -> int:
        """
        The descriptor appends to C{path} go to: one is kept open per
        directory, for its newest segment.
        """
        current = self._open.get(directory)
        if current is not None and current[0] == path:
            return current[1]
        if current is not None:
            self._close(directory)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._open[directory] = (path, fd)
        self._new_entries.add(directory)
        return fd

    def _flush(self, fds) -> None:
        """
        Make the new directory entries and the content of C{fds} durable.
        """
        entries, self._new_entries = self._new_entries, set()
        _sync_directories(entries)
        for fd in fds:
            os.fdatasync(fd)
            self._unflushed.discard(fd)

    def append(self, directory: str, path: str, data: bytes, sync: bool) -> None:
        """
        Append C{data} to the segment file C{path} in C{directory}.  After
        a failed append, every later append to the same file fails too, so
        that the file never holds a torn line before good ones.

        @param sync: whether, with L{sync}, the end of the batch must make
            it durable.
        """
        if path in self._broken:
            raise OSError(errno.EIO, "an earlier append to this segment failed", path)
        try:
            fd = self._segment_fd(directory, path)
            _write_all(fd, data)
        except OSError:
            self._broken.add(path)
            raise
        self._unflushed.add(fd)
        if sync and self.sync:
            self._dirty.add(fd)

    def end_batch(self) -> None:
        """
        Make the batch's appends that must be durable so.
        """
        dirty, self._dirty = self._dirty, set()
        if dirty:
            self._flush(dirty)

    def flush(self) -> None:
        """
        Make every append so far durable.
        """
        self._flush(list(self._unflushed))

    def detach(self) -> tuple[list[str], list[int]]:
        """
        Hand over what a flush must make durable, for L{flush_detached} to
        do in another thread while appends go on: the directories with new
        entries, and duplicates of the descriptors written to since the last
        flush (the files stay the same when the originals are closed).
        """
        entries, self._new_entries = self._new_entries, set()
        fds = [os.dup(fd) for fd in self._unflushed]
        self._unflushed = set()
        return sorted(entries), fds

    def read(self, path: str, offset: int, size: int, most: int) -> bytes:
        """
        Read C{size} bytes of C{path} from C{offset}; if they hold no whole
        line, read on up to C{most} bytes.
        """
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read(size)
            if b"\n" not in data and most > size:
                data += f.read(most - size)
        return data

    def commit(self, directory: str, cursor: int, removed: list[str]) -> None:
        """
        Record that events before C{cursor} are done with, then delete the
        segment files C{removed}, which hold only such events.
        """
        temporary = os.path.join(directory, CURSOR + ".tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, json.dumps({"seq": cursor}).encode("ascii"))
        finally:
            os.close(fd)
        os.replace(temporary, os.path.join(directory, CURSOR))
        for path in removed:
            current = self._open.get(directory)
            if current is not None and current[0] == path:
                self._close(directory)
            self._broken.discard(path)
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass

    def dead_letter(self, directory: str, data: bytes) -> None:
        """
        Append C{data} to the dead-letter file, rotating it first if it
        would pass L{DEAD_LETTER_BYTES}.
        """
        path = os.path.join(directory, DEAD_LETTERS)
        try:
            size = os.stat(path).st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(data) > DEAD_LETTER_BYTES:
            os.replace(path, path + ".1")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        try:
            _write_all(fd, data)
            os.fdatasync(fd)  # rare, and the only record of these events
        finally:
            os.close(fd)

    def recover(self, directory: str) -> Recovered:
        """
        Read an endpoint's directory back (creating it if needed): delete
        segments already delivered, cut off torn last lines, find where
        delivery resumes.
        """
        os.makedirs(directory, mode=0o700, exist_ok=True)
        cursor = _read_cursor(directory)
        firsts = sorted(
            int(match.group(1))
            for match in map(_SEGMENT_NAME.match, os.listdir(directory))
            if match is not None
        )
        segments, damaged, truncated = [], 0, 0
        for index, first in enumerate(firsts):
            path = os.path.join(directory, segment_name(first))
            following = firsts[index + 1] if index + 1 < len(firsts) else None
            if cursor is not None and following is not None and following <= cursor:
                os.unlink(path)
                continue
            found = _scan_segment(path, first, cursor)
            damaged += found.damaged
            truncated += found.truncated
            if found.segment is None:
                os.unlink(path)
            else:
                segments.append(found.segment)
        if cursor is None:
            cursor = segments[0].first if segments else 0
        return Recovered(cursor, tuple(segments), damaged, truncated)

    def close(self) -> None:
        """
        Close the open segment files.
        """
        for directory in list(self._open):
            self._close(directory)


def _sync_directories(directories) -> None:
    for directory in directories:
        fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def flush_detached(detached: tuple[list[str], list[int]]) -> None:
    """
    Make durable what L{Disk.detach} handed over, then close its
    descriptors.
    """
    directories, fds = detached
    try:
        _sync_directories(directories)
        for fd in fds:
            os.fdatasync(fd)
    finally:
        for fd in fds:
            os.close(fd)


def _read_cursor(directory: str) -> int | None:
    """
    The cursor stored in C{directory}, or C{None} if there is none or it
    cannot be read (delivery then restarts at the oldest segment).
    """
    try:
        with open(os.path.join(directory, CURSOR), "rb") as f:
            value = json.loads(f.read())["seq"]
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError) as error:
        _log.warn("notifications: unreadable cursor in {directory} ({error}); "
                  "delivering from the oldest event kept", directory=directory, error=error)
        return None
    return value if isinstance(value, int) and value >= 0 else None


@attrs.frozen
class _Scanned:
    segment: RecoveredSegment | None
    damaged: int
    truncated: int


def _scan_segment(path: str, first: int, cursor: int | None) -> _Scanned:
    """
    Read one segment: cut off a torn last line, find its first event at or
    after C{cursor}, its last event and when that was spooled.
    """
    with open(path, "rb") as f:
        data = f.read()
    good = data.rfind(b"\n") + 1
    truncated = len(data) - good
    if truncated:
        os.truncate(path, good)
    start, last, newest, damaged = None, None, None, 0
    offset = 0
    while offset < good:
        end = data.index(b"\n", offset) + 1
        fields = _record_fields(data[offset:end - 1])
        if fields is None:
            damaged += 1
        else:
            seq, spooled, _ = fields
            if start is None and (cursor is None or seq >= cursor):
                start = offset
            last, newest = seq, spooled
        offset = end
    if start is None:
        return _Scanned(None, damaged, truncated)
    return _Scanned(RecoveredSegment(first, good, start, last + 1, newest), damaged, truncated)


class SpoolThread:
    """
    Runs L{Disk} operations in a thread, one batch at a time, in the order
    they were submitted.  Whatever is submitted while a batch runs makes up
    the next batch.
    """

    def __init__(self, disk: Disk, defer_to_thread):
        """
        @param defer_to_thread: called as C{defer_to_thread(f, *args)} to
            run C{f(*args)} in a thread; returns a L{Deferred}.
        """
        self._disk = disk
        self._defer_to_thread = defer_to_thread
        self._queue: list = []
        self._busy = False
        self._idle: list[Deferred] = []

    def submit(self, operation, *args, durable: bool = False) -> Deferred:
        """
        Run C{operation(*args)} in the thread.

        @param durable: whether the operation's outcome includes the batch's
            C{fdatasync} (appends).
        @return: a L{Deferred} firing with its result.
        """
        done = Deferred()
        self._queue.append((operation, args, durable, done))
        if not self._busy:
            self._next()
        return done

    def _next(self) -> None:
        batch, self._queue = self._queue, []
        if not batch:
            self._busy = False
            idle, self._idle = self._idle, []
            for waiter in idle:
                waiter.callback(None)
            return
        self._busy = True
        self._defer_to_thread(self._run, batch).addBoth(self._finished, batch)

    def _run(self, batch: list) -> list:
        outcomes = []
        for operation, args, _, _ in batch:
            try:
                outcomes.append((True, operation(*args)))
            except Exception:
                outcomes.append((False, Failure()))
        try:
            self._disk.end_batch()
        except OSError:
            failure = Failure()
            outcomes = [
                (False, failure) if durable and ok else (ok, value)
                for (ok, value), (_, _, durable, _) in zip(outcomes, batch)
            ]
        return outcomes

    def _finished(self, outcomes, batch: list) -> None:
        if isinstance(outcomes, Failure):
            outcomes = [(False, outcomes)] * len(batch)
        for (ok, value), (_, _, _, done) in zip(outcomes, batch):
            if done.called:
                continue  # cancelled by a reader that stopped
            if ok:
                done.callback(value)
            else:
                done.errback(value)
        self._next()

    def idle(self) -> Deferred:
        """
        @return: a L{Deferred} firing once nothing is queued or running.
        """
        if not self._busy:
            return succeed(None)
        waiter = Deferred()
        self._idle.append(waiter)
        return waiter


@attrs.frozen
class Limits:
    """
    How much one endpoint's queue may hold; past any limit the oldest
    events are dropped.

    @ivar max_events: events.
    @ivar max_bytes: bytes of segment files.
    @ivar max_age: seconds since an event was spooled.
    """

    max_events: int
    max_bytes: int
    max_age: float


@attrs.define
class EndpointStats:
    """
    Counters of one endpoint since start, and its queue's length.

    @ivar pending: events spooled and not yet delivered, dropped or
        dead-lettered.
    @ivar spooled: events added to the queue.
    @ivar delivered: events the receiver accepted.
    @ivar failed: delivery attempts that failed (and will be retried).
    @ivar retried: attempts that were retries.
    @ivar dropped: events dropped by the limits (count, bytes, age).
    @ivar deadlettered: events the receiver refused for good.
    @ivar lost: events that could not be written to the spool.
    """

    pending: int = 0
    spooled: int = 0
    delivered: int = 0
    failed: int = 0
    retried: int = 0
    dropped: int = 0
    deadlettered: int = 0
    lost: int = 0


@attrs.define(eq=False)
class _Segment:
    """
    A segment file as the reactor thread sees it.

    @ivar size: bytes appended or being appended.
    @ivar durable: bytes whose appends have completed; nothing past this is
        read.
    @ivar end: the number of the next event it would hold.
    @ivar newest: when its newest event was spooled.
    @ivar open: whether it still takes appends.
    @ivar inflight: appends not completed yet.
    """

    first: int
    path: str
    size: int
    durable: int
    end: int
    newest: float
    open: bool
    inflight: int = 0

    @property
    def finished(self) -> bool:
        """
        Whether its content is final.
        """
        return not self.open and self.inflight == 0


@attrs.frozen
class Record:
    """
    One spooled event, read back for delivery.

    @ivar seq: its number in the endpoint's queue.
    @ivar spooled: when it was spooled (Unix seconds).
    @ivar event: its JSON.
    @ivar segment: the segment holding it.
    @ivar end: the offset just past its line.
    """

    seq: int
    spooled: float
    event: bytes
    segment: _Segment
    end: int

    def dead_letter_line(self, reason: str) -> bytes:
        """
        The record as a line of the dead-letter file.
        """
        head = json.dumps({"seq": self.seq, "spooled": self.spooled, "reason": reason})
        return head[:-1].encode("utf-8") + b',"event":' + self.event + b"}\n"


@attrs.define
class _Position:
    """
    A place in the queue: event number C{seq}, at C{offset} in C{segment}
    (C{None} when there is no segment).
    """

    seq: int
    segment: _Segment | None
    offset: int


class EndpointSpool:
    """
    One endpoint's queue: appends, reads for delivery in order,
    acknowledgements, and the limits.
    """

    def __init__(self, name: str, directory: str, thread: SpoolThread, disk: Disk,
                 limits: Limits, stats: EndpointStats, clock):
        """
        @param name: the endpoint's name, for the log.
        @param directory: where its files are.
        @param clock: gives the time (C{seconds()}).
        """
        self.name = name
        self.directory = directory
        self._thread = thread
        self._disk = disk
        self.limits = limits
        self.stats = stats
        self._clock = clock
        self._segment_bytes = max(1, min(MAX_SEGMENT_BYTES, limits.max_bytes // SEGMENTS_PER_LIMIT))
        self._segment_events = max(1, min(MAX_SEGMENT_EVENTS, limits.max_events // SEGMENTS_PER_LIMIT))
        self._segments: list[_Segment] = []
        self._next_seq = 0
        self._cursor = _Position(0, None, 0)
        self._reader = _Position(0, None, 0)
        self._read_ahead: list[Record] = []
        self._bytes = 0
        self._waiters: list[Deferred] = []
        self._early: list | None = []
        self._broken = False

    # Start

    async def recover(self) -> Recovered:
        """
        Read the directory back; appends made meanwhile are written after.
        """
        try:
            found = await self._thread.submit(self._disk.recover, self.directory)
        except BaseException:
            # Without its queue read back the endpoint takes no events.
            early, self._early = self._early, None
            self._broken = True
            for *_, done in early:
                self.stats.lost += 1
                done.errback(SpoolUnavailable(self.directory))
            raise
        for info in found.segments:
            self._segments.append(_Segment(
                info.first, os.path.join(self.directory, segment_name(info.first)),
                info.size, info.size, info.end, info.newest, False,
            ))
            self._bytes += info.size
        self._next_seq = max([found.cursor] + [s.end for s in self._segments])
        if self._segments:
            head = self._segments[0]
            start = found.segments[0].start
            self._cursor = _Position(max(found.cursor, head.first), head, start)
        else:
            self._cursor = _Position(self._next_seq, None, 0)
        self._reader = attrs.evolve(self._cursor)
        self._update_pending()
        early, self._early = self._early, None
        for event, sync, spooled, done in early:
            self.append(event, sync, spooled).chainDeferred(done)
        self.enforce_limits()
        return found

    # Appending

    def append(self, event: bytes, sync: bool = True, spooled: float | None = None) -> Deferred:
        """
        Add an event to the end of the queue.

        @param event: its JSON.
        @param sync: whether it must reach the device (with C{fsync} on)
            before the L{Deferred} fires.
        @param spooled: when (default: now).
        @return: a L{Deferred} that fires when it is on disk, or fails if it
            could not be written.
        """
        if spooled is None:
            spooled = self._clock.seconds()
        if self._broken:
            self.stats.lost += 1
            return fail(SpoolUnavailable(self.directory))
        if self._early is not None:
            done = Deferred()
            self._early.append((event, sync, spooled, done))
            return done
        segment = self._tail(spooled)
        seq = self._next_seq
        self._next_seq += 1
        data = b"%d %.3f %s\n" % (seq, spooled, event)
        segment.size += len(data)
        segment.end = self._next_seq
        segment.newest = spooled
        segment.inflight += 1
        if segment.size >= self._segment_bytes or segment.end - segment.first >= self._segment_events:
            segment.open = False
        self._bytes += len(data)
        self.stats.spooled += 1
        self._update_pending()
        written = self._thread.submit(
            self._disk.append, self.directory, segment.path, data, sync, durable=True
        )
        written.addCallbacks(
            self._appended, self._append_failed,
            callbackArgs=(segment, segment.size), errbackArgs=(segment,),
        )
        self.enforce_limits()
        return written

    def _tail(self, now: float) -> _Segment:
        """
        The segment to append to: the newest if it is open, else a new one.
        """
        if self._segments and self._segments[-1].open:
            return self._segments[-1]
        first = self._next_seq
        segment = _Segment(first, os.path.join(self.directory, segment_name(first)),
                           0, 0, first, now, True)
        self._segments.append(segment)
        if self._cursor.segment is None:
            self._cursor = _Position(first, segment, 0)
        if self._reader.segment is None:
            self._reader = _Position(first, segment, 0)
        removed = self._settle()
        if removed:
            self._commit(removed).addErrback(self._log_commit_failure)
        return segment

    def _appended(self, result, segment: _Segment, end: int) -> None:
        segment.inflight -= 1
        segment.durable = end
        self._wake()

    def _append_failed(self, failure: Failure, segment: _Segment) -> Failure:
        segment.inflight -= 1
        segment.open = False
        self.stats.lost += 1
        self._wake()
        return failure

    def _wake(self) -> None:
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.called:  # else cancelled: the reader stopped
                waiter.callback(None)

    # Limits

    def enforce_limits(self) -> None:
        """
        Drop the oldest segments while the queue is past a limit: too many
        events or bytes (never the segment being appended to, so at least
        its events are kept), or events older than C{max_age} (a segment
        goes when its newest event is that old).
        """
        limits = self.limits
        cutoff = self._clock.seconds() - limits.max_age
        while self._segments:
            head = self._segments[0]
            if head.newest < cutoff:
                self._drop_head("older than maxage")
            elif (len(self._segments) > 1 or not head.open) and (
                self.stats.pending > limits.max_events or self._bytes > limits.max_bytes
            ):
                self._drop_head("over maxevents or maxbytes")
            else:
                break

    def _drop_head(self, why: str) -> None:
        head = self._remove_head()
        head.open = False
        dropped = max(0, head.end - self._cursor.seq)
        if self._segments:
            following = self._segments[0]
            self._cursor = _Position(following.first, following, 0)
        else:
            self._cursor = _Position(self._next_seq, None, 0)
        if self._reader.seq < self._cursor.seq or self._reader.segment is head:
            self._reader = attrs.evolve(self._cursor)
        self._read_ahead = [r for r in self._read_ahead if r.seq >= self._cursor.seq]
        self.stats.dropped += dropped
        self._update_pending()
        _log.warn(
            "notifications: endpoint {endpoint}: dropped the {count} oldest events ({why})",
            endpoint=self.name, count=dropped, why=why,
        )
        self._commit([head.path]).addErrback(self._log_commit_failure)

    # Delivery

    async def next_batch(self, most: int) -> list[Record]:
        """
        The next events to deliver, in order, at most C{most}; waits until
        there is one.  The same events are not returned twice.
        """
        while True:
            while len(self._read_ahead) < most and self._readable():
                await self._read()
            if self._read_ahead:
                batch, self._read_ahead = self._read_ahead[:most], self._read_ahead[most:]
                return batch
            waiter = Deferred()
            self._waiters.append(waiter)
            await waiter

    def _readable(self) -> bool:
        """
        Whether durable events wait at the reader's position, moving it to
        the next segment past the end of a finished one.
        """
        reader = self._reader
        while reader.segment is not None:
            segment = reader.segment
            if reader.offset < segment.durable:
                return True
            if not segment.finished or segment is self._segments[-1]:
                return False
            following = self._segments[self._segments.index(segment) + 1]
            reader = self._reader = _Position(max(reader.seq, following.first), following, 0)
        return False

    async def _read(self) -> None:
        reader = self._reader
        segment, offset = reader.segment, reader.offset
        available = segment.durable - offset
        data = await self._thread.submit(
            self._disk.read, segment.path, offset, min(available, READ_BYTES), available
        )
        if self._reader.segment is not segment or self._reader.offset != offset:
            return  # dropped meanwhile
        consumed = data.rfind(b"\n") + 1
        position, seq = offset, reader.seq
        for line in data[:consumed].split(b"\n")[:-1]:
            position += len(line) + 1
            fields = _record_fields(line)
            if fields is None:
                continue
            seq, spooled, event = fields
            self._read_ahead.append(Record(seq, spooled, event, segment, position))
            seq += 1
        self._reader = _Position(seq, segment, offset + consumed)

    def is_pending(self, record: Record) -> bool:
        """
        Whether C{record} is still queued: not acknowledged, nor dropped by
        the limits.
        """
        return record.seq >= self._cursor.seq

    async def ack(self, records: list[Record]) -> int:
        """
        The events C{records} (the oldest not acknowledged yet, in order) are
        done with: delivered, dead-lettered or expired.  Moves the cursor
        past them and records it on disk.

        @return: how many of them were still pending (not dropped by the
            limits meanwhile).
        """
        last = records[-1]
        pending = sum(1 for record in records if self.is_pending(record))
        if last.seq >= self._cursor.seq:
            self._cursor = _Position(last.seq + 1, last.segment, last.end)
            self._update_pending()
        await self._commit(self._settle())
        return pending

    async def dead_letter(self, records: list[Record], reason: str) -> int:
        """
        Keep refused events in the dead-letter file, then L{ack} them.
        """
        lines = b"".join(record.dead_letter_line(reason) for record in records)
        await self._thread.submit(self._disk.dead_letter, self.directory, lines)
        return await self.ack(records)

    def _settle(self) -> list[str]:
        """
        Move the cursor past finished segments it has reached the end of.

        @return: the paths of the segments it left, to delete.
        """
        removed = []
        cursor = self._cursor
        while self._segments and cursor.segment in self._segments[1:]:
            removed.append(self._remove_head().path)
        while (
            len(self._segments) > 1
            and cursor.segment is self._segments[0]
            and cursor.segment.finished
            and cursor.offset >= cursor.segment.durable
        ):
            removed.append(self._remove_head().path)
            following = self._segments[0]
            cursor = self._cursor = _Position(max(cursor.seq, following.first), following, 0)
            self._update_pending()
        if self._reader.seq < cursor.seq or self._reader.segment not in self._segments:
            self._reader = attrs.evolve(cursor)
        return removed

    def _remove_head(self) -> _Segment:
        """
        Take the oldest segment out of the queue.
        """
        head = self._segments.pop(0)
        self._bytes -= head.size
        return head

    def _commit(self, removed: list[str]) -> Deferred:
        return self._thread.submit(self._disk.commit, self.directory, self._cursor.seq, removed)

    def _log_commit_failure(self, failure: Failure) -> None:
        _log.failure("notifications: endpoint {endpoint}: cannot update the spool",
                     failure, endpoint=self.name)

    def _update_pending(self) -> None:
        self.stats.pending = self._next_seq - self._cursor.seq
