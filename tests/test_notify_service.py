"""
Tests for L{txregistry.notifications.service} and
L{txregistry.notifications.plugins}: endpoints built from the
configuration, ignore rules, the spool directory's lock, independent
endpoints, the state in the log.
"""

import json
import os
import socket
import sys

from twisted.internet.defer import Deferred, fail
from twisted.internet.task import Clock
from twisted.logger import capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

import txregistry.plugins

from tests.configdocs import document, parse
from tests.integration.processes import temporary_directory
from tests.notify_helpers import ScriptedSink, inline
from txregistry.config import ConfigError
from txregistry.notifications.events import (
    ActorRecord,
    Event,
    RequestRecord,
    SourceRecord,
    Target,
)
from txregistry.notifications.interfaces import DeliveryRefused, IEventSinkFactory
from txregistry.notifications.plugins import check_endpoints, sink_factories
from txregistry.notifications.service import (
    NotificationService,
    check_notifications,
    default_spool_directory,
    endpoint_directory,
    source_record,
)
from txregistry.notifications import spool as spool_module
from txregistry.notifications.spool import DEAD_LETTERS

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def event(action: str = "push", media_type: str = MANIFEST, n: int = 0) -> Event:
    """
    An event about a manifest (or a blob), numbered by its tag.
    """
    return Event(f"id-{n}", 1_764_242_076_000_000_000, action,
                 Target("team/app", media_type, 10, "sha256:" + "0" * 64, tag=f"t{n}"),
                 RequestRecord("r", "", "", "PUT", ""), ActorRecord(), SourceRecord("s", "i"))


class SinkFactories:
    """
    Sink factories for C{http} URLs handing out L{ScriptedSink}s: the one
    for an endpoint is C{sinks[name]}, made on demand.
    """

    schemes = ("http",)

    def __init__(self, **sinks):
        self.sinks = sinks

    def create(self, endpoint, reactor):
        """
        The scripted sink for C{endpoint}.
        """
        return self.sinks.setdefault(endpoint.name, ScriptedSink())


class ServiceTestCase(SynchronousTestCase):
    """
    Notification services on a temporary spool, a L{Clock}, scripted sinks.
    """

    def setUp(self):
        self.root = os.path.join(temporary_directory(self), "spool")
        self._hung = []
        self.clock = Clock()
        self.clock.advance(1_700_000_000)

    def service(self, endpoints, factories=None, start=True, **section):
        """
        The service for the endpoints given as configuration mappings,
        started unless told otherwise, stopped when the test ends.
        """
        config = parse(document(notifications={
            "spool": self.root, "fsync": False, "endpoints": endpoints, **section,
        })).notifications
        self.factories = factories or SinkFactories()
        service = NotificationService(
            [e for e in config.endpoints if not e.disabled], config.spool, config.fsync,
            self.clock, {"http": self.factories}, defer_to_thread=inline,
        )
        if start:
            service.startService()
            self.addCleanup(self.stop, service)
        return service

    def hung(self) -> Deferred:
        """
        A request that is not answered until the test ends (then it fails,
        so that its endpoint can stop).
        """
        request = Deferred()
        self._hung.append(request)
        return request

    def stop(self, service):
        """
        Stop C{service} if it runs, failing the requests left hanging.
        """
        for request in self._hung:
            if not request.called:
                request.errback(ConnectionError("gone"))
        if service.running:
            self.successResultOf(service.stopService())

    def delivered(self, name: str) -> list[list[str]]:
        """
        The tags of the events each request to endpoint C{name} carried.
        """
        sink = self.factories.sinks[name]
        return [[json.loads(e)["target"]["tag"] for e in batch] for batch in sink.sent]


def endpoint(name: str, **settings) -> dict:
    """
    An endpoint's configuration.
    """
    return {"name": name, "url": f"http://{name}.example/hook", **settings}


class IgnoreTests(ServiceTestCase):
    """
    Ignore rules drop events before they are spooled, by action or by media
    type (either list form), per endpoint.
    """

    def test_rules(self):
        """
        Each endpoint gets only the events it does not ignore.
        """
        service = self.service([
            endpoint("all"),
            endpoint("nopulls", ignore={"actions": ["pull"]}),
            endpoint("noblobs", ignoredmediatypes=["application/octet-stream"]),
            endpoint("nomanifests", ignore={"mediatypes": [MANIFEST]}),
        ])
        self.successResultOf(service.notifier.write([
            event("push", n=0), event("pull", n=1),
            event("push", "application/octet-stream", n=2),
        ]))
        self.assertEqual(self.delivered("all"), [["t0"], ["t1"], ["t2"]])
        self.assertEqual(self.delivered("nopulls"), [["t0"], ["t2"]])
        self.assertEqual(self.delivered("noblobs"), [["t0"], ["t1"]])
        self.assertEqual(self.delivered("nomanifests"), [["t2"]])

    def test_ignoredByAll(self):
        """
        An event no endpoint wants is not written anywhere.
        """
        service = self.service([endpoint("a", ignore={"actions": ["pull"]})])
        self.successResultOf(service.notifier.write([event("pull")]))
        self.assertEqual(service.endpoints[0].stats.spooled, 0)


