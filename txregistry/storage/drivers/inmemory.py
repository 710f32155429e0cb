# -*- test-case-name: tests.test_driver_inmemory -*-
"""
The C{inmemory} storage driver: content in a tree of dictionaries, for tests
and throw-away registries.

Like an object store, it has no empty directories: a directory exists while
something is stored below it.  Every call returns an already-fired
L{Deferred}.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import attrs
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from zope.interface import implementer

from txregistry.storage.drivers._support import as_bytes, returns_deferred, walk_tree
from txregistry.storage.interfaces import (
    SKIP_DIR,
    STOP_WALK,
    DriverUnavailableError,
    FileInfo,
    IFileReader,
    IFileWriter,
    InvalidOffsetError,
    IStorageDriver,
    PathNotFoundError,
    StorageError,
    check_path,
)


@attrs.frozen
class _File:
    """
    Stored content.
    """

    content: bytes
    mtime: float


@attrs.define
class _Directory:
    """
    A directory: its entries by name.
    """

    mtime: float
    children: dict[str, _Directory | _File] = attrs.field(factory=dict)


def _components(path: str) -> list[str]:
    """
    Split a checked driver path into its names (none for C{/}).
    """
    return path.split("/")[1:] if path != "/" else []


def _subdirectories(directory: _Directory) -> list[tuple[str, _Directory]]:
    """
    The directories directly in C{directory} with their names, sorted by
    name in reverse (to be popped in order).
    """
    found = [(name, child) for name, child in directory.children.items()
             if isinstance(child, _Directory)]
    found.sort(key=lambda item: item[0], reverse=True)
    return found


@implementer(IFileReader)
class _Reader:
    """
    Reads content as it was when the reader was opened.
    """

    def __init__(self, content: bytes, offset: int):
        self.size = len(content)
        self._content = memoryview(content)
        self._position = offset

    @returns_deferred
    def read(self, max_bytes: int) -> bytes:
        """
        See L{IFileReader.read}.
        """
        start = self._position
        self._position = min(start + max_bytes, self.size)
        return bytes(self._content[start : self._position])

    @returns_deferred
    def close(self) -> None:
        """
        See L{IFileReader.close}.
        """


@implementer(IFileWriter)
class _Writer:
    """
    Collects content, stored at the writer's path by C{close} or C{commit}.
    """

    def __init__(self, driver: InMemoryDriver, path: str, content: bytes):
        self._driver = driver
        self._path = path
        self._buffer = bytearray(content)
        self._closed = False

    @property
    def size(self) -> int:
        """
        See L{IFileWriter.size}.
        """
        return len(self._buffer)

    def _end(self) -> None:
        if self._closed:
            raise StorageError(self._path, f"writer of {self._path} is already closed")
        self._closed = True

    @returns_deferred
    def write(self, data: bytes, hasher: Any = None) -> None:
        """
        See L{IFileWriter.write}; C{hasher} is updated at once.
        """
        if self._closed:
            raise StorageError(self._path, f"writer of {self._path} is already closed")
        if hasher is not None:
            hasher.update(data)
        self._buffer += memoryview(data)

    @returns_deferred
    def close(self) -> None:
        """
        See L{IFileWriter.close}: stores the content.
        """
        self._end()
        self._driver._store(self._path, bytes(self._buffer))

    @returns_deferred
    def commit(self) -> None:
        """
        See L{IFileWriter.commit}: stores the content, like C{close}.
        """
        return self.close()

    @returns_deferred
    def cancel(self) -> None:
        """
        See L{IFileWriter.cancel}: forgets the content and removes what an
        earlier writer stored at the path.
        """
        self._end()
        self._driver._discard(self._path)


@implementer(IStorageDriver)
class InMemoryDriver:
    """
    Keeps content in memory.

    @ivar name: C{"inmemory"}.
    """

    name = "inmemory"

    def __init__(self, reactor: IReactorTime | None = None):
        """
        @param reactor: where modification times come from
            (C{reactor.seconds}); the wall clock if C{None}.
        """
        self._now: Callable[[], float] = reactor.seconds if reactor is not None else time.time
        self._root = _Directory(self._now())
        self._closed = False

    def _check(self, path: str, allow_root: bool = False) -> list[str]:
        """
        Check that the driver is open and C{path} is valid.

        @return: the names in C{path}.
        """
        self._check_open(path)
        return _components(check_path(path, allow_root))

    def _check_open(self, path: str) -> None:
        if self._closed:
            raise DriverUnavailableError(path, "the in-memory driver is closed")

    def _lookup(self, names: list[str]) -> _Directory | _File | None:
        """
        What is at the path made of C{names}, if anything.
        """
        node: _Directory | _File | None = self._root
        for name in names:
            if not isinstance(node, _Directory):
                return None
            node = node.children.get(name)
        return node

    def _directories(self, path: str, names: list[str], create: bool) -> list[_Directory]:
        """
        The directories on the way to C{names}, the root first.

        @param path: the driver path being worked on, for errors.
        @param create: make missing directories.
        @raise PathNotFoundError: if one is missing or a file, and not
            C{create}.
        @raise StorageError: if a file is in the way and C{create}.
        """
        chain = [self._root]
        for name in names:
            child = chain[-1].children.get(name)
            if child is None and create:
                child = chain[-1].children[name] = _Directory(self._now())
                chain[-1].mtime = child.mtime
            elif not isinstance(child, _Directory):
                if create:
                    raise StorageError(path, f"a file is in the way of {path}")
                raise PathNotFoundError(path)
            chain.append(child)
        return chain

    def _prune(self, chain: list[_Directory], names: list[str]) -> None:
        """
        Remove the directories of C{chain} (from L{_directories}) left empty,
        deepest first.
        """
        for depth in range(len(chain) - 1, 0, -1):
            if chain[depth].children:
                return
            del chain[depth - 1].children[names[depth - 1]]
            chain[depth - 1].mtime = self._now()

    def _store(self, path: str, content: bytes) -> None:
        """
        Put C{content} at the checked C{path}.

        @raise StorageError: if a directory or file is in the way.
        """
        self._check_open(path)
        *parents, name = _components(path)
        directory = self._directories(path, parents, create=True)[-1]
        if isinstance(directory.children.get(name), _Directory):
            raise StorageError(path, f"{path} is a directory")
        directory.children[name] = _File(content, self._now())
        directory.mtime = self._now()

    def _discard(self, path: str) -> None:
        """
        Remove the file at the checked C{path}, if there is one.
        """
        self._check_open(path)
        *parents, name = names = _components(path)
        if isinstance(self._lookup(names), _File):
            chain = self._directories(path, parents, create=False)
            del chain[-1].children[name]
            self._prune(chain, parents)

    def _file(self, path: str) -> _File:
        """
        The file at C{path}.

        @raise PathNotFoundError: if there is none.
        """
        node = self._lookup(self._check(path))
        if not isinstance(node, _File):
            raise PathNotFoundError(path)
        return node

    @returns_deferred
    def get_content(self, path: str) -> bytes:
        """
        See L{IStorageDriver.get_content}.
        """
        return self._file(path).content

    @returns_deferred
    def get_contents(self, paths: Sequence[str]) -> list[bytes | None]:
        """
        See L{IStorageDriver.get_contents}.
        """
        found = []
        for path in paths:
            node = self._lookup(self._check(path))
            found.append(node.content if isinstance(node, _File) else None)
        return found

    @returns_deferred
    def get_content_chain(
        self, path: str, follow: Callable[[list[bytes]], str | None]
    ) -> list[bytes]:
        """
        See L{IStorageDriver.get_content_chain}: C{follow} runs at once, on
        the caller's thread.
        """
        contents: list[bytes] = []
        next_path: str | None = path
        while next_path is not None:
            node = self._lookup(self._check(next_path))
            if not isinstance(node, _File):
                break
            contents.append(node.content)
            next_path = follow(contents)
        return contents

    @returns_deferred
    def put_content(self, path: str, content: bytes) -> None:
        """
        See L{IStorageDriver.put_content}.
        """
        self._check(path)
        self._store(path, as_bytes(content))

    @returns_deferred
    def reader(self, path: str, offset: int = 0) -> _Reader:
        """
        See L{IStorageDriver.reader}.
        """
        content = self._file(path).content
        if not 0 <= offset <= len(content):
            raise InvalidOffsetError(path, f"offset {offset} is outside {path} ({len(content)})")
        return _Reader(content, offset)

    @returns_deferred
    def writer(self, path: str, append: bool = False, create: bool = True) -> _Writer:
        """
        See L{IStorageDriver.writer}.  Content is stored when the writer is
        closed or committed.
        """
        node: _Directory | _File | None = self._root
        conflict = None
        for name in self._check(path):
            if isinstance(node, _File):
                conflict, node = f"a file is in the way of {path}", None
                break
            node = node.children.get(name) if node is not None else None
        if isinstance(node, _Directory):
            conflict = f"{path} is a directory"
        if not create and (conflict is not None or node is None):
            raise PathNotFoundError(path)
        if conflict is not None:
            raise StorageError(path, conflict)
        return _Writer(self, path, node.content if append and node is not None else b"")

    @returns_deferred
    def stat(self, path: str) -> FileInfo:
        """
        See L{IStorageDriver.stat}.
        """
        node = self._lookup(self._check(path, allow_root=True))
        if isinstance(node, _File):
            return FileInfo(path=path, size=len(node.content), mtime=node.mtime, is_dir=False)
        if node is None:
            raise PathNotFoundError(path)
        return FileInfo(path=path, size=0, mtime=node.mtime, is_dir=True)

    @returns_deferred
    def list(self, path: str) -> list[str]:
        """
        See L{IStorageDriver.list}; a file is L{PathNotFoundError} too.
        """
        return [info.path for info in self._children(path)]

    def _children(self, path: str) -> list[FileInfo]:
        """
        What is directly in the directory C{path}, sorted by name.
        """
        node = self._lookup(self._check(path, allow_root=True))
        if not isinstance(node, _Directory):
            raise PathNotFoundError(path)
        prefix = path.rstrip("/")
        return [
            FileInfo(
                path=f"{prefix}/{name}",
                size=0 if isinstance(child, _Directory) else len(child.content),
                mtime=child.mtime,
                is_dir=isinstance(child, _Directory),
            )
            for name, child in sorted(node.children.items())
        ]

    @returns_deferred
    def move(self, source: str, destination: str) -> None:
        """
        See L{IStorageDriver.move}.
        """
        *source_parents, source_name = self._check(source)
        *parents, name = self._check(destination)
        source_chain = self._directories(source, source_parents, create=False)
        node = source_chain[-1].children.get(source_name)
        if node is None:
            raise PathNotFoundError(source)
        if destination == source:
            return
        if destination.startswith(source + "/"):
            raise StorageError(destination, f"cannot move {source} into itself")
        directory = self._directories(destination, parents, create=True)[-1]
        existing = directory.children.get(name)
        if isinstance(existing, _Directory) or (
            existing is not None and isinstance(node, _Directory)
        ):
            raise StorageError(destination, f"{destination} and {source} are not both files")
        del source_chain[-1].children[source_name]
        directory.children[name] = node
        directory.mtime = source_chain[-1].mtime = self._now()
        self._prune(source_chain, source_parents)

    @returns_deferred
    def delete(self, path: str) -> None:
        """
        See L{IStorageDriver.delete}.
        """
        *parents, name = self._check(path)
        chain = self._directories(path, parents, create=False)
        if chain[-1].children.pop(name, None) is None:
            raise PathNotFoundError(path)
        self._prune(chain, parents)

    @returns_deferred
    def walk(self, path: str, visit: Callable[[FileInfo], Any]) -> Deferred[None]:
        """
        See L{IStorageDriver.walk}.
        """
        self._check(path, allow_root=True)
        return Deferred.fromCoroutine(walk_tree(path, visit, returns_deferred(self._children)))

    @returns_deferred
    def walk_directories(self, path: str, visit: Callable[[str], Any]) -> None:
        """
        See L{IStorageDriver.walk_directories}: C{visit} runs at once, on
        the caller's thread.
        """
        node = self._lookup(self._check(path, allow_root=True))
        if not isinstance(node, _Directory):
            raise PathNotFoundError(path)
        stack = [(path.rstrip("/"), _subdirectories(node))]
        while stack:
            prefix, children = stack[-1]
            if not children:
                stack.pop()
                continue
            name, child = children.pop()
            child_path = f"{prefix}/{name}"
            action = visit(child_path)
            if action == STOP_WALK:
                return
            if action not in (None, SKIP_DIR):
                raise ValueError(f"walk visitor returned {action!r} for {child_path}")
            if action is None:
                stack.append((child_path, _subdirectories(child)))

    @returns_deferred
    def redirect_url(self, path: str, method: str) -> None:
        """
        See L{IStorageDriver.redirect_url}: always C{None}.
        """
        self._check(path)
        return None

    @returns_deferred
    def close(self) -> None:
        """
        See L{IStorageDriver.close}: later calls fail with
        L{DriverUnavailableError}.
        """
        self._closed = True
