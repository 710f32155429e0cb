"""
Online garbage collection: a collection interleaved with API requests at
chosen points (a driver that holds some calls back), the grace period, the
claims, and the service that schedules collections.
"""

import gc
import json

from twisted.internet.defer import Deferred, ensureDeferred, maybeDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.gc_trees import OCI_CONFIG, OCI_LAYER, OCI_MANIFEST, Tree, driver_writer
from tests.memory_client import MemoryClient
from txregistry.config import parse_config
from txregistry.gc.claims import NO_CLAIMS, Claims
from txregistry.gc.collect import Options, collect
from txregistry.gc import online
from txregistry.gc.online import GarbageCollector, maintenance_claims, maintenance_services
from txregistry.gc.work import HeapFreezer, Slicer
from txregistry.registry.reference import Digest
from txregistry.registry.registry import Registry
from txregistry.storage import layout
from txregistry.storage.drivers.inmemory import InMemoryDriver
from txregistry.storage.interfaces import PathNotFoundError
from txregistry.testing import MemoryRegistry

DELAY = 60.0
START = 100000.0


class Gate:
    """
    Holds back the calls of one driver method on paths under a prefix
    until opened.

    @ivar reached: whether a call was held.
    """

    def __init__(self, method: str, prefix: str):
        self._method = method
        self._prefix = prefix
        self._held = []
        self.opened = False
        self.reached = False

    def matches(self, method: str, args) -> bool:
        return (not self.opened and method == self._method
                and str(args[0]).startswith(self._prefix))

    def hold(self, call) -> Deferred:
        self.reached = True
        waiting = Deferred()
        self._held.append((call, waiting))
        return waiting

    def open(self) -> None:
        """
        Let the held calls (and later ones) through.
        """
        self.opened = True
        held, self._held = self._held, []
        for call, waiting in held:
            maybeDeferred(call).chainDeferred(waiting)


class GatedDriver:
    """
    A driver passing calls to another one, except those a L{Gate} holds.
    """

    def __init__(self, driver):
        self._driver = driver
        self._gates = []

    def gate(self, method: str, prefix: str) -> Gate:
        gate = Gate(method, prefix)
        self._gates.append(gate)
        return gate

    def __getattr__(self, name):
        real = getattr(self._driver, name)

        def call(*args):
            for gate in self._gates:
                if gate.matches(name, args):
                    return gate.hold(lambda: real(*args))
            return real(*args)

        return call


def image_manifest(config: Digest, layers) -> bytes:
    """
    An OCI image manifest of blobs already stored.
    """
    return json.dumps({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": str(config), "size": 1},
        "layers": [{"mediaType": OCI_LAYER, "digest": str(d), "size": 1} for d in layers],
    }).encode()


