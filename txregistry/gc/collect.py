# -*- test-case-name: tests.test_gc_offline,tests.test_gc_online -*-
"""
Garbage collection as Distribution defines it (mark, then sweep), for both
the offline command and the online collector.

Mark: every manifest of every repository is kept (with
C{delete_untagged}: the tagged ones, their index children at any depth,
their referrers, and any manifest marked elsewhere), and everything a kept
manifest refers to is marked.  Sweep: manifests not kept lose their
revisions and tag history entries; then every blob not marked is removed,
with the C{_layers} links to it.
"""

import attrs

from txregistry.gc.claims import NO_CLAIMS
from txregistry.gc.mark import Marker, read_inventory
from txregistry.gc.sweep import Sweeper
from txregistry.gc.work import Slicer


@attrs.frozen
class Options:
    """
    How to collect.

    @ivar delete_untagged: remove manifests no tag reaches (C{-m}).
    @ivar dry_run: remove nothing, report what would be removed (C{-d}).
    @ivar cutoff: keep what was modified or claimed at or after this time
        (seconds since the epoch); C{None} for no grace period.
    @ivar concurrency: storage calls in flight at once.
    """

    delete_untagged: bool = False
    dry_run: bool = False
    cutoff: float | None = None
    concurrency: int = 16


@attrs.define
class Result:
    """
    What a collection did (or, in a dry run, would have done).

    @ivar repositories: repositories read.
    @ivar manifests: distinct manifests read.
    @ivar blobs_marked: digests marked.
    @ivar manifests_deleted: manifest revisions removed (one per repository).
    @ivar blobs_deleted: blobs removed.
    @ivar bytes_freed: the size of the blobs removed.
    @ivar links_deleted: C{_layers} links removed.
    @ivar manifests_young: manifests kept for being younger than the cutoff.
    @ivar manifests_claimed: manifests kept because the API used them.
    @ivar blobs_young: blobs kept for being younger than the cutoff.
    @ivar blobs_claimed: blobs kept because the API used them.
    """

    repositories: int = 0
    manifests: int = 0
    blobs_marked: int = 0
    manifests_deleted: int = 0
    blobs_deleted: int = 0
    bytes_freed: int = 0
    links_deleted: int = 0
    manifests_young: int = 0
    manifests_claimed: int = 0
    blobs_young: int = 0
    blobs_claimed: int = 0


class Report:
    """
    Told what a collection does, as it does it; this one ignores it all.
    The offline command prints it, the online collector logs it.
    """

    def marking_manifest(self, repository: str, digest) -> None:
        """
        A manifest of C{repository} is kept.
        """

    def marking_blob(self, repository: str, digest) -> None:
        """
        C{digest} is marked, first reached from C{repository}.
        """

    def manifest_eligible(self, repository: str, digest) -> None:
        """
        The manifest C{digest} was removed from C{repository} (or would be).
        """

    def blob_eligible(self, digest, size: int) -> None:
        """
        The blob C{digest} of C{size} bytes was removed (or would be).
        """

    def link_eligible(self, repository: str, digest) -> None:
        """
        The C{_layers} link C{digest} of C{repository} was removed (or
        would be).
        """

    def progress(self, phase: str, done: int, total: int) -> None:
        """
        C{done} of the C{total} items of C{phase} are done.
        """


async def collect(driver, options: Options = Options(), claims=NO_CLAIMS,
                  report: Report | None = None, slicer: Slicer | None = None) -> Result:
    """
    Collect garbage in the store behind C{driver}.

    @param claims: the API's claims (L{txregistry.gc.claims}), for a
        collection while the registry runs.
    @param slicer: how long loops share the reactor (default: they do not).
    @raise txregistry.gc.mark.GarbageCollectionError: a stored manifest
        cannot be read; nothing was removed.
    """
    report = report if report is not None else Report()
    slicer = slicer if slicer is not None else Slicer()
    inventory = await read_inventory(
        driver, options.delete_untagged, options.concurrency, slicer, report
    )
    result = Result(repositories=len(inventory.repositories), manifests=len(inventory.manifests))
    marker = Marker(inventory, options.delete_untagged, slicer, report)
    await marker.keep(marker.roots())
    sweeper = Sweeper(driver, inventory, marker, claims, options, slicer, report, result)
    await sweeper.manifests()
    await sweeper.blobs()
    return result
