# -*- test-case-name: tests.test_gc_online -*-
"""
Garbage collection inside the running registry (C{storage.maintenance.gc}),
with no read-only window: a L{LoopingCall} runs L{collect} every
C{interval}, with a cutoff of C{delay} before the run started, and with the
API's claims (L{txregistry.gc.claims}) protecting what clients are using.

Also the assembly of the maintenance services from the configuration.
"""

from twisted.application.service import Service
from twisted.internet.defer import ensureDeferred
from twisted.internet.task import LoopingCall
from twisted.logger import Logger

from txregistry.gc.claims import NO_CLAIMS, Claims
from txregistry.gc.collect import Options, Report, collect
from txregistry.gc.offline import human_size
from txregistry.gc.purge import UploadPurger
from txregistry.gc.work import HeapFreezer, Slicer, Stopped

_log = Logger()

#: Storage calls a collection keeps in flight while the registry serves.
CONCURRENCY = 4


class _LoggingReport(Report):
    """
    Logs each removal at debug level.
    """

    def manifest_eligible(self, repository, digest) -> None:
        _log.debug("garbage collection: manifest {repository}@{digest}",
                   repository=repository, digest=str(digest))

    def blob_eligible(self, digest, size) -> None:
        _log.debug("garbage collection: blob {digest} ({size} bytes)",
                   digest=str(digest), size=size)

    def link_eligible(self, repository, digest) -> None:
        _log.debug("garbage collection: layer link {repository}: {digest}",
                   repository=repository, digest=str(digest))


class GarbageCollector(Service):
    """
    Collects garbage every C{interval} seconds, the first time one interval
    after starting; runs never overlap, and stopping ends the run in
    progress early (between two removals).

    @ivar results: the L{Result} of each completed run, the latest last
        (at most ten are kept).
    """

    def __init__(self, driver, clock, claims, interval: float, delay: float,
                 delete_untagged: bool = False, dry_run: bool = False):
        """
        @param claims: the API's claims (L{Claims}); L{NO_CLAIMS} only for a
            dry run.
        @param delay: the grace period in seconds.
        """
        self._driver = driver
        self._clock = clock
        self._claims = claims
        self._interval = interval
        self._delay = delay
        self._delete_untagged = delete_untagged
        self._dry_run = dry_run
        self._loop = None
        self._loop_done = None
        self._slicer = None
        self.results = []

    def startService(self):
        """
        Schedule the runs.
        """
        super().startService()
        _log.info(
            "garbage collection every {interval} s, sparing what is younger than {delay} s"
            "{untagged}{dry}",
            interval=self._interval,
            delay=self._delay,
            untagged=", untagged manifests too" if self._delete_untagged else "",
            dry=" (dry run)" if self._dry_run else "",
        )
        self._loop = LoopingCall(self._run)
        self._loop.clock = self._clock
        self._loop_done = self._loop.start(self._interval, now=False)

    def _run(self):
        freezer = HeapFreezer(self._clock)
        self._slicer = Slicer(pause=freezer.pause)
        return ensureDeferred(self._collect(self._slicer, freezer))

    async def _collect(self, slicer: Slicer, freezer: HeapFreezer) -> None:
        started = self._clock.seconds()
        options = Options(
            delete_untagged=self._delete_untagged,
            dry_run=self._dry_run,
            cutoff=started - self._delay,
            concurrency=CONCURRENCY,
        )
        try:
            result = await collect(self._driver, options, self._claims, _LoggingReport(), slicer)
        except Stopped:
            _log.info("garbage collection stopped")
            return
        except Exception:
            _log.failure("garbage collection failed; nothing more removed in this run")
            return
        finally:
            # The collection's data is gone with collect()'s frame.
            freezer.release()
            # Claims older than this cannot protect anything in a later run.
            self._claims.forget(self._clock.seconds() - self._delay)
        self.results = self.results[-9:] + [result]
        _log.info(
            "garbage collection {verb} {manifests} manifests, {blobs} blobs ({size}) and "
            "{links} layer links in {seconds:.1f} s; kept {young} young and {claimed} "
            "claimed blobs and manifests",
            verb="would delete" if self._dry_run else "deleted",
            manifests=result.manifests_deleted,
            blobs=result.blobs_deleted,
            size=human_size(result.bytes_freed),
            links=result.links_deleted,
            seconds=self._clock.seconds() - started,
            young=result.blobs_young + result.manifests_young,
            claimed=result.blobs_claimed + result.manifests_claimed,
        )

    def stopService(self):
        """
        Stop collecting; wait for the run in progress to end (early).
        """
        super().stopService()
        if self._slicer is not None:
            self._slicer.stopping = True
        if self._loop is not None and self._loop.running:
            self._loop.stop()
            return self._loop_done
        return None


def maintenance_claims(maintenance, clock):
    """
    The claims the API must record for the C{storage.maintenance}
    configuration: L{Claims} if garbage collection will delete things while
    the registry runs, else L{NO_CLAIMS}.
    """
    gc = maintenance.gc
    if gc.enabled and not gc.dryrun and not maintenance.readonly_enabled:
        return Claims(clock)
    return NO_CLAIMS


def maintenance_services(maintenance, registry, clock) -> list[Service]:
    """
    The background services C{storage.maintenance} asks for: upload
    purging and garbage collection.  In read-only mode neither runs, so
    that nothing is deleted.

    @param registry: the L{Registry} the API serves (its driver, uploads
        and claims are shared).
    """
    purging = maintenance.uploadpurging
    gc = maintenance.gc
    if maintenance.readonly_enabled:
        for name, enabled in (("upload purging", purging.enabled), ("garbage collection", gc.enabled)):
            if enabled:
                _log.info("{name} disabled: the registry is in read-only mode", name=name)
        return []
    services = []
    if purging.enabled:
        services.append(UploadPurger(
            registry.driver, clock, purging.age, purging.interval, purging.dryrun,
            uploads=registry.uploads,
        ))
    if gc.enabled:
        services.append(GarbageCollector(
            registry.driver, clock, registry.blobs.claims, gc.interval, gc.delay,
            gc.deleteuntagged, gc.dryrun,
        ))
    return services
