"""
The first process's supervision of the others: start them, pass their log
events on, start again one that exits, stop them all with the registry.
"""

import os
import sys

from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger, LogLevel, eventFromJSON, globalLogPublisher

RESTART_DELAY = 1.0
"""Seconds before a worker that exited is started again; doubled while it
keeps exiting soon after starting, up to L{MAX_RESTART_DELAY}."""
MAX_RESTART_DELAY = 30.0
STABLE_AFTER = 60.0
"""A worker that ran this long is considered healthy again."""
KILL_GRACE = 10.0
"""Seconds, beyond the drain timeout, before a worker that was asked to stop
is killed."""

_log = Logger()


def worker_command(index: int, count: int, port: int, config_path: str | None) -> list[str]:
    """
    The command line of worker C{index}: C{python -m txregistry worker}
    with the same interpreter and configuration file.
    """
    argv = [sys.executable, "-m", "txregistry", "worker",
            "--index", str(index), "--count", str(count), "--port", str(port)]
    if config_path is not None:
        argv += ["--config", os.path.abspath(config_path)]
    return argv


class _WorkerProtocol(ProcessProtocol):
    """
    One worker process: its standard output carries its log events as JSON
    lines, which are published here with C{worker} and C{log_system} set;
    its standard error is logged line by line.  Its standard input stays
    open: the worker stops when it closes (when this process is gone).
    """

    def __init__(self, pool, index: int, started: float):
        self._pool = pool
        self.index = index
        self.started = started
        self._buffers = {1: b"", 2: b""}

    def childDataReceived(self, fd, data):
        """
        Publish each complete line.
        """
        lines = (self._buffers.get(fd, b"") + data).split(b"\n")
        self._buffers[fd] = lines.pop()
        for line in lines:
            if line.strip():
                self._pool.publish_line(self.index, line, fd == 1)

    def processEnded(self, reason):
        """
        Tell the pool.
        """
        for fd, rest in self._buffers.items():
            if rest.strip():
                self._pool.publish_line(self.index, rest, fd == 1)
        self._pool.ended(self, reason.value)


class WorkerPool(Service):
    """
    The worker processes 1 to C{count - 1}.

    @ivar processes: the running workers' L{IProcessTransport}s by index.
    """

    def __init__(self, count: int, command, reactor, drain_timeout: float,
                 publish=globalLogPublisher, environ=None):
        """
        @param command: gives the argument list of worker C{index}.
        @param drain_timeout: C{http.draintimeout}, how long a stopping
            worker may take before it is killed (plus L{KILL_GRACE}).
        @param publish: receives the workers' log events.
        @param environ: the workers' environment (default: this process's).
        """
        self._count = count
        self._command = command
        self._reactor = reactor
        self._drain_timeout = drain_timeout
        self._publish = publish
        self._environ = environ
        self.processes = {}
        self._delays = {}
        self._restarts = {}
        self._waiting = []
        self._kill = None

    def startService(self):
        """
        Start every worker.
        """
        super().startService()
        for index in range(1, self._count):
            self._spawn(index)

    def _spawn(self, index: int) -> None:
        self._restarts.pop(index, None)
        argv = self._command(index)
        protocol = _WorkerProtocol(self, index, self._reactor.seconds())
        environ = dict(os.environ if self._environ is None else self._environ)
        self.processes[index] = self._reactor.spawnProcess(
            protocol, argv[0], argv, env=environ, childFDs={0: "w", 1: "r", 2: "r"},
        )

    def publish_line(self, index: int, line: bytes, is_event: bool) -> None:
        """
        Publish one line a worker wrote: a log event from its standard
        output, else a warning with the text.
        """
        event = None
        if is_event:
            try:
                event = eventFromJSON(line.decode("utf-8"))
            except ValueError:
                event = None
        if not isinstance(event, dict):
            text = line.decode("utf-8", "replace")
            event = {"log_format": "{text}", "text": text, "log_level": LogLevel.warn,
                     "log_namespace": __name__, "log_time": self._reactor.seconds()}
        event["worker"] = index
        event["log_system"] = f"worker {index}"
        self._publish(event)

    def ended(self, protocol: _WorkerProtocol, reason) -> None:
        """
        A worker exited: start it again, unless the pool is stopping.
        """
        self.processes.pop(protocol.index, None)
        if not self.running:
            if not self.processes:
                self._stopped()
            return
        stable = self._reactor.seconds() - protocol.started >= STABLE_AFTER
        previous = 0.0 if stable else self._delays.get(protocol.index, 0.0)
        delay = self._delays[protocol.index] = min(previous * 2 or RESTART_DELAY,
                                                   MAX_RESTART_DELAY)
        _log.warn("worker {index} exited ({reason}); starting it again in {delay:g} s",
                  index=protocol.index, reason=str(reason), delay=delay)
        self._restarts[protocol.index] = self._reactor.callLater(delay, self._spawn, protocol.index)

    def stopService(self):
        """
        Ask every worker to stop (C{SIGTERM}: it stops listening and drains
        as this process does), killing those still running after the drain
        timeout and L{KILL_GRACE}.

        @return: a L{Deferred} firing once every worker has exited.
        """
        if self.running:
            super().stopService()
            for call in self._restarts.values():
                call.cancel()
            self._restarts.clear()
            for transport in list(self.processes.values()):
                transport.signalProcess("TERM")
            if self.processes:
                self._kill = self._reactor.callLater(
                    self._drain_timeout + KILL_GRACE, self._kill_remaining
                )
        if not self.processes:
            return defer.succeed(None)
        waiting = defer.Deferred()
        self._waiting.append(waiting)
        return waiting

    def _kill_remaining(self) -> None:
        self._kill = None
        for index, transport in list(self.processes.items()):
            _log.warn("worker {index} did not stop; killing it", index=index)
            transport.signalProcess("KILL")

    def _stopped(self) -> None:
        if self._kill is not None and self._kill.active():
            self._kill.cancel()
        self._kill = None
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            waiter.callback(None)
