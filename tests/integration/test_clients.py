"""
Real clients against a real txregistry process: skopeo, podman, oras-py
and curl push and pull, and what they get back is what they put in.
"""

import hashlib
import json
import os
import re
from urllib.parse import urljoin

import requests
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.clients import (
    Curl,
    Oras,
    Podman,
    Skopeo,
    fetch_blob,
    fetch_manifest,
    list_referrers,
    sha256_digest,
)
from tests.integration.images import (
    OCI_INDEX,
    OCI_MANIFEST,
    read_oci_layout,
    sample_image,
    sample_index,
)
from tests.integration.processes import (
    RegistryProcess,
    base_config,
    temporary_directory,
)

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"


def start_registry(case, access_log: bool = False) -> tuple[RegistryProcess, str]:
    """
    A txregistry process on a fresh root for the test C{case}.

    @param access_log: log an access line per request.
    @return: the process and a scratch directory.
    """
    scratch = temporary_directory(case)
    config = base_config(os.path.join(scratch, "root"))
    config["log"]["accesslog"]["disabled"] = not access_log
    return RegistryProcess.started(case, config), scratch


def check_served(case, registry: RegistryProcess, name: str, reference: str,
                 expected: dict) -> None:
    """
    The registry serves, under C{name:reference}, the image C{expected}
    (as L{sample_image} returns it): same manifest digest, and every blob
    with content matching its digest.
    """
    digest, manifest = fetch_manifest(registry.url, name, reference)
    case.assertEqual(digest, expected["_digest"])
    for blob in [manifest["config"]] + manifest["layers"]:
        case.assertEqual(len(fetch_blob(registry.url, name, blob["digest"])), blob["size"])


class SkopeoTests(SynchronousTestCase):
    """
    skopeo copies a multi-layer OCI image in and out, and between
    repositories.
    """

    def setUp(self):
        self.skopeo = Skopeo(self)
        self.registry, self.scratch = start_registry(self, access_log=True)
        self.image = sample_image(os.path.join(self.scratch, "layout"))
        self.assertGreaterEqual(len(self.image["layers"]), 3)
        self.skopeo.copy(f"oci:{self.scratch}/layout:v1",
                         f"docker://{self.registry.address}/skopeo/image:v1")

    def test_push_pull(self):
        """
        An image pushed from an OCI layout and pulled back into another
        comes back with the same manifest digest and exactly the same blobs,
        each file's sha256 equal to its name.
        """
        check_served(self, self.registry, "skopeo/image", "v1", self.image)
        pulled_path = os.path.join(self.scratch, "pulled")
        self.skopeo.copy(f"docker://{self.registry.address}/skopeo/image:v1",
                         f"oci:{pulled_path}:v1")
        pulled = read_oci_layout(pulled_path, "v1")
        self.assertEqual(pulled["_digest"], self.image["_digest"])
        self.assertEqual(pulled["_blobs"], self.image["_blobs"])

    def test_multi_platform(self):
        """
        A two-platform image index copied with C{--all} is served under its
        tag with its digest, and copied back whole: the same index digest
        and the same manifests, configs and layers.
        """
        index = sample_index(os.path.join(self.scratch, "index"))
        reference = f"docker://{self.registry.address}/skopeo/multi:v1"
        self.skopeo.copy(f"oci:{self.scratch}/index:v1", reference, "--all")
        served = requests.get(f"{self.registry.url}/v2/skopeo/multi/manifests/v1",
                              headers={"Accept": OCI_INDEX}, timeout=30)
        self.assertEqual(served.headers["Content-Type"], OCI_INDEX)
        self.assertEqual(sha256_digest(served.content), index["_digest"])
        pulled_path = os.path.join(self.scratch, "pulled-index")
        self.skopeo.copy(reference, f"oci:{pulled_path}:v1", "--all")
        pulled = read_oci_layout(pulled_path, "v1")
        self.assertEqual(pulled["_digest"], index["_digest"])
        self.assertEqual(pulled["_blobs"], index["_blobs"])

    def test_docker_schema2(self):
        """
        An image converted to a Docker schema 2 manifest on the way in is
        served as one, with the same layers.
        """
        self.skopeo.copy(f"oci:{self.scratch}/layout:v1",
                         f"docker://{self.registry.address}/skopeo/docker:v1",
                         "--format", "v2s2")
        served = requests.get(f"{self.registry.url}/v2/skopeo/docker/manifests/v1",
                              headers={"Accept": DOCKER_MANIFEST}, timeout=30)
        self.assertEqual(served.headers["Content-Type"], DOCKER_MANIFEST)
        self.assertEqual(served.json()["mediaType"], DOCKER_MANIFEST)
        self.assertEqual([layer["digest"] for layer in served.json()["layers"]],
                         [layer["digest"] for layer in self.image["layers"]])
        details = self.skopeo.inspect(f"docker://{self.registry.address}/skopeo/docker:v1")
        self.assertEqual(details["Digest"], sha256_digest(served.content))

    def test_inspect(self):
        """
        C{skopeo inspect} sees the tag, the digest and the layers.
        """
        details = self.skopeo.inspect(f"docker://{self.registry.address}/skopeo/image:v1")
        self.assertEqual(details["RepoTags"], ["v1"])
        self.assertEqual(details["Digest"], self.image["_digest"])
        self.assertEqual(details["Layers"], [layer["digest"] for layer in self.image["layers"]])

    def test_copy_between_repositories(self):
        """
        A copy to another repository of the same registry mounts the layers
        from the source repository (skopeo uploads the small config again)
        instead of uploading them, and the copy is served whole.
        """
        self.skopeo.copy(f"docker://{self.registry.address}/skopeo/image:v1",
                         f"docker://{self.registry.address}/skopeo/copy:v2")
        check_served(self, self.registry, "skopeo/copy", "v2", self.image)
        mounted = set(re.findall(
            r'"POST /v2/skopeo/copy/blobs/uploads/\?from=skopeo%2Fimage&mount=sha256%3A(\w+) '
            r'HTTP/1.1" 201 ',
            self.registry.log(),
        ))
        self.assertEqual({"sha256:" + hex for hex in mounted},
                         {layer["digest"] for layer in self.image["layers"]})


