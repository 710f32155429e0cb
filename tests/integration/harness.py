"""
What the robustness tests share: time limits, temporary directories and a
registry server on a filesystem root, all undone by the test's cleanups.
"""

import shutil
import signal
import tempfile

from tests.integration.processes import RegistryProcess, base_config


class TestTimeout(Exception):
    """
    A test ran past its time limit.
    """


def time_limit(testcase, seconds: int) -> None:
    """
    Interrupt C{testcase} with L{TestTimeout} (raised in the main thread,
    wherever it is blocked) if it runs longer than C{seconds}.
    """

    def expired(signum, frame):
        raise TestTimeout(f"{testcase.id()} ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    testcase.addCleanup(signal.signal, signal.SIGALRM, previous)
    testcase.addCleanup(signal.alarm, 0)


def temporary_directory(testcase, prefix: str) -> str:
    """
    A new directory, removed with everything in it when the test ends.
    """
    path = tempfile.mkdtemp(prefix=prefix)
    testcase.addCleanup(shutil.rmtree, path, True)
    return path


def start_registry(testcase, root: str) -> RegistryProcess:
    """
    Start C{twistd txregistry} on the filesystem root C{root}, deletes
    enabled and upload purging off; it is stopped when the test ends.
    """
    config = base_config(root)
    config["storage"]["maintenance"] = {"uploadpurging": {"enabled": False}}
    process = RegistryProcess(config, temporary_directory(testcase, "txregistry-robust-"))
    testcase.addCleanup(process.stop)
    return process.start()


def assert_quiet_log(testcase, process: RegistryProcess) -> None:
    """
    Check that the server logged no traceback and no unhandled error.
    """
    log = process.log()
    for sign in ("Traceback", "Unhandled"):
        testcase.assertNotIn(sign, log, log[-10000:])
