# -*- test-case-name: tests.test_driver_derived -*-
"""
The combined reads of L{IStorageDriver} (L{get_contents},
L{get_content_chain}, L{walk_directories}) built on its basic ones, for a
driver with nothing faster to offer: a third-party driver mixes in
L{DerivedReads} and implements only C{get_content} and C{walk}.

The built-in drivers do not use it: they do each combined read in one
thread call (filesystem) or at once (in memory).
"""

from twisted.internet.defer import Deferred, ensureDeferred

from txregistry.storage.interfaces import PathNotFoundError


class DerivedReads:
    """
    L{IStorageDriver.get_contents}, L{IStorageDriver.get_content_chain} and
    L{IStorageDriver.walk_directories} as sequences of C{get_content} and
    C{walk} calls on C{self}.
    """

    async def _content_or_none(self, path: str) -> bytes | None:
        try:
            return await self.get_content(path)
        except PathNotFoundError:
            return None

    async def _contents(self, paths) -> list:
        return [await self._content_or_none(path) for path in paths]

    def get_contents(self, paths) -> Deferred:
        """
        See L{IStorageDriver.get_contents}: one C{get_content} per path.
        """
        return ensureDeferred(self._contents(list(paths)))

    async def _chain(self, path: str, follow) -> list:
        contents = []
        next_path = path
        while next_path is not None:
            content = await self._content_or_none(next_path)
            if content is None:
                break
            contents.append(content)
            next_path = follow(contents)
        return contents

    def get_content_chain(self, path: str, follow) -> Deferred:
        """
        See L{IStorageDriver.get_content_chain}: one C{get_content} per
        path, C{follow} called on the reactor thread between them.
        """
        return ensureDeferred(self._chain(path, follow))

    def walk_directories(self, path: str, visit) -> Deferred:
        """
        See L{IStorageDriver.walk_directories}: a C{walk} whose visitor
        passes directories on and files by.
        """
        return self.walk(path, lambda info: visit(info.path) if info.is_dir else None)
