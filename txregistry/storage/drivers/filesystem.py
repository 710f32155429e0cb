# -*- test-case-name: tests.test_driver_filesystem -*-
"""
The C{filesystem} storage driver: Distribution's on-disk layout under a root
directory, so that a root can be shared with Distribution.

Every blocking call runs in the driver's own threads (a pool for file
content, a few lookup threads for short reads of metadata); the reactor
thread only checks paths and hands work over.  Paths are opened with
C{openat2} confined below the root where the kernel has it; otherwise, and
whenever that refuses a symbolic link, they are resolved one directory at a
time relative to an open descriptor of the previous one, so a symbolic link
inside the root is followed only after checking that it leads somewhere
inside the root, and the last component of a write is never followed at all.
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import re
import shutil
import queue
import stat
import sys
import threading
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, DeferredLock, fail
from twisted.internet.interfaces import IReactorCore, IReactorFromThreads
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool
from zope.interface import implementer

from txregistry.storage.drivers._support import as_bytes, returns_deferred, walk_tree
from txregistry.storage.interfaces import (
    DriverUnavailableError,
    SKIP_DIR,
    STOP_WALK,
    FileInfo,
    IFileSender,
    IFileWriter,
    InvalidOffsetError,
    InvalidPathError,
    IStorageDriver,
    PathNotFoundError,
    StorageError,
    check_path,
)

_T = TypeVar("_T")
_log = Logger()

_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# O_NONBLOCK so that opening a FIFO someone left in the root cannot hang a thread.
_READ = os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
_WRITE = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC

#: Names a driver path can contain; anything else on disk is not reported.
_NAME = re.compile(r"[A-Za-z0-9._-]+\Z")

#: Leftovers of interrupted atomic writes: ours end in C{.<uuid4 hex>.tmp},
#: Distribution's in C{.<uuid>.tmp}.
_TEMPORARY = re.compile(
    r"\.[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\.tmp\Z"
)

#: Queued writes are joined into OS writes of up to this many bytes...
_BATCH_BYTES = 1 << 20
#: ...and this many pieces (Linux's IOV_MAX).
_BATCH_PIECES = 1024
#: A writer asks the kernel to start writing its content back to disk in
#: blocks of this many bytes (counted from the start of the file), so that
#: the C{fsync} of a commit finds little left to flush.  A block is asked for
#: with the batch written after the one that completed it: asking can wait
#: (for a journal commit), and the last write of a chunk should not.
_WRITEBACK_BYTES = 8 << 20
#: C{sync_file_range}'s flag to start writeback without waiting for it.
_SYNC_FILE_RANGE_WRITE = 2
#: A writer makes its content durable in the background (C{fdatasync}, while
#: more is written) each time this many bytes have been stored since the last
#: time, so that a commit's C{fsync} has little left to flush.
_SYNC_BYTES = 32 << 20


def _find_sync_file_range() -> Callable[[int, int, int, int], int] | None:
    """
    Linux's C{sync_file_range} from the C library (Python has no binding),
    or C{None} where there is none.  Called through ctypes, it releases the
    GIL.
    """
    try:
        function = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


_sync_file_range = _find_sync_file_range()


#: C{openat2}'s system call number on the architectures of
#: L{_OPENAT2_MACHINES}, which share the generic numbering (Alpha, IA-64 and
#: MIPS number it differently, so they use the component walk).
_SYS_OPENAT2 = 437
_OPENAT2_MACHINES = frozenset({
    "x86_64", "amd64", "i386", "i686", "aarch64", "arm64", "armv7l", "armv6l",
    "riscv64", "ppc64le", "ppc64", "s390x", "loongarch64",
})
#: C{RESOLVE_NO_MAGICLINKS | RESOLVE_BENEATH}: resolution may not leave the
#: directory it starts from, by C{..}, an absolute path or a link.
_RESOLVE = 0x02 | 0x08


class _OpenHow(ctypes.Structure):
    """
    C{struct open_how}, C{openat2}'s argument.
    """

    _fields_ = [
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    ]


def _find_syscall() -> Callable[..., int] | None:
    """
    The C library's C{syscall} function, or C{None} where there is none
    or L{_SYS_OPENAT2} may name another call.
    """
    if sys.platform != "linux" or platform.machine().lower() not in _OPENAT2_MACHINES:
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syscall
    except (OSError, AttributeError):
        return None
    function.restype = ctypes.c_long
    return function


_syscall = _find_syscall()


def _open_beneath(dir_fd: int, relative: str, flags: int) -> int | None:
    """
    Open C{relative} below C{dir_fd} in one system call, letting no step of
    the resolution (C{..}, a link) leave C{dir_fd}.

    @return: the descriptor, or C{None} when C{openat2} cannot answer: the
        kernel or C library lacks it, or the path holds a link that it
        refuses (absolute, or leading out), which the caller then resolves
        one component at a time.
    @raise OSError: for any other failure (missing, not a directory, ...).
    """
    global _syscall
    if _syscall is None:
        return None
    how = _OpenHow(flags, 0, _RESOLVE)
    fd = _syscall(
        _SYS_OPENAT2,
        ctypes.c_int(dir_fd),
        os.fsencode(relative),
        ctypes.byref(how),
        ctypes.c_size_t(ctypes.sizeof(how)),
    )
    if fd >= 0:
        return fd
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EPERM, errno.E2BIG, errno.EINVAL):
        _syscall = None  # no openat2 here (or forbidden by a seccomp filter)
        return None
    if code in (errno.EXDEV, errno.ELOOP, errno.EAGAIN):
        return None
    raise OSError(code, os.strerror(code))


def _components(path: str) -> list[str]:
    """
    Split a checked driver path into its names (none for C{/}).
    """
    return path.split("/")[1:] if path != "/" else []


def _file_info(path: str, status: os.stat_result) -> FileInfo:
    """
    Describe what C{os.stat} found at C{path}.
    """
    is_dir = stat.S_ISDIR(status.st_mode)
    return FileInfo(
        path=path,
        size=0 if is_dir else status.st_size,
        mtime=status.st_mtime,
        is_dir=is_dir,
    )


def _storage_error(error: OSError, path: str, writing: bool) -> StorageError:
    """
    Translate an C{OSError} met while working on C{path}.

    @param writing: whether the operation stores something; a file where a
        directory is expected (or the reverse) then is a conflict rather than
        simply nothing being there.
    """
    reason = error.strerror or str(error)
    if isinstance(error, FileNotFoundError):
        return PathNotFoundError(path)
    if error.errno == errno.ENAMETOOLONG:
        return InvalidPathError(path, f"{path}: {reason}")
    conflict = error.errno in (errno.ENOTDIR, errno.EISDIR)
    if conflict and not writing:
        return PathNotFoundError(path)
    if conflict or error.errno in (errno.ENOTEMPTY, errno.EEXIST):
        return StorageError(path, f"{path}: a file and a directory are in the way ({reason})")
    return DriverUnavailableError(path, f"filesystem: {path}: {reason}")


@contextmanager
def _translated(path: str, writing: bool) -> Iterator[None]:
    """
    Raise L{StorageError}s instead of the C{OSError}s raised inside.
    """
    try:
        yield
    except OSError as error:
        raise _storage_error(error, path, writing) from error


def _call(function: Callable[..., _T], path: str, writing: bool, *args: Any) -> _T:
    """
    Call C{function(*args)} in a pool thread, translating C{OSError}s.
    """
    with _translated(path, writing):
        return function(*args)


def _write_all(fd: int, pieces: list[bytes], offset: int) -> None:
    """
    Write C{pieces} to C{fd} at C{offset}, with one system call when possible.
    """
    total = sum(map(len, pieces))
    written = os.pwritev(fd, pieces, offset)
    if written < total:
        rest = memoryview(b"".join(pieces))[written:]
        while rest:
            rest = rest[os.pwrite(fd, rest, offset + total - len(rest)) :]


#: What C{sendfile(2)} fails with where the file system (some FUSE ones, for
#: instance) or the socket does not support it.
_SENDFILE_UNSUPPORTED = frozenset([errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP])


def _send_file(
    socket_fd: int, fd: int, offset: int, count: int
) -> tuple[int, BaseException | None]:
    """
    Copy up to C{count} bytes of C{fd} from C{offset} to the non-blocking
    socket C{socket_fd} with C{sendfile(2)}, until done or the socket is
    full.  Runs in a pool thread.

    @return: the bytes copied, and what ended the copy if not the socket
        filling up: a C{ConnectionError} (the peer is gone) or, with nothing
        copied, an L{EOFError} (the file is at its end) or a
        L{NotImplementedError} (this file or socket cannot be copied so).
    """
    sent = 0
    while sent < count:
        try:
            copied = os.sendfile(socket_fd, fd, offset + sent, count - sent)
        except BlockingIOError:
            break
        except ConnectionError as error:
            return sent, error
        except OSError as error:
            if sent or error.errno not in _SENDFILE_UNSUPPORTED:
                raise
            return 0, NotImplementedError(f"sendfile: {error.strerror}")
        if not copied:
            return sent, None if sent else EOFError(f"end of file at {offset}")
        sent += copied
    return sent, None


def _write_batch(
    fd: int,
    pieces: list[bytes],
    hashers: list[Any],
    offset: int,
    writeback: tuple[int, int] | None,
) -> None:
    """
    Feed each piece to its hasher (if any), write the pieces at C{offset},
    then start the writeback of the range C{writeback} (start, length).

    Runs in a pool thread: hashlib releases the GIL for large pieces, so the
    reactor goes on meanwhile.
    """
    for piece, hasher in zip(pieces, hashers):
        if hasher is not None:
            hasher.update(piece)
    _write_all(fd, pieces, offset)
    if writeback is not None and _sync_file_range is not None:
        # Only a hint, not waited for: its result is ignored, and where it
        # is refused the commit's fsync does it all.
        _sync_file_range(fd, *writeback, _SYNC_FILE_RANGE_WRITE)


def _read_to_end(fd: int, size: int) -> bytes:
    """
    Read everything left in C{fd}, expected to be C{size} bytes.
    """
    pieces = []
    while piece := os.read(fd, max(size, 1 << 16)):
        pieces.append(piece)
    return b"".join(pieces)


def _close(fd: int, sync: bool) -> None:
    """
    Close C{fd}, first making its content durable if C{sync}.
    """
    try:
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def _regular_file(fd: int, path: str, error: type[StorageError]) -> tuple[int, int]:
    """
    Check that the open C{fd} is a regular file.

    @return: C{(fd, size)}.
    @raise StorageError: of type C{error}, after closing C{fd}, if it is not.
    """
    try:
        status = os.fstat(fd)
        if not stat.S_ISREG(status.st_mode):
            raise error(path, f"{path} is not a regular file")
    except BaseException:
        os.close(fd)
        raise
    return fd, status.st_size


class _Tree:
    """
    Blocking operations on the files under one root directory, called in the
    driver's threads with checked driver paths.  They raise C{OSError}s, and
    L{StorageError}s for what C{OSError} cannot say.
    """

    def __init__(self, root: str):
        self._root = root
        self._real_root: str | None = None

    def _inside(self, fd: int) -> bool:
        """
        Whether the open file C{fd} is the root or below it.
        """
        if self._real_root is None:
            self._real_root = os.path.realpath(self._root)
        try:
            where = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            return False  # Without /proc we cannot tell, so links are not followed.
        prefix = self._real_root.rstrip("/") + "/"
        return where == self._real_root or where.startswith(prefix)

    def _follow(self, dir_fd: int, name: str, flags: int, path: str) -> int:
        """
        Open the symbolic link C{name} in C{dir_fd}, if it leads inside the
        root.

        @raise InvalidPathError: if it leads elsewhere.
        """
        fd = os.open(name, flags, dir_fd=dir_fd)
        if not self._inside(fd):
            os.close(fd)
            raise InvalidPathError(path, f"{path} leads outside the storage root")
        return fd

    def _open_child_directory(self, dir_fd: int, name: str, path: str, create: bool) -> int:
        """
        Open the directory C{name} in C{dir_fd}, making it if C{create}.
        """
        try:
            return os.open(name, _DIRECTORY | os.O_NOFOLLOW, dir_fd=dir_fd)
        except FileNotFoundError:
            if not create:
                raise
            with suppress(FileExistsError):  # made meanwhile by someone else
                os.mkdir(name, dir_fd=dir_fd)
            return self._open_child_directory(dir_fd, name, path, create=False)
        except NotADirectoryError:
            # With O_NOFOLLOW a symbolic link is "not a directory" too.
            if not stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                raise
            return self._follow(dir_fd, name, _DIRECTORY, path)

    def _open_root(self, create: bool) -> int:
        """
        Open the root directory, making it first if C{create}.

        @return: a file descriptor the caller must close.
        """
        try:
            return os.open(self._root, _DIRECTORY)
        except FileNotFoundError:
            if not create:
                raise
            os.makedirs(self._root, exist_ok=True)
            return os.open(self._root, _DIRECTORY)

    def open_directory(self, names: list[str], path: str, create: bool = False) -> int:
        """
        Open the directory reached from the root through C{names}.

        @param path: the driver path being worked on, for errors.
        @param create: make missing directories (and the root).
        @return: a file descriptor the caller must close.
        """
        fd = self._open_root(create)
        try:
            if names:
                try:
                    found = _open_beneath(fd, "/".join(names), _DIRECTORY)
                except FileNotFoundError:
                    if not create:
                        raise
                    found = None
                if found is not None:
                    os.close(fd)
                    return found
            for name in names:
                child = self._open_child_directory(fd, name, path, create)
                os.close(fd)
                fd = child
        except BaseException:
            os.close(fd)
            raise
        return fd

    def open_file(self, path: str) -> tuple[int, int]:
        """
        Open the regular file at C{path} for reading.

        @return: its descriptor, which the caller must close, and its size.
        @raise PathNotFoundError: if C{path} is a directory or special file.
        """
        root_fd = self._open_root(create=False)
        try:
            fd = _open_beneath(root_fd, path[1:], _READ)
        finally:
            os.close(root_fd)
        if fd is not None:
            return _regular_file(fd, path, PathNotFoundError)
        *parents, name = _components(path)
        dir_fd = self.open_directory(parents, path)
        try:
            try:
                fd = os.open(name, _READ | os.O_NOFOLLOW, dir_fd=dir_fd)
            except OSError as error:
                if error.errno != errno.ELOOP:
                    raise
                fd = self._follow(dir_fd, name, _READ, path)
        finally:
            os.close(dir_fd)
        return _regular_file(fd, path, PathNotFoundError)

    def open_reader(self, path: str, offset: int) -> tuple[int, int]:
        """
        L{open_file}, checking that C{offset} is not past the end.
        """
        fd, size = self.open_file(path)
        if offset > size:
            os.close(fd)
            raise InvalidOffsetError(path, f"offset {offset} is past the end of {path} ({size})")
        return fd, size

    def get_content(self, path: str) -> bytes:
        """
        The whole content of the file at C{path}.
        """
        fd, size = self.open_file(path)
        try:
            return _read_to_end(fd, size)
        finally:
            os.close(fd)

    def get_contents(self, paths: list[str]) -> list[bytes | None]:
        """
        The whole content of each file at C{paths}, C{None} where there is
        none.
        """
        found: list[bytes | None] = []
        for path in paths:
            try:
                with _translated(path, writing=False):
                    found.append(self.get_content(path))
            except PathNotFoundError:
                found.append(None)
        return found

    def get_content_chain(
        self, path: str, follow: Callable[[list[bytes]], str | None]
    ) -> list[bytes]:
        """
        The content at C{path}, then at each path C{follow} names, until it
        names none or a file is missing.
        """
        contents: list[bytes] = []
        next_path: str | None = path
        while next_path is not None:
            try:
                with _translated(next_path, writing=False):
                    contents.append(self.get_content(check_path(next_path)))
            except PathNotFoundError:
                break
            next_path = follow(contents)
        return contents

    def put_content(self, path: str, content: bytes) -> None:
        """
        Replace the file at C{path} atomically: write a temporary file beside
        it, make it durable, rename it over C{path}, then make the rename
        durable.
        """
        *parents, name = _components(path)
        dir_fd = self.open_directory(parents, path, create=True)
        try:
            temporary = f"{name}.{uuid.uuid4().hex}.tmp"
            fd = os.open(temporary, _WRITE | os.O_EXCL, 0o666, dir_fd=dir_fd)
            try:
                try:
                    _write_all(fd, [content], 0)
                finally:
                    _close(fd, sync=True)
                os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
            except BaseException:
                with suppress(OSError):
                    os.unlink(temporary, dir_fd=dir_fd)
                raise
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def open_writer(self, path: str, append: bool, create: bool) -> tuple[int, int]:
        """
        Open the file at C{path} for writing, keeping its content if
        C{append} and truncating it otherwise.

        @param create: create the file and its parents if missing; otherwise
            a missing file is a C{FileNotFoundError}.
        @return: its descriptor, which the caller must close, and its size.
        @raise InvalidPathError: if C{path} is a symbolic link.
        """
        *parents, name = _components(path)
        dir_fd = self.open_directory(parents, path, create=create)
        try:
            flags = _WRITE if create else _WRITE & ~os.O_CREAT
            if not append:
                flags |= os.O_TRUNC
            fd = os.open(name, flags, 0o666, dir_fd=dir_fd)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise InvalidPathError(path, f"{path} is a symbolic link") from error
            raise
        finally:
            os.close(dir_fd)
        return _regular_file(fd, path, StorageError)

    def stat(self, path: str) -> FileInfo:
        """
        Describe the file or directory at C{path}.
        """
        *parents, name = _components(path) or [None]
        dir_fd = self.open_directory(parents, path)
        try:
            if name is None:
                return _file_info(path, os.fstat(dir_fd))
            status = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
            if stat.S_ISLNK(status.st_mode):
                fd = self._follow(dir_fd, name, _READ, path)
                try:
                    status = os.fstat(fd)
                finally:
                    os.close(fd)
            return _file_info(path, status)
        finally:
            os.close(dir_fd)

    def scan(self, path: str) -> list[FileInfo]:
        """
        Describe what is directly in the directory C{path}, sorted by name.

        Entries that vanish meanwhile, names no driver path can hold, leftover
        temporary files, and links leading out of the root or back to the
        directory or one of its ancestors (which would make walks endless)
        are left out.
        """
        names = _components(path)
        prefix = path.rstrip("/")
        infos = []
        dir_fd = self.open_directory(names, path)
        try:
            with os.scandir(dir_fd) as entries:
                for entry in entries:
                    if not _NAME.match(entry.name) or _TEMPORARY.search(entry.name):
                        continue
                    child = f"{prefix}/{entry.name}"
                    try:
                        status = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    if stat.S_ISLNK(status.st_mode):
                        try:
                            status = self._stat_link(dir_fd, entry.name, child, names)
                        except (OSError, InvalidPathError):
                            continue  # dangling, a loop of links, or leading outside
                    infos.append(_file_info(child, status))
        finally:
            os.close(dir_fd)
        infos.sort(key=lambda info: info.path)
        return infos

    def _entries(self, dir_fd: int, path: str) -> Iterator[tuple[str, bool]]:
        """
        The names in the open directory C{dir_fd} (at C{path}) that L{scan}
        reports, each with whether it is a directory, telling from the
        directory entry's type without a C{stat} where the file system
        records it.
        """
        with os.scandir(dir_fd) as entries:
            yield from self._entries_of(entries, dir_fd, path)

    def _entries_of(
        self, entries: Iterable[os.DirEntry[str]], dir_fd: int, path: str
    ) -> Iterator[tuple[str, bool]]:
        """
        L{_entries} for some C{entries} of the directory C{dir_fd}.
        """
        prefix = path.rstrip("/")
        names: list[str] | None = None
        for entry in entries:
            name = entry.name
            if not _NAME.match(name) or _TEMPORARY.search(name):
                continue
            try:
                if entry.is_symlink():
                    if names is None:
                        names = _components(path)
                    status = self._stat_link(dir_fd, name, f"{prefix}/{name}", names)
                    yield name, stat.S_ISDIR(status.st_mode)
                else:
                    yield name, entry.is_dir(follow_symlinks=False)
            except (OSError, InvalidPathError):
                continue  # vanished, dangling, a loop of links, or leading outside

    def names(self, path: str) -> list[str]:
        """
        The paths of what is directly in the directory C{path}, sorted, as
        L{scan} reports them but without describing each.
        """
        names = _components(path)
        prefix = path.rstrip("/")
        dir_fd = self.open_directory(names, path)
        try:
            found = [f"{prefix}/{name}" for name, _ in self._entries(dir_fd, path)]
        finally:
            os.close(dir_fd)
        found.sort()
        return found

    def walk_directories(self, path: str, visit: Callable[[str], Any]) -> None:
        """
        Call C{visit} on every directory below C{path}, depth first, names
        sorted, descending unless it returns L{SKIP_DIR} and stopping when it
        returns L{STOP_WALK}.  Each directory is opened from its parent's
        open descriptor, following a link only as L{scan} does; a directory
        that vanishes before it is opened is skipped.
        """
        dir_fd = self.open_directory(_components(path), path)
        # Each level: its open descriptor, its path, and its child
        # directories still to visit (sorted in reverse, to pop).
        stack = [(dir_fd, path.rstrip("/"), self._directories(dir_fd, path))]
        try:
            while stack:
                dir_fd, prefix, children = stack[-1]
                if not children:
                    stack.pop()
                    os.close(dir_fd)
                    continue
                name = children.pop()
                child = f"{prefix}/{name}"
                action = visit(child)
                if action is None:
                    try:
                        child_fd = self._open_child_directory(dir_fd, name, child, create=False)
                    except (FileNotFoundError, NotADirectoryError):
                        continue  # deleted or replaced since it was listed
                    try:
                        grandchildren = self._directories(child_fd, child)
                    except BaseException:
                        os.close(child_fd)
                        raise
                    stack.append((child_fd, child, grandchildren))
                elif action == STOP_WALK:
                    return
                elif action != SKIP_DIR:
                    raise ValueError(f"walk visitor returned {action!r} for {child}")
        finally:
            for dir_fd, _, _ in stack:
                os.close(dir_fd)

    def _directories(self, dir_fd: int, path: str) -> list[str]:
        """
        The names of the directories in C{dir_fd} (at C{path}) that L{scan}
        would report, sorted in reverse; only links need a C{stat}.
        """
        found = []
        with os.scandir(dir_fd) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    name = entry.name
                    if _NAME.match(name) and not (
                        name.endswith(".tmp") and _TEMPORARY.search(name)
                    ):
                        found.append(name)
                elif entry.is_symlink():
                    found.extend(
                        name
                        for name, is_dir in self._entries_of([entry], dir_fd, path)
                        if is_dir
                    )
        found.sort(reverse=True)
        return found

    def _stat_link(self, dir_fd: int, name: str, path: str, names: list[str]) -> os.stat_result:
        """
        Describe what the link C{name} in the directory C{names} leads to.

        @raise InvalidPathError: if it leads outside the root, or to the
            directory itself or one of its ancestors.
        """
        fd = self._follow(dir_fd, name, _READ, path)
        try:
            target = os.fstat(fd)
        finally:
            os.close(fd)
        if stat.S_ISDIR(target.st_mode):
            for depth in range(len(names) + 1):
                status = os.stat(os.path.join(self._root, *names[:depth]))
                if (status.st_dev, status.st_ino) == (target.st_dev, target.st_ino):
                    raise InvalidPathError(path, f"{path} leads back to an ancestor")
        return target

    def move(self, source: str, destination: str) -> None:
        """
        Rename C{source} to C{destination}, replacing it and creating its
        parents.
        """
        *source_parents, source_name = _components(source)
        *parents, name = _components(destination)
        with _translated(source, writing=False):
            source_fd = self.open_directory(source_parents, source)
        try:
            with _translated(source, writing=False):
                os.stat(source_name, dir_fd=source_fd, follow_symlinks=False)
            dir_fd = self.open_directory(parents, destination, create=True)
            try:
                os.replace(source_name, name, src_dir_fd=source_fd, dst_dir_fd=dir_fd)
            finally:
                os.close(dir_fd)
        finally:
            os.close(source_fd)

    def unlink(self, path: str) -> None:
        """
        Remove the file at C{path} (not a directory).
        """
        *parents, name = _components(path)
        dir_fd = self.open_directory(parents, path)
        try:
            os.unlink(name, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)

    def delete(self, path: str) -> None:
        """
        Remove the file at C{path}, or the directory and everything below it
        (a symbolic link is removed, not followed).
        """
        *parents, name = _components(path)
        dir_fd = self.open_directory(parents, path)
        try:
            if stat.S_ISDIR(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode):
                shutil.rmtree(name, dir_fd=dir_fd)
            else:
                os.unlink(name, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)


@implementer(IFileSender)
class _Reader:
    """
    Reads an open file in the driver's threads, one read (or copy to a
    socket) at a time.

    @ivar size: the size of the file when it was opened.
    """

    def __init__(self, driver: FilesystemDriver, path: str, fd: int, size: int, offset: int):
        self.size = size
        self._driver = driver
        self._path = path
        self._fd: int | None = fd
        self._position = offset
        self._lock = DeferredLock()

    @returns_deferred
    async def read(self, max_bytes: int) -> bytes:
        """
        Read up to C{max_bytes} more bytes (reads are applied in call order).

        @return: a L{Deferred} firing with the bytes, C{b""} at the end.
        """
        async with self._lock:
            if self._fd is None:
                raise StorageError(self._path, f"reader of {self._path} is closed")
            data = await self._driver._run(
                os.pread, self._path, False, self._fd, max_bytes, self._position
            )
            self._position += len(data)
            return data

    @returns_deferred
    async def send_to(self, socket_fd: int, max_bytes: int) -> int:
        """
        See L{IFileSender.send_to}.
        """
        async with self._lock:
            if self._fd is None:
                raise StorageError(self._path, f"reader of {self._path} is closed")
            sent, ended = await self._driver._run(
                _send_file, self._path, False, socket_fd, self._fd, self._position, max_bytes
            )
            self._position += sent
            if ended is not None:
                raise ended
            return sent

    @returns_deferred
    async def close(self) -> None:
        """
        Close the file, once any read in progress is done.
        """
        async with self._lock:
            fd, self._fd = self._fd, None
            if fd is not None:
                await self._driver._run(os.close, self._path, False, fd)


class _BackgroundSync:
    """
    A writer's C{fdatasync} running in the pool, and the hand-over of its
    descriptor when the writer is closed meanwhile: the pool thread then
    closes it once the sync is done, and the close does not wait.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running = True
        self.close_after = False

    def run(self, fd: int) -> None:
        """
        Make C{fd}'s content durable, then close it if asked meanwhile.
        Runs in a pool thread.
        """
        try:
            os.fdatasync(fd)
        finally:
            with self._lock:
                self._running = False
                close = self.close_after
            if close:
                os.close(fd)

    def hand_over(self) -> bool:
        """
        Ask the sync, if it still runs, to close the descriptor when done.

        @return: whether it took the descriptor (else the caller closes it).
        """
        with self._lock:
            if self._running:
                self.close_after = True
            return self._running


