# -*- test-case-name: tests.test_notify_service -*-
"""
Notifications in the running registry: the spool directory and its lock,
the spool's thread, one L{Endpoint} per enabled endpoint, and their state
in the log.
"""

import fcntl
import os
import re
import socket
import uuid
from collections.abc import Mapping

import attrs
from twisted.application.service import Service
from twisted.internet.defer import (
    CancelledError,
    Deferred,
    ensureDeferred,
    gatherResults,
    succeed,
)
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from txregistry.config import ConfigError
from txregistry.notifications.endpoint import Backoff, Endpoint, Ignore
from txregistry.notifications.events import PULL, SourceRecord
from txregistry.notifications.plugins import check_endpoints, sink_factories
from txregistry.notifications.spool import (
    Disk,
    EndpointSpool,
    EndpointStats,
    Limits,
    SpoolThread,
    flush_detached,
)

_log = Logger()

#: Seconds between two reports of the endpoints' state in the log.
REPORT_INTERVAL = 60.0
#: Seconds between two checks of the queues' C{maxage}, at the most.
AGE_CHECK_INTERVAL = 60.0
#: Seconds between two flushes of the queue files to the device.
FLUSH_INTERVAL = 1.0
LOCK = "lock"
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}\Z")


def default_spool_directory(environ: Mapping[str, str]) -> str:
    """
    Where queues are kept when C{notifications.spool} is not set:
    C{$XDG_STATE_HOME/txregistry/notifications}, or
    C{~/.local/state/txregistry/notifications}.
    """
    state_home = environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state")
    return os.path.join(state_home, "txregistry", "notifications")


def endpoint_directory(root: str, name: str) -> str:
    """
    The directory of endpoint C{name}'s queue: its name, when that is a
    plain file name, else the name with other characters replaced and its
    hex-encoded UTF-8 added (so that different names never share one).
    """
    if _PLAIN_NAME.match(name):
        return os.path.join(root, name)
    plain = re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:40]
    return os.path.join(root, f"_{plain}-{name.encode('utf-8').hex()[:80]}")


def source_record(http_addr: str, instance_id: str | None = None) -> SourceRecord:
    """
    This instance as events name it: C{<hostname>:<port of http.addr>}
    (just the host name when the address has no port), and a UUID.
    """
    host, sep, port = http_addr.rpartition(":")
    addr = socket.gethostname()
    if sep and port.isdigit():
        addr = f"{addr}:{port}"
    return SourceRecord(addr, instance_id or str(uuid.uuid4()))


class Notifier:
    """
    Spools events for every endpoint that wants them.
    """

    def __init__(self, endpoints: list[Endpoint]):
        self._endpoints = endpoints

    def write(self, events):
        """
        Append C{events} to the queue of each endpoint that does not ignore
        them.  An event that cannot be spooled is counted and logged (as
        lost); the API request goes on.

        @return: a L{Deferred} firing when they are on disk; it never fails.
        """
        appends = []
        for endpoint in self._endpoints:
            for event in events:
                if not endpoint.ignore.ignores(event):
                    # A pull changed nothing: its event need not reach the
                    # device before the answer (see notifications.fsync).
                    data = event.encode(endpoint.envelope)
                    appends.append(endpoint.spool.append(data, sync=event.action != PULL))
        if not appends:
            return succeed(None)
        # A counter rather than a DeferredList, which costs tens of
        # microseconds (on every API request).
        spooled = Deferred()
        remaining = [len(appends)]

        def settled(result):
            if isinstance(result, Failure):
                _log.failure("notifications: an event could not be spooled and is lost", result)
            remaining[0] -= 1
            if not remaining[0]:
                spooled.callback(None)

        for append in appends:
            append.addBoth(settled)
        return spooled


def _in_use(root: str, holder: str) -> ConfigError:
    return ConfigError(
        "notifications.spool",
        f"{root} is used by another txregistry process (pid {holder or 'unknown'}); "
        "give each process a spool of its own",
    )


def _holder(fd: int) -> str:
    """
    The process id a lock file holds.
    """
    return os.pread(fd, 32, 0).decode("ascii", "replace").strip()


