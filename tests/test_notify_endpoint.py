"""
Tests for L{txregistry.notifications.endpoint}: delivery in order, retries
with backoff on a L{Clock}, dead-lettering, batching, limits met while
retrying, stopping.
"""

import os

from twisted.internet.defer import Deferred, ensureDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.processes import temporary_directory
from tests.notify_helpers import ROOMY, ScriptedSink, make_spool, numbered
from txregistry.notifications.endpoint import Backoff, Endpoint, Ignore
from txregistry.notifications.interfaces import DeliveryFailed, DeliveryRefused
from txregistry.notifications.spool import DEAD_LETTERS, Disk, Limits


class BackoffTests(SynchronousTestCase):
    """
    L{Backoff.delay}: Distribution's threshold and backoff, doubled, capped,
    with jitter and C{Retry-After}.
    """

    def test_immediateBelowThreshold(self):
        """
        Until C{threshold} attempts in a row have failed, the next one is
        immediate.
        """
        backoff = Backoff(threshold=3, backoff=1.0, max_backoff=60.0)
        self.assertEqual([backoff.delay(n, None, 0.5) for n in (1, 2)], [0.0, 0.0])

    def test_doubling(self):
        """
        From C{threshold} failures on, the pause starts at C{backoff} and
        doubles up to C{max_backoff}.
        """
        backoff = Backoff(threshold=3, backoff=1.0, max_backoff=10.0)
        self.assertEqual([backoff.delay(n, None, 0.0) for n in range(3, 9)],
                         [1.0, 2.0, 4.0, 8.0, 10.0, 10.0])
        self.assertEqual(backoff.delay(10_000, None, 0.0), 10.0)

    def test_jitter(self):
        """
        Jitter adds up to half the pause again, never less than the pause.
        """
        backoff = Backoff(threshold=1, backoff=2.0, max_backoff=60.0)
        self.assertEqual(backoff.delay(1, None, 0.0), 2.0)
        self.assertEqual(backoff.delay(1, None, 0.5), 2.5)
        self.assertAlmostEqual(backoff.delay(2, None, 0.999), 4 * 1.4995)

    def test_retryAfter(self):
        """
        A C{Retry-After} longer than the pause is honoured, up to
        C{max_backoff}.
        """
        backoff = Backoff(threshold=10, backoff=1.0, max_backoff=30.0)
        self.assertEqual(backoff.delay(1, 5.0, 0.0), 5.0)
        self.assertEqual(backoff.delay(1, 3600.0, 0.0), 30.0)
        self.assertEqual(Backoff(1, 8.0, 30.0).delay(1, 5.0, 0.0), 8.0)


