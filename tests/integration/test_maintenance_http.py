"""
The maintenance section over HTTP against a real registry: read-only mode
(every write refused as Distribution refuses it, reads and pulls working,
and neither garbage collection nor upload purging deleting anything) and
upload purging (an abandoned session goes, one in use stays).
"""

import os
import time
from urllib.parse import urljoin

import requests
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.clients import Skopeo, patch_chunk, push_blob, run, sha256_digest
from tests.integration.harness import assert_quiet_log, temporary_directory, time_limit
from tests.integration.images import read_oci_layout, sample_image
from tests.integration.processes import RegistryProcess, base_config, wait_for
from tests.integration.test_gc_distribution import files

REPOSITORY = "maint/image"


class ReadOnlyTests(SynchronousTestCase):
    """
    A root written by a registry, then served read-only with garbage
    collection and upload purging configured to delete everything they can.
    """

    def setUp(self):
        time_limit(self, 180)
        self.scratch = temporary_directory(self, "txregistry-readonly-")
        self.root = os.path.join(self.scratch, "root")
        self.skopeo = Skopeo(self)
        self.image = sample_image(os.path.join(self.scratch, "layout"))
        writer = RegistryProcess.started(self, base_config(self.root))
        self.skopeo.copy(f"oci:{self.scratch}/layout:v1",
                         f"docker://{writer.address}/{REPOSITORY}:v1")
        self.orphan = push_blob(writer.url, REPOSITORY, b"orphan")
        started = requests.post(f"{writer.url}/v2/{REPOSITORY}/blobs/uploads/", timeout=30)
        self.session = urljoin(writer.url, started.headers["Location"])
        self.assertEqual(patch_chunk(self.session, 0, b"abandoned data").status_code, 202)
        writer.stop()
        self.before = files(self.root)
        config = base_config(self.root)
        config["storage"]["maintenance"] = {
            "readonly": {"enabled": True},
            "uploadpurging": {"enabled": True, "age": "1s", "interval": "1s"},
            "gc": {"enabled": True, "interval": "1s", "delay": "0s", "deleteuntagged": True},
        }
        time.sleep(1.5)  # the session and the orphan are older than any age now
        self.registry = RegistryProcess.started(self, config)

    def test_writesRefused(self):
        """
        Every write (upload, mount, chunk, completion, cancel, manifest
        push, deletes) is 405 C{UNSUPPORTED} with C{Allow: GET, HEAD}, as
        Distribution's status and allowed methods; the status of the
        session can still be read.
        """
        url = self.registry.url
        session = urljoin(url, self.session.split("/", 3)[3])
        layer = self.image["layers"][0]["digest"]
        attempts = [
            ("POST", f"{url}/v2/{REPOSITORY}/blobs/uploads/", {}),
            ("POST", f"{url}/v2/{REPOSITORY}/blobs/uploads/",
             {"params": {"digest": sha256_digest(b"x")}, "data": b"x"}),
            ("POST", f"{url}/v2/other/blobs/uploads/",
             {"params": {"mount": layer, "from": REPOSITORY}}),
            ("PATCH", session, {"data": b"more"}),
            ("PUT", session, {"params": {"digest": sha256_digest(b"")}}),
            ("DELETE", session, {}),
            ("PUT", f"{url}/v2/{REPOSITORY}/manifests/v2", {"data": b"{}"}),
            ("DELETE", f"{url}/v2/{REPOSITORY}/manifests/v1", {}),
            ("DELETE", f"{url}/v2/{REPOSITORY}/manifests/{self.image['_digest']}", {}),
            ("DELETE", f"{url}/v2/{REPOSITORY}/blobs/{layer}", {}),
        ]
        for method, target, options in attempts:
            reply = requests.request(method, target, timeout=30, **options)
            self.assertEqual(reply.status_code, 405, f"{method} {target}: {reply.text}")
            self.assertEqual([e["code"] for e in reply.json()["errors"]], ["UNSUPPORTED"])
            self.assertEqual(reply.headers["Allow"], "GET, HEAD")
        self.assertEqual(requests.get(session, timeout=30).status_code, 204)

    def test_readsWorkAndNothingDeleted(self):
        """
        skopeo pulls the image, and cannot push; after several intervals of
        collection and purging, not one file of the root changed.
        """
        pulled = os.path.join(self.scratch, "pulled")
        self.skopeo.copy(f"docker://{self.registry.address}/{REPOSITORY}:v1", f"oci:{pulled}:v1")
        self.assertEqual(read_oci_layout(pulled, "v1")["_digest"], self.image["_digest"])
        failed = run([self.skopeo.path, "--policy", self.skopeo.policy, "copy",
                      "--dest-tls-verify=false", f"oci:{self.scratch}/layout:v1",
                      f"docker://{self.registry.address}/{REPOSITORY}:v2"], check=False)
        self.assertNotEqual(failed.returncode, 0)
        self.assertEqual(requests.get(f"{self.registry.url}/v2/{REPOSITORY}/blobs/{self.orphan}",
                                      timeout=30).content, b"orphan")
        time.sleep(3)
        self.assertEqual(files(self.root), self.before)
        log = self.registry.log()
        self.assertIn("upload purging disabled: the registry is in read-only mode", log)
        self.assertIn("garbage collection disabled: the registry is in read-only mode", log)
        assert_quiet_log(self, self.registry)


class UploadPurgingTests(SynchronousTestCase):
    """
    Upload purging with an age of two seconds, every second.
    """

    def test_abandonedPurgedInUseKept(self):
        """
        A session nobody touches is gone after the age; a session a client
        keeps sending chunks to for longer than the age is not, and
        completes.
        """
        time_limit(self, 120)
        root = os.path.join(temporary_directory(self, "txregistry-purge-"), "root")
        config = base_config(root)
        config["storage"]["maintenance"] = {
            "uploadpurging": {"enabled": True, "age": "2s", "interval": "1s"}}
        registry = RegistryProcess.started(self, config)
        base = f"{registry.url}/v2/{REPOSITORY}/blobs/uploads/"
        abandoned = urljoin(registry.url, requests.post(base, timeout=30).headers["Location"])
        self.assertEqual(patch_chunk(abandoned, 0, b"left behind").status_code, 202)
        in_use = urljoin(registry.url, requests.post(base, timeout=30).headers["Location"])
        data = b""
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline:
            chunk = os.urandom(1000)
            reply = patch_chunk(in_use, len(data), chunk)
            self.assertEqual(reply.status_code, 202, reply.text)
            in_use = urljoin(registry.url, reply.headers["Location"])
            data += chunk
            time.sleep(0.5)
        reply = requests.put(in_use, params={"digest": sha256_digest(data)}, timeout=30)
        self.assertEqual(reply.status_code, 201, reply.text)
        wait_for(lambda: requests.get(abandoned, timeout=30).status_code == 404, 10,
                 "the abandoned session to be purged")
        reply = requests.get(abandoned, timeout=30)
        self.assertEqual([e["code"] for e in reply.json()["errors"]], ["BLOB_UPLOAD_UNKNOWN"])
        self.assertIn("purged upload session", registry.log())
        assert_quiet_log(self, registry)
