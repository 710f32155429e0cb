"""
A worker process: C{txregistry worker} (started by the first process, not
by hand).  It serves the registry on the shared address, writes its log
events as JSON lines to standard output for the first process to publish,
and stops on C{SIGTERM} or when its standard input closes (the first
process is gone).
"""

import os
import sys

from twisted.internet.protocol import Protocol
from twisted.internet.stdio import StandardIO
from twisted.logger import (
    FilteringLogObserver,
    Logger,
    LogLevelFilterPredicate,
    eventAsJSON,
    globalLogBeginner,
)

from txregistry.allocator import keep_freed_memory
from txregistry.config import ConfigError, load_config
from txregistry.logs import LEVELS
from txregistry.workers.role import Worker

_log = Logger()


class _ParentLink(Protocol):
    """
    Standard input and output: log lines go out; the end of input stops
    the reactor.
    """

    def __init__(self, reactor):
        self._reactor = reactor

    def connectionLost(self, reason):
        """
        The first process is gone: stop.
        """
        if self._reactor.running:
            self._reactor.stop()


def add_command(commands) -> None:
    """
    Add C{worker} to the C{txregistry} command's subcommands.
    """
    worker = commands.add_parser(
        "worker", help="one server process of several (started by the registry itself)"
    )
    worker.add_argument("--index", type=int, required=True)
    worker.add_argument("--count", type=int, required=True)
    worker.add_argument("--port", type=int, required=True)
    worker.add_argument("--config", default=None)
    worker.set_defaults(run=run_worker)


def run_worker(arguments) -> None:
    """
    Serve as worker C{arguments.index} until stopped.
    """
    from twisted.internet import reactor

    from txregistry.service import RegistryService

    try:
        config = load_config(arguments.config, os.environ)
    except ConfigError as error:
        sys.exit(f"txregistry worker {arguments.index}: invalid configuration: {error}")
    keep_freed_memory()
    link = _ParentLink(reactor)
    stdio = StandardIO(link)

    def write(event):
        stdio.write(eventAsJSON(event).encode("utf-8") + b"\n")

    predicate = LogLevelFilterPredicate(defaultLogLevel=LEVELS[config.log.level])
    globalLogBeginner.beginLoggingTo([FilteringLogObserver(write, [predicate])],
                                     redirectStandardIO=False)
    worker = Worker(arguments.index, arguments.count, arguments.port)
    service = RegistryService(config, reactor, worker=worker)
    failed = []

    def start():
        try:
            service.privilegedStartService()
            service.startService()
        except Exception:
            _log.failure("worker {index} could not start", index=worker.index)
            failed.append(True)
            reactor.stop()
            return
        reactor.addSystemEventTrigger("before", "shutdown", service.stopService)

    reactor.callWhenRunning(start)
    reactor.run()
    if failed:
        sys.exit(1)
