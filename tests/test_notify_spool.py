"""
Tests for L{txregistry.notifications.spool}: the on-disk queue of one
endpoint, on real files in a temporary directory, its thread run inline or
by hand.
"""

import json
import os

from twisted.internet.defer import ensureDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.processes import temporary_directory
from tests.notify_helpers import ManualThread, make_spool, number, numbered
from txregistry.notifications import spool as spool_module
from txregistry.notifications.spool import (
    CURSOR,
    DEAD_LETTERS,
    Disk,
    Limits,
    SpoolUnavailable,
    flush_detached,
)


class SpoolTestCase(SynchronousTestCase):
    """
    A temporary directory for a spool, and ways to drive one.
    """

    def setUp(self):
        self.directory = os.path.join(temporary_directory(self), "hook")
        self.clock = Clock()
        self.clock.advance(1_700_000_000)

    def recovered(self, **kwargs):
        """
        A spool on the test's directory, read back.
        """
        spool = make_spool(self.directory, clock=self.clock, **kwargs)
        self.successResultOf(ensureDeferred(spool.recover()))
        return spool

    def two_unsynced_appends(self):
        """
        Two events appended to a spool whose disk does not sync on append.

        @return: the C{fdatasync} calls (recorded, not made) and the L{Disk}.
        """
        syncs = []
        self.patch(spool_module.os, "fdatasync", syncs.append)
        disk = Disk(sync=False)
        spool = self.recovered(disk=disk)
        self.successResultOf(spool.append(numbered(0)))
        self.successResultOf(spool.append(numbered(1)))
        return syncs, disk

    def take(self, spool, most: int = 1000):
        """
        The records L{EndpointSpool.next_batch} gives now (it must give).
        """
        return self.successResultOf(ensureDeferred(spool.next_batch(most)))

    def ack(self, spool, records) -> int:
        """
        Acknowledge C{records}.
        """
        return self.successResultOf(ensureDeferred(spool.ack(records)))

    def segments(self) -> list[str]:
        """
        The segment files in the directory.
        """
        return sorted(n for n in os.listdir(self.directory) if n.endswith(".log")
                      and n != DEAD_LETTERS)


