"""
The C{storage.maintenance.gc} extension: its defaults, its checks, its
environment overrides, and the services it brings.
"""

from twisted.trial.unittest import SynchronousTestCase

from tests.configdocs import SAMPLE, document, parse
from txregistry.config import ConfigError, load_config
from txregistry.gc.online import GarbageCollector
from txregistry.service import RegistryService


def storage(**maintenance):
    """
    In-memory storage with a C{maintenance} section.
    """
    return {"inmemory": None, "maintenance": maintenance}


class GCConfigTests(SynchronousTestCase):
    """
    C{storage.maintenance.gc} is read like Distribution's other maintenance
    settings.
    """

    def test_defaults(self):
        """
        Off by default; once enabled, daily with an hour of grace, tagged or
        not, for real.
        """
        gc = parse(document()).storage.maintenance.gc
        self.assertFalse(gc.enabled)
        gc = parse(document(storage=storage(gc={"enabled": True}))).storage.maintenance.gc
        self.assertEqual(
            (gc.enabled, gc.interval, gc.delay, gc.deleteuntagged, gc.dryrun),
            (True, 24 * 3600, 3600, False, False),
        )

    def test_values(self):
        """
        Durations are Go durations.
        """
        gc = parse(document(storage=storage(gc={
            "enabled": True, "interval": "1h30m", "delay": "90s", "deleteuntagged": True,
            "dryrun": True,
        }))).storage.maintenance.gc
        self.assertEqual((gc.interval, gc.delay, gc.deleteuntagged, gc.dryrun),
                         (5400, 90, True, True))

    def test_invalid(self):
        """
        A zero interval, a negative delay or a wrong type is refused with
        the key at fault.
        """
        for gc, key in (
            ({"interval": "0s"}, "storage.maintenance.gc.interval"),
            ({"delay": "-1m"}, "storage.maintenance.gc.delay"),
            ({"delay": "a while"}, "storage.maintenance.gc.delay"),
            ({"enabled": "sometimes"}, "storage.maintenance.gc.enabled"),
            ("yes", "storage.maintenance.gc"),
        ):
            error = self.assertRaises(ConfigError, parse, document(storage=storage(gc=gc)))
            self.assertEqual(error.key, key)

    def test_environment(self):
        """
        C{REGISTRY_STORAGE_MAINTENANCE_GC_*} variables override single keys,
        also below a maintenance section from the file.
        """
        config = parse(
            document(storage=storage(uploadpurging={"enabled": False})),
            {"REGISTRY_STORAGE_MAINTENANCE_GC_ENABLED": "true",
             "REGISTRY_STORAGE_MAINTENANCE_GC_DELAY": "5m"},
        )
        self.assertTrue(config.storage.maintenance.gc.enabled)
        self.assertEqual(config.storage.maintenance.gc.delay, 300)

    def test_sample(self):
        """
        The sample configuration describes the section, disabled.
        """
        gc = load_config(SAMPLE, {}).storage.maintenance.gc
        self.assertFalse(gc.enabled)
        self.assertEqual((gc.interval, gc.delay), (24 * 3600, 3600))

    def test_service(self):
        """
        The registry service runs a collector when asked to, and none in
        read-only mode.
        """
        from twisted.internet import reactor

        def collectors(maintenance):
            # Built, never started: the reactor only supplies the thread pool.
            config = parse(document(storage=storage(**maintenance)))
            service = RegistryService(config, reactor)
            return [child for child in service if isinstance(child, GarbageCollector)]

        self.assertEqual(len(collectors({"gc": {"enabled": True}})), 1)
        self.assertEqual(collectors({}), [])
        self.assertEqual(collectors({"gc": {"enabled": True}, "readonly": {"enabled": True}}),
                         [])
