"""
The storage driver contract as tests, shared by every driver.

Mix L{DriverTests} into a L{twisted.trial.unittest.TestCase} (which runs the
real reactor) and define C{make_driver}.
"""

import functools
import hashlib
import shutil
import tempfile
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.task import deferLater
from zope.interface.verify import verifyObject

from txregistry.storage.interfaces import (
    SKIP_DIR,
    STOP_WALK,
    DriverUnavailableError,
    FileInfo,
    IFileReader,
    IFileWriter,
    InvalidOffsetError,
    InvalidPathError,
    IStorageDriver,
    PathNotFoundError,
    StorageError,
)

#: Paths every driver must refuse (besides C{/} where a file is meant).
INVALID_PATHS = [
    "",
    "a",
    "a/b",
    "//a",
    "/a//b",
    "/a/",
    "/.",
    "/..",
    "/a/.",
    "/a/./b",
    "/a/../b",
    "/../etc/passwd",
    "/a/../../b",
    "/a\x00b",
    "/a\\b",
    "\\a",
    "/a:b",
    "/a b",
    "/a\nb",
    "/\u00e4",
    b"/a",
    None,
]

#: A tree whose lexical walk order differs from an order by full path.
TREE = {
    "/a/x": b"ax",
    "/a-b": b"a-b",
    "/a.b/c/d": b"a.b/c/d",
    "/a0": b"a0",
    "/Z": b"Z",
    "/_u/f": b"_u/f",
}

#: L{TREE}'s walk: (path, is_dir) in depth-first pre-order, names sorted.
TREE_WALK = [
    ("/Z", False),
    ("/_u", True),
    ("/_u/f", False),
    ("/a", True),
    ("/a/x", False),
    ("/a-b", False),
    ("/a.b", True),
    ("/a.b/c", True),
    ("/a.b/c/d", False),
    ("/a0", False),
]


def temporary_directory(test: Any) -> str:
    """
    Make a directory that is removed after C{test}.  (Unlike C{mktemp}, it
    is not left in the current directory when pytest runs the tests.)
    """
    path = tempfile.mkdtemp(prefix="txregistry-test-")
    test.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


@functools.lru_cache
def _block(seed: int) -> bytes:
    block = hashlib.sha256(b"%d" % seed).digest() * 2048  # 64 KiB
    return bytes(b ^ (i % 251) for i, b in enumerate(block))


