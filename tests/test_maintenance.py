"""
Upload purging and the storage health check.
"""

from twisted.internet.defer import ensureDeferred, fail
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from txregistry.gc.purge import UploadPurger, find_sessions, purge_uploads
from txregistry.health import StorageHealth
from txregistry.registry.uploads import UploadStore
from txregistry.registry.blobs import BlobStore
from txregistry.storage import layout
from txregistry.storage.drivers.inmemory import InMemoryDriver
from txregistry.storage.interfaces import DriverUnavailableError, PathNotFoundError

HOUR = 3600.0


class PurgeTests(SynchronousTestCase):
    """
    L{purge_uploads} removes sessions older than the age, and only those.
    """

    def setUp(self):
        self.clock = Clock()
        self.driver = InMemoryDriver(self.clock)
        self.uploads = UploadStore(self.driver, BlobStore(self.driver), self.clock)

    def start(self, name: str, at: float) -> str:
        self.clock.advance(at - self.clock.seconds())
        return self.successResultOf(ensureDeferred(self.uploads.start(name)))

    def exists(self, path: str) -> bool:
        failures = []
        self.driver.stat(path).addErrback(lambda f: failures.append(f.trap(PathNotFoundError)))
        return not failures

    def test_old_sessions_removed(self):
        """
        Sessions started before now - age go, younger ones stay, in nested
        repositories too.
        """
        old = self.start("a", 0)
        nested = self.start("a/b/c", 10)
        young = self.start("a", 100 * HOUR)
        removed = self.successResultOf(
            ensureDeferred(purge_uploads(self.driver, 100 * HOUR + 5, age=24 * HOUR))
        )
        self.assertEqual(
            sorted(removed),
            sorted([layout.upload_dir("a", old), layout.upload_dir("a/b/c", nested)]),
        )
        self.assertFalse(self.exists(layout.upload_dir("a", old)))
        self.assertTrue(self.exists(layout.upload_dir("a", young)))

    def test_data_removed_first(self):
        """
        A purged session's data goes before the rest of it (data never
        outlives C{startedat}).
        """
        old = self.start("a", 0)
        self.successResultOf(self.driver.put_content(layout.upload_data("a", old), b"abc"))
        deleted = []
        original = self.driver.delete

        def delete(path):
            deleted.append(path)
            return original(path)

        self.patch(self.driver, "delete", delete)
        self.successResultOf(ensureDeferred(purge_uploads(self.driver, 2 * HOUR, age=HOUR)))
        session = layout.upload_dir("a", old)
        self.assertEqual(deleted, [session + "/data", session])
        self.assertFalse(self.exists(session))

    def test_dry_run(self):
        """
        A dry run reports what it would remove and removes nothing.
        """
        old = self.start("a", 0)
        removed = self.successResultOf(
            ensureDeferred(purge_uploads(self.driver, 48 * HOUR, age=HOUR, dry_run=True))
        )
        self.assertEqual(removed, [layout.upload_dir("a", old)])
        self.assertTrue(self.exists(layout.upload_dir("a", old)))

    def test_invalid_started_at_kept(self):
        """
        A session whose startedat is missing or unreadable is never purged
        (as Distribution treats it), and directories that are not upload ids
        are ignored.
        """
        upload_id = self.start("a", 0)
        self.successResultOf(
            self.driver.put_content(layout.upload_started_at("a", upload_id), b"yesterday")
        )
        other = self.start("a", 0)
        self.successResultOf(self.driver.put_content(layout.upload_data("a", other), b"x"))
        self.successResultOf(self.driver.delete(layout.upload_started_at("a", other)))
        self.successResultOf(self.driver.put_content(layout.upload_dir("a", "notauuid") + "/x", b""))
        removed = self.successResultOf(
            ensureDeferred(purge_uploads(self.driver, 1000 * HOUR, age=HOUR))
        )
        self.assertEqual(removed, [])
        sessions = self.successResultOf(ensureDeferred(find_sessions(self.driver)))
        self.assertEqual(len(sessions), 2)

    def test_recentlyWritten(self):
        """
        A session started long ago but written to recently is in use, not
        abandoned: its age counts from the last write.
        """
        upload_id = self.start("a", 0)
        self.clock.advance(10 * HOUR)
        appender = self.successResultOf(ensureDeferred(self.uploads.open("a", upload_id)))
        self.successResultOf(appender.write(b"chunk"))
        self.successResultOf(ensureDeferred(appender.close()))
        now = 10 * HOUR + 60
        removed = self.successResultOf(
            ensureDeferred(purge_uploads(self.driver, now, age=HOUR, uploads=self.uploads))
        )
        self.assertEqual(removed, [])
        removed = self.successResultOf(
            ensureDeferred(purge_uploads(self.driver, now + HOUR, age=HOUR, uploads=self.uploads))
        )
        self.assertEqual(removed, [layout.upload_dir("a", upload_id)])

    def test_heldByRequest(self):
        """
        A session a request holds (appending to it) is not purged, however
        old; once released it is.
        """
        upload_id = self.start("a", 0)
        appender = self.successResultOf(ensureDeferred(self.uploads.open("a", upload_id)))
        removed = self.successResultOf(
            ensureDeferred(purge_uploads(self.driver, 48 * HOUR, age=HOUR, uploads=self.uploads))
        )
        self.assertEqual(removed, [])
        self.successResultOf(ensureDeferred(appender.close()))
        removed = self.successResultOf(
            ensureDeferred(purge_uploads(self.driver, 48 * HOUR, age=HOUR, uploads=self.uploads))
        )
        self.assertEqual(removed, [layout.upload_dir("a", upload_id)])

    def test_firstRunWithinInterval(self):
        """
        The random delay before the first run is at most the interval when
        that is under an hour.
        """
        old = self.start("a", 0)
        self.clock.advance(HOUR)
        purger = UploadPurger(self.driver, self.clock, age=60, interval=10, dry_run=False,
                              uploads=self.uploads)
        purger.startService()
        self.clock.advance(10)
        self.assertFalse(self.exists(layout.upload_dir("a", old)))
        self.successResultOf(purger.stopService())

    def test_schedule(self):
        """
        The purger runs first after its start delay, then every interval.
        """
        old = self.start("a", 0)
        purger = UploadPurger(self.driver, self.clock, age=HOUR, interval=24 * HOUR,
                              dry_run=False, first_delay=30 * 60)
        purger.startService()
        self.clock.advance(2 * HOUR)
        self.assertFalse(self.exists(layout.upload_dir("a", old)))
        later = self.start("a", self.clock.seconds())
        self.clock.advance(23 * HOUR)
        self.assertTrue(self.exists(layout.upload_dir("a", later)))
        self.clock.advance(2 * HOUR)
        self.assertFalse(self.exists(layout.upload_dir("a", later)))
        self.successResultOf(purger.stopService())


class _FlakyDriver:
    """
    A driver whose C{stat} fails while C{broken}.
    """

    def __init__(self):
        self.broken = False
        self._driver = InMemoryDriver()

    def stat(self, path):
        if self.broken:
            return fail(DriverUnavailableError(path, "down"))
        return self._driver.stat(path)


class HealthTests(SynchronousTestCase):
    """
    L{StorageHealth} follows the driver, with a threshold.
    """

    def check(self, health):
        self.successResultOf(ensureDeferred(health.check()))

    def test_threshold(self):
        """
        The verdict flips after C{threshold} failures in a row and back after
        one success; an empty store (root not found) is healthy.
        """
        driver = _FlakyDriver()
        health = StorageHealth(driver, threshold=3)
        self.check(health)
        self.assertTrue(health.healthy)
        driver.broken = True
        self.check(health)
        self.check(health)
        self.assertTrue(health.healthy)
        self.check(health)
        self.assertFalse(health.healthy)
        driver.broken = False
        self.check(health)
        self.assertTrue(health.healthy)
