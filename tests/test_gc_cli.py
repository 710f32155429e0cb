"""
C{txregistry garbage-collect CONFIG} (and C{python -m txregistry
garbage-collect}) run as a command on a filesystem root built by hand:
what it prints, what it deletes, its flags and its failures.
"""

import json
import os
import pty
import shutil
import subprocess
import sys
import tempfile

import yaml
from twisted.trial.unittest import SynchronousTestCase

from tests.gc_trees import Tree, directory_writer
from txregistry.registry.reference import Digest
from txregistry.storage import layout


def run_command(*arguments: str, stderr_tty: bool = False) -> subprocess.CompletedProcess:
    """
    Run C{python -m txregistry garbage-collect ARGUMENTS}, output captured
    (standard error through a terminal if C{stderr_tty}).
    """
    argv = [sys.executable, "-m", "txregistry", "garbage-collect", *arguments]
    if not stderr_tty:
        return subprocess.run(argv, capture_output=True, text=True, timeout=60,
                              stdin=subprocess.DEVNULL)
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=terminal,
                                   stdin=subprocess.DEVNULL, text=True)
        os.close(terminal)
        terminal = None
        stdout, _ = process.communicate(timeout=60)
        seen = b""
        while True:
            try:
                piece = os.read(controller, 65536)
            except OSError:  # the terminal closed
                break
            if not piece:
                break
            seen += piece
    finally:
        os.close(controller)
        if terminal is not None:
            os.close(terminal)
    return subprocess.CompletedProcess(argv, process.returncode, stdout,
                                       seen.decode("utf-8", "replace"))


class GarbageCollectCommandTests(SynchronousTestCase):
    """
    The command on a root holding a tagged image, an untagged one and an
    orphan blob.
    """

    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="txregistry-gc-cli-")
        self.addCleanup(shutil.rmtree, self.directory, True)
        self.root = os.path.join(self.directory, "root")
        self.config = self.write_config({"filesystem": {"rootdirectory": self.root}})
        self.tree = Tree(directory_writer(self.root))
        self.tagged = self.tree.image("app", [b"shared", b"tagged"], tag="v1")
        self.untagged = self.tree.image("app", [Digest.of(b"shared"), b"untagged"])
        self.orphan = self.tree.layer("app", b"orphan")

    def write_config(self, storage: dict, **sections) -> str:
        path = os.path.join(self.directory, "config.yml")
        with open(path, "w") as f:
            yaml.safe_dump({"version": "0.1", "storage": storage, **sections}, f)
        return path

    def path(self, path: str) -> str:
        """
        The file of a driver path.
        """
        return os.path.join(self.root, path.lstrip("/"))

    def exists(self, path: str) -> bool:
        return os.path.exists(self.path(path))

    def test_deleteUntagged(self):
        """
        C{-m} deletes the untagged manifest and its own layer, the orphan,
        and the links to them; it prints each, the marks, and a summary.
        """
        untagged_layer = Digest.of(b"untagged")
        with open(self.path(layout.blob_data(self.untagged)), "rb") as f:
            config = Digest.parse(json.load(f)["config"]["digest"])
        size = sum(os.path.getsize(self.path(layout.blob_data(digest)))
                   for digest in (self.untagged, config, untagged_layer, self.orphan))
        result = run_command("-m", self.config)
        self.assertEqual(result.returncode, 0, result.stderr)
        lines = result.stdout.splitlines()
        for line in (
            f"app: marking manifest {self.tagged}",
            f"app: marking blob {Digest.of(b'tagged')}",
            f"manifest eligible for deletion: app@{self.untagged}",
            f"blob eligible for deletion: {self.orphan}",
            f"blob eligible for deletion: {untagged_layer}",
            f"app: layer link eligible for deletion: {untagged_layer}",
        ):
            self.assertIn(line, lines)
        self.assertEqual(lines[-2:], [
            "4 blobs marked, 4 blobs and 1 manifests eligible for deletion",
            f"deleted 1 manifests, 4 blobs ({size} bytes) and 3 layer links in 1 repositories",
        ])
        self.assertFalse(self.exists(layout.revision_link("app", self.untagged)))
        self.assertFalse(self.exists(layout.blob_data(untagged_layer)))
        self.assertFalse(self.exists(layout.layer_link("app", self.orphan)))
        self.assertTrue(self.exists(layout.blob_data(Digest.of(b"shared"))))
        self.assertTrue(self.exists(layout.tag_current_link("app", "v1")))

    def test_dryRun(self):
        """
        C{--dry-run} prints the same and deletes nothing.
        """
        before = sorted(os.walk(self.root))
        result = run_command("--dry-run", "--delete-untagged", self.config)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"manifest eligible for deletion: app@{self.untagged}", result.stdout)
        self.assertIn("would delete 1 manifests, 4 blobs", result.stdout)
        self.assertEqual(sorted(os.walk(self.root)), before)

    def test_quiet(self):
        """
        C{-q} prints only the summary; without C{-m} the untagged manifest
        stays.
        """
        result = run_command("-q", self.config)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(len(result.stdout.splitlines()), 2, result.stdout)
        self.assertIn("deleted 0 manifests, 1 blobs (6 bytes) and 1 layer links", result.stdout)
        self.assertTrue(self.exists(layout.revision_link("app", self.untagged)))
        self.assertEqual(result.stderr, "")

    def test_progress(self):
        """
        With standard error on a terminal, progress is shown there; the
        standard output is unchanged.
        """
        result = run_command(self.config, stderr_tty=True)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("\rreading manifests: 2/2", result.stderr)
        self.assertIn("\rsweeping blobs: 1/1", result.stderr)
        self.assertNotIn("\r", result.stdout)

    def test_readOnlyAndUnsupportedFeatures(self):
        """
        The configuration of a registry in read-only mode (the way to run
        the command beside it) and with features txregistry does not serve
        yet is fine: only the storage section matters.
        """
        config = self.write_config(
            {"filesystem": {"rootdirectory": self.root},
             "maintenance": {"readonly": {"enabled": True}}},
            auth={"htpasswd": {"realm": "r", "path": "/nonexistent"}},
        )
        result = run_command("-q", config)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertFalse(self.exists(layout.blob_data(self.orphan)))

    def test_invalidConfiguration(self):
        """
        An invalid configuration is refused with the key at fault, status 1.
        """
        config = self.write_config({"filesystem": {"rootdirectory": self.root},
                                    "maintenance": {"gc": {"delay": "soon"}}})
        result = run_command(config)
        self.assertEqual(result.returncode, 1)
        self.assertIn("storage.maintenance.gc.delay", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_unreadableManifest(self):
        """
        A revision that is not a manifest stops the command with status 1
        before anything is deleted.
        """
        broken = self.tree.blob(b"not a manifest")
        self.tree.put(layout.revision_link("app", broken), str(broken).encode())
        result = run_command(self.config)
        self.assertEqual(result.returncode, 1)
        self.assertIn(f"failed to mark: failed to read manifest {broken}", result.stderr)
        self.assertTrue(self.exists(layout.blob_data(self.orphan)))

    def test_deletedManifestDirectory(self):
        """
        A manifest deleted through the API leaves an empty revision
        directory on a filesystem: no manifest, no error.
        """
        os.remove(self.path(layout.revision_link("app", self.untagged)))
        result = run_command("-q", self.config)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertFalse(self.exists(layout.blob_data(self.untagged)))
        self.assertFalse(self.exists(layout.blob_data(Digest.of(b"untagged"))))