class AppendReadTests(SpoolTestCase):
    """
    Events appended are read back in order, once, and are on disk when the
    append's L{Deferred} fires.
    """

    def test_order(self):
        """
        Events come back in the order appended, with their spool times.
        """
        spool = self.recovered()
        for n in range(5):
            self.successResultOf(spool.append(numbered(n)))
            self.clock.advance(1)
        records = self.take(spool)
        self.assertEqual([number(r.event) for r in records], [0, 1, 2, 3, 4])
        self.assertEqual([r.seq for r in records], [0, 1, 2, 3, 4])
        self.assertEqual(records[1].spooled - records[0].spooled, 1.0)
        self.assertEqual(spool.stats.pending, 5)

    def test_batchSize(self):
        """
        A batch holds at most the number asked for; the rest follows.
        """
        spool = self.recovered()
        for n in range(5):
            spool.append(numbered(n))
        self.assertEqual([number(r.event) for r in self.take(spool, 2)], [0, 1])
        self.assertEqual([number(r.event) for r in self.take(spool, 2)], [2, 3])
        self.assertEqual([number(r.event) for r in self.take(spool, 2)], [4])

    def test_waitsForEvents(self):
        """
        With nothing queued, the next batch waits for an append.
        """
        spool = self.recovered()
        waiting = ensureDeferred(spool.next_batch(10))
        self.assertNoResult(waiting)
        spool.append(numbered(7))
        self.assertEqual([number(r.event) for r in self.successResultOf(waiting)], [7])

    def test_onDiskWhenFired(self):
        """
        The append's L{Deferred} fires after the thread wrote the line; the
        reader does not see the event before.
        """
        thread = ManualThread()
        spool = make_spool(self.directory, clock=self.clock, defer_to_thread=thread)
        recovering = ensureDeferred(spool.recover())
        thread.run_all()
        self.successResultOf(recovering)
        appended = spool.append(numbered(1))
        reading = ensureDeferred(spool.next_batch(10))
        self.assertNoResult(appended)
        self.assertNoResult(reading)
        thread.run_one()
        self.successResultOf(appended)
        with open(os.path.join(self.directory, self.segments()[0]), "rb") as f:
            self.assertEqual(f.read(), b'0 1700000000.000 {"n": 1}\n')
        thread.run_all()
        self.assertEqual([number(r.event) for r in self.successResultOf(reading)], [1])

    def test_groupCommit(self):
        """
        Appends made while the thread is busy are written together in the
        next batch, with one C{fdatasync} for the file.
        """
        syncs = []
        self.patch(spool_module.os, "fdatasync", syncs.append)
        thread = ManualThread()
        spool = make_spool(self.directory, clock=self.clock, defer_to_thread=thread, sync=True)
        recovering = ensureDeferred(spool.recover())
        thread.run_all()
        self.successResultOf(recovering)
        first = spool.append(numbered(0))
        others = [spool.append(numbered(n)) for n in range(1, 6)]
        self.assertEqual(len(thread.calls), 1)
        thread.run_one()
        self.successResultOf(first)
        self.assertEqual(len(syncs), 1)
        for appended in others:
            self.assertNoResult(appended)
        self.assertEqual(len(thread.calls), 1)
        thread.run_one()
        for appended in others:
            self.successResultOf(appended)
        self.assertEqual(len(syncs), 2)

    def test_unsyncedAppend(self):
        """
        An append not asked to be synced is not flushed to the device, even
        with C{fsync} on.
        """
        syncs = []
        self.patch(spool_module.os, "fdatasync", syncs.append)
        spool = self.recovered(sync=True)
        self.successResultOf(spool.append(numbered(0), sync=False))
        self.assertEqual(syncs, [])
        self.successResultOf(spool.append(numbered(1)))
        self.assertEqual(len(syncs), 1)

    def test_noSyncByChoice(self):
        """
        With C{fsync} off, appends are not flushed to the device until the
        next flush, which flushes each file written once.
        """
        syncs, disk = self.two_unsynced_appends()
        self.assertEqual(syncs, [])
        disk.flush()
        self.assertEqual(len(syncs), 1)
        disk.flush()
        self.assertEqual(len(syncs), 1)

    def test_flushDetached(self):
        """
        A flush handed over to another thread syncs each file written once,
        also when the spool closed it meanwhile; nothing is left to flush.
        """
        syncs, disk = self.two_unsynced_appends()
        detached = disk.detach()
        disk.close()
        flush_detached(detached)
        self.assertEqual(len(syncs), 1)
        self.assertEqual(disk.detach(), ([], []))

    def test_appendsBeforeRecovery(self):
        """
        Appends made while the directory is read back wait, then are
        written after the events found, in order.
        """
        spool = self.recovered()
        spool.append(numbered(0))
        thread = ManualThread()
        again = make_spool(self.directory, clock=self.clock, defer_to_thread=thread)
        recovering = ensureDeferred(again.recover())
        early = again.append(numbered(1))
        self.assertNoResult(early)
        thread.run_all()
        self.successResultOf(recovering)
        self.successResultOf(early)
        reading = ensureDeferred(again.next_batch(10))
        thread.run_all()
        self.assertEqual([number(r.event) for r in self.successResultOf(reading)], [0, 1])


class AckTests(SpoolTestCase):
    """
    Acknowledged events are gone for good: the cursor moves past them and
    finished segments are deleted.
    """

    def test_cursor(self):
        """
        The cursor file names the first event not acknowledged.
        """
        spool = self.recovered()
        for n in range(3):
            spool.append(numbered(n))
        records = self.take(spool)
        self.assertEqual(self.ack(spool, records[:2]), 2)
        with open(os.path.join(self.directory, CURSOR)) as f:
            self.assertEqual(json.load(f), {"seq": 2})
        self.assertEqual(spool.stats.pending, 1)

    def test_segmentsDeleted(self):
        """
        Segments hold a sixteenth of C{maxevents} (here two events); once
        every event in one is acknowledged its file goes, unless it is the
        newest (appends may still go there).
        """
        spool = self.recovered(limits=Limits(32, 1024**3, 3600.0))
        for n in range(5):
            spool.append(numbered(n))
        names = [spool_module.segment_name(first) for first in (0, 2, 4)]
        self.assertEqual(self.segments(), names)
        records = self.take(spool)
        self.ack(spool, records[:3])
        self.assertEqual(self.segments(), names[1:])
        self.ack(spool, records[3:])
        self.assertEqual(self.segments(), names[2:])
        spool.append(numbered(5))
        self.ack(spool, self.take(spool))
        self.assertEqual(self.segments(), names[2:])
        spool.append(numbered(6))
        self.assertEqual(self.segments(), [spool_module.segment_name(6)])
        self.assertEqual(spool.stats.pending, 1)

    def test_deadLetter(self):
        """
        Refused events go to the dead-letter file with the reason, and are
        acknowledged.
        """
        spool = self.recovered()
        spool.append(numbered(0))
        spool.append(numbered(1))
        records = self.take(spool)
        self.assertEqual(
            self.successResultOf(ensureDeferred(spool.dead_letter(records[:1], "HTTP 400: no"))),
            1,
        )
        with open(os.path.join(self.directory, DEAD_LETTERS)) as f:
            [line] = f.read().splitlines()
        self.assertEqual(json.loads(line), {"seq": 0, "spooled": 1_700_000_000.0,
                                            "reason": "HTTP 400: no", "event": {"n": 0}})
        self.assertEqual(spool.stats.pending, 1)

    def test_deadLetterRotation(self):
        """
        The dead-letter file is rotated when it would pass its size limit;
        one older file is kept.
        """
        self.patch(spool_module, "DEAD_LETTER_BYTES", 200)
        spool = self.recovered()
        for n in range(6):
            spool.append(numbered(n))
        for record in self.take(spool):
            self.successResultOf(ensureDeferred(spool.dead_letter([record], "HTTP 400")))
        path = os.path.join(self.directory, DEAD_LETTERS)
        for name in (path, path + ".1"):
            self.assertLessEqual(os.path.getsize(name), 200)
        with open(path) as f:
            self.assertEqual(json.loads(f.read().splitlines()[-1])["seq"], 5)


