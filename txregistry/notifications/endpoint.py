# -*- test-case-name: tests.test_notify_endpoint -*-
"""
Delivering one endpoint's queue: in order, one batch at a time, retried
with exponential backoff and jitter until the receiver accepts it or
refuses it for good (then it is dead-lettered), and dropped if it grows
past the endpoint's limits meanwhile.

Retries keep Distribution's C{threshold} and C{backoff}: after a failure
the next attempt is immediate until C{threshold} attempts in a row have
failed; from then on the pause starts at C{backoff} and doubles with each
further failure up to C{maxbackoff}, plus up to half again at random so
that registries do not retry in step.  A receiver's C{Retry-After} is
honoured up to C{maxbackoff}.
"""

import random

import attrs
from twisted.internet.defer import CancelledError, ensureDeferred, succeed
from twisted.internet.task import deferLater
from twisted.logger import Logger

from txregistry.notifications.events import Event
from txregistry.notifications.interfaces import DeliveryRefused
from txregistry.notifications.spool import EndpointSpool, Record

_log = Logger()

#: The least time between two log lines about failed deliveries to one
#: endpoint, in seconds (the first failure of a run is always logged).
FAILURE_LOG_INTERVAL = 60.0


@attrs.frozen
class Ignore:
    """
    Which events an endpoint does not want: those whose action or target
    media type is listed (C{ignore.actions}; C{ignore.mediatypes} with the
    older C{ignoredmediatypes}).
    """

    actions: frozenset[str] = frozenset()
    media_types: frozenset[str] = frozenset()

    def ignores(self, event: Event) -> bool:
        """
        Whether C{event} is not to be sent.
        """
        return event.action in self.actions or event.target.media_type in self.media_types


@attrs.frozen
class Backoff:
    """
    When to try again after failures.

    @ivar threshold: failures in a row before pausing at all.
    @ivar backoff: the first pause, in seconds.
    @ivar max_backoff: the longest pause before jitter, in seconds.
    """

    threshold: int
    backoff: float
    max_backoff: float

    def delay(self, failures: int, retry_after: float | None, jitter: float) -> float:
        """
        The pause before the next attempt.

        @param failures: attempts failed in a row, at least 1.
        @param retry_after: the receiver's C{Retry-After}, in seconds.
        @param jitter: a random number in [0, 1).
        """
        if failures < self.threshold:
            base = 0.0
        else:
            doublings = min(failures - self.threshold, 64)
            base = min(self.max_backoff, self.backoff * 2**doublings) * (1 + jitter / 2)
        if retry_after is not None:
            base = max(base, min(retry_after, self.max_backoff))
        return base