def check_spool(root: str) -> None:
    """
    Refuse a spool directory another process has locked, before anything
    listens (the lock itself is taken when the service starts).

    @raise ConfigError: for C{notifications.spool}.
    """
    try:
        fd = os.open(os.path.join(root, LOCK), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # no lock yet; problems making one are reported at start
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        raise _in_use(root, _holder(fd)) from None
    finally:
        os.close(fd)


def check_notifications(config, environ: Mapping[str, str]) -> None:
    """
    The checks of the C{notifications} section that need more than the
    configuration: a sink for every endpoint's URL, a spool directory not
    used by another process.

    @raise ConfigError: naming the key at fault.
    """
    check_endpoints(config.notifications)
    if any(not endpoint.disabled for endpoint in config.notifications.endpoints):
        check_spool(config.notifications.spool or default_spool_directory(environ))


@attrs.frozen
class _Lock:
    """
    The spool directory's lock: an open file with an exclusive C{flock}.
    """

    fd: int

    @classmethod
    def take(cls, root: str) -> "_Lock":
        """
        Create C{root} if needed and lock it.

        @raise ConfigError: (for C{notifications.spool}) if it cannot be
            created or another process holds it.
        """
        try:
            os.makedirs(root, mode=0o700, exist_ok=True)
            fd = os.open(os.path.join(root, LOCK), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as error:
            raise ConfigError("notifications.spool",
                              f"cannot use {root}: {error.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            os.close(fd)
            raise _in_use(root, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % (os.getpid(),), 0)
        return cls(fd)

    def release(self) -> None:
        """
        Unlock and close.
        """
        os.close(self.fd)


class NotificationService(Service):
    """
    Runs the notification endpoints.

    @ivar notifier: the L{Notifier} the API's events go to.
    @ivar endpoints: the L{Endpoint}s.
    """

    def __init__(self, endpoints, root: str, sync: bool, reactor, factories=None,
                 defer_to_thread=None):
        """
        @param endpoints: the enabled L{EndpointConfig}s, named uniquely.
        @param root: the spool directory.
        @param sync: C{notifications.fsync}.
        @param factories: the sink factories by scheme (default: the
            plugins').
        @param defer_to_thread: how the spool runs file operations (default:
            in a thread of its own).
        """
        self._root = root
        self._reactor = reactor
        self._pool = None
        if defer_to_thread is None:
            # One thread for the spool's batches, one for periodic flushes.
            self._pool = ThreadPool(minthreads=0, maxthreads=2, name="txregistry-notifications")
            defer_to_thread = self._in_pool
        self._defer_to_thread = defer_to_thread
        self._disk = Disk(sync)
        self._thread = SpoolThread(self._disk, defer_to_thread)
        factories = sink_factories() if factories is None else factories
        self.endpoints = [self._endpoint(config, factories) for config in endpoints]
        self.notifier = Notifier(self.endpoints)
        self._lock = None
        self._started = None
        self._reported: dict[str, dict] = {}
        self._reports = LoopingCall(self.report, only_active=True)
        self._reports.clock = reactor
        self._ages = LoopingCall(self._check_ages)
        self._ages.clock = reactor
        self._flushes = LoopingCall(self._flush)
        self._flushes.clock = reactor

    @classmethod
    def from_config(cls, config, reactor, environ: Mapping[str, str] | None = None,
                    spool=lambda root: root):
        """
        The service for a configuration's C{notifications} section, or
        C{None} when no endpoint is enabled.

        @param spool: gives this process's spool directory from the
            configured one (each server process has its own).
        """
        notifications = config.notifications
        endpoints = [e for e in notifications.endpoints if not e.disabled]
        if not endpoints:
            return None
        root = notifications.spool or default_spool_directory(
            os.environ if environ is None else environ
        )
        return cls(endpoints, spool(root), notifications.fsync, reactor)

    @property
    def root(self) -> str:
        """
        The spool directory.
        """
        return self._root

    def _in_pool(self, function, *args):
        return deferToThreadPool(self._reactor, self._pool, function, *args)

    def _endpoint(self, config, factories) -> Endpoint:
        stats = EndpointStats()
        limits = Limits(config.maxevents, config.maxbytes, config.maxage)
        directory = endpoint_directory(self._root, config.name)
        spool = EndpointSpool(config.name, directory, self._thread, self._disk, limits, stats,
                              self._reactor)
        scheme = config.url.split(":", 1)[0].lower()
        sink = factories[scheme].create(config, self._reactor)
        ignore = Ignore(
            actions=frozenset(config.ignore.actions),
            media_types=frozenset(config.ignoredmediatypes) | frozenset(config.ignore.mediatypes),
        )
        backoff = Backoff(config.threshold, config.backoff, config.maxbackoff)
        return Endpoint(config.name, config.envelope, ignore, spool, sink, self._reactor,
                        backoff, config.maxbatch)

    def startService(self):
        """
        Take the spool directory (or refuse to start), read the queues back
        and start delivering.  This happens after twistd sheds privileges,
        so the queues belong to the user the registry runs as.
        """
        self._lock = _Lock.take(self._root)
        super().startService()
        if self._pool is not None:
            self._pool.start()
        self._started = ensureDeferred(self._start())
        self._started.addErrback(self._start_failed)

    def _start_failed(self, failure) -> None:
        if not failure.check(CancelledError):
            _log.failure("notifications: cannot start", failure)

    async def _start(self) -> None:
        for endpoint in self.endpoints:
            try:
                found = await endpoint.spool.recover()
            except CancelledError:
                raise
            except Exception:
                # The others go on; this one takes no events (they are
                # counted as lost) until the registry restarts.
                _log.failure("notifications: endpoint {endpoint}: cannot read its queue "
                             "back from {directory}", endpoint=endpoint.name,
                             directory=endpoint.spool.directory)
                continue
            _log.info(
                "notifications: endpoint {endpoint}: {pending} events to deliver, "
                "queue in {directory}",
                endpoint=endpoint.name, pending=endpoint.stats.pending,
                directory=endpoint.spool.directory,
            )
            if found.damaged or found.truncated:
                _log.warn(
                    "notifications: endpoint {endpoint}: {damaged} damaged lines skipped, "
                    "{truncated} bytes of a torn last line cut off",
                    endpoint=endpoint.name, damaged=found.damaged, truncated=found.truncated,
                )
            endpoint.start()
        self._reports.start(REPORT_INTERVAL, now=False)
        self._flushes.start(FLUSH_INTERVAL, now=False)
        shortest = min(endpoint.spool.limits.max_age for endpoint in self.endpoints)
        self._ages.start(min(AGE_CHECK_INTERVAL, max(shortest / 16, 1.0)), now=False)

    def _flush(self):
        detached = self._thread.submit(self._disk.detach)
        detached.addCallback(lambda handed: self._defer_to_thread(flush_detached, handed))
        return detached.addErrback(
            lambda failure: _log.failure("notifications: cannot flush the queues", failure)
        )

    def _check_ages(self) -> None:
        for endpoint in self.endpoints:
            endpoint.spool.enforce_limits()

    def report(self, only_active: bool = False) -> None:
        """
        Log each endpoint's state.

        @param only_active: leave out endpoints with nothing pending and
            nothing new since the last report.
        """
        for endpoint in self.endpoints:
            stats = attrs.asdict(endpoint.stats)
            if only_active and not stats["pending"] and stats == self._reported.get(endpoint.name):
                continue
            self._reported[endpoint.name] = stats
            _log.info(
                "notifications: endpoint {endpoint}: {pending} pending, {delivered} delivered, "
                "{failed} failed attempts, {retried} retries, {dropped} dropped, "
                "{deadlettered} dead-lettered, {lost} lost, {spooled} spooled",
                endpoint=endpoint.name, **stats,
            )

    async def _stop(self) -> None:
        if self._started is not None:
            self._started.cancel()
        for loop in (self._reports, self._ages, self._flushes):
            if loop.running:
                loop.stop()
        await gatherResults([endpoint.stop() for endpoint in self.endpoints])
        await self._thread.idle()
        await self._thread.submit(self._disk.flush)
        await self._thread.submit(self._disk.close)
        self.report()
        await gatherResults([endpoint.sink.close() for endpoint in self.endpoints])
        if self._pool is not None:
            self._pool.stop()
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def stopService(self):
        """
        Stop delivering (a request in flight is waited for), write what is
        queued, log each endpoint's state, release the spool directory.
        """
        super().stopService()
        return ensureDeferred(self._stop())