class RecoveryTests(SpoolTestCase):
    """
    A spool read back at start delivers what was not acknowledged, in
    order, and numbers new events after the old ones.
    """

    def test_resume(self):
        """
        Events after the cursor are delivered again after a restart; none
        before it.
        """
        spool = self.recovered(limits=Limits(32, 1024**3, 3600.0))
        for n in range(7):
            spool.append(numbered(n))
        self.ack(spool, self.take(spool)[:3])
        again = self.recovered(limits=Limits(32, 1024**3, 3600.0))
        self.assertEqual(again.stats.pending, 4)
        self.assertEqual([number(r.event) for r in self.take(again)], [3, 4, 5, 6])
        self.successResultOf(again.append(numbered(7)))
        records = self.take(again)
        self.assertEqual([(r.seq, number(r.event)) for r in records], [(7, 7)])

    def test_segmentsBehindCursorDeleted(self):
        """
        Segments whose events are all before the cursor are deleted when
        read back (a crash between the cursor write and the deletion).
        """
        spool = self.recovered(limits=Limits(32, 1024**3, 3600.0))
        for n in range(6):
            spool.append(numbered(n))
        with open(os.path.join(self.directory, CURSOR), "w") as f:
            json.dump({"seq": 5}, f)
        again = self.recovered()
        self.assertEqual(self.segments(), [spool_module.segment_name(4)])
        self.assertEqual([number(r.event) for r in self.take(again)], [5])

    def test_nothingPending(self):
        """
        A queue delivered to the end is read back empty and keeps counting.
        """
        spool = self.recovered()
        for n in range(3):
            spool.append(numbered(n))
        self.ack(spool, self.take(spool))
        again = self.recovered()
        self.assertEqual(again.stats.pending, 0)
        self.assertEqual(self.segments(), [])
        again.append(numbered(3))
        self.assertEqual([r.seq for r in self.take(again)], [3])

    def test_tornLastLine(self):
        """
        A last line cut short (the process died in the middle of a write) is
        cut off; the lines before it are delivered.
        """
        spool = self.recovered()
        spool.append(numbered(0))
        spool.append(numbered(1))
        path = os.path.join(self.directory, self.segments()[0])
        with open(path, "ab") as f:
            f.write(b'2 1700000000.000 {"n"')
        again = make_spool(self.directory, clock=self.clock)
        found = self.successResultOf(ensureDeferred(again.recover()))
        self.assertEqual(found.truncated, len(b'2 1700000000.000 {"n"'))
        self.assertEqual([number(r.event) for r in self.take(again)], [0, 1])
        with open(path, "rb") as f:
            self.assertTrue(f.read().endswith(b"\n"))

    def test_damagedLine(self):
        """
        A line that cannot be read is counted and skipped.
        """
        spool = self.recovered()
        spool.append(numbered(0))
        with open(os.path.join(self.directory, self.segments()[0]), "ab") as f:
            f.write(b"\x00\x00garbage\n")
        spool.append(numbered(2))
        again = make_spool(self.directory, clock=self.clock)
        found = self.successResultOf(ensureDeferred(again.recover()))
        self.assertEqual(found.damaged, 1)
        self.assertEqual([number(r.event) for r in self.take(again)], [0, 2])

    def test_unreadableCursor(self):
        """
        A cursor that cannot be read means delivering from the oldest event
        kept: duplicates, never losses.
        """
        spool = self.recovered()
        for n in range(3):
            spool.append(numbered(n))
        self.ack(spool, self.take(spool)[:1])
        with open(os.path.join(self.directory, CURSOR), "w") as f:
            f.write("{not json")
        again = self.recovered()
        self.assertEqual([number(r.event) for r in self.take(again)], [0, 1, 2])

    def test_unreadableDirectory(self):
        """
        A queue that cannot be read back takes no events: appends fail
        (counted as lost) instead of waiting for ever.
        """
        with open(self.directory, "w") as f:
            f.write("not a directory")
        spool = make_spool(self.directory, clock=self.clock)
        recovering = ensureDeferred(spool.recover())
        self.failureResultOf(recovering, OSError)
        self.failureResultOf(spool.append(numbered(0)), SpoolUnavailable)
        self.assertEqual(spool.stats.lost, 1)