class SyncTests(ServiceTestCase):
    """
    With C{fsync}, events of changes reach the device before the answer;
    pull events do not wait for it.  Every event reaches it within a
    second.
    """

    def test_pullNotSynced(self):
        """
        A push is flushed to the device, a pull is not.
        """
        syncs = []
        self.patch(spool_module.os, "fdatasync", syncs.append)
        service = self.service([endpoint("a")], fsync=True)
        self.successResultOf(service.notifier.write([event("pull")]))
        self.assertEqual(syncs, [])
        self.successResultOf(service.notifier.write([event("push")]))
        self.assertEqual(len(syncs), 1)

    def test_flushedEverySecond(self):
        """
        Without C{fsync}, what was written is flushed on the next second.
        """
        syncs = []
        self.patch(spool_module.os, "fdatasync", syncs.append)
        service = self.service([endpoint("a")], SinkFactories(a=ScriptedSink(self.hung())))
        self.successResultOf(service.notifier.write([event("push")]))
        self.assertEqual(syncs, [])
        self.clock.advance(1)
        self.assertEqual(len(syncs), 1)
        self.clock.advance(1)
        self.assertEqual(len(syncs), 1)


class EnvelopeTests(ServiceTestCase):
    """
    Each endpoint gets its envelope's shape.
    """

    def test_shapes(self):
        """
        A v2 endpoint gets Distribution 3's shape, a v1 endpoint 2's.
        """
        service = self.service([endpoint("old"), endpoint("new", envelope="v2")])
        self.successResultOf(service.notifier.write(
            [Event("i", 0, "delete", Target("team/app", tag="t"),
                   RequestRecord("r", "", "", "DELETE", ""), ActorRecord(), SourceRecord("", ""))]
        ))
        [[old]] = self.factories.sinks["old"].sent
        [[new]] = self.factories.sinks["new"].sent
        self.assertEqual(json.loads(old)["target"], {"repository": "team/app", "tag": "t"})
        self.assertEqual(json.loads(new)["target"],
                         {"mediaType": "", "digest": "", "size": 0, "repository": "team/app",
                          "tag": "t"})


class IndependenceTests(ServiceTestCase):
    """
    A dead or refusing endpoint does not hold up another.
    """

    def test_deadEndpoint(self):
        """
        While one endpoint never answers and another fails, a third gets
        every event, in order; writes are not held up.
        """
        factories = SinkFactories(hung=ScriptedSink(self.hung()))
        service = self.service([endpoint("hung"), endpoint("down"), endpoint("fine")],
                               factories)
        factories.sinks["down"] = ScriptedSink()
        down = service.endpoints[1]
        down.sink.outcomes = [ConnectionError("refused")] * 1000
        for n in range(5):
            self.successResultOf(service.notifier.write([event(n=n)]))
        self.assertEqual(self.delivered("fine"), [[f"t{n}"] for n in range(5)])
        self.assertEqual(self.delivered("hung"), [["t0"]])
        self.assertEqual(service.endpoints[0].stats.pending, 5)
        self.assertGreater(down.stats.failed, 0)
        self.assertEqual(down.stats.pending, 5)


class SpoolFailureTests(ServiceTestCase):
    """
    An event that cannot be spooled is logged and counted; the API request
    is not failed.
    """

    def test_lost(self):
        """
        The write succeeds; the loss is in the log and the counters.
        """
        service = self.service([endpoint("a")])
        spool = service.endpoints[0].spool
        self.patch(spool, "append", lambda data, sync: fail(OSError(28, "No space left")))
        self.successResultOf(service.notifier.write([event()]))
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)


