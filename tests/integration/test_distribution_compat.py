"""
txregistry and CNCF Distribution (Debian's docker-registry, 2.8) share a
storage root: each serves what the other wrote, and txregistry writes the
tree Distribution writes.
"""

import os
import uuid
from datetime import UTC, datetime
from urllib.parse import urljoin

import requests
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.clients import Skopeo, sha256_digest
from tests.integration.images import read_oci_layout, sample_image
from tests.integration.processes import (
    DistributionProcess,
    RegistryProcess,
    base_config,
    require_tool,
    temporary_directory,
)

V2 = os.path.join("docker", "registry", "v2")
REPOSITORY = "compat/image"


def tree(root: str) -> dict[str, bytes]:
    """
    Every file under C{root} (path relative to it -> content).
    """
    files = {}
    for directory, _, names in os.walk(root):
        for name in names:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, root)] = f.read()
    return files


def start_txregistry(case, root: str) -> RegistryProcess:
    """
    txregistry on filesystem storage at C{root}, for the test C{case}.
    """
    return RegistryProcess.started(case, base_config(root))


def start_distribution(case, root: str) -> DistributionProcess:
    """
    Distribution on filesystem storage at C{root}, for the test C{case}.
    """
    return DistributionProcess.started(case, root)


class CompatibilityTests(SynchronousTestCase):
    """
    Images pushed through one implementation and pulled through the other.
    """

    def setUp(self):
        require_tool("docker-registry")
        self.skopeo = Skopeo(self)
        self.scratch = temporary_directory(self)
        self.image = sample_image(os.path.join(self.scratch, "layout"))

    def push(self, server) -> None:
        """
        skopeo copies the sample image to C{server} as C{compat/image:v1}.
        """
        self.skopeo.copy(f"oci:{self.scratch}/layout:v1",
                         f"docker://{server.address}/{REPOSITORY}:v1")

    def check_pull(self, server) -> None:
        """
        skopeo pulls C{compat/image:v1} from C{server} into a new OCI layout
        and gets the sample image, digest for digest; the tags list and the
        catalog name it.
        """
        pulled_path = os.path.join(self.scratch, f"pulled-{server.port}")
        self.skopeo.copy(f"docker://{server.address}/{REPOSITORY}:v1", f"oci:{pulled_path}:v1")
        pulled = read_oci_layout(pulled_path, "v1")
        self.assertEqual(pulled["_digest"], self.image["_digest"])
        self.assertEqual(pulled["_blobs"], self.image["_blobs"])
        tags = requests.get(f"{server.url}/v2/{REPOSITORY}/tags/list", timeout=30)
        self.assertEqual(tags.json(), {"name": REPOSITORY, "tags": ["v1"]})
        catalog = requests.get(f"{server.url}/v2/_catalog", timeout=30)
        self.assertEqual(catalog.json(), {"repositories": [REPOSITORY]})

    def test_distribution_serves_txregistry_root(self):
        """
        An image skopeo pushed to txregistry is pulled whole from
        Distribution started on the same root after txregistry stopped.
        """
        root = os.path.join(self.scratch, "root")
        registry = start_txregistry(self, root)
        self.push(registry)
        registry.stop()
        self.check_pull(start_distribution(self, root))

    def test_txregistry_serves_distribution_root(self):
        """
        An image skopeo pushed to Distribution is pulled whole from
        txregistry started on the same root after Distribution stopped.
        """
        root = os.path.join(self.scratch, "root")
        distribution = start_distribution(self, root)
        self.push(distribution)
        distribution.stop()
        self.check_pull(start_txregistry(self, root))


