"""
Tests for L{txregistry.storage.plugins} and the built-in driver plugins in
L{txregistry.plugins.builtin_drivers}.
"""

import os
import subprocess
import sys
import textwrap

from twisted.internet import reactor
from twisted.trial.unittest import TestCase
from zope.interface.verify import verifyObject

from tests.driver_suite import temporary_directory
from txregistry.config import ConfigError
from txregistry.storage.drivers.filesystem import FilesystemDriver
from txregistry.storage.drivers.inmemory import InMemoryDriver
from txregistry.storage.interfaces import IStorageDriverFactory
from txregistry.storage.plugins import driver_factories, get_driver_factory

REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

TINY_DRIVER = """
from twisted.plugin import IPlugin
from zope.interface import implementer

from txregistry.storage.drivers.inmemory import InMemoryDriver
from txregistry.storage.interfaces import IStorageDriverFactory


@implementer(IPlugin, IStorageDriverFactory)
class TinyFactory:
    name = "tiny"

    def validate(self, parameters):
        pass

    def create(self, parameters, reactor):
        return InMemoryDriver(reactor)


tiny = TinyFactory()
"""

USE_TINY = """
from twisted.internet import reactor
from txregistry.storage.plugins import driver_factories, get_driver_factory

print(",".join(sorted(driver_factories())))
factory = get_driver_factory("tiny")
factory.validate({})
driver = factory.create({}, reactor)
driver.put_content("/f", b"tiny content")
driver.get_content("/f").addCallback(lambda content: print(content.decode()))
"""


def run_with_plugin(case, module: str, source: str, script: str) -> list[str]:
    """
    Run C{script} in a new Python process where another distribution has
    installed the plugin module C{module} (C{source}) in its own
    C{txregistry/plugins} directory, without C{__init__.py} files.

    @return: the lines it printed (it must succeed).
    """
    top = temporary_directory(case)
    plugins = os.path.join(top, "txregistry", "plugins")
    os.makedirs(plugins)
    with open(os.path.join(plugins, module + ".py"), "w") as f:
        f.write(source)
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join([top, REPOSITORY]))
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
    case.assertEqual(result.returncode, 0, result.stderr)
    return result.stdout.splitlines()


class DiscoveryTests(TestCase):
    """
    Drivers are found as L{IStorageDriverFactory} plugins.
    """

    def test_builtins(self) -> None:
        """
        The built-in C{filesystem} and C{inmemory} factories are found by
        name and provide the interface.
        """
        factories = driver_factories()
        self.assertLessEqual({"filesystem", "inmemory"}, set(factories))
        for name, factory in factories.items():
            self.assertTrue(verifyObject(IStorageDriverFactory, factory))
            self.assertEqual(factory.name, name)
        self.assertIs(get_driver_factory("inmemory"), factories["inmemory"])

    def test_unknown(self) -> None:
        """
        Asking for a driver nobody provides is a L{ConfigError} for
        C{storage} that names the drivers available.
        """
        error = self.assertRaises(ConfigError, get_driver_factory, "s3")
        self.assertEqual(error.key, "storage")
        self.assertIn("unknown storage driver s3", str(error))
        self.assertIn("available: filesystem, inmemory", str(error))

    def test_third_party(self) -> None:
        """
        A driver in another distribution's C{txregistry/plugins} directory
        (without C{__init__.py} files) is found and can be used.
        """
        self.assertEqual(run_with_plugin(self, "tiny_driver", TINY_DRIVER, USE_TINY),
                         ["filesystem,inmemory,tiny", "tiny content"])


class FilesystemFactoryTests(TestCase):
    """
    The C{filesystem} factory reads Distribution's parameters.
    """

    factory = get_driver_factory("filesystem")

    def assertConfigError(self, parameters: object, key: str) -> None:
        error = self.assertRaises(ConfigError, self.factory.validate, parameters)
        self.assertEqual(error.key, key)

    def create(self, parameters: object) -> FilesystemDriver:
        driver = self.factory.create(parameters, reactor)
        self.addCleanup(driver.close)
        return driver

    async def test_create(self) -> None:
        """
        C{create} makes a working L{FilesystemDriver} on C{rootdirectory}.
        """
        root = temporary_directory(self)
        parameters = {"rootdirectory": root, "maxthreads": 40}
        self.factory.validate(parameters)
        driver = self.create(parameters)
        self.assertIsInstance(driver, FilesystemDriver)
        await driver.put_content("/f", b"x")
        self.assertEqual(os.listdir(root), ["f"])
        self.assertEqual(driver._pool.max, 40)

    def test_defaults(self) -> None:
        """
        Without parameters the root is C{/var/lib/registry} and 100 threads
        may run; unknown keys are ignored.
        """
        for parameters in [None, {}, {"unknown": 1}]:
            self.factory.validate(parameters)
            driver = self.create(parameters)
            self.assertEqual(driver._tree._root, "/var/lib/registry")
            self.assertEqual(driver._pool.max, 100)

    def test_maxthreads(self) -> None:
        """
        C{maxthreads} is an integer or a string of one; below 25 it counts
        as 25, as in Distribution.
        """
        for value, expected in [(25, 25), (200, 200), ("50", 50), ("0x40", 64), (10, 25), (-1, 25)]:
            self.factory.validate({"maxthreads": value})
            self.assertEqual(self.create({"maxthreads": value})._pool.max, expected)

    def test_invalid(self) -> None:
        """
        Parameters of the wrong type are L{ConfigError}s naming their key.
        """
        for value in ["many", "", " 50", "-5", 2.5, True, [], {}]:
            self.assertConfigError({"maxthreads": value}, "storage.filesystem.maxthreads")
        for value in ["", 5, None, ["/a"]]:
            self.assertConfigError({"rootdirectory": value}, "storage.filesystem.rootdirectory")
        self.assertConfigError(["rootdirectory"], "storage.filesystem")


class InMemoryFactoryTests(TestCase):
    """
    The C{inmemory} factory takes no parameters.
    """

    def test_create(self) -> None:
        """
        C{create} makes an L{InMemoryDriver}, whatever the parameters.
        """
        factory = get_driver_factory("inmemory")
        for parameters in [None, {}, {"ignored": True}]:
            factory.validate(parameters)
            self.assertIsInstance(factory.create(parameters, reactor), InMemoryDriver)
        error = self.assertRaises(ConfigError, factory.validate, "text")
        self.assertEqual(error.key, "storage.inmemory")
