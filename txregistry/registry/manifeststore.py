"""
A repository's manifests: stored as blobs, made part of the repository by
revision links, validated against what the repository holds on the way in.
"""

import re
from urllib.parse import urlsplit

import attrs

from txregistry.gc.claims import NO_CLAIMS
from txregistry.registry import errors
from txregistry.registry.blobs import (
    BlobStore,
    RepositoryBlobs,
    parse_link,
    read_link,
    write_link,
)
from txregistry.registry.manifests import ParsedManifest, load_stored, parse_manifest
from txregistry.registry.offload import inline, parse_off_reactor
from txregistry.registry.reference import Digest
from txregistry.registry.referrers import ReferrersIndex
from txregistry.registry.tags import TagStore
from txregistry.storage import layout
from txregistry.storage.interfaces import PathNotFoundError


@attrs.frozen
class ValidationPolicy:
    """
    Distribution's C{validation} section: what a pushed manifest must satisfy.

    @ivar enabled: check references at all.
    @ivar url_allow: patterns a descriptor URL must match one of; with no
        allow pattern no URL is accepted (Distribution's rule).
    @ivar url_deny: patterns no descriptor URL may match.
    @ivar index_platforms: C{all}, C{none} or C{list}: which index children
        must exist in the repository.
    @ivar platform_list: the C{(architecture, os)} pairs checked with C{list}.
    """

    enabled: bool = True
    url_allow: tuple[re.Pattern, ...] = ()
    url_deny: tuple[re.Pattern, ...] = ()
    index_platforms: str = "all"
    platform_list: frozenset = frozenset()

    def url_allowed(self, url: str) -> bool:
        """
        Whether a descriptor may point at C{url}.
        """
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        if parts.scheme not in ("http", "https") or parts.fragment:
            return False
        if not any(p.fullmatch(url) for p in self.url_allow):
            return False
        return not any(p.fullmatch(url) for p in self.url_deny)

    def checks_child(self, child) -> bool:
        """
        Whether the index child C{child} must exist in the repository.
        """
        if self.index_platforms == "none":
            return False
        if self.index_platforms == "list":
            platform = child.platform
            return platform is not None and (
                (platform.architecture, platform.os) in self.platform_list
            )
        return True


@attrs.frozen
class StoredManifest:
    """
    A manifest read back from a repository.
    """

    digest: Digest
    raw: bytes
    media_type: str
    parsed: ParsedManifest