class InterleavingCase(SynchronousTestCase):
    """
    A collection while clients push: a registry over an in-memory store,
    and a collector reaching the same store through a L{GatedDriver};
    storage times come from a L{Clock}.

    @cvar protected: whether the registry records claims.
    """

    protected = True

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(START)
        self.store = InMemoryDriver(self.clock)
        self.claims = Claims(self.clock) if self.protected else NO_CLAIMS
        self.memory = MemoryRegistry(driver=self.store, claims=self.claims, clock=self.clock)
        self.client = MemoryClient(self, self.memory)
        self.tree = Tree(driver_writer(self.store, self))
        self.collector = GatedDriver(self.store)

    def start(self, **options) -> Deferred:
        """
        Start a collection with a grace period of L{DELAY}.
        """
        options = Options(cutoff=self.clock.seconds() - DELAY, **options)
        return ensureDeferred(collect(self.collector, options, self.claims))

    def age(self) -> None:
        """
        Let more than the grace period pass.
        """
        self.clock.advance(2 * DELAY)

    def send(self, method: str, path: str, body: bytes = b"", headers=None) -> Deferred:
        """
        Start a request without waiting for its answer.
        """
        d = self.memory.client.request(
            method, "http://registry.test" + path, data=body or None, headers=headers or {})
        self.memory.flush()
        return d

    def blob_exists(self, digest: Digest) -> bool:
        return self.client.request("HEAD", f"/v2/app/blobs/{digest}").code == 200

    def old_blobs(self):
        """
        A layer and a config in repository C{app}, referenced by nothing,
        older than the grace period.
        """
        layer = self.tree.layer("app", b"old layer")
        config = self.tree.layer("app", b"{}")
        self.age()
        return layer, config

    def push_during_run(self) -> tuple[Deferred, Digest]:
        """
        Start a collection, and once it has read the repository push a
        manifest using old blobs nothing referred to.

        @return: the collection and the layer.
        """
        layer, config = self.old_blobs()
        gate = self.collector.gate("walk", layout.BLOBS)
        run = self.start()
        self.assertTrue(gate.reached)
        body = image_manifest(config, [layer])
        reply = self.client.request("PUT", "/v2/app/manifests/v1", body,
                                    {"Content-Type": [OCI_MANIFEST]})
        self.assertEqual(reply.code, 201)
        gate.open()
        self.successResultOf(run)
        return body, layer

    def tag_during_run(self):
        """
        With C{delete_untagged}: an old untagged index (of an untagged
        child) is tagged by a push while a collection reads manifests.

        @return: the collection's result and the child's digest.
        """
        child = self.tree.image("app", [b"child layer"])
        index = self.tree.index("app", [child])
        self.age()
        raw = self.successResultOf(self.store.get_content(layout.blob_data(index)))
        gate = self.collector.gate("get_content", layout.blob_data(index))
        run = self.start(delete_untagged=True)
        self.assertTrue(gate.reached)
        reply = self.client.request("PUT", "/v2/app/manifests/multi", raw,
                                    {"Content-Type": ["application/vnd.oci.image.index.v1+json"]})
        self.assertEqual(reply.code, 201)
        gate.open()
        return self.successResultOf(run), child


