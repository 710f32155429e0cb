"""
Helpers for the notification tests: the spool's thread run inline or by
hand, spools in temporary directories, and sinks that answer as told.
"""

import json

from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.internet.task import Clock
from zope.interface import implementer

from txregistry.notifications.interfaces import IEventSink
from txregistry.notifications.spool import Disk, EndpointSpool, EndpointStats, Limits, SpoolThread

#: Limits that nothing in a test reaches.
ROOMY = Limits(max_events=1_000_000, max_bytes=1024**3, max_age=7 * 24 * 3600.0)


def inline(function, *args):
    """
    A C{defer_to_thread} that runs the function at once, in this thread.
    """
    return maybeDeferred(function, *args)


class ManualThread:
    """
    A C{defer_to_thread} whose calls wait until the test runs them.

    @ivar calls: the calls not run yet, oldest first.
    """

    def __init__(self):
        self.calls = []

    def __call__(self, function, *args):
        done = Deferred()
        self.calls.append((function, args, done))
        return done

    def run_one(self) -> None:
        """
        Run the oldest waiting call.
        """
        function, args, done = self.calls.pop(0)
        maybeDeferred(function, *args).chainDeferred(done)

    def run_all(self) -> None:
        """
        Run calls until none waits (calls made meanwhile included).
        """
        while self.calls:
            self.run_one()


def make_spool(directory: str, limits: Limits = ROOMY, clock=None, sync: bool = False,
               defer_to_thread=inline, disk=None, name: str = "hook") -> EndpointSpool:
    """
    An L{EndpointSpool} on C{directory}, not recovered yet.
    """
    disk = disk if disk is not None else Disk(sync)
    return EndpointSpool(name, directory, SpoolThread(disk, defer_to_thread), disk, limits,
                         EndpointStats(), clock if clock is not None else Clock())


def numbered(n: int) -> bytes:
    """
    The JSON of a small stand-in event numbered C{n}.
    """
    return json.dumps({"n": n}).encode()


def number(event: bytes) -> int:
    """
    The number of a stand-in event made by L{numbered}.
    """
    return json.loads(event)["n"]


@implementer(IEventSink)
class ScriptedSink:
    """
    A sink that answers each send with the next scripted outcome: C{None}
    (accepted), an exception (raised), or a L{Deferred} (returned as is);
    accepted once the script is used up.

    @ivar sent: the batches sent, as lists of event JSON.
    @ivar closed: whether L{close} was called.
    """

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.sent = []
        self.closed = False

    def send(self, events):
        """
        Record the batch and answer with the next outcome.
        """
        self.sent.append(list(events))
        outcome = self.outcomes.pop(0) if self.outcomes else None
        if isinstance(outcome, Deferred):
            return outcome
        if isinstance(outcome, Exception):
            return fail(outcome)
        return succeed(None)

    def close(self):
        """
        Note that the sink was closed.
        """
        self.closed = True
        return succeed(None)

    def numbers(self) -> list[list[int]]:
        """
        The stand-in numbers of the batches sent.
        """
        return [[number(event) for event in batch] for batch in self.sent]
