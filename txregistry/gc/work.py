# -*- test-case-name: tests.test_gc_work -*-
"""
Long loops that share the reactor: L{Slicer} hands control back every few
milliseconds, L{for_each} keeps a bounded number of storage calls in
flight.
"""

import gc
import time

from twisted.internet.defer import FirstError, gatherResults, ensureDeferred
from twisted.internet.task import deferLater


class Stopped(Exception):
    """
    The work was asked to stop (the service is stopping).
    """


class Slicer:
    """
    Cuts a long computation into slices of at most C{budget} seconds of
    reactor time: L{tick} is called between items, and once a slice is used
    up it waits for C{pause()} (a L{Deferred} that fires on a later reactor
    turn), so that requests are served in between.

    @ivar stopping: set to make the next L{tick} raise L{Stopped}.
    """

    def __init__(self, pause=None, budget: float = 0.004, now=time.monotonic):
        """
        @param pause: returns a L{Deferred} firing on a later reactor turn;
            C{None} never pauses (the offline collector has the reactor to
            itself).
        @param budget: seconds a slice may last.
        @param now: the monotonic clock slices are measured with.
        """
        self._pause = pause
        self._budget = budget
        self._now = now
        self._started = now()
        self.stopping = False

    async def tick(self) -> None:
        """
        Between two items: pause if this slice is used up.

        @raise Stopped: if L{stopping} is set.
        """
        if self.stopping:
            raise Stopped()
        if self._pause is not None and self._now() - self._started > self._budget:
            await self._pause()
            self._started = self._now()
            if self.stopping:
                raise Stopped()


class HeapFreezer:
    """
    Pauses for a L{Slicer} that also keep Python's cyclic garbage collector
    off the collection's data.

    A collection builds an inventory of hundreds of thousands of objects;
    each full pass of the cyclic collector, triggered as the heap grows,
    would walk all of it in one go and hold the reactor for hundreds of
    milliseconds.  At most every C{interval} seconds, a pause moves every
    object then tracked into the permanent generation (C{gc.freeze()}, which
    takes constant time), so passes only walk what is newer.  L{release}
    gives them back once the collection has dropped its data.  Cyclic
    garbage made elsewhere in the process meanwhile waits until then.
    """

    def __init__(self, clock, interval: float = 1.0):
        self._clock = clock
        self._interval = interval
        self._frozen_at = None

    def pause(self):
        """
        Freeze if C{interval} passed since the last time, then wait for a
        later reactor turn.

        @return: a L{Deferred} firing on a later reactor turn.
        """
        now = self._clock.seconds()
        if self._frozen_at is None or now - self._frozen_at >= self._interval:
            gc.freeze()
            self._frozen_at = now
        return deferLater(self._clock, 0)

    def release(self) -> None:
        """
        Let the cyclic collector see everything again.
        """
        if self._frozen_at is not None:
            gc.unfreeze()
            self._frozen_at = None


async def for_each(items, work, limit: int, slicer: Slicer) -> None:
    """
    Await C{work(item)} for every item, at most C{limit} at a time.  The
    first failure stops taking new items and is raised once the calls in
    flight end.
    """
    pending = iter(items)
    failed = []

    async def worker():
        for item in pending:
            if failed:
                return
            await slicer.tick()
            try:
                await work(item)
            except BaseException:
                failed.append(True)
                raise

    try:
        await gatherResults(
            [ensureDeferred(worker()) for _ in range(limit)], consumeErrors=True
        )
    except FirstError as error:
        error.subFailure.raiseException()
