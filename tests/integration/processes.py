"""
Starting real servers for integration tests: txregistry under twistd, and
Distribution's registry when it is installed.
"""

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

_LISTENING = re.compile(rb"listening on [^\s]*:(\d+)")


def tool(name: str) -> str | None:
    """
    The path of an executable: next to this Python first (the virtualenv),
    then on C{PATH}.
    """
    beside = os.path.join(os.path.dirname(sys.executable), name)
    if os.access(beside, os.X_OK):
        return beside
    return shutil.which(name)


def free_port() -> int:
    """
    A TCP port free on the loopback interface right now.
    """
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_config(root: str, **extra) -> dict:
    """
    A configuration for a test server on filesystem storage at C{root},
    listening on an ephemeral loopback port.
    """
    config = {
        "version": "0.1",
        "log": {"level": "info", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": root}, "delete": {"enabled": True}},
        "http": {"addr": "127.0.0.1:0"},
    }
    for key, value in extra.items():
        config[key] = value
    return config


class RegistryProcess:
    """
    C{twistd -n txregistry --config FILE} in a child process.

    @ivar port: the port it listens on, once started.
    @ivar url: C{http://127.0.0.1:<port>}.
    """

    def __init__(self, config: dict, workdir: str | None = None):
        self.workdir = workdir or tempfile.mkdtemp(prefix="txregistry-test-")
        self.config_path = os.path.join(self.workdir, "config.yml")
        with open(self.config_path, "w") as f:
            yaml.safe_dump(config, f)
        self.log_path = os.path.join(self.workdir, "registry.log")
        self.process = None
        self.port = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "RegistryProcess":
        """
        Start the server and wait until it listens.
        """
        twistd = tool("twistd")
        # A restart appends to the log: look for "listening on" after the
        # earlier runs' lines, not in them.
        start_offset = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [twistd, "--nodaemon", "--pidfile=", "txregistry", "--config", self.config_path],
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.log_path, "rb") as f:
                f.seek(start_offset)
                match = _LISTENING.search(f.read())
            if match:
                self.port = int(match.group(1))
                return self
            if self.process.poll() is not None:
                raise RuntimeError(f"registry exited at start:\n{self.log()}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"registry did not start:\n{self.log()}")

    def log(self) -> str:
        """
        What the server logged.
        """
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

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
        self.process = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout: float = 30.0) -> "DistributionProcess":
        """
        Start it and wait until it accepts connections.
        """
        self.process = subprocess.Popen(
            [tool("docker-registry"), "serve", self.config_path],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.5).close()
                return self
            except OSError:
                if self.process.poll() is not None:
                    raise RuntimeError("docker-registry exited at start")
                time.sleep(0.05)
        raise RuntimeError("docker-registry did not start")

    def stop(self) -> None:
        """
        Terminate it.
        """
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(15)
