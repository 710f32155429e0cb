# -*- test-case-name: tests.test_gc_offline -*-
"""
The mark phase of garbage collection: what storage holds (L{read_inventory})
and which of it is reachable (L{Marker}).

Everything is read through the storage driver, in Distribution's layout,
never through caches or indexes of our own (the referrers index is not
trusted: referrers are found from the manifests themselves).

Digests are kept as strings (C{sha256:<hex>}), and collections of them as
tuples, sets and dicts of strings: a large store means hundreds of
thousands of them, and objects the cyclic garbage collector tracks (such
as L{Digest} instances or lists) would make each of its full passes hold
the reactor for hundreds of milliseconds.
"""

from typing import NamedTuple

import attrs

from txregistry.gc.work import for_each
from txregistry.registry import catalog, errors
from txregistry.registry.blobs import read_link
from txregistry.registry.manifests import load_stored
from txregistry.registry.reference import Digest
from txregistry.registry.referrers import list_digest_dirs
from txregistry.storage import layout
from txregistry.storage.interfaces import PathNotFoundError


class GarbageCollectionError(Exception):
    """
    Collection cannot go on safely (a stored manifest cannot be read); as
    Distribution does, nothing is deleted.
    """


def parse_digest(text: str) -> Digest:
    """
    The L{Digest} of a digest string this module made.
    """
    algorithm, encoded = text.split(":", 1)
    return Digest(algorithm, encoded)


class ManifestLinks(NamedTuple):
    """
    What one stored manifest points to.

    @ivar references: config, layers and index entries (Distribution's
        C{References()}), as digests.
    @ivar subject: the manifest it refers to, for the referrers API.
    """

    references: tuple[str, ...]
    subject: str | None


def _add(mapping: dict, key: str, value) -> None:
    mapping[key] = mapping.get(key, ()) + (value,)


@attrs.define
class RepositoryContents:
    """
    What one repository holds.

    @ivar name: the repository's name.
    @ivar revisions: manifest digest (the link's target) to the revision
        directories linking to it: its own and any alias (sha512) ones.
    @ivar revision_mtimes: manifest digest to the newest modification time
        of its revision links.
    @ivar layers: blob digest (the link's target) to the C{_layers}
        directories linking to it.
    @ivar aliases: digest as a client named it to the canonical digest, for
        links stored under another algorithm than sha256.
    @ivar tags: tag to the digest it points to now (read only when untagged
        manifests are to be deleted).
    @ivar history: manifest digest to the tag index entries naming it (idem).
    @ivar manifests: the revisions whose manifest could be read, with what
        each points to.
    @ivar referrers: subject digest to the manifests of this repository
        naming it.
    """

    name: str
    revisions: dict = attrs.Factory(dict)
    revision_mtimes: dict = attrs.Factory(dict)
    layers: dict = attrs.Factory(dict)
    aliases: dict = attrs.Factory(dict)
    tags: dict = attrs.Factory(dict)
    history: dict = attrs.Factory(dict)
    manifests: dict = attrs.Factory(dict)
    referrers: dict = attrs.Factory(dict)


async def _link_target(driver, contents: RepositoryContents, named: Digest,
                       directory: str) -> str | None:
    """
    The digest the link in C{directory} (for the digest C{named}) holds;
    alias links are recorded in C{contents}.
    """
    # A sha256 link holds its own digest (Distribution writes it so): only
    # alias links need reading.
    if named.algorithm == "sha256":
        return str(named)
    target = await read_link(driver, f"{directory}/link")
    if target is None:
        return None
    if target != named:
        contents.aliases[str(named)] = str(target)
    return str(target)


async def _read_revisions(driver, contents: RepositoryContents) -> None:
    base = layout.revisions_dir(contents.name)
    for named in await list_digest_dirs(driver, base):
        directory = f"{base}/{named.algorithm}/{named.encoded}"
        try:
            info = await driver.stat(f"{directory}/link")
        except PathNotFoundError:
            continue  # a manifest deleted through the API leaves its directory
        target = await _link_target(driver, contents, named, directory)
        if target is None:
            continue
        _add(contents.revisions, target, directory)
        contents.revision_mtimes[target] = max(
            info.mtime, contents.revision_mtimes.get(target, info.mtime)
        )


async def _read_layers(driver, contents: RepositoryContents) -> None:
    base = layout.layers_dir(contents.name)
    for named in await list_digest_dirs(driver, base):
        directory = f"{base}/{named.algorithm}/{named.encoded}"
        target = await _link_target(driver, contents, named, directory)
        if target is not None:
            _add(contents.layers, target, directory)


async def _read_tags(driver, contents: RepositoryContents) -> None:
    try:
        tag_dirs = await driver.list(layout.tags_dir(contents.name))
    except PathNotFoundError:
        return
    for tag_dir in sorted(tag_dirs):
        tag = tag_dir.rsplit("/", 1)[1]
        current = await read_link(driver, f"{tag_dir}/current/link")
        if current is not None:
            contents.tags[tag] = str(current)
        for entry in await list_digest_dirs(driver, f"{tag_dir}/index"):
            _add(contents.history, str(entry),
                 f"{tag_dir}/index/{entry.algorithm}/{entry.encoded}")


async def read_repository(driver, name: str, tags: bool) -> RepositoryContents:
    """
    List a repository's revisions and blob links (and, with C{tags}, its
    tags and their history), without reading manifests.
    """
    contents = RepositoryContents(name)
    await _read_revisions(driver, contents)
    await _read_layers(driver, contents)
    if tags:
        await _read_tags(driver, contents)
    return contents


