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

from tests.integration.clients import (
    Oras,
    Skopeo,
    list_referrers,
    patch_chunk,
    sha256_digest,
)
from tests.integration.images import read_oci_layout, sample_image, sample_index
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
        self.index = sample_index(os.path.join(self.scratch, "index"))

    def push(self, server) -> None:
        """
        skopeo copies the sample image to C{server} as C{compat/image:v1}
        and the two-platform index, with its images, as
        C{compat/image:multi}.
        """
        self.skopeo.copy(f"oci:{self.scratch}/layout:v1",
                         f"docker://{server.address}/{REPOSITORY}:v1")
        self.skopeo.copy(f"oci:{self.scratch}/index:v1",
                         f"docker://{server.address}/{REPOSITORY}:multi", "--all")

    def check_pull(self, server) -> None:
        """
        skopeo pulls C{compat/image:v1} and C{compat/image:multi} from
        C{server} into new OCI layouts and gets what L{push} pushed, digest
        for digest; the tags list and the catalog name them.
        """
        for tag, expected in (("v1", self.image), ("multi", self.index)):
            pulled_path = os.path.join(self.scratch, f"pulled-{server.port}-{tag}")
            self.skopeo.copy(f"docker://{server.address}/{REPOSITORY}:{tag}",
                             f"oci:{pulled_path}:{tag}", "--all")
            pulled = read_oci_layout(pulled_path, tag)
            self.assertEqual(pulled["_digest"], expected["_digest"])
            self.assertEqual(pulled["_blobs"], expected["_blobs"])
        # Distribution 2.8 lists tags in directory order, not sorted.
        tags = requests.get(f"{server.url}/v2/{REPOSITORY}/tags/list", timeout=30).json()
        self.assertEqual((tags["name"], sorted(tags["tags"])), (REPOSITORY, ["multi", "v1"]))
        catalog = requests.get(f"{server.url}/v2/_catalog", timeout=30)
        self.assertEqual(catalog.json(), {"repositories": [REPOSITORY]})

    def test_distribution_serves_txregistry_root(self):
        """
        Images skopeo pushed to txregistry are pulled whole from
        Distribution started on the same root after txregistry stopped.
        """
        root = os.path.join(self.scratch, "root")
        registry = start_txregistry(self, root)
        self.push(registry)
        registry.stop()
        self.check_pull(start_distribution(self, root))

    def test_txregistry_serves_distribution_root(self):
        """
        Images skopeo pushed to Distribution are pulled whole from
        txregistry started on the same root after Distribution stopped.
        """
        root = os.path.join(self.scratch, "root")
        distribution = start_distribution(self, root)
        self.push(distribution)
        distribution.stop()
        self.check_pull(start_txregistry(self, root))


class ReferrersCompatibilityTests(SynchronousTestCase):
    """
    txregistry's referrers API on a root Distribution (which keeps no
    referrers index) writes to as well.
    """

    def test_referrers_pushed_through_both(self):
        """
        A referrer pushed through txregistry, then (after txregistry listed
        the referrers once) one pushed through Distribution to the same
        subject: Distribution serves the root with txregistry's
        C{_referrers} in it, and txregistry, started again, lists both.
        """
        require_tool("docker-registry")
        oras = Oras(self)
        root = os.path.join(temporary_directory(self), "root")
        registry = start_txregistry(self, root)
        subject_digest = oras.push(registry.address, f"{REPOSITORY}:v1", b"subject\n").headers[
            "Docker-Content-Digest"]
        subject = oras.subject(registry.url, REPOSITORY, "v1")
        ours = oras.push(registry.address, f"{REPOSITORY}:ours", b"a\n", "application/x.ours",
                         subject).headers["Docker-Content-Digest"]
        listed = list_referrers(registry.url, REPOSITORY, subject_digest).json()["manifests"]
        self.assertEqual([d["digest"] for d in listed], [ours])
        registry.stop()

        distribution = start_distribution(self, root)
        theirs = oras.push(distribution.address, f"{REPOSITORY}:theirs", b"b\n",
                           "application/x.theirs", subject).headers["Docker-Content-Digest"]
        tags = requests.get(f"{distribution.url}/v2/{REPOSITORY}/tags/list", timeout=30).json()
        self.assertEqual(sorted(tags["tags"]), ["ours", "theirs", "v1"])
        distribution.stop()

        registry = start_txregistry(self, root)
        listed = list_referrers(registry.url, REPOSITORY, subject_digest).json()["manifests"]
        self.assertEqual(
            sorted((d["digest"], d["artifactType"]) for d in listed),
            sorted([(ours, "application/x.ours"), (theirs, "application/x.theirs")]),
        )


class LayoutTests(SynchronousTestCase):
    """
    What txregistry writes on disk, compared with Distribution's layout.
    """

    def setUp(self):
        self.skopeo = Skopeo(self)
        self.scratch = temporary_directory(self)
        self.image = sample_image(os.path.join(self.scratch, "layout"))

    def pushed_tree(self, start, layout: str = "layout", *options: str) -> dict[str, bytes]:
        """
        Push C{layout:v1} (in the scratch directory) with skopeo to a
        server C{start(self, root)} starts on a new root, stop it, and
        return the files under C{docker/registry/v2}.

        @param options: for C{skopeo copy}.
        """
        root = os.path.join(self.scratch, f"{start.__name__}-{layout}")
        server = start(self, root)
        self.skopeo.copy(f"oci:{self.scratch}/{layout}:v1",
                         f"docker://{server.address}/{REPOSITORY}:v1", *options)
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

    def test_same_tree_for_index(self):
        """
        A two-platform image index pushed with its images gives the same
        files as Distribution's: revision links for the index and each
        image manifest, C{_layers} links for no manifest.
        """
        index = sample_index(os.path.join(self.scratch, "index"))
        ours = self.pushed_tree(start_txregistry, "index", "--all")
        manifests = [index["_digest"]] + [m["digest"] for m in index["manifests"]]
        for digest in manifests:
            revision = (f"repositories/{REPOSITORY}/_manifests/revisions/sha256/"
                        f"{digest[7:]}/link")
            self.assertEqual(ours[revision], digest.encode())
            self.assertNotIn(f"repositories/{REPOSITORY}/_layers/sha256/{digest[7:]}/link", ours)
        require_tool("docker-registry")
        self.assertEqual(ours, self.pushed_tree(start_distribution, "index", "--all"))

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
        patched = patch_chunk(urljoin(registry.url, started.headers["Location"]), 0, chunk)
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
