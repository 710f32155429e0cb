"""
Blobs: the global content-addressed store and each repository's links to it.

A blob is stored once under its sha256 digest; a repository can see it only
through a link under its C{_layers} directory (Distribution's rule), which is
what makes pulls, mounts and manifest validation per repository.
"""

import attrs

from txregistry.gc.claims import NO_CLAIMS
from txregistry.registry import errors
from txregistry.registry.reference import Digest
from txregistry.storage import layout
from txregistry.storage.interfaces import PathNotFoundError


@attrs.frozen
class BlobDescriptor:
    """
    What a stored blob is.

    @ivar digest: the canonical (sha256) digest the bytes are stored under.
    @ivar size: the size in bytes.
    """

    digest: Digest
    size: int


async def read_link(driver, path: str) -> Digest | None:
    """
    Read a link file.

    @return: the digest it holds, or C{None} if there is no link or it does
        not hold a digest (a link damaged outside the registry is treated as
        absent rather than trusted).
    """
    try:
        content = await driver.get_content(path)
    except PathNotFoundError:
        return None
    return parse_link(content)


def parse_link(content: bytes | None) -> Digest | None:
    """
    The digest a link file's C{content} holds (C{None} for no link), as
    L{read_link} reads it.
    """
    if content is None:
        return None
    try:
        return Digest.parse(content.decode("ascii"))
    except (UnicodeDecodeError, errors.RegistryError):
        return None


async def write_link(driver, path: str, digest: Digest) -> None:
    """
    Write a link file: the digest as ASCII, no newline, atomically.
    """
    await driver.put_content(path, str(digest).encode("ascii"))


class BlobStore:
    """
    The global blob store under C{blobs/}.

    @ivar claims: what the online garbage collector must leave alone (see
        L{txregistry.gc.claims}); every look at whether content exists
        claims its digest first.
    """

    def __init__(self, driver, claims=NO_CLAIMS):
        self._driver = driver
        self.claims = claims

    async def stat(self, digest: Digest) -> BlobDescriptor | None:
        """
        @return: the stored blob's descriptor, or C{None} if absent.
        """
        await self.claims.claim(digest)
        try:
            info = await self._driver.stat(layout.blob_data(digest))
        except PathNotFoundError:
            return None
        if info.is_dir:
            return None
        return BlobDescriptor(digest, info.size)

    async def get(self, digest: Digest) -> bytes | None:
        """
        @return: a small blob's bytes (a manifest), or C{None} if absent.
        """
        try:
            return await self._driver.get_content(layout.blob_data(digest))
        except PathNotFoundError:
            return None

    async def put(self, content: bytes) -> Digest:
        """
        Store small content (a manifest) under its sha256 digest unless it is
        there already; the write is atomic, so a reader never sees part of it.
        """
        digest = Digest.of(content)
        if await self.stat(digest) is None:
            await self._driver.put_content(layout.blob_data(digest), content)
        return digest

    def reader(self, digest: Digest, offset: int = 0):
        """
        Open a stored blob for reading.

        @return: a L{Deferred} firing with an L{IFileReader}.
        """
        return self._driver.reader(layout.blob_data(digest), offset)

    async def redirect_url(self, digest: Digest, method: str) -> str | None:
        """
        A URL the client may fetch the blob from directly, if the driver has one.
        """
        return await self._driver.redirect_url(layout.blob_data(digest), method)


class RepositoryBlobs:
    """
    The blobs one repository can see.
    """

    def __init__(self, driver, store: BlobStore, name: str):
        self._driver = driver
        self._store = store
        self.name = name

    async def stat(self, digest: Digest) -> BlobDescriptor | None:
        """
        Resolve C{digest} through this repository's link.

        @return: the descriptor of the canonical blob, or C{None} if the
            repository has no link to it or the blob's bytes are gone.
        """
        # Garbage collection removes a link with its blob: claim before reading.
        await self._store.claims.claim(digest)
        target = await read_link(self._driver, layout.layer_link(self.name, digest))
        if target is None:
            return None
        return await self._store.stat(target)

    async def require(self, digest: Digest) -> BlobDescriptor:
        """
        Like L{stat}, but a missing blob is C{BLOB_UNKNOWN}.
        """
        descriptor = await self.stat(digest)
        if descriptor is None:
            raise errors.RegistryError(errors.BLOB_UNKNOWN, detail=str(digest))
        return descriptor

    async def link(self, digest: Digest, canonical: Digest) -> None:
        """
        Make the blob stored under C{canonical} visible here as C{digest}.
        """
        await write_link(
            self._driver, layout.layer_link(self.name, digest), canonical
        )

    async def unlink(self, digest: Digest) -> None:
        """
        Remove this repository's link (the bytes stay until garbage collection).

        @raise errors.RegistryError: C{BLOB_UNKNOWN} if there was no link.
        """
        try:
            await self._driver.delete(layout.layer_link(self.name, digest))
        except PathNotFoundError:
            raise errors.RegistryError(errors.BLOB_UNKNOWN, detail=str(digest))
