"""
Tests for L{txregistry.storage.drivers.inmemory}.
"""

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from tests.driver_suite import DriverTests
from txregistry.storage.drivers.inmemory import InMemoryDriver
from txregistry.storage.interfaces import FileInfo, PathNotFoundError


class InMemoryDriverTests(DriverTests, TestCase):
    """
    The in-memory driver keeps the driver contract.
    """

    def make_driver(self) -> InMemoryDriver:
        return InMemoryDriver()


class InMemoryOnlyTests(SynchronousTestCase):
    """
    What the in-memory driver promises beyond the contract.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.driver = InMemoryDriver(self.clock)

    def test_results_already_fired(self) -> None:
        """
        Every call returns a L{Deferred} that has already fired.
        """
        self.assertIsNone(self.successResultOf(self.driver.put_content("/a/f", b"x")))
        self.assertEqual(self.successResultOf(self.driver.get_content("/a/f")), b"x")
        writer = self.successResultOf(self.driver.writer("/a/g"))
        self.successResultOf(writer.write(b"y"))
        self.successResultOf(writer.commit())
        reader = self.successResultOf(self.driver.reader("/a/g"))
        self.assertEqual(self.successResultOf(reader.read(10)), b"y")
        self.assertEqual(self.successResultOf(self.driver.list("/a")), ["/a/f", "/a/g"])
        self.successResultOf(self.driver.walk("/", lambda info: None))
        self.failureResultOf(self.driver.stat("/missing"), PathNotFoundError)

    def test_mtime_from_reactor(self) -> None:
        """
        Modification times come from the reactor given.
        """
        self.clock.advance(1000)
        self.successResultOf(self.driver.put_content("/d/f", b"x"))
        self.clock.advance(5)
        self.successResultOf(self.driver.put_content("/d/f", b"y"))
        self.assertEqual(self.successResultOf(self.driver.stat("/d/f")).mtime, 1005)
        self.assertEqual(self.successResultOf(self.driver.stat("/d")).mtime, 1005)

    def test_no_empty_directories(self) -> None:
        """
        Like an object store, a directory exists only while something is
        stored below it.
        """
        self.successResultOf(self.driver.put_content("/a/b/c", b"x"))
        self.successResultOf(self.driver.put_content("/a/d", b"x"))
        self.successResultOf(self.driver.delete("/a/b/c"))
        self.assertEqual(self.successResultOf(self.driver.list("/a")), ["/a/d"])
        self.successResultOf(self.driver.move("/a/d", "/e/f"))
        self.assertEqual(self.successResultOf(self.driver.list("/")), ["/e"])
        writer = self.successResultOf(self.driver.writer("/e/f", append=True))
        self.successResultOf(writer.cancel())
        self.assertEqual(self.successResultOf(self.driver.list("/")), [])

    def test_content_visible_after_close(self) -> None:
        """
        A writer's content is stored when it is closed, not before.
        """
        writer = self.successResultOf(self.driver.writer("/f"))
        self.successResultOf(writer.write(b"x"))
        self.failureResultOf(self.driver.stat("/f"), PathNotFoundError)
        self.successResultOf(writer.close())
        self.assertEqual(self.successResultOf(self.driver.get_content("/f")), b"x")

    def test_deep_walk(self) -> None:
        """
        A tree thousands of directories deep is walked without recursion.
        """
        path = "/d" * 5000
        self.successResultOf(self.driver.put_content(path, b"x"))
        seen: list[FileInfo] = []
        self.successResultOf(self.driver.walk("/", seen.append))
        self.assertEqual(len(seen), 5000)
        self.assertEqual(seen[-1].path, path)
        self.successResultOf(self.driver.delete("/d"))
        self.assertEqual(self.successResultOf(self.driver.list("/")), [])

    def test_many_paths(self) -> None:
        """
        Tens of thousands of paths are stored, listed and walked quickly
        (nothing is quadratic in the number of paths).
        """
        for i in range(200):
            for j in range(100):
                self.successResultOf(self.driver.put_content(f"/r/{i:03d}/{j:03d}", b""))
        self.assertEqual(len(self.successResultOf(self.driver.list("/r"))), 200)
        seen: list[FileInfo] = []
        self.successResultOf(self.driver.walk("/r", seen.append))
        self.assertEqual(len(seen), 200 * 101)
        self.assertEqual(seen[1].path, "/r/000/000")
