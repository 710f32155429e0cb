"""
Starting real servers for integration tests: txregistry under twistd, and
Distribution's registry when it is installed; and the small chores around
them (temporary directories, child environments, waiting for log lines).
"""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import yaml
from twisted.trial.unittest import SkipTest

_LISTENING = re.compile(r"listening on [^\s]*:(\d+)")


def listening_port(log: bytes) -> int | None:
    """
    The port txregistry says it listens on in C{log}, written as text or
    as JSON records (C{log.formatter: json}); C{None} if not said yet.
    Only complete lines count: a port may be half written.
    """
    complete = log[:log.rfind(b"\n") + 1]
    for line in complete.decode("utf-8", "replace").splitlines():
        if line.startswith("{"):
            try:
                event = json.loads(line)
            except ValueError:
                continue
            line = event.get("log_format", "").replace("{address}", event.get("address", ""))
        match = _LISTENING.search(line)
        if match:
            return int(match.group(1))
    return None


def tool(name: str) -> str | None:
    """
    The path of an executable: next to this Python first (the virtualenv),
    then on C{PATH}.
    """
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which(name)


def require_tool(name: str) -> str:
    """
    The path of an executable the test needs.

    @raise SkipTest: it is not installed.
    """
    path = tool(name)
    if path is None:
        raise SkipTest(f"{name} is not installed")
    return path


def free_port() -> int:
    """
    A TCP port free on the loopback interface right now.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_is_free(port: int) -> bool:
    """
    Whether 127.0.0.1:C{port} can be listened on right now, as Twisted
    listens: with C{SO_REUSEADDR}, so connections of a server that just
    stopped, left in TIME_WAIT, do not count.
    """
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def accepts_connections(port: int) -> bool:
    """
    Whether something listens on 127.0.0.1:C{port}.
    """
    try:
        socket.create_connection(("127.0.0.1", port), 0.5).close()
    except OSError:
        return False
    return True


def temporary_directory(case, prefix: str = "txregistry-test-") -> str:
    """
    A new directory, removed when the test C{case} ends.
    """
    path = tempfile.mkdtemp(prefix=prefix)
    case.addCleanup(shutil.rmtree, path, ignore_errors=True)
    return path


def child_environment(**overrides: str) -> dict:
    """
    This process's environment without any C{REGISTRY_*} variable (which
    would override the test's configuration), plus C{overrides}.
    """
    environ = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    environ.update(overrides)
    return environ


def wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    """
    Call C{predicate} until it returns something true, and return that.

    @raise AssertionError: naming C{what}, if C{timeout} seconds pass first.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


def read_bytes(path: str) -> bytes:
    """
    The content of a file, or C{b""} if it does not exist (yet).
    """
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def read_text(path: str) -> str:
    """
    The content of a text file, or C{""} if it does not exist (yet).
    """
    return read_bytes(path).decode("utf-8", "replace")


def process_exists(pid: int) -> bool:
    """
    Whether process C{pid} is alive (not a zombie).
    """
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def base_config(root: str, **extra) -> dict:
    """
    A configuration for a test server on filesystem storage at C{root},
    listening on an ephemeral loopback port.  Each keyword replaces the
    top-level section of that name.
    """
    config = {
        "version": "0.1",
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": root}, "delete": {"enabled": True}},
        "http": {"addr": "127.0.0.1:0"},
    }
    config.update(extra)
    return config


def twistd_command(*twistd_options: str) -> list[str]:
    """
    The command line running C{twistd [twistd_options] txregistry}.
    """
    return [tool("twistd"), *twistd_options, "txregistry"]