class LifecycleTests(ServiceTestCase):
    """
    Start and stop: the lock, queues read back, the report.
    """

    def test_lock(self):
        """
        A second service on the same spool directory is refused while the
        first runs, naming C{notifications.spool}; then it may start.
        """
        first = self.service([endpoint("a")])
        second = self.service([endpoint("a")], start=False)
        error = self.assertRaises(ConfigError, second.startService)
        self.assertEqual(error.key, "notifications.spool")
        self.assertIn(f"pid {os.getpid()}", error.message)
        self.successResultOf(first.stopService())
        second.startService()
        self.addCleanup(self.stop, second)

    def test_checkedBeforeListening(self):
        """
        L{check_notifications}, which runs before the registry listens,
        refuses a spool locked by a running service.
        """
        service = self.service([endpoint("a")])
        config = parse(document(notifications={"spool": self.root,
                                               "endpoints": [endpoint("a")]}))
        error = self.assertRaises(ConfigError, check_notifications, config, {})
        self.assertEqual(error.key, "notifications.spool")
        self.successResultOf(service.stopService())
        check_notifications(config, {})

    def test_unreadableQueue(self):
        """
        An endpoint whose queue cannot be read back takes no events (they
        are counted as lost, and the write does not wait); the others work.
        """
        os.makedirs(self.root)
        with open(os.path.join(self.root, "broken"), "w") as f:
            f.write("not a directory")
        service = self.service([endpoint("broken"), endpoint("fine")])
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        self.successResultOf(service.notifier.write([event()]))
        self.assertEqual(len(self.flushLoggedErrors()), 1)
        self.assertEqual(service.endpoints[0].stats.lost, 1)
        self.assertEqual(self.delivered("fine"), [["t0"]])

    def test_unusableDirectory(self):
        """
        A spool directory that cannot be made is refused at start.
        """
        with open(self.root, "w"):
            pass
        service = self.service([endpoint("a")], start=False)
        error = self.assertRaises(ConfigError, service.startService)
        self.assertEqual(error.key, "notifications.spool")

    def test_resume(self):
        """
        Events not delivered before a stop are delivered after a start, in
        order, before new ones.
        """
        hung = Deferred()
        first = self.service([endpoint("a")], SinkFactories(a=ScriptedSink(hung)))
        for n in range(3):
            first.notifier.write([event(n=n)])
        stopping = first.stopService()
        hung.errback(ConnectionError("gone"))
        self.successResultOf(stopping)
        second = self.service([endpoint("a")])
        second.notifier.write([event(n=3)])
        self.assertEqual(self.delivered("a"), [["t0"], ["t1"], ["t2"], ["t3"]])

    def test_report(self):
        """
        Stopping logs each endpoint's counters.
        """
        service = self.service([endpoint("a")])
        service.notifier.write([event()])
        with capturedLogs() as events:
            self.successResultOf(service.stopService())
        lines = [formatEvent(e) for e in events]
        self.assertIn("notifications: endpoint a: 0 pending, 1 delivered, 0 failed attempts, "
                      "0 retries, 0 dropped, 0 dead-lettered, 0 lost, 1 spooled", lines)
        self.assertTrue(self.factories.sinks["a"].closed)

    def test_periodicReport(self):
        """
        Every minute, endpoints with something pending or new are reported.
        """
        service = self.service([endpoint("a"), endpoint("b")],
                               SinkFactories(b=ScriptedSink(self.hung())))
        service.notifier.write([event()])
        with capturedLogs() as events:
            self.clock.advance(60)
            self.clock.advance(60)
        lines = [formatEvent(e) for e in events if "pending" in formatEvent(e)]
        self.assertEqual([line.split(":")[1] for line in lines],
                         [" endpoint a", " endpoint b", " endpoint b"])

    def test_ageChecked(self):
        """
        The queues' C{maxage} is enforced on the clock, without appends.
        """
        service = self.service([endpoint("a", maxage="10m")],
                               SinkFactories(a=ScriptedSink(self.hung())))
        for n in range(3):
            service.notifier.write([event(n=n)])
        self.clock.advance(11 * 60)
        self.assertEqual(service.endpoints[0].stats.dropped, 3)

    def test_deadLetterPath(self):
        """
        Refused events end up in the endpoint's directory.
        """
        service = self.service([endpoint("a")], SinkFactories(a=ScriptedSink(
            DeliveryRefused("HTTP 400"))))
        service.notifier.write([event()])
        self.assertTrue(os.path.exists(os.path.join(self.root, "a", DEAD_LETTERS)))