def pattern(size: int, seed: int = 0) -> bytes:
    """
    C{size} bytes that differ with C{seed} and do not repeat every 256.
    """
    block = _block(seed)
    return (block * (size // len(block) + 1))[:size]


class DriverTests:
    """
    Tests of L{IStorageDriver} for one driver.

    @ivar driver: the driver under test, closed after each test.
    """

    def make_driver(self) -> IStorageDriver:
        """
        Make a new, empty driver to test.
        """
        raise NotImplementedError

    def setUp(self) -> None:
        self.driver = self.make_driver()
        self.addCleanup(self.driver.close)

    async def put(self, files: dict[str, bytes]) -> None:
        """
        Store each of C{files} (path to content).
        """
        for path, content in files.items():
            await self.driver.put_content(path, content)

    async def read_all(self, path: str, offset: int = 0, piece: int = 1 << 20) -> bytes:
        """
        Read C{path} from C{offset} through a reader, in pieces.
        """
        reader = await self.driver.reader(path, offset)
        pieces = []
        try:
            while data := await reader.read(piece):
                pieces.append(data)
        finally:
            await reader.close()
        return b"".join(pieces)

    async def walked(self, path: str = "/", visit: Any = None) -> list[tuple[str, bool]]:
        """
        Walk C{path}, calling C{visit} too if given.

        @return: what was visited, as (path, is_dir), in order.
        """
        seen = []

        def visitor(info: FileInfo) -> Any:
            self.assertIsInstance(info, FileInfo)
            seen.append((info.path, info.is_dir))
            return visit(info) if visit else None

        self.assertIsNone(await self.driver.walk(path, visitor))
        return seen

    async def assertFails(self, result: Deferred[Any], error: type[Exception]) -> Exception:
        """
        Assert that C{result} fails with C{error}.

        @return: the exception.
        """
        return await self.assertFailure(result, error)

    # The driver

    async def test_provides_interfaces(self) -> None:
        """
        The driver, its readers and its writers provide the interfaces.
        """
        self.assertTrue(verifyObject(IStorageDriver, self.driver))
        self.assertIsInstance(self.driver.name, str)
        writer = await self.driver.writer("/f")
        self.assertTrue(verifyObject(IFileWriter, writer))
        await writer.commit()
        reader = await self.driver.reader("/f")
        self.assertTrue(verifyObject(IFileReader, reader))
        await reader.close()

    async def test_invalid_paths(self) -> None:
        """
        Every method refuses a path outside Distribution's grammar with
        L{InvalidPathError}, and C{/} where a file is meant, and stores
        nothing.
        """
        await self.put({"/ok": b"ok"})
        for path in INVALID_PATHS + ["/"]:
            calls = [
                lambda: self.driver.get_content(path),
                lambda: self.driver.put_content(path, b"x"),
                lambda: self.driver.reader(path),
                lambda: self.driver.writer(path),
                lambda: self.driver.writer(path, append=True),
                lambda: self.driver.move(path, "/moved"),
                lambda: self.driver.move("/ok", path),
                lambda: self.driver.delete(path),
                lambda: self.driver.redirect_url(path, "GET"),
            ]
            if path != "/":
                calls += [
                    lambda: self.driver.stat(path),
                    lambda: self.driver.list(path),
                    lambda: self.driver.walk(path, lambda info: None),
                ]
            for call in calls:
                error = await self.assertFails(call(), InvalidPathError)
                self.assertEqual(error.path, path)
        self.assertEqual(await self.driver.list("/"), ["/ok"])
        self.assertEqual(await self.driver.get_content("/ok"), b"ok")

    async def test_redirect_url(self) -> None:
        """
        C{redirect_url} answers C{None}: the registry serves the bytes.
        """
        await self.put({"/f": b"x"})
        self.assertIsNone(await self.driver.redirect_url("/f", "GET"))

    async def test_close(self) -> None:
        """
        After C{close}, calls fail with L{DriverUnavailableError}; closing
        again is harmless.
        """
        await self.put({"/f": b"x"})
        await self.driver.close()
        await self.assertFails(self.driver.get_content("/f"), DriverUnavailableError)
        await self.assertFails(self.driver.put_content("/f", b"y"), DriverUnavailableError)
        await self.driver.close()

    # put_content and get_content

    async def test_put_get(self) -> None:
        """
        C{get_content} returns what C{put_content} stored, empty content
        included.
        """
        await self.put({"/docker/registry/v2/f": b"content", "/empty": b""})
        self.assertEqual(await self.driver.get_content("/docker/registry/v2/f"), b"content")
        self.assertEqual(await self.driver.get_content("/empty"), b"")

    async def test_put_overwrites(self) -> None:
        """
        C{put_content} replaces what was stored, longer or shorter.
        """
        await self.put({"/f": b"a much longer first content"})
        await self.put({"/f": b"short"})
        self.assertEqual(await self.driver.get_content("/f"), b"short")
        self.assertEqual((await self.driver.stat("/f")).size, 5)

    async def test_put_creates_parents(self) -> None:
        """
        C{put_content} creates the directories above the path.
        """
        await self.put({"/a/b/c/d": b"deep"})
        self.assertTrue((await self.driver.stat("/a/b")).is_dir)
        self.assertEqual(await self.driver.list("/a"), ["/a/b"])
        self.assertEqual(await self.driver.get_content("/a/b/c/d"), b"deep")

    async def test_put_copies_content(self) -> None:
        """
        C{put_content} accepts any bytes-like object and stores a copy of it.
        """
        content = bytearray(b"before")
        stored = self.driver.put_content("/f", content)
        content[:] = b"after!"
        await stored
        self.assertEqual(await self.driver.get_content("/f"), b"before")
        await self.driver.put_content("/g", memoryview(b"view"))
        self.assertEqual(await self.driver.get_content("/g"), b"view")

    async def test_get_missing(self) -> None:
        """
        C{get_content} of nothing, of a directory, or below a file fails
        with L{PathNotFoundError} naming the path.
        """
        await self.put({"/dir/f": b"x"})
        for path in ["/missing", "/dir/missing", "/dir", "/dir/f/below"]:
            error = await self.assertFails(self.driver.get_content(path), PathNotFoundError)
            self.assertEqual(error.path, path)

    async def test_put_conflicts(self) -> None:
        """
        Storing where a directory is, or below a file, fails with a
        L{StorageError} and changes nothing.
        """
        await self.put({"/dir/f": b"x"})
        await self.assertFails(self.driver.put_content("/dir", b"y"), StorageError)
        await self.assertFails(self.driver.put_content("/dir/f/g", b"y"), StorageError)
        self.assertEqual(await self.driver.get_content("/dir/f"), b"x")
        self.assertEqual(await self.driver.list("/dir"), ["/dir/f"])

    async def test_get_contents(self) -> None:
        """
        C{get_contents} reads several files at once, in the order asked,
        with C{None} for a missing path, a directory, or a path below a file.
        """
        await self.put({"/a/f": b"one", "/b": b"two", "/e": b""})
        self.assertEqual(
            await self.driver.get_contents(["/b", "/a/f", "/missing", "/a", "/b/c", "/e", "/b"]),
            [b"two", b"one", None, None, None, b"", b"two"],
        )
        self.assertEqual(await self.driver.get_contents([]), [])

    async def test_get_contents_invalid(self) -> None:
        """
        An invalid path among those asked fails the whole call with
        L{InvalidPathError}.
        """
        await self.put({"/b": b"two"})
        for path in ["/a/../b", "a", None]:
            await self.assertFails(self.driver.get_contents(["/b", path]), InvalidPathError)

    async def test_get_content_chain(self) -> None:
        """
        C{get_content_chain} reads a path, then each path C{follow} names
        from what was read, until C{follow} returns C{None} or a path holds
        nothing (a directory, a missing file).
        """
        await self.put({"/a": b"/b", "/b": b"/c/d", "/c/d": b"end", "/x": b"/c", "/y": b"/m"})
        asked = []

        def follow(contents: list[bytes]) -> str | None:
            asked.append(list(contents))
            last = contents[-1]
            return last.decode() if last.startswith(b"/") else None

        self.assertEqual(
            await self.driver.get_content_chain("/a", follow), [b"/b", b"/c/d", b"end"]
        )
        self.assertEqual(asked, [[b"/b"], [b"/b", b"/c/d"], [b"/b", b"/c/d", b"end"]])
        self.assertEqual(await self.driver.get_content_chain("/x", follow), [b"/c"])
        self.assertEqual(await self.driver.get_content_chain("/y", follow), [b"/m"])
        self.assertEqual(await self.driver.get_content_chain("/missing", follow), [])

    async def test_get_content_chain_invalid(self) -> None:
        """
        An invalid path to start from, or from C{follow}, fails the call
        with L{InvalidPathError}; an exception from C{follow} fails it too.
        """
        await self.put({"/a": b"x"})
        await self.assertFails(
            self.driver.get_content_chain("/a/../a", lambda contents: None), InvalidPathError
        )
        await self.assertFails(
            self.driver.get_content_chain("/a", lambda contents: "/a/../a"), InvalidPathError
        )

        def explode(contents: list[bytes]) -> None:
            raise ZeroDivisionError()

        await self.assertFails(self.driver.get_content_chain("/a", explode), ZeroDivisionError)

    # reader

    async def test_reader(self) -> None:
        """
        A reader gives the content in pieces of at most the size asked for,
        then C{b""}; its C{size} is the whole content's.
        """
        content = pattern(1000)
        await self.put({"/f": content})
        reader = await self.driver.reader("/f")
        self.assertEqual(reader.size, 1000)
        pieces = []
        while piece := await reader.read(300):
            self.assertLessEqual(len(piece), 300)
            pieces.append(piece)
        self.assertEqual(b"".join(pieces), content)
        self.assertEqual(await reader.read(300), b"")
        await reader.close()
        await reader.close()

    async def test_reader_offsets(self) -> None:
        """
        A reader starts at its offset, from 0 to the size (which reads
        nothing); C{size} stays the whole content's.
        """
        content = pattern(100)
        await self.put({"/f": content})
        for offset in [0, 1, 50, 99, 100]:
            reader = await self.driver.reader("/f", offset)
            self.assertEqual(reader.size, 100)
            await reader.close()
            self.assertEqual(await self.read_all("/f", offset), content[offset:])

    async def test_reader_invalid_offsets(self) -> None:
        """
        A negative offset or one past the end fails with
        L{InvalidOffsetError}.
        """
        await self.put({"/f": b"0123456789", "/empty": b""})
        for path, offset in [("/f", -1), ("/f", 11), ("/f", 1 << 40), ("/empty", 1)]:
            error = await self.assertFails(self.driver.reader(path, offset), InvalidOffsetError)
            self.assertEqual(error.path, path)

    async def test_reader_missing(self) -> None:
        """
        A reader of nothing or of a directory fails with
        L{PathNotFoundError}.
        """
        await self.put({"/dir/f": b"x"})
        for path in ["/missing", "/dir"]:
            await self.assertFails(self.driver.reader(path), PathNotFoundError)

    async def test_reader_keeps_reading(self) -> None:
        """
        Overlapping reads are answered in call order.
        """
        content = pattern(10000)
        await self.put({"/f": content})
        reader = await self.driver.reader("/f")
        pieces = await gatherResults([reader.read(1000) for _ in range(11)])
        await reader.close()
        self.assertEqual(b"".join(pieces), content)
        self.assertEqual(pieces[-1], b"")

    # writer

    async def test_writer_commit(self) -> None:
        """
        What a writer writes is readable after C{commit}; C{size} counts it.
        """
        writer = await self.driver.writer("/up/data")
        self.assertEqual(writer.size, 0)
        await writer.write(b"hello ")
        await writer.write(bytearray(b"world"))
        self.assertEqual(writer.size, 11)
        await writer.commit()
        self.assertEqual(await self.driver.get_content("/up/data"), b"hello world")
        self.assertEqual((await self.driver.stat("/up/data")).size, 11)

    async def test_writer_empty(self) -> None:
        """
        A writer committed without writes stores empty content.
        """
        writer = await self.driver.writer("/f")
        await writer.commit()
        self.assertEqual(await self.driver.get_content("/f"), b"")

    async def test_writer_truncates(self) -> None:
        """
        A writer without C{append} starts new content in place of the old.
        """
        await self.put({"/f": b"old content"})
        writer = await self.driver.writer("/f")
        self.assertEqual(writer.size, 0)
        await writer.write(b"new")
        await writer.commit()
        self.assertEqual(await self.driver.get_content("/f"), b"new")

    async def test_writer_append_resumes(self) -> None:
        """
        A writer with C{append} continues what earlier writers left with
        C{close}, its C{size} counting the earlier content.
        """
        first = await self.driver.writer("/up/data")
        await first.write(b"abc")
        await first.close()
        second = await self.driver.writer("/up/data", append=True)
        self.assertEqual(second.size, 3)
        await second.write(b"def")
        self.assertEqual(second.size, 6)
        await second.close()
        third = await self.driver.writer("/up/data", append=True)
        self.assertEqual(third.size, 6)
        await third.write(b"ghi")
        await third.commit()
        self.assertEqual(await self.driver.get_content("/up/data"), b"abcdefghi")


    async def test_writer_hashes(self) -> None:
        """
        A hasher given to C{write} sees every byte given with it, in the
        order of the writes, once they have fired, across a C{close} and a
        later append; writes without one are not hashed.
        """
        hasher = hashlib.sha256()
        first = await self.driver.writer("/up/data")
        pieces = [bytes([n]) * (300 * 1024 + n) for n in range(8)]
        await gatherResults([first.write(piece, hasher) for piece in pieces[:5]])
        await first.close()
        second = await self.driver.writer("/up/data", append=True)
        await second.write(b"unhashed")
        await gatherResults([second.write(piece, hasher) for piece in pieces[5:]])
        await second.commit()
        self.assertEqual(hasher.hexdigest(), hashlib.sha256(b"".join(pieces)).hexdigest())
        self.assertEqual(
            await self.driver.get_content("/up/data"),
            b"".join(pieces[:5]) + b"unhashed" + b"".join(pieces[5:]),
        )
    async def test_writer_append_to_committed(self) -> None:
        """
        A writer with C{append} also continues committed content.
        """
        await self.put({"/f": b"stored"})
        writer = await self.driver.writer("/f", append=True)
        self.assertEqual(writer.size, 6)
        await writer.write(b"+more")
        await writer.commit()
        self.assertEqual(await self.driver.get_content("/f"), b"stored+more")

    async def test_writer_append_missing(self) -> None:
        """
        A writer with C{append} where nothing is stored starts empty.
        """
        writer = await self.driver.writer("/new/f", append=True)
        self.assertEqual(writer.size, 0)
        await writer.write(b"x")
        await writer.commit()
        self.assertEqual(await self.driver.get_content("/new/f"), b"x")

    async def test_writer_without_create(self) -> None:
        """
        A writer with C{create=False} continues what is stored; where
        nothing is (or a directory is, or a file is in the path) it fails
        with L{PathNotFoundError} and creates nothing, not even parents.
        """
        await self.put({"/up/data": b"abc"})
        writer = await self.driver.writer("/up/data", append=True, create=False)
        self.assertEqual(writer.size, 3)
        await writer.write(b"def")
        await writer.close()
        self.assertEqual(await self.driver.get_content("/up/data"), b"abcdef")
        for missing in ["/up/other", "/new/dir/data", "/up", "/up/data/below"]:
            await self.assertFails(
                self.driver.writer(missing, append=True, create=False), PathNotFoundError
            )
        self.assertEqual(await self.driver.list("/up"), ["/up/data"])
        await self.assertFails(self.driver.stat("/new"), PathNotFoundError)

    async def test_writer_creates_parents(self) -> None:
        """
        A writer's path gets its parent directories.
        """
        writer = await self.driver.writer("/a/b/c")
        await writer.commit()
        self.assertEqual(await self.driver.list("/a"), ["/a/b"])
        self.assertEqual(await self.driver.list("/a/b"), ["/a/b/c"])

    async def test_writer_overlapping_writes(self) -> None:
        """
        Writes made without waiting are applied in call order; C{size}
        counts each as it is accepted, before it is written.
        """
        writer = await self.driver.writer("/f")
        pieces = [
            pattern(size, seed) for seed, size in enumerate([1, 7, 70000, 3, 0, 1 << 20, 5] * 20)
        ]
        written = []
        total = 0
        for piece in pieces:
            written.append(writer.write(piece))
            total += len(piece)
            self.assertEqual(writer.size, total)
        await gatherResults(written)
        await writer.commit()
        self.assertEqual(await self.driver.get_content("/f"), b"".join(pieces))

    async def test_writer_copies_data(self) -> None:
        """
        A writer keeps what was passed to C{write}, even if the caller's
        buffer changes while the write is pending.
        """
        writer = await self.driver.writer("/f")
        buffer = bytearray(b"first")
        first = writer.write(buffer)
        buffer[:] = b"XXXXX"
        await first
        await writer.commit()
        self.assertEqual(await self.driver.get_content("/f"), b"first")

    async def test_writer_commit_waits_for_writes(self) -> None:
        """
        C{commit} (and C{close}) called while writes are pending waits for
        them.
        """
        for end in ["commit", "close"]:
            writer = await self.driver.writer(f"/{end}")
            writes = [writer.write(pattern(100000, seed)) for seed in range(5)]
            await getattr(writer, end)()
            await gatherResults(writes)
            expected = b"".join(pattern(100000, seed) for seed in range(5))
            self.assertEqual(await self.driver.get_content(f"/{end}"), expected)

    async def test_writer_cancel(self) -> None:
        """
        C{cancel} discards the content: the path holds nothing afterwards,
        even content left by an earlier writer.
        """
        writer = await self.driver.writer("/up/data")
        await writer.write(b"abc")
        await writer.cancel()
        await self.assertFails(self.driver.stat("/up/data"), PathNotFoundError)
        first = await self.driver.writer("/up/data")
        await first.write(b"abc")
        await first.close()
        second = await self.driver.writer("/up/data", append=True)
        await second.write(b"def")
        await second.cancel()
        await self.assertFails(self.driver.get_content("/up/data"), PathNotFoundError)

    async def test_writer_calls_after_end(self) -> None:
        """
        After C{close}, C{commit} or C{cancel}, every writer call fails with
        L{StorageError}.
        """
        for end in ["close", "commit", "cancel"]:
            writer = await self.driver.writer(f"/{end}")
            await getattr(writer, end)()
            await self.assertFails(writer.write(b"x"), StorageError)
            for call in ["close", "commit", "cancel"]:
                await self.assertFails(getattr(writer, call)(), StorageError)

    async def test_writer_conflicts(self) -> None:
        """
        A writer where a directory is, or below a file, fails with a
        L{StorageError}.
        """
        await self.put({"/dir/f": b"x"})
        for append in [False, True]:
            await self.assertFails(self.driver.writer("/dir", append), StorageError)
            await self.assertFails(self.driver.writer("/dir/f/g", append), StorageError)
        self.assertEqual(await self.driver.get_content("/dir/f"), b"x")

    async def test_big_round_trip(self) -> None:
        """
        20 MiB written in 1 MiB pieces, some overlapping, read back intact by
        a reader and by C{get_content}.
        """
        size = 20 << 20
        content = pattern(size, seed=20)
        writer = await self.driver.writer("/big")
        for start in range(0, size, 2 << 20):
            await gatherResults(
                [
                    writer.write(content[start : start + (1 << 20)]),
                    writer.write(content[start + (1 << 20) : start + (2 << 20)]),
                ]
            )
        self.assertEqual(writer.size, size)
        await writer.commit()
        self.assertEqual((await self.driver.stat("/big")).size, size)
        expected = hashlib.sha256(content).digest()
        self.assertEqual(hashlib.sha256(await self.read_all("/big")).digest(), expected)
        self.assertEqual(hashlib.sha256(await self.driver.get_content("/big")).digest(), expected)

    # stat and list

    async def test_stat(self) -> None:
        """
        C{stat} describes files (size, modification time) and directories
        (size 0); the root is a directory.
        """
        await self.put({"/dir/f": b"12345"})
        info = await self.driver.stat("/dir/f")
        self.assertEqual((info.path, info.size, info.is_dir), ("/dir/f", 5, False))
        self.assertGreater(info.mtime, 0)
        directory = await self.driver.stat("/dir")
        self.assertEqual((directory.path, directory.size, directory.is_dir), ("/dir", 0, True))
        self.assertTrue((await self.driver.stat("/")).is_dir)

    async def test_stat_missing(self) -> None:
        """
        C{stat} of nothing, or below a file, fails with L{PathNotFoundError}.
        """
        await self.put({"/f": b"x"})
        for path in ["/missing", "/f/below", "/missing/below"]:
            error = await self.assertFails(self.driver.stat(path), PathNotFoundError)
            self.assertEqual(error.path, path)

    async def test_list(self) -> None:
        """
        C{list} gives the full paths of a directory's direct children, files
        and directories.
        """
        await self.put({"/r/a": b"", "/r/b/c": b"", "/r/b/d": b"", "/r/e-f": b"", "/s": b""})
        self.assertEqual(sorted(await self.driver.list("/r")), ["/r/a", "/r/b", "/r/e-f"])
        self.assertEqual(sorted(await self.driver.list("/r/b")), ["/r/b/c", "/r/b/d"])
        self.assertEqual(sorted(await self.driver.list("/")), ["/r", "/s"])

    async def test_list_empty_root(self) -> None:
        """
        A new driver's root lists nothing.
        """
        self.assertEqual(await self.driver.list("/"), [])
        self.assertEqual(await self.walked(), [])

    async def test_list_missing(self) -> None:
        """
        C{list} of nothing or of a file fails with L{PathNotFoundError}.
        """
        await self.put({"/f": b"x"})
        for path in ["/missing", "/f"]:
            error = await self.assertFails(self.driver.list(path), PathNotFoundError)
            self.assertEqual(error.path, path)

    async def test_many_children(self) -> None:
        """
        A directory with thousands of entries lists and walks them all.
        """
        names = [f"/many/{i:05d}" for i in range(3000)]
        await gatherResults([self.driver.put_content(name, b"") for name in names])
        self.assertEqual(sorted(await self.driver.list("/many")), names)
        self.assertEqual([path for path, _ in await self.walked("/many")], names)

    # move

    async def test_move(self) -> None:
        """
        C{move} puts the content at the destination, creating its parents,
        and removes the source.
        """
        await self.put({"/up/data": b"blob"})
        await self.driver.move("/up/data", "/blobs/ab/abcd/data")
        self.assertEqual(await self.driver.get_content("/blobs/ab/abcd/data"), b"blob")
        await self.assertFails(self.driver.stat("/up/data"), PathNotFoundError)

    async def test_move_overwrites(self) -> None:
        """
        C{move} replaces a file at the destination.
        """
        await self.put({"/a": b"new", "/b": b"old"})
        await self.driver.move("/a", "/b")
        self.assertEqual(await self.driver.get_content("/b"), b"new")
        self.assertEqual(await self.driver.list("/"), ["/b"])

    async def test_move_to_itself(self) -> None:
        """
        Moving a file onto itself keeps it.
        """
        await self.put({"/a": b"same"})
        await self.driver.move("/a", "/a")
        self.assertEqual(await self.driver.get_content("/a"), b"same")

    async def test_move_missing(self) -> None:
        """
        Moving nothing fails with L{PathNotFoundError} naming the source, and
        leaves the destination alone.
        """
        await self.put({"/b": b"kept", "/f": b"x"})
        for source in ["/missing", "/missing/dir/f", "/f/below"]:
            error = await self.assertFails(self.driver.move(source, "/b"), PathNotFoundError)
            self.assertEqual(error.path, source)
        self.assertEqual(await self.driver.get_content("/b"), b"kept")

    async def test_move_directory(self) -> None:
        """
        A directory moves with everything below it.
        """
        await self.put({"/up/a": b"a", "/up/b/c": b"c"})
        await self.driver.move("/up", "/down/here")
        self.assertEqual(await self.driver.get_content("/down/here/b/c"), b"c")
        self.assertEqual(await self.driver.get_content("/down/here/a"), b"a")
        await self.assertFails(self.driver.stat("/up"), PathNotFoundError)

    async def test_move_conflicts(self) -> None:
        """
        Moving a file onto a directory, or below a file, fails with a
        L{StorageError} and keeps the source.
        """
        await self.put({"/f": b"f", "/dir/g": b"g"})
        await self.assertFails(self.driver.move("/f", "/dir"), StorageError)
        await self.assertFails(self.driver.move("/f", "/dir/g/h"), StorageError)
        self.assertEqual(await self.driver.get_content("/f"), b"f")

    # delete

    async def test_delete_file(self) -> None:
        """
        C{delete} removes a file and nothing else.
        """
        await self.put({"/d/f": b"x", "/d/g": b"y"})
        await self.driver.delete("/d/f")
        await self.assertFails(self.driver.get_content("/d/f"), PathNotFoundError)
        self.assertEqual(await self.driver.list("/d"), ["/d/g"])

    async def test_delete_tree(self) -> None:
        """
        C{delete} of a directory removes everything below it, but not
        siblings whose names merely start the same.
        """
        await self.put(
            {"/r/b/c": b"", "/r/b/d/e": b"", "/r/bc": b"", "/r/b.c": b"", "/r/b-c/f": b""}
        )
        await self.driver.delete("/r/b")
        for path in ["/r/b", "/r/b/c", "/r/b/d/e"]:
            await self.assertFails(self.driver.stat(path), PathNotFoundError)
        self.assertEqual(sorted(await self.driver.list("/r")), ["/r/b-c", "/r/b.c", "/r/bc"])

    async def test_delete_missing(self) -> None:
        """
        Deleting nothing fails with L{PathNotFoundError}.
        """
        await self.put({"/f": b"x"})
        for path in ["/missing", "/missing/f", "/f/below"]:
            error = await self.assertFails(self.driver.delete(path), PathNotFoundError)
            self.assertEqual(error.path, path)
        await self.driver.delete("/f")
        await self.assertFails(self.driver.delete("/f"), PathNotFoundError)

    # walk

    async def test_walk_order(self) -> None:
        """
        C{walk} visits files and directories depth first, pre-order, sorted
        by name: C{/a-b} comes after everything below C{/a}.
        """
        await self.put(TREE)
        self.assertEqual(await self.walked(), TREE_WALK)

    async def test_walk_file_info(self) -> None:
        """
        The visitor gets each entry's size and kind.
        """
        await self.put({"/d/f": b"12345"})
        infos = []
        await self.driver.walk("/", infos.append)
        self.assertEqual(
            [(info.path, info.size, info.is_dir) for info in infos],
            [("/d", 0, True), ("/d/f", 5, False)],
        )

    async def test_walk_below(self) -> None:
        """
        C{walk} of a directory visits what is below it, not itself.
        """
        await self.put(TREE)
        self.assertEqual(await self.walked("/a.b"), [("/a.b/c", True), ("/a.b/c/d", False)])

    async def test_walk_skip_dir(self) -> None:
        """
        A visitor returning L{SKIP_DIR} for a directory keeps the walk out of
        it; for a file it changes nothing.
        """
        await self.put(TREE)

        def skip(info: FileInfo) -> Any:
            return SKIP_DIR if info.path in ("/a", "/_u/f", "/a.b/c") else None

        self.assertEqual(
            await self.walked(visit=skip),
            [entry for entry in TREE_WALK if entry[0] not in ("/a/x", "/a.b/c/d")],
        )

    async def test_walk_stop(self) -> None:
        """
        A visitor returning L{STOP_WALK} ends the walk at once, without an
        error.
        """
        await self.put(TREE)

        def stop(info: FileInfo) -> Any:
            return STOP_WALK if info.path == "/a/x" else None

        self.assertEqual(await self.walked(visit=stop), TREE_WALK[:5])

    async def test_walk_deferred_visitor(self) -> None:
        """
        A visitor's L{Deferred} is waited for, and its result obeyed.
        """
        await self.put(TREE)
        pending = []

        def later(info: FileInfo) -> Deferred[Any]:
            self.assertEqual(pending, [])
            action = SKIP_DIR if info.path == "/a" else STOP_WALK if info.path == "/a.b/c" else None
            pending.append(info.path)
            return deferLater(reactor, 0.001, lambda: pending.pop() and action)

        self.assertEqual(
            await self.walked(visit=later),
            [entry for entry in TREE_WALK[:8] if entry[0] != "/a/x"],
        )

    async def test_walk_visitor_error(self) -> None:
        """
        An exception from the visitor, or a failed L{Deferred}, ends the walk
        with that failure.
        """
        await self.put(TREE)

        def explode(info: FileInfo) -> None:
            raise ZeroDivisionError(info.path)

        await self.assertFails(self.driver.walk("/", explode), ZeroDivisionError)

        async def fail_later(info: FileInfo) -> None:
            raise KeyError(info.path)

        await self.assertFails(
            self.driver.walk("/", lambda info: Deferred.fromCoroutine(fail_later(info))),
            KeyError,
        )
        await self.assertFails(self.driver.walk("/", fail_later), KeyError)

    async def test_walk_missing(self) -> None:
        """
        Walking nothing, or a file, fails with L{PathNotFoundError}.
        """
        await self.put({"/f": b"x"})
        for path in ["/missing", "/f"]:
            await self.assertFails(self.driver.walk(path, lambda info: None), PathNotFoundError)

    async def test_walk_vanished(self) -> None:
        """
        A directory deleted after it was listed is skipped, not an error.
        """
        await self.put({"/a/b/c": b"", "/a/d": b"", "/e": b""})

        def delete(info: FileInfo) -> Deferred[None] | None:
            if info.path == "/a/b":
                return self.driver.delete("/a/b")
            return None

        self.assertEqual(
            await self.walked(visit=delete),
            [("/a", True), ("/a/b", True), ("/a/d", False), ("/e", False)],
        )

    async def test_walk_deep(self) -> None:
        """
        A deep tree is walked to the bottom.
        """
        path = "".join(f"/d{depth}" for depth in range(100))
        await self.put({path: b"bottom"})
        seen = await self.walked()
        self.assertEqual(len(seen), 100)
        self.assertEqual(seen[-1], (path, False))

    # walk_directories

    async def directories(self, path: str = "/", visit: Any = None) -> list[str]:
        """
        Walk the directories below C{path}, calling C{visit} too if given.

        @return: the directories visited, in order.
        """
        seen = []

        def visitor(directory: str) -> Any:
            seen.append(directory)
            return visit(directory) if visit else None

        await self.driver.walk_directories(path, visitor)
        return seen

    async def test_walk_directories_order(self) -> None:
        """
        C{walk_directories} visits the directories C{walk} visits, in the
        same order, and no file.
        """
        await self.put(TREE)
        expected = [path for path, is_dir in TREE_WALK if is_dir]
        self.assertEqual(await self.directories(), expected)
        self.assertEqual(await self.directories("/a.b"), ["/a.b/c"])

    async def test_walk_directories_skip_stop(self) -> None:
        """
        L{SKIP_DIR} keeps the walk out of a directory, L{STOP_WALK} ends it.
        """
        await self.put(TREE)
        await self.put({"/a/y/z": b"", "/a.b/e/f": b""})

        def skip(path: str) -> Any:
            return SKIP_DIR if path == "/a" else STOP_WALK if path == "/a.b/c" else None

        self.assertEqual(await self.directories(visit=skip), ["/_u", "/a", "/a.b", "/a.b/c"])

    async def test_walk_directories_errors(self) -> None:
        """
        Walking nothing or a file fails with L{PathNotFoundError}; an
        exception from the visitor, or an answer it may not give, ends the
        walk with a failure.
        """
        await self.put(TREE)
        for path in ["/missing", "/Z"]:
            await self.assertFails(
                self.driver.walk_directories(path, lambda path: None), PathNotFoundError
            )

        def explode(path: str) -> None:
            raise ZeroDivisionError(path)

        await self.assertFails(self.driver.walk_directories("/", explode), ZeroDivisionError)
        await self.assertFails(
            self.driver.walk_directories("/", lambda path: "descend"), ValueError
        )

    async def test_walk_directories_deep(self) -> None:
        """
        A deep tree is walked to the bottom.
        """
        path = "".join(f"/d{depth}" for depth in range(100))
        await self.put({path + "/f": b"bottom"})
        seen = await self.directories()
        self.assertEqual(len(seen), 100)
        self.assertEqual(seen[-1], path)