class RegistryProcess:
    """
    txregistry in a child process: by default C{twistd --nodaemon --pidfile=
    txregistry --config FILE}, or any other command that starts it.

    @ivar port: the port it listens on, once started.
    @ivar url: C{http://127.0.0.1:<port>}.
    @ivar log_path: where its output goes (standard output and error).
    """

    def __init__(self, config: dict | None, workdir: str | None = None,
                 env: dict | None = None):
        """
        @param config: the configuration to write to C{config.yml} in
            C{workdir}; C{None} to write none.
        @param env: the child's environment (default: L{child_environment}).
        """
        self.workdir = workdir or tempfile.mkdtemp(prefix="txregistry-test-")
        self.config_path = os.path.join(self.workdir, "config.yml")
        if config is not None:
            with open(self.config_path, "w") as f:
                yaml.safe_dump(config, f)
        self.log_path = os.path.join(self.workdir, "registry.log")
        self.env = child_environment() if env is None else env
        self.process = None
        self.port = None

    @classmethod
    def started(cls, case, config: dict | None, env: dict | None = None,
                **kwargs) -> "RegistryProcess":
        """
        Start a server for the test C{case} in a temporary directory; both
        go away when the test ends.

        @param config: see L{__init__}.
        @param env: see L{__init__}.
        @param kwargs: for L{start}.
        """
        registry = cls.prepared(case, config, env)
        return registry.start(**kwargs)

    @classmethod
    def prepared(cls, case, config: dict | None, env: dict | None = None) -> "RegistryProcess":
        """
        A server for the test C{case} in a temporary directory, not started;
        stopped (if it runs) and the directory removed when the test ends.
        """
        registry = cls(config, temporary_directory(case), env)
        case.addCleanup(registry.stop)
        return registry

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def default_command(self) -> list[str]:
        """
        C{twistd} in the foreground with this server's configuration file.
        """
        return twistd_command("--nodaemon", "--pidfile=") + ["--config", self.config_path]

    def launch(self, command: list[str] | None = None) -> subprocess.Popen:
        """
        Start the command (default: L{default_command}), output appended to
        L{log_path}, without waiting for anything.
        """
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                command or self.default_command(),
                cwd=self.workdir,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        return self.process

    def start(self, command: list[str] | None = None, log_path: str | None = None,
              timeout: float = 30.0) -> "RegistryProcess":
        """
        Start the server and wait until it says where it listens.

        @param command: see L{launch}.
        @param log_path: the file the server logs to, if not its output
            (C{--logfile}).
        """
        watched = log_path or self.log_path
        offset = len(read_bytes(watched))
        self.launch(command)

        def output():
            return self.log() + (read_text(log_path) if log_path else "")

        def listening():
            port = listening_port(read_bytes(watched)[offset:])
            if port is not None:
                return port
            if self.process.poll() not in (None, 0):
                raise RuntimeError(f"registry exited at start:\n{output()}")
            return None

        try:
            self.port = wait_for(listening, timeout, "the registry to listen")
        except AssertionError:
            self.stop()
            raise RuntimeError(f"registry did not start:\n{output()}") from None
        return self

    def log(self) -> str:
        """
        What the server wrote to its output.
        """
        return read_text(self.log_path)

    def kill(self) -> None:
        """
        SIGKILL: no chance to clean up.
        """
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self, timeout: float = 15.0) -> int | None:
        """
        SIGTERM, then wait (SIGKILL if it does not end in time).

        @return: the exit status.
        """
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.process.returncode


class DistributionProcess:
    """
    Debian's C{docker-registry} (Distribution 2.8) on a loopback port, serving
    filesystem storage at C{root}.
    """

    def __init__(self, root: str, workdir: str | None = None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="distribution-test-")
        self.port = free_port()
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {"filesystem": {"rootdirectory": root}, "delete": {"enabled": True},
                        "maintenance": {"uploadpurging": {"enabled": False}}},
            "http": {"addr": f"127.0.0.1:{self.port}"},
        }
        self.config_path = os.path.join(self.workdir, "distribution.yml")
        with open(self.config_path, "w") as f:
            yaml.safe_dump(config, f)
        self.log_path = os.path.join(self.workdir, "distribution.log")
        self.process = None

    @classmethod
    def started(cls, case, root: str) -> "DistributionProcess":
        """
        Start Distribution on C{root} for the test C{case}, stopped (and its
        directory removed) when the test ends.

        @raise SkipTest: C{docker-registry} is not installed.
        """
        require_tool("docker-registry")
        registry = cls(root, temporary_directory(case, "distribution-test-"))
        case.addCleanup(registry.stop)
        return registry.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "DistributionProcess":
        """
        Start it and wait until it accepts connections.
        """
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [tool("docker-registry"), "serve", self.config_path],
                env=child_environment(),
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            )

        def ready():
            if self.process.poll() is not None:
                raise RuntimeError(f"docker-registry exited at start:\n{read_text(self.log_path)}")
            return accepts_connections(self.port)

        try:
            wait_for(ready, timeout, "docker-registry to listen")
        except AssertionError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """
        Terminate it.
        """
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