class EndpointTestCase(SynchronousTestCase):
    """
    An endpoint on a spool in a temporary directory, on a L{Clock}.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.directory = os.path.join(temporary_directory(self), "hook")

    def endpoint(self, sink, limits: Limits = ROOMY, threshold: int = 1, backoff: float = 1.0,
                 max_backoff: float = 60.0, max_batch: int = 1, jitter: float = 0.0,
                 events: int = 0) -> Endpoint:
        """
        A started endpoint delivering to C{sink}, C{events} events queued
        first (numbered from 0); stopped when the test ends.
        """
        spool = make_spool(self.directory, limits=limits, clock=self.clock)
        self.successResultOf(ensureDeferred(spool.recover()))
        for n in range(events):
            spool.append(numbered(n))
        endpoint = Endpoint("hook", "v1", Ignore(), spool, sink, self.clock,
                            Backoff(threshold, backoff, max_backoff), max_batch,
                            jitter=lambda: jitter)
        endpoint.start()
        self.addCleanup(endpoint.stop)
        return endpoint


class DeliveryTests(EndpointTestCase):
    """
    Events are delivered in order, one batch at a time.
    """

    def test_order(self):
        """
        One event per request by default, in the order spooled.
        """
        sink = ScriptedSink()
        endpoint = self.endpoint(sink, events=3)
        endpoint.spool.append(numbered(3))
        self.assertEqual(sink.numbers(), [[0], [1], [2], [3]])
        self.assertEqual((endpoint.stats.delivered, endpoint.stats.pending), (4, 0))

    def test_oneAtATime(self):
        """
        The next request waits until the receiver answered the previous one.
        """
        answer = Deferred()
        sink = ScriptedSink(answer)
        self.endpoint(sink, events=2)
        self.assertEqual(sink.numbers(), [[0]])
        answer.callback(None)
        self.assertEqual(sink.numbers(), [[0], [1]])

    def test_batches(self):
        """
        With C{maxbatch}, queued events go together, up to that many.
        """
        sink = ScriptedSink()
        endpoint = self.endpoint(sink, max_batch=2, events=5)
        self.assertEqual(sink.numbers(), [[0, 1], [2, 3], [4]])
        self.assertEqual(endpoint.stats.delivered, 5)


class RetryTests(EndpointTestCase):
    """
    Failed deliveries are retried with backoff, in order, until accepted.
    """

    def test_immediateRetries(self):
        """
        Below C{threshold} failures, retries are immediate.
        """
        sink = ScriptedSink(DeliveryFailed("down"), DeliveryFailed("down"))
        endpoint = self.endpoint(sink, threshold=3, events=1)
        self.assertEqual(sink.numbers(), [[0], [0], [0]])
        self.assertEqual((endpoint.stats.failed, endpoint.stats.retried,
                          endpoint.stats.delivered), (2, 2, 1))

    def test_backoffOnClock(self):
        """
        From C{threshold} on, each retry waits on the clock: 1, 2, 4, then
        the cap; nothing is sent before; later events wait behind.
        """
        sink = ScriptedSink(*[DeliveryFailed("503")] * 5)
        endpoint = self.endpoint(sink, threshold=1, backoff=1.0, max_backoff=4.0, events=2)
        for pause in (1.0, 2.0, 4.0, 4.0, 4.0):
            sent = len(sink.sent)
            self.clock.advance(pause - 0.001)
            self.assertEqual(len(sink.sent), sent)
            self.clock.advance(0.001)
            self.assertEqual(sink.numbers()[sent], [0])
        self.assertEqual(sink.numbers(), [[0]] * 6 + [[1]])
        self.assertEqual((endpoint.stats.failed, endpoint.stats.delivered), (5, 2))

    def test_successResets(self):
        """
        A success resets the count of failures: the next failure starts the
        backoff again from the beginning.
        """
        sink = ScriptedSink(DeliveryFailed("1"), DeliveryFailed("2"), None,
                            DeliveryFailed("3"))
        endpoint = self.endpoint(sink, threshold=1, backoff=1.0, events=1)
        self.clock.advance(1)
        self.clock.advance(2)
        self.assertEqual(len(sink.sent), 3)
        endpoint.spool.append(numbered(1))
        self.assertEqual(len(sink.sent), 4)
        self.clock.advance(1)
        self.assertEqual(sink.numbers()[-1], [1])

    def test_jitteredPause(self):
        """
        The pause includes the jitter.
        """
        sink = ScriptedSink(DeliveryFailed("down"))
        self.endpoint(sink, threshold=1, backoff=2.0, jitter=0.5, events=1)
        self.clock.advance(2.4)
        self.assertEqual(len(sink.sent), 1)
        self.clock.advance(0.1)
        self.assertEqual(len(sink.sent), 2)

    def test_retryAfter(self):
        """
        The receiver's C{Retry-After} is waited for.
        """
        sink = ScriptedSink(DeliveryFailed("429", retry_after=30.0))
        self.endpoint(sink, threshold=10, events=1)
        self.clock.advance(29.9)
        self.assertEqual(len(sink.sent), 1)
        self.clock.advance(0.1)
        self.assertEqual(len(sink.sent), 2)

    def test_anyFailureRetried(self):
        """
        Failures other than L{DeliveryFailed} (a bug in a sink) are retried
        too.
        """
        sink = ScriptedSink(RuntimeError("oops"))
        endpoint = self.endpoint(sink, threshold=5, events=1)
        self.assertEqual(endpoint.stats.delivered, 1)
        self.assertEqual(len(sink.sent), 2)


class DeadLetterTests(EndpointTestCase):
    """
    Events the receiver refuses for good are dead-lettered, not retried.
    """

    def test_refused(self):
        """
        A refused event goes to the dead-letter file; the next is delivered.
        """
        sink = ScriptedSink(DeliveryRefused("HTTP 400: bad"))
        endpoint = self.endpoint(sink, events=2)
        self.assertEqual(sink.numbers(), [[0], [1]])
        self.assertEqual((endpoint.stats.deadlettered, endpoint.stats.delivered,
                          endpoint.stats.pending), (1, 1, 0))
        with open(os.path.join(self.directory, DEAD_LETTERS)) as f:
            self.assertIn('"reason": "HTTP 400: bad"', f.read())

    def test_refusedBatchSplit(self):
        """
        A refused batch is sent again one event per request; only the events
        refused alone are dead-lettered.
        """
        sink = ScriptedSink(DeliveryRefused("HTTP 422"), None, DeliveryRefused("HTTP 422"))
        endpoint = self.endpoint(sink, max_batch=3, events=4)
        self.assertEqual(sink.numbers(), [[0, 1, 2], [0], [1], [2], [3]])
        self.assertEqual((endpoint.stats.deadlettered, endpoint.stats.delivered), (1, 3))


class LimitTests(EndpointTestCase):
    """
    While an endpoint is down, its queue stays within the limits, and what
    was dropped is not sent when it comes back.
    """

    def test_droppedWhileDown(self):
        """
        Events pushed out by newer ones while a retry waits are not sent;
        delivery resumes with the oldest event kept.
        """
        sink = ScriptedSink(DeliveryFailed("down"))
        endpoint = self.endpoint(sink, limits=Limits(16, 1024**3, 3600.0), events=1)
        for n in range(1, 20):
            endpoint.spool.append(numbered(n))
        self.clock.advance(1)
        self.assertEqual(sink.numbers(), [[0]] + [[n] for n in range(4, 20)])
        self.assertEqual((endpoint.stats.dropped, endpoint.stats.delivered,
                          endpoint.stats.retried), (4, 16, 0))

    def test_expired(self):
        """
        Events older than C{maxage} when their turn comes are dropped.
        """
        sink = ScriptedSink(DeliveryFailed("down"))
        endpoint = self.endpoint(sink, limits=Limits(1000, 1024**3, 100.0), backoff=150.0,
                                 max_backoff=150.0, events=1)
        self.clock.advance(60)
        endpoint.spool.append(numbered(1))
        self.clock.advance(90)
        self.assertEqual(sink.numbers(), [[0], [1]])
        self.assertEqual((endpoint.stats.dropped, endpoint.stats.delivered), (1, 1))


class SpoolErrorTests(EndpointTestCase):
    """
    An error of the spool in the middle of a delivery loses nothing.
    """

    def setUp(self):
        """
        The first dead letter fails to be written.
        """
        super().setUp()
        failures = [OSError(28, "No space left on device")]
        original = Disk.dead_letter

        def dead_letter(disk, directory, data):
            if failures:
                raise failures.pop()
            return original(disk, directory, data)

        self.patch(Disk, "dead_letter", dead_letter)

    def test_deadLetterWriteFails(self):
        """
        When the dead-letter file cannot be written, the refused event is
        taken again after a pause, not skipped.
        """
        sink = ScriptedSink(DeliveryRefused("HTTP 400"), DeliveryRefused("HTTP 400"))
        endpoint = self.endpoint(sink, backoff=5.0, events=2)
        self.assertEqual(sink.numbers(), [[0]])
        # The first refusal's dead letter could not be written:
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.assertEqual(endpoint.stats.pending, 2)
        self.clock.advance(5)
        self.assertEqual(sink.numbers(), [[0], [0], [1]])
        self.assertEqual((endpoint.stats.deadlettered, endpoint.stats.delivered), (1, 1))


class StopTests(EndpointTestCase):
    """
    Stopping ends the loop without losing queued events.
    """

    def test_stopWhileIdle(self):
        """
        An idle endpoint stops at once.
        """
        endpoint = self.endpoint(ScriptedSink())
        self.successResultOf(endpoint.stop())

    def test_stopDuringPause(self):
        """
        A pause between retries is cut short; nothing more is sent.
        """
        sink = ScriptedSink(DeliveryFailed("down"))
        endpoint = self.endpoint(sink, backoff=30.0, events=1)
        self.successResultOf(endpoint.stop())
        self.clock.advance(60)
        self.assertEqual(len(sink.sent), 1)
        self.assertEqual(endpoint.stats.pending, 1)

    def test_stopWaitsForRequest(self):
        """
        A request in flight is waited for, and its answer recorded.
        """
        answer = Deferred()
        endpoint = self.endpoint(ScriptedSink(answer), events=2)
        stopped = endpoint.stop()
        self.assertNoResult(stopped)
        answer.callback(None)
        self.successResultOf(stopped)
        self.assertEqual((endpoint.stats.delivered, endpoint.stats.pending), (1, 1))