LIST_SINK = """
from twisted.internet.defer import succeed
from twisted.plugin import IPlugin
from zope.interface import implementer

from txregistry.notifications.interfaces import IEventSink, IEventSinkFactory

RECEIVED = []


@implementer(IEventSink)
class ListSink:
    def send(self, events):
        RECEIVED.extend(events)
        return succeed(None)

    def close(self):
        return succeed(None)


@implementer(IPlugin, IEventSinkFactory)
class ListSinkFactory:
    schemes = ("list",)

    def create(self, endpoint, reactor):
        return ListSink()


factory = ListSinkFactory()
"""


class ThirdPartySinkTests(ServiceTestCase):
    """
    Another distribution can add a sink for its own URL scheme.
    """

    def test_plugin(self):
        """
        A sink in another C{txregistry/plugins} directory is found by its
        scheme, accepted in endpoint URLs, and gets the events.
        """
        directory = temporary_directory(self)
        with open(os.path.join(directory, "txregistry_test_list_sink.py"), "w") as f:
            f.write(LIST_SINK)
        self.patch(txregistry.plugins, "__path__", [*txregistry.plugins.__path__, directory])
        self.addCleanup(sys.modules.pop, "txregistry.plugins.txregistry_test_list_sink", None)
        factories = sink_factories()
        self.assertEqual(sorted(factories), ["http", "https", "list"])
        self.assertTrue(verifyObject(IEventSinkFactory, factories["list"]))
        config = parse(document(notifications={
            "spool": self.root, "fsync": False,
            "endpoints": [{"name": "mine", "url": "list://anywhere/x"}],
        }))
        check_endpoints(config.notifications, factories)
        service = NotificationService(config.notifications.endpoints, self.root, False,
                                      self.clock, factories, defer_to_thread=inline)
        service.startService()
        self.addCleanup(self.stop, service)
        self.successResultOf(service.notifier.write([event()]))
        module = sys.modules["txregistry.plugins.txregistry_test_list_sink"]
        self.assertEqual([json.loads(e)["id"] for e in module.RECEIVED], ["id-0"])


class ConfigurationTests(SynchronousTestCase):
    """
    The service as the registry builds it from its configuration.
    """

    def test_noEndpoints(self):
        """
        No enabled endpoint, no service.
        """
        config = parse(document(notifications={"endpoints": [{"disabled": True}]}))
        self.assertIsNone(NotificationService.from_config(config, Clock()))

    def test_defaultSpool(self):
        """
        The spool is under C{$XDG_STATE_HOME}, else C{~/.local/state}.
        """
        self.assertEqual(default_spool_directory({"XDG_STATE_HOME": "/s"}),
                         "/s/txregistry/notifications")
        self.assertEqual(default_spool_directory({}),
                         os.path.expanduser("~/.local/state/txregistry/notifications"))
        config = parse(document(notifications={"endpoints": [endpoint("a")]}))
        service = NotificationService.from_config(config, Clock(), {"XDG_STATE_HOME": "/s"})
        self.assertEqual(service.endpoints[0].spool.directory, "/s/txregistry/notifications/a")

    def test_endpointDirectory(self):
        """
        Plain names are used as they are; others are made safe and distinct.
        """
        self.assertEqual(endpoint_directory("/r", "hook-1.a_b"), "/r/hook-1.a_b")
        odd = [endpoint_directory("/r", name) for name in ("a/b", "a_b ", "..", "é")]
        self.assertEqual(len(set(odd)), 4)
        for path in odd:
            self.assertEqual(os.path.dirname(path), "/r")
            self.assertNotIn(os.path.basename(path), ("..", "."))

    def test_source(self):
        """
        The source is the host name with the port of C{http.addr}.
        """
        host = socket.gethostname()
        self.assertEqual(source_record(":5000", "x"), SourceRecord(f"{host}:5000", "x"))
        self.assertEqual(source_record("/run/registry.sock", "x").addr, host)
        self.assertRegex(source_record(":5000").instance_id, r"^[0-9a-f-]{36}$")

    def test_schemes(self):
        """
        Endpoint URLs must have a sink: http and https are built in.
        """
        self.assertEqual(sorted(sink_factories())[:2], ["http", "https"])
        config = parse(document(notifications={"endpoints": [
            endpoint("a"), {"name": "b", "url": "kafka://broker/topic"},
        ]}))
        error = self.assertRaises(ConfigError, check_endpoints, config.notifications)
        self.assertEqual(error.key, "notifications.endpoints[1].url")
        self.assertIn("no event sink for kafka URLs; available: http, https", error.message)
        config = parse(document(notifications={"endpoints": [
            {"name": "b", "url": "kafka://broker/topic", "disabled": True},
        ]}))
        check_endpoints(config.notifications)