class InterleavingTests(InterleavingCase):
    """
    With claims, a collection never removes what a client relies on.
    """

    def test_youngKept(self):
        """
        A blob younger than the grace period stays, and goes once older.
        """
        orphan = self.tree.blob(b"orphan")
        self.clock.advance(DELAY / 2)
        result = self.successResultOf(self.start())
        self.assertEqual((result.blobs_young, result.blobs_deleted), (1, 0))
        self.clock.advance(DELAY)
        result = self.successResultOf(self.start())
        self.assertEqual(result.blobs_deleted, 1)
        self.failureResultOf(self.store.stat(layout.blob_data(orphan)), PathNotFoundError)

    def test_headClaims(self):
        """
        A blob a client found with C{HEAD} stays for the grace period after
        that, though old and referenced by nothing (the client may push a
        manifest using it without uploading it).
        """
        layer, _ = self.old_blobs()
        self.assertTrue(self.blob_exists(layer))
        result = self.successResultOf(self.start())
        self.assertEqual(result.blobs_claimed, 1)
        self.assertTrue(self.blob_exists(layer))
        self.age()
        self.successResultOf(self.start())
        self.assertFalse(self.blob_exists(layer))

    def test_pushDuringRun(self):
        """
        A manifest pushed after the collection read the repository, using
        old blobs nothing else refers to, keeps them: the push claimed them.
        """
        body, layer = self.push_during_run()
        self.assertTrue(self.blob_exists(layer) and self.blob_exists(Digest.of(b"{}")))
        self.assertEqual(self.client.request("GET", "/v2/app/manifests/v1").body, body)

    def test_pushWaitsForDeletion(self):
        """
        A push whose blob is being deleted waits for the deletion, then is
        refused with C{MANIFEST_BLOB_UNKNOWN}: never a manifest pointing at
        a deleted blob.
        """
        layer, config = self.old_blobs()
        gate = self.collector.gate("delete", layout.blob_dir(layer))
        run = self.start()
        self.assertTrue(gate.reached)
        pushing = self.send("PUT", "/v2/app/manifests/v1", image_manifest(config, [layer]),
                            {"Content-Type": [OCI_MANIFEST]})
        self.assertNoResult(pushing)
        gate.open()
        self.successResultOf(run)
        self.memory.flush()
        self.assertEqual(self.successResultOf(pushing).code, 400)
        reply = self.client.request("GET", "/v2/app/manifests/v1")
        self.assertEqual(reply.error_codes(), ["MANIFEST_UNKNOWN"])

    def test_uploadDuringDeletion(self):
        """
        An upload completing while its blob is being deleted waits, then
        stores the blob anew.
        """
        layer, _ = self.old_blobs()
        gate = self.collector.gate("delete", layout.blob_dir(layer))
        run = self.start()
        uploading = self.send("POST", f"/v2/app/blobs/uploads/?digest={layer}", b"old layer")
        self.assertNoResult(uploading)
        gate.open()
        self.successResultOf(run)
        self.memory.flush()
        self.assertEqual(self.successResultOf(uploading).code, 201)
        self.assertEqual(self.client.request("GET", f"/v2/app/blobs/{layer}").body, b"old layer")

    def test_headDuringDeletion(self):
        """
        A C{HEAD} of a blob being deleted waits, and finds it gone.
        """
        layer, _ = self.old_blobs()
        gate = self.collector.gate("delete", layout.blob_dir(layer))
        run = self.start()
        heading = self.send("HEAD", f"/v2/app/blobs/{layer}")
        self.assertNoResult(heading)
        gate.open()
        self.successResultOf(run)
        self.memory.flush()
        self.assertEqual(self.successResultOf(heading).code, 404)

    def test_taggedDuringRun(self):
        """
        With C{delete_untagged}: an untagged index (and its untagged child)
        tagged by a push while the collection reads manifests stays whole.
        """
        result, child = self.tag_during_run()
        self.assertEqual((result.manifests_claimed, result.manifests_deleted), (1, 0))
        self.assertEqual(self.client.request("GET", f"/v2/app/manifests/{child}").code, 200)
        self.assertTrue(self.blob_exists(Digest.of(b"child layer")))
        self.age()
        self.assertEqual(self.successResultOf(self.start(delete_untagged=True)).blobs_deleted, 0)

    def test_untaggedCollected(self):
        """
        With C{delete_untagged} and no client around, untagged manifests
        older than the grace period go; the claims made meanwhile do not
        keep anything for ever.
        """
        self.tree.image("app", [b"tagged"], tag="v1")
        untagged = self.tree.image("app", [b"untagged"])
        self.assertEqual(self.client.request("GET", f"/v2/app/manifests/{untagged}").code, 200)
        self.age()
        result = self.successResultOf(self.start(delete_untagged=True))
        self.assertEqual(result.manifests_deleted, 1)
        self.assertEqual(self.client.request("GET", f"/v2/app/manifests/{untagged}").code, 404)


class UnprotectedInterleavingTests(InterleavingCase):
    """
    Without claims (as Distribution's collector runs), the races the claims
    close are real: the same interleavings lose content.
    """

    protected = False

    def test_pushDuringRun(self):
        """
        A manifest pushed after the collection read the repository loses
        its old blobs: the image no longer pulls.
        """
        _, layer = self.push_during_run()
        self.assertFalse(self.blob_exists(layer))

    def test_headClaims(self):
        """
        A blob a client found with C{HEAD} goes at once.
        """
        layer, _ = self.old_blobs()
        self.assertTrue(self.blob_exists(layer))
        self.successResultOf(self.start())
        self.assertFalse(self.blob_exists(layer))

    def test_taggedDuringRun(self):
        """
        An untagged index tagged while the collection reads manifests loses
        its revision: the tag points at nothing.
        """
        self.tag_during_run()
        self.assertEqual(self.client.request("GET", "/v2/app/manifests/multi").code, 404)


