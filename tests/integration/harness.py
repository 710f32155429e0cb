"""
What the robustness tests share: time limits, temporary directories and a
registry server on a filesystem root, all undone by the test's cleanups;
digests, manifests and upload headers as clients make and read them.
"""

import hashlib
import json
import shutil
import signal
import tempfile
from urllib.parse import urlsplit

from tests.integration.processes import RegistryProcess, base_config

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


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


def sha256(data: bytes) -> str:
    """
    The sha256 digest string of C{data}.
    """
    return "sha256:" + hashlib.sha256(data).hexdigest()


def manifest_body(config: tuple, layers=(), subject: tuple | None = None) -> bytes:
    """
    An OCI image manifest.

    @param config: the config blob's C{(digest, size)}.
    @param layers: the layers' C{(digest, size)}.
    @param subject: the C{(digest, size)} of the image manifest it refers to.
    """
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config[0], "size": config[1]},
        "layers": [{"mediaType": OCI_LAYER, "digest": d, "size": s} for d, s in layers],
    }
    if subject is not None:
        manifest["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject[0],
                               "size": subject[1]}
    return json.dumps(manifest).encode()


def upload_offset(reply) -> int:
    """
    The offset an upload session reports in C{Range: 0-<last>}.

    C{0-0} is read as 0 although it also means 1 (Distribution's ambiguity):
    the tests never leave a session holding exactly one byte.
    """
    first, last = reply.header("range").split("-")
    if first != "0":
        raise ValueError(f"unexpected Range {reply.header('range')!r}")
    return int(last) + 1 if int(last) else 0


def location_path(reply) -> str:
    """
    The path (and query) of a C{Location}, without the server's address,
    which changes when it restarts.
    """
    parts = urlsplit(reply.header("location"))
    return parts.path + (f"?{parts.query}" if parts.query else "")