class PodmanTests(SynchronousTestCase):
    """
    podman pushes an image and pulls it back.
    """

    def test_push_pull(self):
        """
        An image podman took from an OCI layout and pushed is served as
        podman reported it; after removing every local image, podman pulls
        it back with the same manifest digest and the same config (its
        image id).
        """
        podman = Podman(self)
        registry, scratch = start_registry(self)
        image = sample_image(os.path.join(scratch, "layout"))
        image_id = podman.pull_layout(os.path.join(scratch, "layout"), "v1")
        self.assertEqual("sha256:" + image_id, image["config"]["digest"])

        destination = f"{registry.address}/podman/image:v1"
        pushed = podman.push(image_id, destination, os.path.join(scratch, "digest"))
        digest, manifest = fetch_manifest(registry.url, "podman/image", "v1")
        self.assertEqual(digest, pushed)
        self.assertEqual(manifest["config"]["digest"], image["config"]["digest"])
        for blob in [manifest["config"]] + manifest["layers"]:
            fetch_blob(registry.url, "podman/image", blob["digest"])

        podman.run("rmi", "--all", "--force")
        self.assertEqual(podman.pull(destination), image_id)
        details = podman.inspect(destination)
        self.assertEqual(details["Digest"], pushed)
        self.assertEqual(details["Id"], image_id)


class OrasTests(SynchronousTestCase):
    """
    oras-py pushes artifacts, some referring to others, and the referrers
    API lists them.
    """

    SBOM = "application/vnd.example.sbom.v1+json"
    SIGNATURE = "application/vnd.example.signature.v1"

    def test_referrers(self):
        """
        Artifacts pushed with a C{subject} are acknowledged with
        C{OCI-Subject} and listed by the referrers API with their artifact
        types; an C{artifactType} filter keeps only that type and says so in
        C{OCI-Filters-Applied}.
        """
        oras = Oras(self)
        registry, _ = start_registry(self)
        name = "oras/artifact"

        def push(tag, content, *args):
            return oras.push(registry.address, f"{name}:{tag}", content, *args)

        def referrers(digest, artifact_type=None):
            return list_referrers(registry.url, name, digest, artifact_type)

        subject_digest = push("v1", b"the subject artifact\n").headers["Docker-Content-Digest"]
        subject = oras.subject(registry.url, name, "v1")
        self.assertEqual(subject.digest, subject_digest)

        sbom = push("sbom", b'{"sbom": true}\n', self.SBOM, subject)
        self.assertEqual(sbom.headers["OCI-Subject"], subject_digest)
        signature = push("signature", b"signed\n", self.SIGNATURE, subject)
        self.assertEqual(signature.headers["OCI-Subject"], subject_digest)

        listed = referrers(subject_digest)
        self.assertNotIn("OCI-Filters-Applied", listed.headers)
        self.assertEqual(listed.json()["mediaType"], OCI_INDEX)
        self.assertEqual(
            sorted((d["digest"], d["artifactType"], d["mediaType"])
                   for d in listed.json()["manifests"]),
            sorted([
                (sbom.headers["Docker-Content-Digest"], self.SBOM, OCI_MANIFEST),
                (signature.headers["Docker-Content-Digest"], self.SIGNATURE, OCI_MANIFEST),
            ]),
        )

        filtered = referrers(subject_digest, self.SBOM)
        self.assertEqual(filtered.headers["OCI-Filters-Applied"], "artifactType")
        self.assertEqual([d["digest"] for d in filtered.json()["manifests"]],
                         [sbom.headers["Docker-Content-Digest"]])

        nothing = referrers(subject_digest, "application/vnd.example.none")
        self.assertEqual(nothing.headers["OCI-Filters-Applied"], "artifactType")
        self.assertEqual(nothing.json()["manifests"], [])

        self.assertEqual(referrers(sbom.headers["Docker-Content-Digest"]).json()["manifests"], [])