class CollectorServiceTests(SynchronousTestCase):
    """
    L{GarbageCollector} runs collections on its clock, one at a time.
    """

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(START)
        self.store = InMemoryDriver(self.clock)
        self.collector = GatedDriver(self.store)
        self.claims = Claims(self.clock)
        self.tree = Tree(driver_writer(self.store, self))

    def service(self, **kwargs) -> GarbageCollector:
        service = GarbageCollector(self.collector, self.clock, self.claims,
                                   interval=3600, delay=DELAY, **kwargs)
        service.startService()
        return service

    def pump(self, until: Deferred | None = None) -> None:
        """
        Run the reactor turns a collection yields to (slices of work).
        """
        for _ in range(1000):
            if until is not None and until.called:
                return
            self.clock.advance(0)

    def test_schedule(self):
        """
        The first run is one interval after start; runs do not overlap: an
        interval passing while one runs does not start another.
        """
        orphan = self.tree.blob(b"orphan")
        service = self.service()
        self.clock.advance(1800)
        self.assertEqual(service.results, [])
        gate = self.collector.gate("walk", layout.BLOBS)
        self.clock.advance(1800)
        self.pump()
        self.assertTrue(gate.reached)
        self.clock.advance(3600)
        self.pump()
        gate.open()
        self.pump()
        self.assertEqual(len(service.results), 1)
        self.assertEqual(service.results[0].blobs_deleted, 1)
        self.failureResultOf(self.store.stat(layout.blob_data(orphan)), PathNotFoundError)
        self.clock.advance(3600)
        self.pump()
        self.assertEqual(len(service.results), 2)
        self.successResultOf(service.stopService())

    def test_stopEndsRunEarly(self):
        """
        Stopping the service while a collection runs ends the collection at
        its next step, before it deletes anything more; the stop waits for
        that.
        """
        self.tree.blob(b"orphan")
        service = self.service()
        gate = self.collector.gate("walk", layout.BLOBS)
        self.clock.advance(3600)
        self.pump()
        self.assertTrue(gate.reached)
        stopped = service.stopService()
        self.assertNoResult(stopped)
        gate.open()
        self.pump(stopped)
        self.successResultOf(stopped)
        self.assertEqual(service.results, [])
        self.successResultOf(self.store.stat(layout.blob_data(Digest.of(b"orphan"))))

    def test_forgetsOldClaims(self):
        """
        After a run, claims older than the grace period are dropped.
        """
        digest = Digest.of(b"claimed")
        self.claims.claim(digest)
        service = self.service()
        self.clock.advance(3600)
        self.pump()
        self.assertFalse(self.claims.protected(digest, cutoff=0))
        self.successResultOf(service.stopService())

    def test_dryRun(self):
        """
        A dry run reports and deletes nothing.
        """
        orphan = self.tree.blob(b"orphan")
        service = self.service(dry_run=True)
        self.clock.advance(3600)
        self.pump()
        self.assertEqual(service.results[0].blobs_deleted, 1)
        self.successResultOf(self.store.stat(layout.blob_data(orphan)))
        self.successResultOf(service.stopService())

    def test_failureLogged(self):
        """
        A run that fails (a stored manifest cannot be read) is logged and
        deletes nothing; the next runs still happen.
        """
        orphan = self.tree.blob(b"orphan")
        broken = self.tree.blob(b"not a manifest")
        self.tree.put(layout.revision_link("app", broken), str(broken).encode())
        service = self.service()
        self.clock.advance(3600)
        self.pump()
        self.assertEqual(len(self.flushLoggedErrors()), 1)
        self.successResultOf(self.store.stat(layout.blob_data(orphan)))
        self.successResultOf(self.store.delete(layout.repository("app")))
        self.clock.advance(3600)
        self.pump()
        self.assertEqual(len(service.results), 1)
        self.successResultOf(service.stopService())


