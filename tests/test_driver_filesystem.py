"""
Tests for L{txregistry.storage.drivers.filesystem}.
"""

import errno
import itertools
import os
import shutil
import socket
import threading
import time
import types
import uuid
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import deferLater
from twisted.python import threadable
from twisted.trial.unittest import TestCase

from tests.driver_suite import DriverTests, pattern, temporary_directory
from txregistry.storage.drivers import filesystem
from txregistry.storage.drivers.filesystem import FilesystemDriver
from txregistry.storage.interfaces import (
    DriverUnavailableError,
    InvalidPathError,
    PathNotFoundError,
    StorageError,
)


class FilesystemDriverTests(DriverTests, TestCase):
    """
    The filesystem driver keeps the driver contract.
    """

    def make_driver(self) -> FilesystemDriver:
        return FilesystemDriver(temporary_directory(self), reactor)


class _Recorder:
    """
    Stands for a module, recording which thread calls its functions (and
    those of its submodules), and optionally failing some.
    """

    def __init__(self, module: types.ModuleType, calls: list, failures: dict[str, OSError]):
        self._module = module
        self._calls = calls
        self._failures = failures

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._module, name)
        if isinstance(value, types.ModuleType):
            return _Recorder(value, self._calls, self._failures)
        if not callable(value) or isinstance(value, type):
            return value

        def record(*args: Any, **kwargs: Any) -> Any:
            self._calls.append((name, threadable.isInIOThread(), threading.current_thread().name))
            if name in self._failures:
                raise self._failures[name]
            return value(*args, **kwargs)

        return record


def _snapshot(top: str) -> dict[str, Any]:
    """
    Everything under C{top}: each path's content (files), target (links) or
    C{None} (directories), with its modification time.
    """
    found: dict[str, Any] = {}
    for directory, names, files in os.walk(top):
        for name in names + files:
            path = os.path.join(directory, name)
            status = os.lstat(path)
            if os.path.islink(path):
                what: Any = os.readlink(path)
            elif os.path.isdir(path):
                what = None
            else:
                with open(path, "rb") as f:
                    what = f.read()
            found[os.path.relpath(path, top)] = (what, status.st_mtime_ns)
    return found