class FailingDisk(Disk):
    """
    A L{Disk} whose appends fail while C{failing} is set.
    """

    failing = False

    def append(self, directory, path, data, sync):
        """
        Fail with C{ENOSPC} while C{failing}, else append.
        """
        if self.failing:
            raise OSError(28, "No space left on device")
        return super().append(directory, path, data, sync)


class AppendFailureTests(SpoolTestCase):
    """
    An append that fails is reported and counted; the queue goes on.
    """

    def test_lost(self):
        """
        The failed event is lost, later ones go to a new segment and are
        delivered in order after the earlier ones.
        """
        disk = FailingDisk(False)
        spool = self.recovered(disk=disk)
        spool.append(numbered(0))
        disk.failing = True
        self.failureResultOf(spool.append(numbered(1)), OSError)
        disk.failing = False
        self.successResultOf(spool.append(numbered(2)))
        self.assertEqual(spool.stats.lost, 1)
        self.assertEqual(len(self.segments()), 2)
        self.assertEqual([number(r.event) for r in self.take(spool)], [0, 2])


class LimitTests(SpoolTestCase):
    """
    Past a limit the oldest events are dropped and counted.
    """

    def test_maxEvents(self):
        """
        With C{maxevents} 16 (one event per segment), the queue keeps the
        newest 16.
        """
        spool = self.recovered(limits=Limits(16, 1024**3, 3600.0))
        for n in range(20):
            spool.append(numbered(n))
        self.assertEqual(spool.stats.pending, 16)
        self.assertEqual(spool.stats.dropped, 4)
        self.assertEqual(len(self.segments()), 16)
        self.assertEqual([number(r.event) for r in self.take(spool)], list(range(4, 20)))

    def test_maxBytes(self):
        """
        With C{maxbytes}, the segment files stay within it.
        """
        limits = Limits(1_000_000, 4096, 3600.0)
        spool = self.recovered(limits=limits)
        for n in range(500):
            spool.append(numbered(n))
        size = sum(os.path.getsize(os.path.join(self.directory, n)) for n in self.segments())
        self.assertLessEqual(size, 4096)
        self.assertEqual(spool.stats.dropped + spool.stats.pending, 500)
        records = self.take(spool)
        self.assertEqual([number(r.event) for r in records],
                         list(range(500 - len(records), 500)))

    def test_maxAge(self):
        """
        Segments whose newest event is older than C{maxage} are dropped when
        the limits are checked.
        """
        spool = self.recovered(limits=Limits(32, 1024**3, 60.0))
        for n in range(4):
            spool.append(numbered(n))
            self.clock.advance(10)
        self.clock.advance(35)
        spool.enforce_limits()
        self.assertEqual(spool.stats.dropped, 2)
        self.assertEqual([number(r.event) for r in self.take(spool)], [2, 3])
        self.clock.advance(60)
        spool.enforce_limits()
        self.assertEqual((spool.stats.dropped, spool.stats.pending, self.segments()), (4, 0, []))
        spool.append(numbered(4))
        self.assertEqual([number(r.event) for r in self.take(spool)], [4])

    def test_droppedWhileDelivering(self):
        """
        Events dropped while they were being delivered are no longer
        pending; acknowledging them later changes nothing.
        """
        spool = self.recovered(limits=Limits(16, 1024**3, 3600.0))
        spool.append(numbered(0))
        [record] = self.take(spool)
        for n in range(1, 20):
            spool.append(numbered(n))
        self.assertFalse(spool.is_pending(record))
        self.assertEqual(self.ack(spool, [record]), 0)
        self.assertEqual(spool.stats.pending, 16)
        self.assertEqual(number(self.take(spool)[0].event), 4)

    def test_recoveredOverLimit(self):
        """
        A queue read back under lower limits than it was written with is cut
        down to them.
        """
        spool = self.recovered()
        for n in range(40):
            spool.append(numbered(n))
        again = self.recovered(limits=Limits(16, 1024**3, 3600.0))
        self.assertEqual(again.stats.dropped, 40)
        again.append(numbered(40))
        self.assertEqual([number(r.event) for r in self.take(again)], [40])