async def _load_manifest(driver, digest: str) -> ManifestLinks | None:
    try:
        raw = await driver.get_content(layout.blob_data(parse_digest(digest)))
    except PathNotFoundError:
        return None
    try:
        parsed = load_stored(raw)
    except errors.RegistryError as error:
        details = "; ".join(str(detail.detail or detail.message) for detail in error.errors)
        raise GarbageCollectionError(f"failed to read manifest {digest}: {details}") from None
    references = tuple(str(descriptor.digest) for descriptor in parsed.references())
    subject = str(parsed.subject.digest) if parsed.subject is not None else None
    return ManifestLinks(references, subject)


@attrs.define
class Inventory:
    """
    Every repository's contents and every manifest they hold.

    @ivar repositories: the L{RepositoryContents}, in catalog order.
    @ivar manifests: manifest digest to its L{ManifestLinks}, for every
        revision whose bytes are stored.
    @ivar holders: manifest digest to the names of the repositories holding
        it.
    """

    repositories: list[RepositoryContents]
    manifests: dict
    holders: dict


async def read_inventory(driver, tags: bool, limit: int, slicer, report) -> Inventory:
    """
    Read what storage holds: repositories (C{limit} at a time), then every
    manifest once.

    @param tags: read tags too (for deleting untagged manifests).
    @param report: a L{txregistry.gc.collect.Report}, told of progress.
    @raise GarbageCollectionError: a stored manifest cannot be read.
    """
    names = await catalog.repositories(driver)
    repositories = {}

    async def read(name):
        repositories[name] = await read_repository(driver, name, tags)
        report.progress("reading repositories", len(repositories), len(names))

    await for_each(names, read, limit, slicer)
    ordered = [repositories[name] for name in names]
    wanted = list({digest for contents in ordered for digest in contents.revisions})
    manifests = {}
    loaded = []

    async def load(digest):
        links = await _load_manifest(driver, digest)
        if links is not None:
            manifests[digest] = links
        loaded.append(digest)
        report.progress("reading manifests", len(loaded), len(wanted))

    await for_each(wanted, load, limit, slicer)
    holders = {}
    for contents in ordered:
        await slicer.tick()
        for digest in contents.revisions:
            links = manifests.get(digest)
            if links is None:
                continue  # its bytes are gone: not a manifest (Distribution skips it)
            contents.manifests[digest] = links
            _add(holders, digest, contents.name)
            if links.subject is not None:
                _add(contents.referrers, links.subject, digest)
    return Inventory(ordered, manifests, holders)


class Marker:
    """
    The mark set: every digest a kept manifest points to, and, per
    repository, the manifests kept.

    Without C{untagged}, every manifest of every repository is kept.  With
    it, a repository keeps its tagged manifests, then (repeatedly) what a
    kept manifest refers to that is a manifest of the same repository (index
    children, at any depth), the manifests whose C{subject} is a kept one
    (referrers), and any of its manifests whose digest is marked anywhere
    (Distribution 3 also keeps a manifest that another repository marks).

    @ivar marked: every digest marked.
    @ivar kept: repository name to the manifests it keeps.
    """

    def __init__(self, inventory: Inventory, untagged: bool, slicer, report):
        self._inventory = inventory
        self._untagged = untagged
        self._slicer = slicer
        self._report = report
        self.marked = set()
        self.kept = {contents.name: set() for contents in inventory.repositories}
        self._repositories = {contents.name: contents for contents in inventory.repositories}

    def roots(self):
        """
        The manifests kept for their own sake: all, or the tagged ones.
        """
        for contents in self._inventory.repositories:
            if self._untagged:
                tagged = set(contents.tags.values())
                yield from ((contents, d) for d in contents.manifests if d in tagged)
            else:
                yield from ((contents, d) for d in contents.manifests)

    async def keep(self, pairs) -> None:
        """
        Keep each C{(contents, manifest digest)} of C{pairs} and everything
        that follows from it.
        """
        work = list(pairs)
        while work:
            await self._slicer.tick()
            contents, digest = work.pop()
            kept = self.kept[contents.name]
            if digest in kept:
                continue
            kept.add(digest)
            self._report.marking_manifest(contents.name, digest)
            self._mark(contents, digest, work)
            for reference in contents.manifests[digest].references:
                self._mark(contents, reference, work)
                canonical = contents.aliases.get(reference, reference)
                if canonical != reference:
                    self._mark(contents, canonical, work)
                if canonical in contents.manifests:
                    work.append((contents, canonical))
            if self._untagged:
                work.extend((contents, r) for r in contents.referrers.get(digest, ()))

    def _mark(self, contents: RepositoryContents, digest: str, work: list) -> None:
        if digest in self.marked:
            return
        self.marked.add(digest)
        self._report.marking_blob(contents.name, digest)
        if self._untagged:
            for holder in self._inventory.holders.get(digest, ()):
                work.append((self._repositories[holder], digest))

    def candidates(self, contents: RepositoryContents) -> list[str]:
        """
        The manifests of C{contents} not kept (so far), each before those it
        points to (index children, subjects), so that a manifest is never
        left pointing at one deleted before it.
        """
        kept = self.kept[contents.name]
        remaining = {digest for digest in contents.manifests if digest not in kept}
        order = []
        visited = set()
        for start in sorted(remaining):
            if start in visited:
                continue
            visited.add(start)
            stack = [(start, iter(self._edges(contents, start, remaining)))]
            while stack:
                digest, children = stack[-1]
                child = next(children, None)
                if child is None:
                    stack.pop()
                    order.append(digest)
                elif child not in visited:
                    visited.add(child)
                    stack.append((child, iter(self._edges(contents, child, remaining))))
        order.reverse()
        return order

    def _edges(self, contents, digest, remaining) -> list[str]:
        links = contents.manifests[digest]
        targets = [contents.aliases.get(r, r) for r in links.references]
        if links.subject is not None:
            targets.append(links.subject)
        return [target for target in targets if target in remaining]
