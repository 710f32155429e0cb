"""
Which server process this is, and what a configuration with several of them
must not ask for.
"""

import os
import re

import attrs

from txregistry.config import ConfigError
from txregistry.storage.plugins import get_driver_factory


_SPOOL_SUFFIX = "-worker"
"""What follows the configured spool's name, before the index, in the
spool of a worker other than the first."""


@attrs.frozen
class Worker:
    """
    One of the registry's server processes.

    @ivar index: 0 for the registry's own process (which listens first,
        starts the others and runs the background maintenance), 1 and up
        for the processes it starts.
    @ivar count: how many there are (C{http.workers}).
    @ivar port: for the processes started by the first, the port it
        listens on (the configuration may say 0); else C{None}.
    """

    index: int = 0
    count: int = 1
    port: int | None = None

    @property
    def first(self) -> bool:
        """
        Whether this is the registry's own process.
        """
        return self.index == 0

    @property
    def shares_port(self) -> bool:
        """
        Whether other processes listen on the same address.
        """
        return self.count > 1

    def spool_directory(self, root: str) -> str:
        """
        This process's notification spool: C{root} for the first, a sibling
        C{<root>-worker<N>} for the others (a spool belongs to one process).
        """
        if self.first:
            return root
        return f"{os.path.normpath(root)}{_SPOOL_SUFFIX}{self.index}"


def former_worker_spools(root: str, count: int) -> list[tuple[int, str]]:
    """
    The spools beside C{root} of workers numbered C{count} or more, left by
    a run with more workers: nobody delivers their events now.

    @return: (worker index, directory) pairs, by index.
    """
    parent, base = os.path.split(os.path.normpath(root))
    pattern = re.compile(re.escape(base + _SPOOL_SUFFIX) + r"([1-9][0-9]*)")
    try:
        names = os.listdir(parent or os.curdir)
    except OSError:
        return []
    found = []
    for name in names:
        match = pattern.fullmatch(name)
        if match and int(match[1]) >= count:
            found.append((int(match[1]), os.path.join(parent, name)))
    return sorted(found)


def check_workers(config) -> None:
    """
    Refuse C{http.workers} above 1 where several processes cannot serve the
    same registry: a Unix socket address, a driver whose content lives in
    one process, online garbage collection (its claims are in memory).

    @raise ConfigError: for C{http.workers}.
    """
    http = config.http
    if http.workers == 1:
        return
    if not http.net.startswith("tcp"):
        raise ConfigError("http.workers", f"several workers need a TCP address, not http.net {http.net}")
    driver = config.storage.driver
    if not getattr(get_driver_factory(driver), "shared_between_processes", False):
        raise ConfigError(
            "http.workers",
            f"the {driver} storage driver does not share its content between processes; "
            "use one worker",
        )
    maintenance = config.storage.maintenance
    gc = maintenance.gc
    if gc.enabled and not gc.dryrun and not maintenance.readonly_enabled:
        raise ConfigError(
            "http.workers",
            "garbage collection while serving (storage.maintenance.gc) needs one worker; "
            "with several, run `txregistry garbage-collect` in read-only mode instead",
        )