class LayoutTests(SynchronousTestCase):
    """
    What txregistry writes on disk, compared with Distribution's layout.
    """

    def setUp(self):
        self.skopeo = Skopeo(self)
        self.scratch = temporary_directory(self)
        self.image = sample_image(os.path.join(self.scratch, "layout"))

    def pushed_tree(self, start) -> dict[str, bytes]:
        """
        Push the sample image with skopeo to a server C{start(self, root)}
        starts on a new root, stop it, and return the files under
        C{docker/registry/v2}.
        """
        root = os.path.join(self.scratch, start.__name__)
        server = start(self, root)
        self.skopeo.copy(f"oci:{self.scratch}/layout:v1",
                         f"docker://{server.address}/{REPOSITORY}:v1")
        server.stop()
        self.assertEqual(os.listdir(root), ["docker"])
        return tree(os.path.join(root, V2))

    def test_same_tree_as_distribution(self):
        """
        The same push gives, under C{docker/registry/v2}, exactly the files
        Distribution writes, byte for byte: blobs at
        C{blobs/sha256/<2>/<hex>/data}, C{_layers} links for config and
        layers only, the manifest's revision link, the tag's C{current} and
        C{index} links; every link holds exactly C{sha256:<hex>}, no newline.
        """
        ours = self.pushed_tree(start_txregistry)
        repository = f"repositories/{REPOSITORY}"
        manifest_hex = self.image["_digest"].split(":")[1]
        expected_links = {
            f"{repository}/_manifests/revisions/sha256/{manifest_hex}/link": self.image["_digest"],
            f"{repository}/_manifests/tags/v1/current/link": self.image["_digest"],
            f"{repository}/_manifests/tags/v1/index/sha256/{manifest_hex}/link":
                self.image["_digest"],
        }
        for digest in self.image["_blobs"]:
            expected_links[f"{repository}/_layers/sha256/{digest.split(':')[1]}/link"] = digest
        links = {path: content for path, content in ours.items() if path.endswith("/link")}
        self.assertEqual(links, {p: d.encode() for p, d in expected_links.items()})

        blobs = {path: content for path, content in ours.items() if path.startswith("blobs/")}
        self.assertEqual(
            sorted(blobs),
            sorted(f"blobs/sha256/{d[7:9]}/{d[7:]}/data"
                   for d in [self.image["_digest"], *self.image["_blobs"]]),
        )
        for path, content in blobs.items():
            self.assertEqual(sha256_digest(content), "sha256:" + path.split("/")[3])
        self.assertEqual(set(ours), set(links) | set(blobs))

        require_tool("docker-registry")
        self.assertEqual(ours, self.pushed_tree(start_distribution))

    def test_upload_in_progress(self):
        """
        An upload in progress lives in C{_uploads/<id>} as Distribution
        keeps it: the id is a lowercase RFC 4122 UUID, C{startedat} holds
        the start time in RFC 3339 UTC (C{2024-05-01T10:00:00Z}), C{data}
        the bytes received so far.
        """
        root = os.path.join(self.scratch, "root")
        registry = start_txregistry(self, root)
        before = datetime.now(UTC).replace(microsecond=0)
        started = requests.post(f"{registry.url}/v2/{REPOSITORY}/blobs/uploads/", timeout=30)
        self.assertEqual(started.status_code, 202)
        upload_id = started.headers["Docker-Upload-UUID"]
        self.assertEqual(str(uuid.UUID(upload_id)), upload_id)
        self.assertEqual(uuid.UUID(upload_id).variant, uuid.RFC_4122)
        self.assertIn(upload_id, started.headers["Location"])
        chunk = os.urandom(1000)
        patched = requests.patch(
            urljoin(registry.url, started.headers["Location"]), data=chunk,
            headers={"Content-Type": "application/octet-stream", "Content-Range": "0-999"},
            timeout=30,
        )
        self.assertEqual(patched.status_code, 202)

        upload = os.path.join(root, V2, "repositories", REPOSITORY, "_uploads", upload_id)
        with open(os.path.join(upload, "startedat"), "rb") as f:
            startedat = f.read()
        self.assertRegex(startedat, rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        when = datetime.strptime(startedat.decode(), "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=UTC)
        self.assertTrue(before <= when <= datetime.now(UTC), (before, when))
        with open(os.path.join(upload, "data"), "rb") as f:
            self.assertEqual(f.read(), chunk)