class FilesystemOnlyTests(TestCase):
    """
    What the filesystem driver promises beyond the contract.
    """

    def setUp(self) -> None:
        base = temporary_directory(self)
        self.root = os.path.join(base, "root")
        self.outside = os.path.join(base, "outside")
        os.makedirs(self.root)
        os.makedirs(self.outside)
        self.driver = FilesystemDriver(self.root, reactor)
        self.addCleanup(self.driver.close)

    def on_disk(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/"))

    def make_file(self, path: str, content: bytes = b"") -> None:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)

    def record_calls(self, failures: dict[str, OSError] | None = None) -> list:
        """
        Record the calls the driver makes to C{os} and C{shutil}, failing
        those named in C{failures}.
        """
        calls: list = []
        for name in ["os", "shutil"]:
            module = getattr(filesystem, name)
            self.patch(filesystem, name, _Recorder(module, calls, failures or {}))
        return calls

    async def test_layout(self) -> None:
        """
        A driver path C{/a/b} is the file C{<root>/a/b}.
        """
        await self.driver.put_content("/docker/registry/v2/x", b"put")
        writer = await self.driver.writer("/docker/registry/v2/y")
        await writer.write(b"written")
        await writer.commit()
        with open(self.on_disk("docker/registry/v2/x"), "rb") as f:
            self.assertEqual(f.read(), b"put")
        with open(self.on_disk("docker/registry/v2/y"), "rb") as f:
            self.assertEqual(f.read(), b"written")

    async def test_send_to_socket(self) -> None:
        """
        A reader copies its content to a non-blocking socket from its
        position, in the pool, stopping when the socket is full (0 when it
        has no room), mixing with reads in order; at the end it fails with
        L{EOFError}, and with a C{ConnectionError} once the peer is gone.
        """
        content = pattern(3 << 20, seed=7)
        self.make_file(self.on_disk("/blob"), content)
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        ours.setblocking(False)
        reader = await self.driver.reader("/blob", 10)
        self.addCleanup(reader.close)
        calls = self.record_calls()
        received = bytearray()
        sent = await reader.send_to(ours.fileno(), 100)
        self.assertEqual(sent, 100)
        self.assertEqual([in_reactor for name, in_reactor, _ in calls if name == "sendfile"], [False])
        self.assertEqual(await reader.read(5), content[110:115])
        full = await reader.send_to(ours.fileno(), len(content))
        self.assertLess(full, len(content) - 115)
        self.assertEqual(await reader.send_to(ours.fileno(), 1000), 0)
        position = 115 + full
        while len(received) < 100 + full:
            received += theirs.recv(1 << 20)
        self.assertEqual(bytes(received), content[10:110] + content[115:position])
        while position < len(content):
            copied = await reader.send_to(ours.fileno(), len(content))
            position += copied
            while len(received) < position - 15:
                received += theirs.recv(1 << 20)
        self.assertEqual(bytes(received[100:]), content[115:])
        with self.assertRaises(EOFError):
            await reader.send_to(ours.fileno(), 10)
        theirs.close()
        other = await self.driver.reader("/blob")
        self.addCleanup(other.close)
        with self.assertRaises(ConnectionError):
            await other.send_to(ours.fileno(), len(content))

    async def test_send_to_unsupported(self) -> None:
        """
        Where C{sendfile} is not supported, C{send_to} fails with
        L{NotImplementedError} and the reader's position does not move.
        """
        self.make_file(self.on_disk("/blob"), b"0123456789")
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        reader = await self.driver.reader("/blob", 2)
        self.addCleanup(reader.close)
        self.record_calls({"sendfile": OSError(errno.EINVAL, "Invalid argument")})
        with self.assertRaises(NotImplementedError):
            await reader.send_to(ours.fileno(), 5)
        self.assertEqual(await reader.read(3), b"234")

    async def test_root_made_on_first_write(self) -> None:
        """
        A missing root is an empty store until the first write makes it.
        """
        root = os.path.join(self.root, "not", "yet")
        driver = FilesystemDriver(root, reactor)
        self.addCleanup(driver.close)
        await self.assertFailure(driver.list("/"), PathNotFoundError)
        await driver.put_content("/f", b"x")
        self.assertEqual(os.listdir(root), ["f"])

    async def test_put_content_leaves_no_temporary(self) -> None:
        """
        C{put_content} leaves no temporary file behind, also when the rename
        fails.
        """
        await self.driver.put_content("/d/f", b"1")
        await self.driver.put_content("/d/f", b"2")
        await self.driver.put_content("/d/g/h", b"3")
        await self.assertFailure(self.driver.put_content("/d/g", b"4"), StorageError)
        self.assertEqual(sorted(os.listdir(self.on_disk("d"))), ["f", "g"])

    async def test_put_content_atomic(self) -> None:
        """
        Readers racing with C{put_content} replacing a file see the whole old
        or the whole new content, never part of one or nothing.
        """
        versions = [pattern(1 << 20, seed) for seed in range(2)]
        await self.driver.put_content("/f", versions[0])
        seen = []

        async def read_repeatedly() -> None:
            for _ in range(30):
                seen.append(await self.driver.get_content("/f"))
                reader = await self.driver.reader("/f")
                pieces = [await reader.read(100000) for _ in range(11)]
                await reader.close()
                seen.append(b"".join(pieces))

        await gatherResults(
            [self.driver.put_content("/f", versions[i % 2]) for i in range(1, 31)]
            + [Deferred.fromCoroutine(read_repeatedly()) for _ in range(4)]
        )
        self.assertEqual(len(seen), 240)
        for content in seen:
            self.assertIn(content, versions)

    async def test_temporary_leftovers_ignored(self) -> None:
        """
        Temporary files left by interrupted atomic writes (ours or
        Distribution's) are not listed or walked; other names ending in
        C{.tmp} are.
        """
        await self.driver.put_content("/d/link", b"x")
        for name in [
            f"link.{uuid.uuid4().hex}.tmp",
            f"link.{uuid.uuid4()}.tmp",
            "keep.tmp",
        ]:
            self.make_file(self.on_disk(f"d/{name}"))
        self.assertEqual(sorted(await self.driver.list("/d")), ["/d/keep.tmp", "/d/link"])
        seen = []
        await self.driver.walk("/", lambda info: seen.append(info.path))
        self.assertEqual(seen, ["/d", "/d/keep.tmp", "/d/link"])

    async def test_foreign_names_ignored(self) -> None:
        """
        Files whose names no driver path can hold are not listed or walked.
        """
        for name in ["a b", "\u00e4", "c:d", "ok"]:
            self.make_file(self.on_disk(name))
        self.assertEqual(await self.driver.list("/"), ["/ok"])

    async def test_nothing_written_outside_root(self) -> None:
        """
        Symbolic links in the root leading out of it are not followed:
        reads and writes through them fail with L{InvalidPathError}, listings
        leave them out, and nothing outside the root changes, even when a
        link itself is replaced or deleted.
        """
        self.make_file(os.path.join(self.outside, "secret"), b"secret")
        os.makedirs(os.path.join(self.outside, "dir"))
        os.symlink(self.outside, self.on_disk("evil"))
        os.symlink("../outside/secret", self.on_disk("file"))
        os.symlink(os.path.join(self.outside, "new"), self.on_disk("dangling"))
        await self.driver.put_content("/ok/f", b"ok")
        before = _snapshot(self.outside)

        invalid = [
            lambda: self.driver.get_content("/file"),
            lambda: self.driver.get_content("/evil/secret"),
            lambda: self.driver.reader("/file"),
            lambda: self.driver.stat("/file"),
            lambda: self.driver.stat("/evil"),
            lambda: self.driver.stat("/evil/secret"),
            lambda: self.driver.list("/evil"),
            lambda: self.driver.walk("/evil", lambda info: None),
            lambda: self.driver.put_content("/evil/x", b"x"),
            lambda: self.driver.put_content("/evil/dir/x", b"x"),
            lambda: self.driver.put_content("/evil/sub/x", b"x"),
            lambda: self.driver.writer("/evil/x"),
            lambda: self.driver.writer("/file"),
            lambda: self.driver.writer("/file", append=True),
            lambda: self.driver.writer("/dangling"),
            lambda: self.driver.writer("/dangling", append=True),
            lambda: self.driver.move("/ok/f", "/evil/f"),
            lambda: self.driver.move("/ok/f", "/evil/secret"),
            lambda: self.driver.move("/evil/secret", "/ok/g"),
            lambda: self.driver.delete("/evil/secret"),
            lambda: self.driver.delete("/evil/dir"),
        ]
        for call in invalid:
            await self.assertFailure(call(), InvalidPathError)
        await self.assertFailure(self.driver.put_content("/dangling/x", b"x"), StorageError)
        self.assertEqual(sorted(await self.driver.list("/")), ["/ok"])
        seen = []
        await self.driver.walk("/", lambda info: seen.append(info.path))
        self.assertEqual(seen, ["/ok", "/ok/f"])

        # Replacing or deleting a link affects the link, not its target.
        await self.driver.put_content("/file", b"replaced")
        await self.driver.move("/ok/f", "/dangling")
        await self.driver.delete("/evil")
        self.assertEqual(_snapshot(self.outside), before)
        self.assertEqual(await self.driver.get_content("/file"), b"replaced")
        self.assertEqual(await self.driver.get_content("/dangling"), b"ok")
        self.assertFalse(os.path.lexists(self.on_disk("evil")))

    async def test_links_inside_root_followed(self) -> None:
        """
        Symbolic links leading somewhere inside the root are followed, for
        reads, listings and writes below them.
        """
        await self.driver.put_content("/real/f", b"x")
        os.symlink("real", self.on_disk("alias"))
        os.symlink(self.on_disk("real/f"), self.on_disk("file"))
        self.assertEqual(await self.driver.get_content("/alias/f"), b"x")
        self.assertEqual(await self.driver.get_content("/file"), b"x")
        self.assertEqual((await self.driver.stat("/file")).size, 1)
        self.assertTrue((await self.driver.stat("/alias")).is_dir)
        self.assertEqual(await self.driver.list("/alias"), ["/alias/f"])
        await self.driver.put_content("/alias/g", b"y")
        self.assertEqual(await self.driver.get_content("/real/g"), b"y")
        seen = []
        await self.driver.walk("/", lambda info: seen.append((info.path, info.is_dir)))
        self.assertEqual(
            seen,
            [
                ("/alias", True),
                ("/alias/f", False),
                ("/alias/g", False),
                ("/file", False),
                ("/real", True),
                ("/real/f", False),
                ("/real/g", False),
            ],
        )

    async def test_link_loops_skipped(self) -> None:
        """
        Links that lead back to an ancestor, or nowhere, do not make a walk
        endless or fail.
        """
        await self.driver.put_content("/a/f", b"x")
        os.symlink("..", self.on_disk("a/up"))
        os.symlink(".", self.on_disk("a/here"))
        os.symlink("self", self.on_disk("a/self"))
        os.symlink("missing", self.on_disk("a/dangling"))
        seen = []
        await self.driver.walk("/", lambda info: seen.append(info.path))
        self.assertEqual(seen, ["/a", "/a/f"])

    async def test_walk_directories_vanished(self) -> None:
        """
        C{walk_directories} skips a directory deleted after its parent was
        read.
        """
        await self.driver.put_content("/a/b/c/d", b"")
        await self.driver.put_content("/a/e/f", b"")

        def delete(path: str) -> None:
            if path == "/a":
                shutil.rmtree(self.on_disk("a/b"))

        seen: list[str] = []
        await self.driver.walk_directories("/", lambda path: seen.append(path) or delete(path))
        self.assertEqual(seen, ["/a", "/a/e"])

    async def test_walk_directories_links(self) -> None:
        """
        C{walk_directories} follows links to directories inside the root, as
        C{walk} does, and leaves out links leading outside, back to an
        ancestor, or nowhere.
        """
        await self.driver.put_content("/real/sub/f", b"x")
        os.makedirs(os.path.join(self.outside, "dir"))
        os.symlink("real", self.on_disk("alias"))
        os.symlink(self.outside, self.on_disk("evil"))
        os.symlink("..", self.on_disk("real/up"))
        os.symlink("missing", self.on_disk("real/dangling"))
        seen: list[str] = []
        await self.driver.walk_directories("/", seen.append)
        self.assertEqual(seen, ["/alias", "/alias/sub", "/real", "/real/sub"])
        await self.assertFailure(
            self.driver.walk_directories("/evil", seen.append), InvalidPathError
        )

    async def test_reactor_thread_never_touches_disk(self) -> None:
        """
        Every C{os} and C{shutil} call the driver makes, for every method,
        runs in the driver's own thread pool, never in the reactor thread.
        """
        calls = self.record_calls()
        await self.driver.put_content("/a/b", b"x")
        await self.driver.get_content("/a/b")
        reader = await self.driver.reader("/a/b")
        await reader.read(10)
        await reader.close()
        for end in ["close", "commit", "cancel"]:
            writer = await self.driver.writer(f"/w/{end}", append=True)
            await writer.write(b"data")
            await getattr(writer, end)()
        await self.driver.stat("/a/b")
        await self.driver.list("/a")
        await self.driver.walk("/", lambda info: None)
        await self.driver.walk_directories("/", lambda path: None)
        await self.driver.move("/a/b", "/c/d")
        await self.driver.delete("/c")
        await self.driver.delete("/w/close")
        await self.driver.redirect_url("/a/b", "GET")
        await self.driver.close()
        called = {name for name, _, _ in calls}
        for name in ["open", "pwritev", "pread", "fsync", "replace", "scandir", "rmtree", "unlink"]:
            self.assertIn(name, called)
        for name, in_reactor, thread in calls:
            self.assertFalse(in_reactor, f"{name} called in the reactor thread")
            self.assertTrue(
                thread.startswith(("PoolThread-txregistry-filesystem", "txregistry-filesystem-")),
                thread,
            )

    async def test_os_errors_translated(self) -> None:
        """
        OS errors become L{StorageError}s naming the driver path, never
        exposing the root: a refused call is L{DriverUnavailableError}, an
        overlong name L{InvalidPathError}.
        """
        await self.driver.put_content("/f", b"x")
        self.record_calls({"open": PermissionError(errno.EACCES, "Permission denied")})
        for call in [
            lambda: self.driver.get_content("/f"),
            lambda: self.driver.put_content("/f", b"y"),
            lambda: self.driver.writer("/f"),
            lambda: self.driver.list("/"),
        ]:
            error = await self.assertFailure(call(), DriverUnavailableError)
            self.assertEqual(error.path, "/f" if error.path != "/" else "/")
            self.assertNotIn(self.root, str(error))
            self.assertIn("Permission denied", str(error))
        self.patch(filesystem, "os", os)
        await self.assertFailure(self.driver.put_content("/" + "n" * 300, b""), InvalidPathError)

    async def test_write_failure(self) -> None:
        """
        A failed OS write fails that write and those queued behind it with a
        L{StorageError}; the writer then refuses writes and C{commit}, but
        C{cancel} still removes the file.
        """

        def full(fd: int, pieces: list, offset: int) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

        writer = await self.driver.writer("/f")
        self.patch(filesystem, "_write_all", full)
        first, second = writer.write(b"a"), writer.write(b"b")
        error = await self.assertFailure(first, DriverUnavailableError)
        self.assertEqual(error.path, "/f")
        await self.assertFailure(second, DriverUnavailableError)
        await self.assertFailure(writer.write(b"c"), StorageError)
        await self.assertFailure(writer.commit(), DriverUnavailableError)

        other = await self.driver.writer("/g")
        await self.assertFailure(other.write(b"a"), DriverUnavailableError)
        await other.cancel()
        self.assertFalse(os.path.exists(self.on_disk("g")))

    async def test_write_after_unreported_failure(self) -> None:
        """
        A write made after the writing thread failed, but before the reactor
        heard of it, is refused at once: nothing is written after bytes that
        were lost.
        """
        entered, fail = threading.Event(), threading.Event()
        calls = []

        def failing(fd: int, pieces: list, offset: int) -> None:
            calls.append(offset)
            entered.set()
            fail.wait(10)
            raise OSError(errno.EIO, "Input/output error")

        writer = await self.driver.writer("/f")
        self.patch(filesystem, "_write_all", failing)
        first = writer.write(b"a")
        self.assertTrue(entered.wait(10))
        queued = writer.write(b"b")
        fail.set()
        deadline = time.monotonic() + 10
        while writer._failure is None and time.monotonic() < deadline:
            time.sleep(0.001)  # the thread fails; the reactor has not heard yet
        late = writer.write(b"c")
        for write in (first, queued, late):
            await self.assertFailure(write, StorageError)
        self.assertEqual(calls, [0])
        await writer.cancel()

    async def test_writes_refused_when_closed(self) -> None:
        """
        Writes made once the driver is closed fail, and the writer can still
        be closed: nothing waits for a thread that never started.
        """
        writer = await self.driver.writer("/f")
        await writer.write(b"a")
        await self.driver.close()
        await self.assertFailure(writer.write(b"b"), DriverUnavailableError)
        await self.assertFailure(writer.write(b"c"), DriverUnavailableError)
        await self.assertFailure(writer.commit(), DriverUnavailableError)

    async def test_one_thread_writes_a_stream(self) -> None:
        """
        While writes keep coming, one thread writes them batch after batch,
        without waiting for the reactor between batches; every byte lands
        in order.
        """
        threads = set()
        write_all = filesystem._write_all

        def record(fd: int, pieces: list, offset: int) -> None:
            threads.add(threading.get_ident())
            write_all(fd, pieces, offset)

        self.patch(filesystem, "_write_all", record)
        writer = await self.driver.writer("/f")
        content = pattern(8 << 20)
        pieces = [content[start : start + (256 << 10)]
                  for start in range(0, len(content), 256 << 10)]
        await gatherResults([writer.write(piece) for piece in pieces])
        await writer.commit()
        self.assertEqual(await self.driver.get_content("/f"), content)
        self.assertEqual(len(threads), 1)

    async def test_small_writes_batched(self) -> None:
        """
        Small writes queued while one is in progress are written together,
        up to about 1 MiB a time.
        """
        batches = []
        write_all = filesystem._write_all

        def record(fd: int, pieces: list, offset: int) -> None:
            batches.append(sum(map(len, pieces)))
            write_all(fd, pieces, offset)

        self.patch(filesystem, "_write_all", record)
        writer = await self.driver.writer("/f")
        content = pattern(3000 * 1000)
        pieces = [content[start : start + 1000] for start in range(0, len(content), 1000)]
        await gatherResults([writer.write(piece) for piece in pieces])
        await writer.commit()
        self.assertEqual(await self.driver.get_content("/f"), content)
        self.assertLessEqual(len(batches), 10)
        self.assertLessEqual(max(batches), 1 << 20)

    async def test_hashed_in_the_pool(self) -> None:
        """
        A hasher given to C{write} is updated in the pool thread that writes
        the piece, never in the reactor thread.
        """
        threads = []

        class Hasher:
            def update(self, data: bytes) -> None:
                threads.append(threadable.isInIOThread())

        writer = await self.driver.writer("/f")
        hasher = Hasher()
        await gatherResults([writer.write(b"x" * 100_000, hasher) for _ in range(5)])
        await writer.commit()
        self.assertEqual(threads, [False] * 5)

    async def test_writeback_started_while_writing(self) -> None:
        """
        A writer asks the kernel, in the pool, to start writing its content
        back every few MiB, range after range; where that is refused, or not
        available, the writes go on unharmed.
        """
        calls = []
        real = filesystem._sync_file_range

        def record(fd: int, offset: int, length: int, flags: int) -> int:
            calls.append((offset, length, flags, threadable.isInIOThread()))
            return real(fd, offset, length, flags) if real is not None else 0

        self.patch(filesystem, "_WRITEBACK_BYTES", 256 * 1024)
        content = pattern(3 * filesystem._WRITEBACK_BYTES + 12345)
        piece = 64 * 1024

        async def write(path: str) -> None:
            writer = await self.driver.writer(path, append=True)
            for at in range(0, len(content), piece):
                await writer.write(content[at : at + piece])
            await writer.commit()
            self.assertEqual(await self.driver.get_content(path), content)

        self.patch(filesystem, "_sync_file_range", record)
        await write("/f")
        self.assertEqual(len(calls), 3)
        self.assertEqual(calls[0][0], 0)
        for (offset, length, _, _), (following, _, _, _) in itertools.pairwise(calls):
            self.assertEqual(offset + length, following)
        self.assertEqual({(flags, in_reactor) for _, _, flags, in_reactor in calls}, {(2, False)})

        self.patch(filesystem, "_sync_file_range", lambda fd, offset, length, flags: -1)
        await write("/g")
        self.patch(filesystem, "_sync_file_range", None)
        await write("/h")

    async def test_writeback_not_with_a_chunks_last_write(self) -> None:
        """
        A block is handed to writeback with the batch after the one that
        completed it, so that a writer's last write (a chunk's end) does
        not wait for the disk; the next writer appending hands it over.
        """
        calls = []
        self.patch(filesystem, "_WRITEBACK_BYTES", 256 * 1024)
        self.patch(filesystem, "_sync_file_range",
                   lambda fd, offset, length, flags: calls.append((offset, length)) or 0)
        piece = pattern(64 * 1024)
        for chunk in range(3):
            writer = await self.driver.writer("/f", append=True)
            for _ in range(8):  # two blocks per chunk
                await writer.write(piece)
            await writer.close()
            # The chunk's second block, completed by its last batch, waits.
            self.assertEqual(calls[-1], (chunk * 512 * 1024, 256 * 1024))
        self.assertEqual(calls, [(offset * 1024, 256 * 1024) for offset in range(0, 1280, 256)])

    async def test_synced_while_writing(self) -> None:
        """
        A writer makes what it stored durable in the background, in the
        pool, every few MiB, one C{fdatasync} at a time; C{commit} and
        C{cancel} wait for the one running.  A failed one fails the commit,
        even though the final C{fsync} would succeed.
        """
        self.patch(filesystem, "_SYNC_BYTES", 256 * 1024)
        content = pattern(2 * 1024 * 1024 + 12345)
        piece = 64 * 1024
        events = []
        fdatasync, close = os.fdatasync, filesystem._close

        def slow_fdatasync(fd: int) -> None:
            time.sleep(0.05)
            fdatasync(fd)
            events.append(("synced", fd))

        def recorded_close(fd: int, sync: bool) -> None:
            events.append(("closed", fd))
            close(fd, sync)

        self.patch(os, "fdatasync", slow_fdatasync)
        self.patch(filesystem, "_close", recorded_close)

        async def write(path: str, end: str) -> None:
            writer = await self.driver.writer(path)
            await gatherResults(
                [writer.write(content[at : at + piece]) for at in range(0, len(content), piece)]
            )
            await getattr(writer, end)()

        for end in ["commit", "cancel"]:
            calls = self.record_calls()
            del events[:]
            await write(f"/{end}", end)
            self.assertEqual(events[-1][0], "closed")
            self.assertIn(("synced", events[-1][1]), events)
            for name, in_reactor, _ in calls:
                self.assertFalse(in_reactor, f"{name} called in the reactor thread")
        self.assertEqual(await self.driver.get_content("/commit"), content)

        self.record_calls({"fdatasync": OSError(errno.EIO, "Input/output error")})
        error = await self.assertFailure(
            Deferred.fromCoroutine(write("/failed", "commit")), DriverUnavailableError
        )
        self.assertIn("Input/output error", str(error))

    async def test_no_writeback_while_syncing(self) -> None:
        """
        While the file is being synced, blocks are not handed to writeback
        (asking would wait for the journal commit the sync makes); the first
        batch after the sync hands over all of them at once.
        """
        calls = []
        self.patch(filesystem, "_WRITEBACK_BYTES", 64 * 1024)
        self.patch(filesystem, "_sync_file_range",
                   lambda fd, offset, length, flags: calls.append((offset, length)) or 0)
        gate, synced = self.gate_syncs([])
        writer = await self.driver.writer("/f")
        piece = pattern(64 * 1024)
        block = 64 * 1024
        try:
            for _ in range(8):  # the fourth reaches 256 KiB: a sync starts and waits
                await writer.write(piece)
            self.assertEqual(calls, [(offset, block) for offset in range(0, 3 * block, block)])
        finally:
            gate.set()
        while "/f" in self.driver._syncing:
            await deferLater(reactor, 0.01, lambda: None)
        await writer.write(piece)
        self.assertEqual(calls[3:], [(3 * block, 5 * block)])
        await writer.commit()
        self.assertTrue(synced)
        self.assertEqual(await self.driver.get_content("/f"), piece * 9)

    def gate_syncs(self, failures: list[OSError | None]) -> tuple[threading.Event, list]:
        """
        Make every C{fdatasync} wait until the returned event is set, then
        fail with the next of C{failures} (C{None}: succeed; succeed once
        they are used up).

        @return: the event, and the list of descriptors synced.
        """
        gate = threading.Event()
        synced = []
        fdatasync = os.fdatasync

        def gated(fd: int) -> None:
            gate.wait(10)
            synced.append(fd)
            failure = failures.pop(0) if failures else None
            if failure is not None:
                raise failure
            fdatasync(fd)

        self.patch(os, "fdatasync", gated)
        self.patch(filesystem, "_SYNC_BYTES", 256 * 1024)
        return gate, synced

    async def idle(self) -> None:
        """
        Wait until the driver has no call in progress.
        """
        if self.driver._running:
            waiter: Deferred[None] = Deferred()
            self.driver._idle.append(waiter)
            await waiter

    def open_descriptors(self, path: str) -> int:
        """
        How many of this process's descriptors are open on C{path}.
        """
        target = os.path.realpath(self.on_disk(path))
        count = 0
        for name in os.listdir("/proc/self/fd"):
            try:
                if os.readlink(f"/proc/self/fd/{name}") == target:
                    count += 1
            except OSError:
                continue  # closed meanwhile
        return count

    async def test_close_does_not_wait_for_sync(self) -> None:
        """
        Appends by a series of writers are made durable as they cross
        multiples of the sync size counted from the start of the file; a
        writer closed while its sync runs returns at once and the sync
        closes the file when done.
        """
        gate, synced = self.gate_syncs([])
        size = filesystem._SYNC_BYTES
        content = pattern(4 * size)
        for at in range(0, len(content), size // 2):
            writer = await self.driver.writer("/f", append=True)
            await writer.write(content[at : at + size // 2])
            await writer.close()
        self.assertEqual(await self.driver.get_content("/f"), content)
        self.assertEqual(self.open_descriptors("/f"), 1)  # the first sync, still running
        gate.set()
        await self.idle()
        self.assertEqual(self.open_descriptors("/f"), 0)
        self.assertEqual(len(synced), 1)
        writer = await self.driver.writer("/f", append=True)
        await writer.write(content[:size])
        await writer.commit()
        self.assertEqual(await self.driver.get_content("/f"), content + content[:size])
        self.assertEqual(len(synced), 2)

    async def test_late_sync_failure(self) -> None:
        """
        A sync that fails after its writer was closed removes the file, so
        that nothing built on it can complete, and fails the commit of a
        writer opened before that; later writers start afresh.
        """
        gate, _ = self.gate_syncs([OSError(errno.EIO, "Input/output error")])
        size = filesystem._SYNC_BYTES
        first = await self.driver.writer("/f", append=True)
        await first.write(pattern(size + 1))
        await first.close()
        second = await self.driver.writer("/f", append=True)
        self.assertEqual(second.size, size + 1)
        await second.write(b"more")
        gate.set()
        await self.idle()
        with self.assertRaises(PathNotFoundError):
            await self.driver.get_content("/f")
        error = await self.assertFailure(second.commit(), StorageError)
        self.assertIn("Input/output error", str(error))
        third = await self.driver.writer("/f", append=True)
        self.assertEqual(third.size, 0)
        await third.write(b"fresh")
        await third.commit()
        self.assertEqual(await self.driver.get_content("/f"), b"fresh")

    async def test_lookups_bounded(self) -> None:
        """
        Many reads of metadata at once run in a few lookup threads, which
        L{FilesystemDriver.close} ends.
        """
        await self.driver.put_content("/f", b"x")
        threads = set()
        get_content = self.driver._tree.get_content

        def record(path: str) -> bytes:
            threads.add(threading.current_thread())
            return get_content(path)

        self.patch(self.driver._tree, "get_content", record)
        results = await gatherResults(
            [self.driver.get_content("/f") for _ in range(50)]
            + [self.driver.get_contents(["/f"]) for _ in range(50)]
        )
        self.assertEqual(results, [b"x"] * 50 + [[b"x"]] * 50)
        self.assertLessEqual(len(threads), filesystem._LOOKUP_THREADS)
        await self.driver.close()
        self.assertFalse(any(thread.is_alive() for thread in threads))

    async def test_walks_one_at_a_time(self) -> None:
        """
        Walks of directories run one after the other, in one thread.
        """
        await self.driver.put_content("/a/b/f", b"x")
        threads = set()

        def visit(path: str) -> None:
            threads.add(threading.current_thread())

        await gatherResults([self.driver.walk_directories("/", visit) for _ in range(5)])
        self.assertEqual(len(threads), 1)

    async def test_close_waits_then_stops_pool(self) -> None:
        """
        C{close} lets calls in progress finish, then stops the thread pool
        and its shutdown trigger.
        """
        triggers = reactor._eventTriggers["shutdown"].during
        count = len(triggers)
        driver = FilesystemDriver(self.root, reactor, maxthreads=30)
        self.assertEqual(len(triggers), count + 1)
        self.assertEqual(driver._pool.max, 30)
        put = driver.put_content("/f", b"x")
        await driver.close()
        await put
        self.assertTrue(driver._pool.joined)
        self.assertEqual(len(triggers), count)
        await self.assertFailure(driver.stat("/f"), DriverUnavailableError)


class WithoutOpenat2DriverTests(FilesystemDriverTests):
    """
    The contract holds where C{openat2} is missing (older kernels, other
    architectures, seccomp filters): paths are resolved a component at a
    time.
    """

    def setUp(self) -> None:
        self.patch(filesystem, "_syscall", None)
        return super().setUp()


class WithoutOpenat2OnlyTests(FilesystemOnlyTests):
    """
    Confinement to the root and the rest hold without C{openat2} too.
    """

    def setUp(self) -> None:
        self.patch(filesystem, "_syscall", None)
        return super().setUp()