class ManifestStore:
    """
    The manifests of one repository.
    """

    def __init__(self, driver, blobs: BlobStore, name: str, policy: ValidationPolicy,
                 offload=inline):
        """
        @param offload: runs CPU-heavy work (parsing a large manifest) away
            from the reactor: C{offload(f, *args)} returns a L{Deferred} of
            C{f(*args)}; see L{inline}.
        """
        self._driver = driver
        self._blobs = blobs
        self.name = name
        self._policy = policy
        self._offload = offload
        self._layers = RepositoryBlobs(driver, blobs, name)
        self.tags = TagStore(driver, name)
        self.referrers = ReferrersIndex(driver, blobs, name, offload)

    async def get(self, digest: Digest) -> StoredManifest:
        """
        @raise errors.RegistryError: C{MANIFEST_UNKNOWN} if the repository has
            no such revision or its bytes are gone.
        """
        await self._blobs.claims.claim(digest)
        # The revision link and, read along with it in one driver call, the
        # bytes it almost always points to: those stored under the digest.
        link, raw = await self._driver.get_contents(
            [layout.revision_link(self.name, digest), layout.blob_data(digest)]
        )
        target = parse_link(link)
        if target is None:
            raw = None
        elif target != digest:
            raw = await self._blobs.get(target)
        if raw is None:
            raise errors.RegistryError(errors.MANIFEST_UNKNOWN, detail={"digest": str(digest)})
        parsed = await parse_off_reactor(self._offload, load_stored, raw)
        return StoredManifest(digest, raw, parsed.media_type, parsed)

    async def get_tagged(self, tag: str) -> tuple[Digest, StoredManifest | None]:
        """
        The digest C{tag} points to, and the manifest unless the repository
        lost it.  Without online garbage collection (no claims to make
        between the reads) the tag's link, the revision link and the bytes
        are read in one driver call.

        @raise errors.RegistryError: C{MANIFEST_UNKNOWN} if there is no such
            tag.
        """
        if self._blobs.claims is not NO_CLAIMS:
            digest = await self.tags.resolve(tag)
            try:
                return digest, await self.get(digest)
            except errors.RegistryError as e:
                if e.errors[0].code is not errors.MANIFEST_UNKNOWN:
                    raise
                return digest, None

        def follow(contents: list[bytes]) -> str | None:
            target = parse_link(contents[-1])
            if target is None:
                return None
            if len(contents) == 1:
                return layout.revision_link(self.name, target)
            return layout.blob_data(target) if len(contents) == 2 else None

        contents = await self._driver.get_content_chain(
            layout.tag_current_link(self.name, tag), follow
        )
        digest = parse_link(contents[0]) if contents else None
        if digest is None:
            raise errors.RegistryError(errors.MANIFEST_UNKNOWN, detail={"tag": tag})
        if len(contents) < 3:
            return digest, None
        raw = contents[2]
        parsed = await parse_off_reactor(self._offload, load_stored, raw)
        return digest, StoredManifest(digest, raw, parsed.media_type, parsed)

    async def exists(self, digest: Digest) -> bool:
        """
        Whether the repository has the manifest C{digest}.
        """
        # Garbage collection removes a revision under the manifest's digest:
        # claim before reading.
        await self._blobs.claims.claim(digest)
        target = await read_link(self._driver, layout.revision_link(self.name, digest))
        return target is not None and await self._blobs.stat(target) is not None

    async def _check_references(self, manifest: ParsedManifest) -> None:
        problems = []
        for descriptor in manifest.layers:
            if descriptor.urls and not all(
                self._policy.url_allowed(url) for url in descriptor.urls
            ):
                problems.append(
                    errors.ErrorDetail(
                        errors.MANIFEST_INVALID,
                        detail=f"layer {descriptor.digest} has a URL the registry does not allow",
                    )
                )
        for descriptor in manifest.required_blobs():
            if await self._layers.stat(descriptor.digest) is None:
                problems.append(
                    errors.ErrorDetail(errors.MANIFEST_BLOB_UNKNOWN, detail=str(descriptor.digest))
                )
        for descriptor in manifest.required_manifests():
            if self._policy.checks_child(descriptor) and not await self.exists(descriptor.digest):
                problems.append(
                    errors.ErrorDetail(errors.MANIFEST_BLOB_UNKNOWN, detail=str(descriptor.digest))
                )
        if problems:
            raise errors.RegistryError.several(problems)

    async def put(self, reference: str, raw: bytes, content_type: str | None) -> ParsedManifest:
        """
        Validate and store a manifest, then tag it if C{reference} is a tag.

        Write order keeps every crash point safe: the bytes, then the
        revision link, then the tag (history entry, then current link).

        @param reference: a tag or the digest the body must have.
        @raise errors.RegistryError: C{MANIFEST_INVALID}, C{DIGEST_INVALID},
            C{MANIFEST_BLOB_UNKNOWN}.
        """
        manifest = await parse_off_reactor(self._offload, parse_manifest, raw, content_type)
        expected = _digest_reference(reference)
        if expected is not None and expected != manifest.digest:
            if expected.algorithm == manifest.digest.algorithm or (
                Digest.of(raw, expected.algorithm) != expected
            ):
                raise errors.RegistryError(
                    errors.DIGEST_INVALID,
                    detail=f"manifest digest {manifest.digest} does not match {expected}",
                )
        # Pinned until stored, so that online garbage collection cannot
        # remove what this push refers to between the checks and the writes.
        with self._blobs.claims.hold(
            manifest.digest, *(descriptor.digest for descriptor in manifest.references())
        ):
            if self._policy.enabled:
                await self._check_references(manifest)
            await self._blobs.put(raw)
            await write_link(
                self._driver, layout.revision_link(self.name, manifest.digest), manifest.digest
            )
            if expected is not None and expected != manifest.digest:
                await write_link(
                    self._driver, layout.revision_link(self.name, expected), manifest.digest
                )
            if manifest.subject is not None:
                await self.referrers.add(manifest.subject.digest, manifest.digest)
            if expected is None:
                await self.tags.tag(reference, manifest.digest)
        return manifest

    async def delete(self, digest: Digest) -> None:
        """
        Remove the revision and every tag currently pointing to it; the bytes
        stay until garbage collection.

        @return: the tags removed.
        @raise errors.RegistryError: C{MANIFEST_UNKNOWN}.
        """
        stored = await self.get(digest)
        try:
            await self._driver.delete(layout.revision_link(self.name, digest))
        except PathNotFoundError:
            raise errors.RegistryError(errors.MANIFEST_UNKNOWN, detail={"digest": str(digest)})
        removed = []
        for tag in await self.tags.pointing_to(digest):
            try:
                await self.tags.untag(tag)
            except errors.RegistryError:
                continue
            removed.append(tag)
        if stored.parsed.subject is not None:
            await self.referrers.remove(stored.parsed.subject.digest, digest)
        return removed


def _digest_reference(reference: str) -> Digest | None:
    try:
        return Digest.parse(reference)
    except errors.RegistryError:
        return None