class Endpoint:
    """
    One endpoint: its queue and the loop delivering it.

    @ivar name: its name.
    @ivar envelope: C{v1} or C{v2}.
    @ivar ignore: the events it does not want.
    @ivar spool: its L{EndpointSpool}.
    @ivar sink: its L{IEventSink}.
    """

    def __init__(self, name: str, envelope: str, ignore: Ignore, spool: EndpointSpool, sink,
                 clock, backoff: Backoff, max_batch: int = 1, jitter=random.random):
        """
        @param sink: the L{IEventSink} delivering to it.
        @param clock: the L{IReactorTime} timing retries.
        @param max_batch: the most events sent in one request.
        @param jitter: returns a random number in [0, 1).
        """
        self.name = name
        self.envelope = envelope
        self.ignore = ignore
        self.spool = spool
        self.stats = spool.stats
        self.sink = sink
        self._clock = clock
        self._backoff = backoff
        self._max_batch = max_batch
        self._jitter = jitter
        self._failures = 0
        self._last_failure_log = None
        self._singles: list[Record] = []
        self._unfinished: list[Record] = []
        self._stopping = False
        self._pause = None
        self._running = None

    def start(self) -> None:
        """
        Start delivering.
        """
        self._running = ensureDeferred(self._run())

    def stop(self):
        """
        Stop delivering: a request in flight is waited for (it ends within
        the endpoint's timeout), a pause is cut short.

        @return: a L{Deferred} firing when the loop has ended.
        """
        self._stopping = True
        if self._pause is not None:
            self._pause.cancel()
        return self._running if self._running is not None else succeed(None)

    async def _run(self) -> None:
        while not self._stopping:
            try:
                # A batch whose delivery an error cut short is taken again.
                if not self._unfinished:
                    self._unfinished = await self._pausing(self._next_batch())
                await self._deliver(self._unfinished)
                self._unfinished = []
            except CancelledError:
                return
            except Exception:
                # The spool failed (a disk error): try again later.
                _log.failure("notifications: endpoint {endpoint}: delivery stopped by an error; "
                             "trying again in {delay} s", endpoint=self.name,
                             delay=self._backoff.backoff)
                try:
                    await self._pausing(deferLater(self._clock, self._backoff.backoff))
                except CancelledError:
                    return

    async def _next_batch(self) -> list[Record]:
        """
        The next events to send: those of a refused batch one by one, else
        the oldest events queued (waiting for one if there is none).
        """
        if self._singles:
            return [self._singles.pop(0)]
        return await self.spool.next_batch(self._max_batch)

    async def _pausing(self, awaitable):
        """
        Await C{awaitable} (a coroutine or L{Deferred}) in a way L{stop} can
        cut short with L{CancelledError}.
        """
        self._pause = ensureDeferred(awaitable)
        try:
            return await self._pause
        finally:
            self._pause = None

    async def _deliver(self, batch: list[Record]) -> None:
        """
        Send C{batch} until it is accepted, refused, or dropped by the
        limits (meanwhile, while a retry waited).
        """
        batch = await self._expire([record for record in batch if self.spool.is_pending(record)])
        while batch:
            try:
                await self.sink.send([record.event for record in batch])
            except DeliveryRefused as refusal:
                await self._refused(batch, str(refusal))
                return
            except Exception as error:
                delay = self._failed(error)
                if self._stopping:
                    return
                if delay > 0:
                    await self._pausing(deferLater(self._clock, delay))
                batch = await self._expire(
                    [record for record in batch if self.spool.is_pending(record)]
                )
                self.stats.retried += 1 if batch else 0
                continue
            if self._failures:
                _log.info("notifications: endpoint {endpoint}: delivering again after "
                          "{failures} failed attempts", endpoint=self.name,
                          failures=self._failures)
            self._failures = 0
            self.stats.delivered += await self.spool.ack(batch)
            return

    async def _expire(self, batch: list[Record]) -> list[Record]:
        """
        Drop the events of C{batch} spooled longer ago than the spool's
        C{max_age}.

        @return: the others.
        """
        cutoff = self._clock.seconds() - self.spool.limits.max_age
        expired = [record for record in batch if record.spooled < cutoff]
        if not expired:
            return batch
        count = await self.spool.ack(expired)
        self.stats.dropped += count
        _log.warn("notifications: endpoint {endpoint}: dropped {count} events older than "
                  "maxage", endpoint=self.name, count=count)
        return batch[len(expired):]

    async def _refused(self, batch: list[Record], reason: str) -> None:
        """
        The receiver refused C{batch} for good.  A batch of several events is
        sent again one event per request, so that only the events refused
        alone are dead-lettered.
        """
        self._failures = 0
        if len(batch) > 1:
            _log.warn("notifications: endpoint {endpoint}: {count} events refused together "
                      "({reason}); sending them one by one", endpoint=self.name,
                      count=len(batch), reason=reason)
            self._singles = batch
            return
        self.stats.deadlettered += await self.spool.dead_letter(batch, reason)
        _log.warn("notifications: endpoint {endpoint}: event {seq} refused ({reason}); "
                  "kept in {directory}/deadletter.log", endpoint=self.name, seq=batch[0].seq,
                  reason=reason, directory=self.spool.directory)

    def _failed(self, error: Exception) -> float:
        """
        Count a failed attempt and log it (not too often).

        @return: the pause before the next attempt.
        """
        self._failures += 1
        self.stats.failed += 1
        delay = self._backoff.delay(
            self._failures, getattr(error, "retry_after", None), self._jitter()
        )
        now = self._clock.seconds()
        if (
            self._failures == 1
            or self._last_failure_log is None
            or now - self._last_failure_log >= FAILURE_LOG_INTERVAL
        ):
            self._last_failure_log = now
            _log.warn(
                "notifications: endpoint {endpoint}: delivery failed ({error}); "
                "{failures} failed attempts in a row, next in {delay:.1f} s",
                endpoint=self.name, error=error or type(error).__name__,
                failures=self._failures, delay=delay,
            )
        return delay