def maintenance(**gc):
    """
    The C{storage.maintenance} section with C{gc} settings.
    """
    document = {"version": "0.1", "storage": {"inmemory": None, "maintenance": {
        "gc": {"enabled": True, **gc}, "uploadpurging": {"enabled": False}}}}
    readonly = gc.pop("readonly", False)
    document["storage"]["maintenance"]["readonly"] = {"enabled": readonly}
    return parse_config(document, {}).storage.maintenance


class HeapFreezerTests(SynchronousTestCase):
    """
    L{HeapFreezer} keeps the cyclic garbage collector off what exists at a
    pause, at most once per interval, until released.
    """

    def setUp(self):
        self.addCleanup(gc.unfreeze)
        self.clock = Clock()
        self.freezer = HeapFreezer(self.clock, interval=1.0)

    def test_pauseFreezes(self):
        """
        A pause freezes what is tracked and fires on a later turn; release
        unfreezes.
        """
        paused = self.freezer.pause()
        self.assertNoResult(paused)
        self.assertGreater(gc.get_freeze_count(), 0)
        self.clock.advance(0)
        self.successResultOf(paused)
        self.freezer.release()
        self.assertEqual(gc.get_freeze_count(), 0)

    def test_oncePerInterval(self):
        """
        Within the interval, a pause does not freeze again; after it, it does.
        """
        self.freezer.pause()
        gc.unfreeze()
        self.freezer.pause()
        self.assertEqual(gc.get_freeze_count(), 0)
        self.clock.advance(1.0)
        self.freezer.pause()
        self.assertGreater(gc.get_freeze_count(), 0)

    def test_collectionReleases(self):
        """
        A collection that paused has frozen the heap while it runs, and
        leaves nothing frozen once it completes or is stopped.
        """
        # Every step pauses, as a slow collection's would.
        self.patch(online, "Slicer", lambda pause: Slicer(pause=pause, budget=-1))
        store = InMemoryDriver(self.clock)
        tree = Tree(driver_writer(store, self))
        tree.image("app", [b"kept layer"])
        for index in range(50):
            tree.blob(b"orphan %d" % (index,))
        for stop in (False, True):
            gated = GatedDriver(store)
            service = GarbageCollector(gated, self.clock, Claims(self.clock),
                                       interval=3600, delay=0)
            service.startService()
            gate = gated.gate("walk", layout.BLOBS)
            self.clock.advance(3600)
            self.assertTrue(gate.reached)
            self.assertGreater(gc.get_freeze_count(), 0)
            stopped = service.stopService() if stop else None
            gate.open()
            for _ in range(1000):
                self.clock.advance(0)
            self.assertEqual(gc.get_freeze_count(), 0)
            if stop:
                self.successResultOf(stopped)
            else:
                self.assertEqual(service.results[-1].blobs_deleted, 50)
                self.successResultOf(service.stopService())


class MaintenanceAssemblyTests(SynchronousTestCase):
    """
    L{maintenance_claims} and L{maintenance_services} follow the
    configuration.
    """

    def test_enabled(self):
        """
        Enabled collection gets claims and a collector on the registry's
        driver.
        """
        clock = Clock()
        section = maintenance(interval="1h", delay="10m", deleteuntagged=True)
        claims = maintenance_claims(section, clock)
        self.assertIsInstance(claims, Claims)
        registry = Registry(InMemoryDriver(), clock, claims=claims)
        [service] = maintenance_services(section, registry, clock)
        self.assertIsInstance(service, GarbageCollector)

    def test_readOnlyOrDryRun(self):
        """
        In read-only mode nothing runs; a dry run needs no claims.
        """
        clock = Clock()
        read_only = maintenance(readonly=True)
        self.assertIs(maintenance_claims(read_only, clock), NO_CLAIMS)
        self.assertEqual(maintenance_services(read_only, Registry(InMemoryDriver(), clock), clock),
                         [])
        self.assertIs(maintenance_claims(maintenance(dryrun=True), clock), NO_CLAIMS)
