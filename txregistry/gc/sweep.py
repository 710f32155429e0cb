# -*- test-case-name: tests.test_gc_offline,tests.test_gc_online -*-
"""
The sweep phase of garbage collection: removing the manifests not kept
(with C{--delete-untagged}), then the blobs not marked and the C{_layers}
links to them.

Each removal happens inside the deletion window of its digest (see
L{txregistry.gc.claims}), opened only for content older than the run's
cutoff that the API has not claimed since.  Content that is kept for those
reasons is kept whole: a manifest spared is marked with everything it
points to before any blob is swept.
"""

from txregistry.gc.mark import Inventory, Marker, parse_digest
from txregistry.gc.work import for_each
from txregistry.registry import errors
from txregistry.registry.reference import Digest
from txregistry.storage import layout
from txregistry.storage.interfaces import SKIP_DIR, PathNotFoundError


async def _delete(driver, path: str) -> bool:
    """
    Delete C{path}; C{False} if it was gone already.
    """
    try:
        await driver.delete(path)
    except PathNotFoundError:
        return False
    return True


class Sweeper:
    """
    Removes what a L{Marker} left unmarked.

    @ivar cutoff: nothing modified or claimed at or after this time is
        removed; C{None} for no grace (the offline collector).
    """

    def __init__(self, driver, inventory: Inventory, marker: Marker, claims, options,
                 slicer, report, result):
        self._driver = driver
        self._inventory = inventory
        self._marker = marker
        self._claims = claims
        self._options = options
        self.cutoff = options.cutoff
        self._slicer = slicer
        self._report = report
        self._result = result

    def _young(self, mtime: float) -> bool:
        return self.cutoff is not None and mtime >= self.cutoff

    async def manifests(self) -> None:
        """
        Remove each repository's manifests that are not kept: their revision
        directories (alias ones too), their entries in tag histories and in
        the referrers index.  A manifest that is young or claimed is kept
        instead, with what it points to.
        """
        for contents in self._inventory.repositories:
            for digest in self._marker.candidates(contents):
                await self._slicer.tick()
                if digest in self._marker.kept[contents.name]:
                    continue  # kept by one spared before it
                if self._young(contents.revision_mtimes[digest]):
                    self._result.manifests_young += 1
                    await self._marker.keep([(contents, digest)])
                    continue
                if not self._options.dry_run:
                    if not self._claims.begin_delete(digest, self.cutoff):
                        self._result.manifests_claimed += 1
                        await self._marker.keep([(contents, digest)])
                        continue
                    try:
                        await self._delete_manifest(contents, digest)
                    finally:
                        self._claims.end_delete(digest)
                self._report.manifest_eligible(contents.name, digest)
                self._result.manifests_deleted += 1

    async def _delete_manifest(self, contents, digest: str) -> None:
        links = contents.manifests[digest]
        paths = contents.history.get(digest, ()) + contents.revisions[digest]
        if links.subject is not None:
            referrer = layout.referrer_link(
                contents.name, parse_digest(links.subject), parse_digest(digest))
            paths += (referrer.rsplit("/", 1)[0],)
        for path in paths:
            await _delete(self._driver, path)

    async def blobs(self) -> None:
        """
        Remove every blob not marked, and the C{_layers} links to it; then
        the links to unmarked blobs that are not stored at all.
        """
        stored = await list_blobs(self._driver, self._slicer)
        self._result.blobs_marked = len(self._marker.marked)
        unmarked = []
        for start in range(0, len(stored), 1000):
            await self._slicer.tick()
            unmarked.extend(d for d in stored[start:start + 1000] if d not in self._marker.marked)
        links = {}
        for contents in self._inventory.repositories:
            await self._slicer.tick()
            for target, directories in contents.layers.items():
                if target not in self._marker.marked:
                    links.setdefault(target, []).extend(
                        (contents.name, directory) for directory in directories
                    )
        done = []

        async def sweep(digest):
            await self._sweep_blob(digest, links.pop(digest, []))
            done.append(digest)
            self._report.progress("sweeping blobs", len(done), len(unmarked))

        await for_each(unmarked, sweep, self._options.concurrency, self._slicer)
        await for_each(list(links.items()), self._sweep_dangling,
                       self._options.concurrency, self._slicer)

    async def _sweep_blob(self, digest: str, links: list) -> None:
        try:
            info = await self._driver.stat(layout.blob_data(parse_digest(digest)))
        except PathNotFoundError:
            return  # a blob directory without data is no blob
        if self._young(info.mtime):
            self._result.blobs_young += 1
            return
        if not self._options.dry_run:
            if not self._claims.begin_delete(digest, self.cutoff):
                self._result.blobs_claimed += 1
                return
            try:
                await _delete(self._driver, layout.blob_dir(parse_digest(digest)))
                for _, directory in links:
                    await _delete(self._driver, directory)
            finally:
                self._claims.end_delete(digest)
        self._report.blob_eligible(digest, info.size)
        self._result.blobs_deleted += 1
        self._result.bytes_freed += info.size
        self._links_removed(links)

    def _links_removed(self, links: list) -> None:
        for name, directory in links:
            self._report.link_eligible(name, _link_digest(directory))
        self._result.links_deleted += len(links)

    async def _sweep_dangling(self, item) -> None:
        target, links = item
        if self.cutoff is not None:
            links = [link for link in links if not self._young(await self._link_mtime(link))]
        if not links:
            return
        if not self._options.dry_run:
            if not self._claims.begin_delete(target, self.cutoff):
                return
            try:
                for _, directory in links:
                    await _delete(self._driver, directory)
            finally:
                self._claims.end_delete(target)
        self._links_removed(links)

    async def _link_mtime(self, link) -> float:
        try:
            return (await self._driver.stat(link[1])).mtime
        except PathNotFoundError:
            return 0.0


def _link_digest(directory: str) -> str:
    algorithm, encoded = directory.rsplit("/", 2)[-2:]
    return f"{algorithm}:{encoded}"


async def list_blobs(driver, slicer) -> list[str]:
    """
    The digest of every blob directory under C{blobs/}, without looking
    inside them.
    """
    found = []
    prefix = layout.BLOBS + "/"

    def visit(info):
        if not info.is_dir:
            return None
        parts = info.path[len(prefix):].split("/")
        if len(parts) < 3:
            return None  # an algorithm or fan-out directory
        try:
            found.append(str(Digest.parse(f"{parts[0]}:{parts[2]}")))
        except errors.RegistryError:
            pass
        return SKIP_DIR

    try:
        await driver.walk(layout.BLOBS, visit)
    except PathNotFoundError:
        return []
    await slicer.tick()
    return found