@implementer(IFileWriter)
class _Writer:
    """
    Writes an open file in the driver's threads.  Writes queue up; one pool
    thread at a time writes them, in order, in batches of what has queued
    meanwhile (see L{_write_until_empty}).

    So that a commit's C{fsync} has little left to wait for, the kernel is
    asked to start writing the content back in blocks of
    L{_WRITEBACK_BYTES} (a batch late, and not while a sync runs), and
    each time the content crosses a multiple of L{_SYNC_BYTES} what is
    stored is made durable (C{fdatasync}) in another thread while writes go
    on.  The commit's C{fsync} still comes last: durability is decided
    there, as before.  The multiples count from the start of the file, so
    that appends by a series of writers (the chunks of an upload) are made
    durable as they go, not all at the commit; a writer closed while its
    sync runs does not wait for it (see L{FilesystemDriver._late_sync_failed}
    for when that sync fails).

    @ivar size: the bytes accepted so far, including those already in the
        file when it was opened.
    """

    def __init__(self, driver: FilesystemDriver, path: str, fd: int, size: int):
        self.size = size
        self._driver = driver
        self._path = path
        self._fd = fd
        self._written = size
        # The block before the one being appended to may not have been
        # handed to writeback yet: the previous writer's last batch ended it.
        self._writeback_from = max(0, (size // _WRITEBACK_BYTES - 1) * _WRITEBACK_BYTES)
        self._synced_from = size
        self._sync: _BackgroundSync | None = None
        self._synced: list[Deferred[None]] = []
        # A late sync failure of an earlier writer of this path, as it was
        # when this one opened: the commit fails if another comes.
        self._late_failure = driver._late_failures.get(path)
        # Writes waiting for the writing thread, and whether one runs: both
        # shared with that thread, under _handoff.
        self._queue: deque[tuple[bytes, Any, Deferred[None]]] = deque()
        self._writing = False
        self._handoff = threading.Lock()
        # A failure the writing thread met, before the reactor hears of it.
        self._failure: Exception | None = None
        # Runs of the writing thread not yet reported ended to the reactor.
        self._loops = 0
        self._error: StorageError | None = None
        self._closed = False
        self._drained: list[Deferred[None]] = []

    @returns_deferred
    def write(self, data: bytes, hasher: Any = None) -> Deferred[None]:
        """
        Append C{data}; see L{IFileWriter.write}.  C{hasher} is updated in
        the thread that writes C{data}.

        @return: a L{Deferred} firing once C{data} is written.
        """
        self._check_open()
        if self._error is not None:
            raise self._error
        data = as_bytes(data)
        written: Deferred[None] = Deferred()
        with self._handoff:
            if self._failure is not None:
                # The writing thread failed and the reactor has not heard yet:
                # nothing more may be written after the bytes it lost.
                raise self._failure
            self._queue.append((data, hasher, written))
            start = not self._writing
            self._writing = True
        self.size += len(data)
        if start:
            self._loops += 1
            self._driver._run(self._write_until_empty, self._path, True,
                              then=self._loop_ended)
        return written

    def _next_batch(self) -> tuple[list[bytes], list[Any], list[Deferred[None]], int]:
        """
        Take queued writes, up to one batch (with L{_handoff} held).

        @return: their pieces, hashers and L{Deferred}s, and their length.
        """
        pieces: list[bytes] = []
        hashers: list[Any] = []
        waiting: list[Deferred[None]] = []
        total = 0
        while self._queue and len(pieces) < _BATCH_PIECES:
            data, hasher, written = self._queue[0]
            if pieces and total + len(data) > _BATCH_BYTES:
                break
            self._queue.popleft()
            pieces.append(data)
            hashers.append(hasher)
            waiting.append(written)
            total += len(data)
        return pieces, hashers, waiting, total

    def _write_until_empty(self) -> None:
        """
        In a pool thread: write batch after batch of what is queued until
        nothing is, telling the reactor as each is done.  The thread goes on
        to the next batch without a round trip through the reactor, which may
        be busy reading the next bytes; only this thread touches the offsets
        meanwhile.
        """
        tell = self._driver._reactor.callFromThread
        while True:
            with self._handoff:
                if not self._queue:
                    self._writing = False
                    return
                pieces, hashers, waiting, total = self._next_batch()
            offset, self._written = self._written, self._written + total
            writeback = None
            # The whole blocks earlier batches wrote, not yet handed over;
            # not while the file is being synced: asking then waits for the
            # file system's journal commit, which the sync is doing.
            written_blocks = offset // _WRITEBACK_BYTES * _WRITEBACK_BYTES
            if written_blocks > self._writeback_from and self._path not in self._driver._syncing:
                writeback = (self._writeback_from, written_blocks - self._writeback_from)
                self._writeback_from = written_blocks
            try:
                with _translated(self._path, writing=True):
                    _write_batch(self._fd, pieces, hashers, offset, writeback)
            except Exception as error:
                tell(self._wrote, waiting + self._stop_writing(error), self._written, error)
                return
            tell(self._wrote, waiting, self._written)

    def _stop_writing(self, error: Exception) -> list[Deferred[None]]:
        """
        Refuse further writes after C{error}, and take those still queued.

        @return: their L{Deferred}s, to fail.
        """
        with self._handoff:
            self._failure = error
            self._writing = False
            waiting = [written for _, _, written in self._queue]
            self._queue.clear()
        return waiting

    def _loop_ended(self, result: None | Failure) -> None:
        """
        A run of L{_write_until_empty} returned, after telling of each batch
        (or never ran: the driver is closed).  Once none runs, the writer is
        drained.
        """
        if isinstance(result, Failure):
            self._wrote(self._stop_writing(result.value), self._written, result.value)
        self._loops -= 1
        if not self._loops:
            drained, self._drained = self._drained, []
            for waiter in drained:
                waiter.callback(None)

    def _sync_in_background(self, stored: int) -> None:
        """
        Start an C{fdatasync} of what is stored if the file crossed a
        multiple of L{_SYNC_BYTES} since the last one and no sync of the file
        is running.
        """
        if (self._path in self._driver._syncing or self._error is not None
                or stored // _SYNC_BYTES == self._synced_from // _SYNC_BYTES):
            return  # one sync per file at a time, this writer's or another's
        self._synced_from = stored
        sync = self._sync = _BackgroundSync()
        self._driver._syncing.add(self._path)
        self._driver._run(sync.run, self._path, True, self._fd,
                          then=lambda result: self._sync_done(result, sync))

    def _sync_done(self, result: None | Failure, sync: _BackgroundSync) -> None:
        self._sync = None
        self._driver._syncing.discard(self._path)
        if sync.close_after:
            # Closed meanwhile: nobody waits for this sync any more.
            if isinstance(result, Failure):
                self._driver._late_sync_failed(self._path, result.value)
            return
        if isinstance(result, Failure) and self._error is None:
            # The kernel reports a lost write once: never commit after it.
            self._error = result.value
        synced, self._synced = self._synced, []
        for waiter in synced:
            waiter.callback(None)

    def _wrote(self, waiting: list[Deferred[None]], stored: int,
               error: Exception | None = None) -> None:
        """
        A batch is written, C{stored} bytes in all: tell its callers.  Or,
        given C{error}, it failed: fail them (and those queued behind).
        """
        if error is None:
            self._sync_in_background(stored)
        else:
            self._error = error
        for written in waiting:
            if error is None:
                written.callback(None)
            else:
                written.errback(self._error)

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError(self._path, f"writer of {self._path} is already closed")

    async def _finish(self, sync: bool, remove: bool) -> None:
        """
        Wait for queued writes, close the file and, if C{remove}, delete it.

        @raise StorageError: if a write failed and the content was wanted.
        """
        self._check_open()
        self._closed = True
        if self._loops:
            drained: Deferred[None] = Deferred()
            self._drained.append(drained)
            await drained
        running = self._sync
        # Closing for a later append while a sync runs: it closes the file.
        handed_over = running is not None and not (sync or remove) and running.hand_over()
        if not handed_over:
            if running is not None:
                synced: Deferred[None] = Deferred()
                self._synced.append(synced)
                await synced
            await self._driver._run(_close, self._path, True, self._fd, sync)
        if remove:
            with suppress(PathNotFoundError):
                await self._driver._run(self._driver._tree.unlink, self._path, False, self._path)
            return
        if self._error is not None:
            raise self._error
        late = self._driver._late_failures.get(self._path)
        if sync and late is not self._late_failure:
            raise late

    @returns_deferred
    def close(self) -> Coroutine[Any, Any, None]:
        """
        Write what is queued and close the file, leaving the content for a
        later append.
        """
        return self._finish(sync=False, remove=False)

    @returns_deferred
    def commit(self) -> Coroutine[Any, Any, None]:
        """
        Write what is queued, make it durable and close the file.
        """
        return self._finish(sync=True, remove=False)

    @returns_deferred
    def cancel(self) -> Coroutine[Any, Any, None]:
        """
        Close the file and delete it.
        """
        return self._finish(sync=False, remove=True)


#: Threads for short reads of metadata (links, manifests, listings): one per
#: CPU, at least two.  More mostly fight over the GIL: on a 2-CPU machine,
#: 4 threads served catalog pages and tag lists no faster than 2.
_LOOKUP_THREADS = max(2, os.cpu_count() or 1)


class _Workers:
    """
    A few threads running short blocking calls taken from one queue, each
    result handed back to the reactor thread.  A call costs the reactor one
    C{put} on a C library queue, less than a L{ThreadPool}'s hand-over; and
    however many requests wait, no more threads than this compete for the
    GIL.  The threads start with the first call.

    @ivar stopped: whether L{stop} was called.
    """

    def __init__(self, reactor: IReactorFromThreads, size: int, name: str):
        self._reactor = reactor
        self._size = size
        self._name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self.stopped = False

    def submit(self, function: Callable[..., _T], *args: Any) -> Deferred[_T]:
        """
        Call C{function(*args)} in one of the threads.

        @return: a L{Deferred} of its result, fired in the reactor thread.
        """
        if not self._threads:
            for number in range(self._size):
                thread = threading.Thread(
                    target=self._work, name=f"{self._name}-{number}", daemon=True
                )
                thread.start()
                self._threads.append(thread)
        done: Deferred[_T] = Deferred()
        self._queue.put((function, args, done))
        return done

    def _work(self) -> None:
        """
        Run calls until told to stop.
        """
        while (item := self._queue.get()) is not None:
            function, args, done = item
            try:
                result = function(*args)
            except BaseException:
                self._reactor.callFromThread(done.errback, Failure())
            else:
                self._reactor.callFromThread(done.callback, result)

    def stop(self) -> None:
        """
        Let the threads finish the calls queued, then end them.
        """
        self.stopped = True
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join()
        self._threads = []


@implementer(IStorageDriver)
class FilesystemDriver:
    """
    Stores content as files under a root directory, laid out as Distribution
    lays them out, so that a root can be shared with it.

    A driver path C{/a/b} is the file C{<root>/a/b}.  Symbolic links inside
    the root are followed only when they lead to somewhere inside the root
    (checked through C{/proc/self/fd}, so nowhere without C{/proc}); writes
    never follow a link at the path itself.  Leftover temporary files of
    interrupted atomic writes and names no driver path can hold are not
    listed.

    @ivar name: C{"filesystem"}.
    """

    name = "filesystem"

    def __init__(
        self,
        root: str,
        reactor: IReactorCore | IReactorFromThreads,
        maxthreads: int = 100,
    ):
        """
        Start the driver's thread pool and its few lookup threads (for
        reads of metadata); they stop on L{close} or when the reactor shuts
        down.

        @param root: the root directory; it is made on the first write if
            missing.  A relative path is taken relative to the current
            directory now.
        @param reactor: the reactor whose thread calls the driver.
        @param maxthreads: how many threads may block on the disk at once.
        """
        self._tree = _Tree(os.path.abspath(root))
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=0, maxthreads=maxthreads, name="txregistry-filesystem")
        self._pool.start()
        self._lookups = _Workers(
            reactor, min(maxthreads, _LOOKUP_THREADS), "txregistry-filesystem-lookup"
        )
        self._walks = _Workers(reactor, 1, "txregistry-filesystem-walk")
        self._shutdown = reactor.addSystemEventTrigger("during", "shutdown", self._stop_threads)
        self._running = 0
        self._idle: list[Deferred[None]] = []
        self._closed = False
        self._late_failures: dict[str, StorageError] = {}
        self._syncing: set[str] = set()  # paths with a background sync running

    def _run(
        self, function: Callable[..., _T], path: str, writing: bool, *args: Any,
        then: Callable[[Any], Any] | None = None, closing: bool = False,
    ) -> Deferred[_T]:
        """
        Call C{function(*args)} in the pool, translating C{OSError}s about
        C{path} into L{StorageError}s (see L{_storage_error} for C{writing}).

        @param then: called with the result (or failure) while the call
            still counts as in progress, so that L{close} waits for what it
            starts.
        @param closing: run even if L{close} was called (while it waits for
            the calls in progress).
        """
        if (self._closed and not closing) or self._pool.joined:  # closed, or reactor shut down
            refused = fail(DriverUnavailableError(path, "the filesystem driver is closed"))
            return refused if then is None else refused.addBoth(then)
        self._running += 1
        done = deferToThreadPool(self._reactor, self._pool, _call, function, path, writing, *args)
        if then is not None:
            done.addBoth(then)
        return done.addBoth(self._finished)

    def _look(
        self, function: Callable[..., _T], path: str, *args: Any, walk: bool = False
    ) -> Deferred[_T]:
        """
        Like L{_run} for a call that only reads: in the few lookup threads,
        so that many concurrent requests do not grow the pool; or, for a
        C{walk} of many directories, in the one walk thread, so that walks
        run one after the other instead of handing the GIL to each other at
        every system call.
        """
        workers = self._walks if walk else self._lookups
        if self._closed or workers.stopped:
            return fail(DriverUnavailableError(path, "the filesystem driver is closed"))
        self._running += 1
        done = workers.submit(_call, function, path, False, *args)
        return done.addBoth(self._finished)

    def _late_sync_failed(self, path: str, error: Exception) -> None:
        """
        A background sync of C{path} failed after its writer was closed (so
        no request waits for it).  The kernel reports such a failure once:
        a later C{fsync} on another descriptor may not see it, so an upload
        could complete with bytes that never reached the disk.  Instead the
        file is removed (later appends start from nothing, and a digest
        computed from it cannot match) and a commit by a writer opened
        before that fails.
        """
        if not isinstance(error, StorageError):
            error = StorageError(path, str(error))
        self._late_failures[path] = error
        _log.error(
            "filesystem: making {path} durable failed after its writer was closed ({error}); "
            "removing it",
            path=path, error=error,
        )
        removed = self._run(self._tree.unlink, path, False, path, closing=True)
        removed.addErrback(lambda failure: _log.failure(
            "filesystem: {path} could not be removed", failure, path=path))

    def _stop_threads(self) -> None:
        """
        Stop the thread pool, the lookup threads and the walk thread.
        """
        self._walks.stop()
        self._lookups.stop()
        self._pool.stop()

    def _finished(self, result: _T) -> _T:
        self._running -= 1
        if not self._running:
            idle, self._idle = self._idle, []
            for waiter in idle:
                waiter.callback(None)
        return result

    @returns_deferred
    def get_content(self, path: str) -> Deferred[bytes]:
        """
        See L{IStorageDriver.get_content}.
        """
        return self._look(self._tree.get_content, check_path(path), path)

    @returns_deferred
    def get_contents(self, paths: Sequence[str]) -> Deferred[list[bytes | None]]:
        """
        See L{IStorageDriver.get_contents}: one call in a pool thread.
        """
        paths = [check_path(path) for path in paths]
        return self._look(self._tree.get_contents, paths[0] if paths else "/", paths)

    @returns_deferred
    def get_content_chain(
        self, path: str, follow: Callable[[list[bytes]], str | None]
    ) -> Deferred[list[bytes]]:
        """
        See L{IStorageDriver.get_content_chain}: one call in a lookup
        thread, where C{follow} runs.
        """
        return self._look(self._tree.get_content_chain, check_path(path), path, follow)

    @returns_deferred
    def put_content(self, path: str, content: bytes) -> Deferred[None]:
        """
        See L{IStorageDriver.put_content}.  Writes C{<path>.<uuid>.tmp}, makes
        it durable, renames it over C{path} and makes the rename durable.
        """
        return self._run(self._tree.put_content, check_path(path), True, path, as_bytes(content))

    @returns_deferred
    async def reader(self, path: str, offset: int = 0) -> _Reader:
        """
        See L{IStorageDriver.reader}.
        """
        check_path(path)
        if offset < 0:
            raise InvalidOffsetError(path, f"negative offset {offset}")
        fd, size = await self._run(self._tree.open_reader, path, False, path, offset)
        return _Reader(self, path, fd, size, offset)

    @returns_deferred
    async def writer(self, path: str, append: bool = False, create: bool = True) -> _Writer:
        """
        See L{IStorageDriver.writer}.  The file is written in place: its
        content is visible as it is written.
        """
        check_path(path)
        fd, size = await self._run(self._tree.open_writer, path, create, path, append, create)
        return _Writer(self, path, fd, size)

    @returns_deferred
    def stat(self, path: str) -> Deferred[FileInfo]:
        """
        See L{IStorageDriver.stat}.
        """
        return self._look(self._tree.stat, check_path(path, allow_root=True), path)

    @returns_deferred
    def list(self, path: str) -> Deferred[list[str]]:
        """
        See L{IStorageDriver.list}; a file is L{PathNotFoundError} too.
        """
        check_path(path, allow_root=True)
        return self._look(self._tree.names, path, path)

    def _scan(self, path: str) -> Deferred[list[FileInfo]]:
        return self._look(self._tree.scan, path, path)

    @returns_deferred
    def move(self, source: str, destination: str) -> Deferred[None]:
        """
        See L{IStorageDriver.move}.
        """
        check_path(source)
        return self._run(self._tree.move, check_path(destination), True, source, destination)

    @returns_deferred
    def delete(self, path: str) -> Deferred[None]:
        """
        See L{IStorageDriver.delete}.
        """
        return self._run(self._tree.delete, check_path(path), False, path)

    @returns_deferred
    def walk(self, path: str, visit: Callable[[FileInfo], Any]) -> Deferred[None]:
        """
        See L{IStorageDriver.walk}.  Each directory is read in one go, so an
        entry deleted after its directory was read is still visited.
        """
        check_path(path, allow_root=True)
        return Deferred.fromCoroutine(walk_tree(path, visit, self._scan))

    @returns_deferred
    def walk_directories(self, path: str, visit: Callable[[str], Any]) -> Deferred[None]:
        """
        See L{IStorageDriver.walk_directories}: the whole walk is one call
        in the walk thread, where C{visit} runs.
        """
        check_path(path, allow_root=True)
        return self._look(self._tree.walk_directories, path, path, visit, walk=True)

    @returns_deferred
    def redirect_url(self, path: str, method: str) -> None:
        """
        See L{IStorageDriver.redirect_url}: files are always served by the
        registry.
        """
        check_path(path)
        return None

    @returns_deferred
    async def close(self) -> None:
        """
        Refuse new calls, wait for those in progress, and stop the thread
        pool.  Readers and writers still open cannot be used afterwards.
        """
        if self._closed:
            return
        self._closed = True
        if self._running:
            idle: Deferred[None] = Deferred()
            self._idle.append(idle)
            await idle
        if not self._pool.joined:  # not already stopped by reactor shutdown
            self._reactor.removeSystemEventTrigger(self._shutdown)
            self._stop_threads()
