"""
Tests for the C{notifications} section: Distribution's keys, txregistry's
extension keys, and what is refused with which key.
"""

from twisted.trial.unittest import SynchronousTestCase

from tests.configdocs import document, parse
from txregistry.config import ConfigError

HOOK = {"name": "hook", "url": "https://hooks.example/registry"}


def notifications(*endpoints, **section):
    """
    The notifications section of a document with C{endpoints}.
    """
    return parse(document(notifications={"endpoints": list(endpoints), **section})).notifications


class AcceptedTests(SynchronousTestCase):
    """
    Enabled endpoints are accepted, with Distribution's keys and defaults.
    """

    def test_distributionKeys(self):
        """
        Every key Distribution documents is read.
        """
        section = notifications({
            **HOOK, "headers": {"Authorization": ["Bearer s3cret"]}, "timeout": "500ms",
            "threshold": 5, "backoff": "2s", "ignoredmediatypes": ["a/b"],
            "ignore": {"mediatypes": ["c/d"], "actions": ["pull", "mount"]},
        }, events={"includereferences": True})
        [hook] = section.endpoints
        self.assertTrue(section.events_includereferences)
        self.assertEqual(
            (hook.name, hook.url, hook.headers, hook.timeout, hook.threshold, hook.backoff,
             hook.ignoredmediatypes, hook.ignore.mediatypes, hook.ignore.actions),
            ("hook", HOOK["url"], {"Authorization": ["Bearer s3cret"]}, 0.5, 5, 2.0,
             ["a/b"], ["c/d"], ["pull", "mount"]),
        )

    def test_extensionDefaults(self):
        """
        txregistry's own keys default to: envelope v1, one event per
        request, pauses up to a minute, a million events, 1 GiB, a week; the
        spool directory by default, no waiting for the device.
        """
        section = notifications(HOOK)
        [hook] = section.endpoints
        self.assertEqual(
            (hook.envelope, hook.maxbatch, hook.maxbackoff, hook.maxevents, hook.maxbytes,
             hook.maxage),
            ("v1", 1, 60.0, 1_000_000, 1024**3, 7 * 24 * 3600.0),
        )
        self.assertEqual((section.spool, section.fsync), (None, False))

    def test_extensionKeys(self):
        """
        The extension keys are read.
        """
        section = notifications(
            {**HOOK, "envelope": "V2", "maxbatch": 50, "maxbackoff": "5m",
             "maxevents": 1000, "maxbytes": 65536, "maxage": "48h"},
            spool="/var/spool/registry", fsync=True,
        )
        [hook] = section.endpoints
        self.assertEqual(
            (hook.envelope, hook.maxbatch, hook.maxbackoff, hook.maxevents, hook.maxbytes,
             hook.maxage),
            ("v2", 50, 300.0, 1000, 65536, 48 * 3600.0),
        )
        self.assertEqual((section.spool, section.fsync), ("/var/spool/registry", True))

    def test_environment(self):
        """
        The extension keys can be overridden like any other.
        """
        config = parse(document(notifications={"endpoints": [HOOK]}), {
            "REGISTRY_NOTIFICATIONS_SPOOL": "/elsewhere",
            "REGISTRY_NOTIFICATIONS_ENDPOINTS_0_MAXBATCH": "10",
        })
        self.assertEqual(config.notifications.spool, "/elsewhere")
        self.assertEqual(config.notifications.endpoints[0].maxbatch, 10)

    def test_otherSchemes(self):
        """
        URLs of other schemes are left for the sink plugins to accept.
        """
        [hook] = notifications({"name": "q", "url": "amqp://broker.example/events"}).endpoints
        self.assertEqual(hook.url, "amqp://broker.example/events")

    def test_sameNameDisabled(self):
        """
        A disabled endpoint may share a name.
        """
        section = notifications(HOOK, {**HOOK, "disabled": True})
        self.assertEqual(len(section.endpoints), 2)


class RefusedTests(SynchronousTestCase):
    """
    Invalid values are refused with the key at fault.
    """

    def assertRefused(self, key: str, *endpoints, **section):
        """
        Parsing the section fails naming C{key}.
        """
        error = self.assertRaises(ConfigError, notifications, *endpoints, **section)
        self.assertEqual(error.key, key, str(error))

    def test_envelope(self):
        """
        The envelope is v1 or v2.
        """
        self.assertRefused("notifications.endpoints[0].envelope", {**HOOK, "envelope": "v3"})

    def test_limits(self):
        """
        Batches, counts and sizes are positive (and sizes at least 4 KiB),
        durations positive.
        """
        for key, value in (("maxbatch", 0), ("maxevents", 0), ("maxbytes", 1000),
                           ("maxage", "0s"), ("maxbackoff", "-1s"), ("maxage", "soon")):
            self.assertRefused(f"notifications.endpoints[0].{key}", {**HOOK, key: value})

    def test_duplicateNames(self):
        """
        Two enabled endpoints may not share a name: it names the queue.
        """
        self.assertRefused("notifications.endpoints[2].name", HOOK, {**HOOK, "name": "b"},
                           {**HOOK, "url": "https://other.example/"})

    def test_fsync(self):
        """
        C{fsync} is a boolean.
        """
        self.assertRefused("notifications.fsync", HOOK, fsync="sometimes")

    def test_url(self):
        """
        An endpoint URL must be absolute.
        """
        for url in ("hooks.example/x", "https:///x", "/relative"):
            self.assertRefused("notifications.endpoints[0].url", {**HOOK, "url": url})