class CurlWalkthroughTests(SynchronousTestCase):
    """
    The API driven by hand with curl, one plain HTTP request at a time.
    """

    def test_walkthrough(self):
        """
        A monolithic upload (POST, PUT with the body), a chunked upload
        (POST, two PATCHes with Content-Range, status GET, empty PUT), a
        manifest PUT and GET, blob HEAD and a Range GET, the tags list and
        the catalog all answer as the specification says.
        """
        curl = Curl(self)
        registry, _ = start_registry(self)
        base = registry.url
        name = "curl/walkthrough"

        ping = curl("GET", f"{base}/v2/")
        self.assertEqual(ping.status, 200)
        self.assertEqual(ping.headers["docker-distribution-api-version"], "registry/2.0")

        def upload_url(response, **query):
            self.assertEqual(response.status, 202)
            location = urljoin(base, response.headers["location"])
            if not query:
                return location
            extra = "&".join(f"{k}={v}" for k, v in query.items())
            return location + ("&" if "?" in location else "?") + extra

        config = json.dumps({"architecture": "amd64", "os": "linux"}).encode()
        config_digest = sha256_digest(config)
        started = curl("POST", f"{base}/v2/{name}/blobs/uploads/")
        put = curl("PUT", upload_url(started, digest=config_digest), data=config,
                   headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(put.status, 201)
        self.assertEqual(put.headers["docker-content-digest"], config_digest)

        layer = hashlib.sha512(b"layer").digest() * 3000
        layer_digest = sha256_digest(layer)
        half = len(layer) // 2
        response = curl("POST", f"{base}/v2/{name}/blobs/uploads/")
        for start, end in ((0, half), (half, len(layer))):
            response = curl("PATCH", upload_url(response), data=layer[start:end], headers={
                "Content-Type": "application/octet-stream",
                "Content-Range": f"{start}-{end - 1}",
            })
            self.assertEqual(response.status, 202)
            self.assertEqual(response.headers["range"], f"0-{end - 1}")
        status = curl("GET", upload_url(response))
        self.assertEqual(status.status, 204)
        self.assertEqual(status.headers["range"], f"0-{len(layer) - 1}")
        put = curl("PUT", upload_url(response, digest=layer_digest))
        self.assertEqual(put.status, 201)
        self.assertEqual(put.headers["docker-content-digest"], layer_digest)
        self.assertEqual(urljoin(base, put.headers["location"]),
                         f"{base}/v2/{name}/blobs/{layer_digest}")

        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": layer_digest, "size": len(layer)}],
        }, indent=1).encode()
        manifest_digest = sha256_digest(manifest)
        put = curl("PUT", f"{base}/v2/{name}/manifests/v1", data=manifest,
                   headers={"Content-Type": OCI_MANIFEST})
        self.assertEqual(put.status, 201)
        self.assertEqual(put.headers["docker-content-digest"], manifest_digest)
        got = curl("GET", f"{base}/v2/{name}/manifests/v1", headers={"Accept": OCI_MANIFEST})
        self.assertEqual((got.status, got.body), (200, manifest))
        self.assertEqual(got.headers["content-type"], OCI_MANIFEST)
        self.assertEqual(got.headers["docker-content-digest"], manifest_digest)

        head = curl("HEAD", f"{base}/v2/{name}/blobs/{layer_digest}")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.headers["content-length"], str(len(layer)))
        self.assertEqual(head.headers["docker-content-digest"], layer_digest)

        ranged = curl("GET", f"{base}/v2/{name}/blobs/{layer_digest}", "--range", "100-1099")
        self.assertEqual(ranged.status, 206)
        self.assertEqual(ranged.headers["content-range"], f"bytes 100-1099/{len(layer)}")
        self.assertEqual(ranged.body, layer[100:1100])

        tags = curl("GET", f"{base}/v2/{name}/tags/list")
        self.assertEqual((tags.status, tags.json()), (200, {"name": name, "tags": ["v1"]}))
        catalog = curl("GET", f"{base}/v2/_catalog")
        self.assertEqual((catalog.status, catalog.json()), (200, {"repositories": [name]}))
