"""
Tags: named pointers from a repository to one of its manifests, with the
history Distribution keeps under each tag's C{index/}.
"""

from txregistry.registry import errors
from txregistry.registry.blobs import read_link, write_link
from txregistry.registry.reference import Digest
from txregistry.storage import layout
from txregistry.storage.interfaces import PathNotFoundError


class TagStore:
    """
    The tags of one repository.
    """

    def __init__(self, driver, name: str):
        self._driver = driver
        self.name = name

    async def resolve(self, tag: str) -> Digest:
        """
        @return: the digest C{tag} points to.
        @raise errors.RegistryError: C{MANIFEST_UNKNOWN}.
        """
        digest = await read_link(self._driver, layout.tag_current_link(self.name, tag))
        if digest is None:
            raise errors.RegistryError(errors.MANIFEST_UNKNOWN, detail={"tag": tag})
        return digest

    async def tag(self, tag: str, digest: Digest) -> None:
        """
        Point C{tag} at C{digest}: the history entry first, then the current
        link, so a crash in between leaves the old target in place.
        """
        await write_link(self._driver, layout.tag_index_link(self.name, tag, digest), digest)
        await write_link(self._driver, layout.tag_current_link(self.name, tag), digest)

    async def untag(self, tag: str) -> None:
        """
        Delete C{tag} and its history.

        @raise errors.RegistryError: C{MANIFEST_UNKNOWN} if there is no such tag.
        """
        try:
            await self._driver.stat(layout.tag_current_link(self.name, tag))
            await self._driver.delete(layout.tag_dir(self.name, tag))
        except PathNotFoundError:
            raise errors.RegistryError(errors.MANIFEST_UNKNOWN, detail={"tag": tag})

    async def all(self) -> list[str]:
        """
        Every tag, sorted byte-wise as Distribution sorts them.

        A repository holding manifests or blobs but no tag has none: it may
        never have been tagged, or have lost its last tag (object stores,
        and the in-memory driver, keep no empty tags directory to tell).

        @raise errors.RegistryError: C{NAME_UNKNOWN} if the repository holds
            neither manifests nor blobs.
        """
        try:
            children = await self._driver.list(layout.tags_dir(self.name))
        except PathNotFoundError:
            if not await self._has_content():
                raise errors.RegistryError(errors.NAME_UNKNOWN, detail={"name": self.name})
            children = []
        return sorted(path.rsplit("/", 1)[1] for path in children)

    async def _has_content(self) -> bool:
        for path in (layout.manifests_dir(self.name), layout.layers_dir(self.name)):
            try:
                await self._driver.stat(path)
            except PathNotFoundError:
                continue
            return True
        return False

    async def pointing_to(self, digest: Digest) -> list[str]:
        """
        The tags whose current target is C{digest}.
        """
        try:
            tags = await self.all()
        except errors.RegistryError:
            return []
        found = []
        for tag in tags:
            target = await read_link(self._driver, layout.tag_current_link(self.name, tag))
            if target == digest:
                found.append(tag)
        return found
