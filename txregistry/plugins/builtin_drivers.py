# -*- test-case-name: tests.test_driver_plugins -*-
"""
The built-in storage drivers, as L{IStorageDriverFactory} plugins:
C{filesystem} and C{inmemory}.
"""

from collections.abc import Mapping
from typing import Any

from twisted.plugin import IPlugin
from zope.interface import implementer

from txregistry.config import ConfigError
from txregistry.storage.drivers.filesystem import FilesystemDriver
from txregistry.storage.drivers.inmemory import InMemoryDriver
from txregistry.storage.interfaces import IStorageDriverFactory

#: Distribution's defaults and lower bound for the filesystem driver.
DEFAULT_ROOT_DIRECTORY = "/var/lib/registry"
DEFAULT_MAX_THREADS = 100
MIN_THREADS = 25


def _parameters(name: str, parameters: Any) -> Mapping[str, Any]:
    """
    The parameters under C{storage.<name>}: a mapping, or nothing (C{None}).

    @raise ConfigError: if they are something else.
    """
    if parameters is None:
        return {}
    if not isinstance(parameters, Mapping):
        raise ConfigError(f"storage.{name}", "expected a mapping of driver parameters")
    return parameters


def _thread_limit(value: Any) -> int:
    """
    Read C{maxthreads} as Distribution does: an integer, or a string holding
    one (as environment overrides give), where anything below
    L{MIN_THREADS} counts as L{MIN_THREADS}.

    @raise ConfigError: if C{value} is not an integer.
    """
    if value is None:
        return DEFAULT_MAX_THREADS
    if isinstance(value, str) and value.strip() == value and value[:1] not in ("+", "-"):
        try:
            value = int(value, 0)
        except ValueError:
            pass
    if not isinstance(value, int) or isinstance(value, bool):
        raise ConfigError("storage.filesystem.maxthreads", f"expected an integer, not {value!r}")
    return max(value, MIN_THREADS)


@implementer(IPlugin, IStorageDriverFactory)
class FilesystemDriverFactory:
    """
    Makes L{FilesystemDriver}s from C{rootdirectory} (default
    L{DEFAULT_ROOT_DIRECTORY}) and C{maxthreads} (default
    L{DEFAULT_MAX_THREADS}, at least L{MIN_THREADS}).  Other keys are
    ignored, as Distribution ignores them.
    """

    name = "filesystem"
    shared_between_processes = True

    def _read(self, parameters: Any) -> tuple[str, int]:
        parameters = _parameters(self.name, parameters)
        root = parameters.get("rootdirectory", DEFAULT_ROOT_DIRECTORY)
        if not isinstance(root, str) or not root:
            raise ConfigError(
                "storage.filesystem.rootdirectory", f"expected a directory path, not {root!r}"
            )
        return root, _thread_limit(parameters.get("maxthreads"))

    def validate(self, parameters: Any) -> None:
        """
        See L{IStorageDriverFactory.validate}.
        """
        self._read(parameters)

    def create(self, parameters: Any, reactor: Any) -> FilesystemDriver:
        """
        See L{IStorageDriverFactory.create}.
        """
        root, maxthreads = self._read(parameters)
        return FilesystemDriver(root, reactor, maxthreads=maxthreads)


@implementer(IPlugin, IStorageDriverFactory)
class InMemoryDriverFactory:
    """
    Makes L{InMemoryDriver}s; they take no parameters (any given are
    ignored).
    """

    name = "inmemory"
    shared_between_processes = False

    def validate(self, parameters: Any) -> None:
        """
        See L{IStorageDriverFactory.validate}.
        """
        _parameters(self.name, parameters)

    def create(self, parameters: Any, reactor: Any) -> InMemoryDriver:
        """
        See L{IStorageDriverFactory.create}.
        """
        return InMemoryDriver(reactor)


filesystem = FilesystemDriverFactory()
inmemory = InMemoryDriverFactory()
