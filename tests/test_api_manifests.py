"""
Manifests, tags, the catalog and referrers over the API.
"""

import json
import os

from twisted.internet.defer import maybeDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.memory_client import (
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER,
    OCI_MANIFEST,
    MemoryClient,
    sha256,
)
from txregistry.gc.claims import Claims
from txregistry.registry.offload import OFFLOAD_THRESHOLD
from txregistry.registry.reference import Digest
from txregistry.registry.registry import RegistryPolicy
from txregistry.storage import layout
from txregistry.testing import MemoryRegistry

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "manifests")


class ManifestTests(SynchronousTestCase):
    """
    Pushing, fetching and deleting manifests.
    """

    def setUp(self):
        self.client = MemoryClient(self)

    def test_push_and_get_by_tag_and_digest(self):
        """
        A pushed manifest comes back byte for byte with its media type, by
        tag and by digest; HEAD has the same headers.
        """
        body, digest = self.client.push_image("foo", "v1")
        for reference in ("v1", digest):
            for method in ("GET", "HEAD"):
                reply = self.client.request(
                    method, f"/v2/foo/manifests/{reference}", headers={"Accept": OCI_MANIFEST}
                )
                self.assertEqual(reply.code, 200)
                self.assertEqual(reply.header("content-type"), OCI_MANIFEST)
                self.assertEqual(reply.header("docker-content-digest"), digest)
                if method == "GET":
                    self.assertEqual(reply.length, len(body))
                self.assertEqual(reply.header("etag"), f'"{digest}"')
                self.assertEqual(reply.body, body if method == "GET" else b"")

    def test_put_response(self):
        """
        PUT answers 201 with Location and Docker-Content-Digest.
        """
        config = self.client.push_blob("foo", b"{}")
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 2}, "layers": [],
        }, indent=3).encode()
        reply = self.client.push_manifest("foo", "latest", manifest)
        self.assertEqual(reply.code, 201)
        self.assertEqual(reply.header("docker-content-digest"), sha256(manifest))
        self.assertTrue(reply.header("location").endswith(f"/v2/foo/manifests/{sha256(manifest)}"))
        self.assertIsNone(reply.header("oci-subject"))

    def test_put_by_digest(self):
        """
        PUT by digest stores the manifest untagged (the repository lists no
        tags); a wrong digest is DIGEST_INVALID.
        """
        config = self.client.push_blob("foo", b"{}")
        manifest = json.dumps({
            "schemaVersion": 2, "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 2},
            "layers": [],
        }).encode()
        reply = self.client.push_manifest("foo", sha256(manifest), manifest)
        self.assertEqual(reply.code, 201)
        reply = self.client.push_manifest("foo", sha256(b"other"), manifest)
        self.assertEqual((reply.code, reply.error_codes()), (400, ["DIGEST_INVALID"]))
        reply = self.client.request("GET", "/v2/foo/tags/list")
        self.assertEqual((reply.code, reply.json()["tags"]), (200, []))

    def test_missing_references(self):
        """
        A manifest whose blobs are not in the repository is refused with
        one MANIFEST_BLOB_UNKNOWN per missing digest.
        """
        layer = sha256(b"layer")
        config = sha256(b"config")
        manifest = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config, "size": 6},
            "layers": [{"mediaType": OCI_LAYER, "digest": layer, "size": 5}],
        }
        reply = self.client.push_manifest("foo", "v1", manifest)
        self.assertEqual(reply.code, 400)
        self.assertEqual(reply.error_codes(), ["MANIFEST_BLOB_UNKNOWN"] * 2)
        self.assertEqual({e["detail"] for e in reply.json()["errors"]}, {layer, config})
        self.client.push_blob("other", b"layer")
        self.client.push_blob("other", b"config")
        reply = self.client.push_manifest("foo", "v1", manifest)
        self.assertEqual(reply.code, 400, "blobs of another repository do not count")

    def test_invalid_manifests(self):
        """
        Garbage, mismatched media types and oversize bodies are
        MANIFEST_INVALID, never a 500.
        """
        cases = [
            (b"not json", OCI_MANIFEST),
            (b"[]", OCI_MANIFEST),
            (b'{"schemaVersion": 2}', OCI_MANIFEST),
            (json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode(),
             OCI_MANIFEST),
            (b'{"schemaVersion": 2, "manifests": []}', "text/plain"),
            (b"{}", "application/vnd.oci.artifact.manifest.v1+json"),
            (b" " * (4 * 1024 * 1024 + 1), OCI_MANIFEST),
        ]
        for body, media_type in cases:
            reply = self.client.push_manifest("foo", "v1", body, media_type)
            self.assertEqual(reply.code, 400, body[:60])
            self.assertEqual(reply.error_codes()[0], "MANIFEST_INVALID", body[:60])

    def test_content_type_parameters_ignored(self):
        """
        Parameters of the Content-Type (C{; charset=utf-8}) are ignored.
        """
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []})
        reply = self.client.push_manifest(
            "foo", "empty", manifest.encode(), OCI_INDEX + "; charset=utf-8"
        )
        self.assertEqual(reply.code, 201, reply.body)
        reply = self.client.request("GET", "/v2/foo/manifests/empty")
        self.assertEqual(reply.header("content-type"), OCI_INDEX)

    def test_index_children_must_exist(self):
        """
        An index is refused until its children are in the repository.
        """
        body, digest = self.client.push_image("foo", "amd64")
        index = {
            "schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{"mediaType": OCI_MANIFEST, "digest": digest, "size": len(body),
                           "platform": {"architecture": "amd64", "os": "linux"}}],
        }
        reply = self.client.push_manifest("bar", "multi", index, OCI_INDEX)
        self.assertEqual((reply.code, reply.error_codes()), (400, ["MANIFEST_BLOB_UNKNOWN"]))
        reply = self.client.push_manifest("foo", "multi", index, OCI_INDEX)
        self.assertEqual(reply.code, 201)

    def test_unknown(self):
        """
        Unknown tags and digests are MANIFEST_UNKNOWN; so are tags that
        cannot exist.
        """
        for reference in ("nope", sha256(b"nope"), "-bad", "a" * 129):
            reply = self.client.request("GET", f"/v2/foo/manifests/{reference}")
            self.assertEqual((reply.code, reply.error_codes()), (404, ["MANIFEST_UNKNOWN"]))

    def test_invalid_tag_on_put(self):
        """
        Pushing under a tag that breaks the grammar is TAG_INVALID.
        """
        reply = self.client.push_manifest("foo", "-bad", b"{}")
        self.assertEqual((reply.code, reply.error_codes()), (400, ["TAG_INVALID"]))

    def test_if_none_match(self):
        """
        A matching If-None-Match is a 304.
        """
        _, digest = self.client.push_image("foo", "v1")
        reply = self.client.request("GET", "/v2/foo/manifests/v1",
                                    headers={"If-None-Match": f'"{digest}"'})
        self.assertEqual(reply.code, 304)

    def test_tag_without_revision(self):
        """
        A tag whose manifest the repository no longer links, or whose link
        is damaged, serves nothing: MANIFEST_UNKNOWN, though a matching
        If-None-Match on the tag still answers 304 as before.
        """
        driver = self.client.memory.driver
        _, digest = self.client.push_image("foo", "v1")
        self.client.push_image("foo", "v2", layers=[b"other"])
        revision = layout.revision_link("foo", Digest.parse(digest))
        self.successResultOf(driver.delete(revision))
        reply = self.client.request("GET", "/v2/foo/manifests/v1")
        self.assertEqual((reply.code, reply.error_codes()), (404, ["MANIFEST_UNKNOWN"]))
        reply = self.client.request("GET", "/v2/foo/manifests/v1",
                                    headers={"If-None-Match": f'"{digest}"'})
        self.assertEqual(reply.code, 304)
        self.successResultOf(driver.put_content(layout.tag_current_link("foo", "v2"), b"junk"))
        reply = self.client.request("GET", "/v2/foo/manifests/v2")
        self.assertEqual((reply.code, reply.error_codes()), (404, ["MANIFEST_UNKNOWN"]))

    def test_retag(self):
        """
        Pushing another manifest under a tag moves the tag.
        """
        self.client.push_image("foo", "v1", layers=[b"a"])
        _, second = self.client.push_image("foo", "v1", layers=[b"b"])
        reply = self.client.request("HEAD", "/v2/foo/manifests/v1")
        self.assertEqual(reply.header("docker-content-digest"), second)

    def test_delete_by_digest(self):
        """
        Deleting by digest removes the manifest and the tags pointing to it.
        """
        _, digest = self.client.push_image("foo", "v1")
        self.client.request("PUT", "/v2/foo/manifests/v2",
                            self.client.request("GET", "/v2/foo/manifests/v1").body,
                            {"Content-Type": OCI_MANIFEST})
        self.client.push_image("foo", "other", layers=[b"x"])
        reply = self.client.request("DELETE", f"/v2/foo/manifests/{digest}")
        self.assertEqual(reply.code, 202)
        for reference in (digest, "v1", "v2"):
            self.assertEqual(self.client.request("GET", f"/v2/foo/manifests/{reference}").code, 404)
        self.assertEqual(self.client.request("GET", "/v2/foo/tags/list").json()["tags"], ["other"])
        self.assertEqual(self.client.request("DELETE", f"/v2/foo/manifests/{digest}").code, 404)

    def test_delete_by_tag(self):
        """
        Deleting by tag removes only the tag.
        """
        _, digest = self.client.push_image("foo", "v1")
        self.assertEqual(self.client.request("DELETE", "/v2/foo/manifests/v1").code, 202)
        self.assertEqual(self.client.request("GET", "/v2/foo/manifests/v1").code, 404)
        self.assertEqual(self.client.request("GET", f"/v2/foo/manifests/{digest}").code, 200)
        self.assertEqual(self.client.request("DELETE", "/v2/foo/manifests/v1").code, 404)

    def test_delete_disabled(self):
        """
        With deletes disabled, manifest DELETE is 405 UNSUPPORTED.
        """
        client = MemoryClient(self, MemoryRegistry(policy=RegistryPolicy()))
        _, digest = client.push_image("foo", "v1")
        for reference in ("v1", digest):
            reply = client.request("DELETE", f"/v2/foo/manifests/{reference}")
            self.assertEqual((reply.code, reply.error_codes()), (405, ["UNSUPPORTED"]))

    def test_accept_negotiation_manifest_list(self):
        """
        An old client asking by tag for a manifest list without accepting
        lists gets the linux/amd64 image; by digest it gets the list.
        """
        config = self.client.push_blob("foo", b"{}")
        image = json.dumps({
            "schemaVersion": 2, "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                       "digest": config, "size": 2},
            "layers": [],
        }).encode()
        self.assertEqual(self.client.push_manifest("foo", sha256(image), image, DOCKER_MANIFEST).code, 201)
        listing = json.dumps({
            "schemaVersion": 2, "mediaType": DOCKER_LIST,
            "manifests": [{"mediaType": DOCKER_MANIFEST, "digest": sha256(image),
                           "size": len(image),
                           "platform": {"architecture": "amd64", "os": "linux"}}],
        }).encode()
        self.assertEqual(self.client.push_manifest("foo", "multi", listing, DOCKER_LIST).code, 201)
        old = {"Accept": DOCKER_MANIFEST}
        reply = self.client.request("GET", "/v2/foo/manifests/multi", headers=old)
        self.assertEqual((reply.header("content-type"), reply.body), (DOCKER_MANIFEST, image))
        self.assertEqual(reply.header("docker-content-digest"), sha256(image))
        reply = self.client.request("GET", f"/v2/foo/manifests/{sha256(listing)}", headers=old)
        self.assertEqual(reply.body, listing)
        modern = {"Accept": f"{DOCKER_MANIFEST}, {DOCKER_LIST}"}
        reply = self.client.request("GET", "/v2/foo/manifests/multi", headers=modern)
        self.assertEqual(reply.body, listing)
        reply = self.client.request("GET", "/v2/foo/manifests/multi")
        self.assertEqual(reply.body, listing, "no Accept: served as stored")

    def test_fixtures(self):
        """
        Every fixture manifest pushed over HTTP: a valid one is accepted up to
        the referenced-object check (201 when it references nothing), an
        invalid one is MANIFEST_INVALID, schema 1 is refused clearly, and
        nothing is a 500.
        """
        with open(os.path.join(FIXTURES, "index.json")) as f:
            entries = json.load(f)
        for entry in entries:
            with open(os.path.join(FIXTURES, entry["file"]), "rb") as f:
                body = f.read()
            media_type = entry["mediaType"] or "application/octet-stream"
            reply = self.client.push_manifest("fixtures", sha256(body), body, media_type)
            codes = reply.error_codes() if reply.code != 201 else []
            if entry["file"].startswith("schema1") or "v1+prettyjws" in media_type:
                self.assertEqual(codes[:1], ["MANIFEST_INVALID"], entry["file"])
            elif entry["valid"]:
                self.assertIn(reply.code, (201, 400), entry["file"])
                self.assertTrue(set(codes) <= {"MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID"},
                                entry["file"])
                if "MANIFEST_INVALID" in codes:
                    # Only for descriptor URLs, refused by default as in Distribution.
                    self.assertIn("URL", json.dumps(reply.json()), entry["file"])
            else:
                self.assertEqual((reply.code, codes[:1]), (400, ["MANIFEST_INVALID"]), entry["file"])


class ManifestWithClaimsTests(ManifestTests):
    """
    The same, with the claims online garbage collection needs, which make a
    GET by tag read the tag before claiming and reading the manifest.
    """

    def setUp(self):
        self.client = MemoryClient(self, MemoryRegistry(claims=Claims(Clock())))


class TagsAndCatalogTests(SynchronousTestCase):
    """
    Tag listing and the catalog, with pagination.
    """

    def setUp(self):
        self.client = MemoryClient(self)
        body, _ = self.client.push_image("foo", "v1")
        for tag in ("b", "a", "C", "latest", "v2"):
            self.client.request("PUT", f"/v2/foo/manifests/{tag}", body,
                                {"Content-Type": OCI_MANIFEST})

    def test_tags(self):
        """
        All tags, byte-wise sorted, without a Link.
        """
        reply = self.client.request("GET", "/v2/foo/tags/list")
        self.assertEqual(reply.json(), {"name": "foo", "tags": ["C", "a", "b", "latest", "v1", "v2"]})
        self.assertIsNone(reply.header("link"))

    def test_tags_pages(self):
        """
        C{n} and C{last} page through the tags with Link headers.
        """
        reply = self.client.request("GET", "/v2/foo/tags/list?n=2")
        self.assertEqual(reply.json()["tags"], ["C", "a"])
        self.assertEqual(reply.header("link"), '</v2/foo/tags/list?last=a&n=2>; rel="next"')
        reply = self.client.request("GET", "/v2/foo/tags/list?last=a&n=2")
        self.assertEqual(reply.json()["tags"], ["b", "latest"])
        reply = self.client.request("GET", "/v2/foo/tags/list?last=v1&n=5")
        self.assertEqual(reply.json()["tags"], ["v2"])
        self.assertIsNone(reply.header("link"))
        reply = self.client.request("GET", "/v2/foo/tags/list?n=0")
        self.assertEqual((reply.json()["tags"], reply.header("link")), ([], None))
        reply = self.client.request("GET", "/v2/foo/tags/list?last=b")
        self.assertEqual(reply.json()["tags"], ["latest", "v1", "v2"])

    def test_tags_max(self):
        """
        C{n} above C{tags.maxtags} is clamped.
        """
        client = MemoryClient(self, MemoryRegistry(driver=self.client.memory.driver, tags_max=3))
        reply = client.request("GET", "/v2/foo/tags/list?n=100")
        self.assertEqual(len(reply.json()["tags"]), 3)
        self.assertIn("n=3", reply.header("link"))

    def test_bad_n(self):
        """
        A non-numeric or negative C{n} is PAGINATION_NUMBER_INVALID.
        """
        for n in ("-1", "x", "1.5", "99999999999999999999999"):
            for path in ("/v2/foo/tags/list", "/v2/_catalog"):
                reply = self.client.request("GET", f"{path}?n={n}")
                self.assertEqual(reply.code, 400, (path, n))
                self.assertEqual(reply.error_codes(), ["PAGINATION_NUMBER_INVALID"])

    def test_unknown_repository(self):
        """
        Tags of a repository holding nothing: NAME_UNKNOWN.
        """
        reply = self.client.request("GET", "/v2/nothing/tags/list")
        self.assertEqual((reply.code, reply.error_codes()), (404, ["NAME_UNKNOWN"]))

    def test_every_tag_deleted(self):
        """
        A repository whose tags were all deleted lists none, even where the
        driver (like an object store) keeps no empty tags directory: the
        conformance suite's content management expects a 200 then.
        """
        for tag in ("C", "a", "b", "latest", "v1", "v2"):
            self.assertEqual(self.client.request("DELETE", f"/v2/foo/manifests/{tag}").code, 202)
        reply = self.client.request("GET", "/v2/foo/tags/list")
        self.assertEqual((reply.code, reply.json()), (200, {"name": "foo", "tags": []}))

    def test_parent_of_repository(self):
        """
        A name that is only the parent of a repository is not one.
        """
        self.client.push_image("parent/child", "v1")
        reply = self.client.request("GET", "/v2/parent/tags/list")
        self.assertEqual((reply.code, reply.error_codes()), (404, ["NAME_UNKNOWN"]))

    def test_catalog(self):
        """
        Repositories with manifests, in walk order, paginated.
        """
        for name in ("a/c", "a-b", "z", "a", "a/0"):
            self.client.push_image(name, "t")
        self.client.push_blob("blobsonly", b"x")
        reply = self.client.request("GET", "/v2/_catalog")
        names = reply.json()["repositories"]
        self.assertEqual(names, ["a/0", "a", "a/c", "a-b", "foo", "z"])
        pages, last = [], None
        while True:
            path = "/v2/_catalog?n=2" + (f"&last={last}" if last else "")
            reply = self.client.request("GET", path)
            page = reply.json()["repositories"]
            pages.extend(page)
            if not reply.header("link"):
                break
            self.assertEqual(reply.header("link"), f'</v2/_catalog?last={page[-1]}&n=2>; rel="next"'.replace("/", "%2F", 0))
            last = page[-1]
        self.assertEqual(pages, names)

    def test_catalog_limit(self):
        """
        C{n} above C{catalog.maxentries} is refused.
        """
        client = MemoryClient(self, MemoryRegistry(driver=self.client.memory.driver,
                                                   catalog_max_entries=5))
        self.assertEqual(client.request("GET", "/v2/_catalog?n=6").code, 400)
        self.assertEqual(client.request("GET", "/v2/_catalog?n=5").code, 200)

    def test_empty_catalog(self):
        """
        An empty registry lists no repositories.
        """
        client = MemoryClient(self)
        self.assertEqual(client.request("GET", "/v2/_catalog").json(), {"repositories": []})


class ReferrersTests(SynchronousTestCase):
    """
    The referrers API.
    """

    def setUp(self):
        self.client = MemoryClient(self)
        self.subject_body, self.subject = self.client.push_image("foo", "v1")
        self.empty = self.client.push_blob("foo", b"{}")

    def attach(self, artifact_type, annotations=None, tag=None):
        manifest = {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": artifact_type,
            "config": {"mediaType": "application/vnd.oci.empty.v1+json",
                       "digest": self.empty, "size": 2},
            "layers": [],
            "subject": {"mediaType": OCI_MANIFEST, "digest": self.subject,
                        "size": len(self.subject_body)},
        }
        if annotations:
            manifest["annotations"] = annotations
        body = json.dumps(manifest).encode()
        reply = self.client.push_manifest("foo", tag or sha256(body), body)
        self.assertEqual(reply.code, 201, reply.body)
        self.assertEqual(reply.header("oci-subject"), self.subject)
        return sha256(body), len(body)

    def test_list(self):
        """
        Referrers are listed with artifactType, size and annotations.
        """
        sbom, size = self.attach("application/example.sbom", {"created": "now"})
        signature, _ = self.attach("application/example.sig")
        reply = self.client.request("GET", f"/v2/foo/referrers/{self.subject}")
        self.assertEqual(reply.code, 200)
        self.assertEqual(reply.header("content-type"), OCI_INDEX)
        index = reply.json()
        self.assertEqual(index["mediaType"], OCI_INDEX)
        by_digest = {d["digest"]: d for d in index["manifests"]}
        self.assertEqual(set(by_digest), {sbom, signature})
        self.assertEqual(by_digest[sbom], {
            "mediaType": OCI_MANIFEST, "digest": sbom, "size": size,
            "artifactType": "application/example.sbom", "annotations": {"created": "now"},
        })

    def test_filter(self):
        """
        C{artifactType} filters, and says so in OCI-Filters-Applied.
        """
        self.attach("application/example.sbom")
        signature, _ = self.attach("application/example.sig")
        reply = self.client.request(
            "GET", f"/v2/foo/referrers/{self.subject}?artifactType=application/example.sig"
        )
        self.assertEqual([d["digest"] for d in reply.json()["manifests"]], [signature])
        self.assertEqual(reply.header("oci-filters-applied"), "artifactType")

    def test_unknown_subject(self):
        """
        An unknown subject has an empty list, not a 404.
        """
        reply = self.client.request("GET", f"/v2/foo/referrers/{sha256(b'unknown')}")
        self.assertEqual((reply.code, reply.json()["manifests"]), (200, []))
        reply = self.client.request("GET", f"/v2/nowhere/referrers/{sha256(b'unknown')}")
        self.assertEqual((reply.code, reply.json()["manifests"]), (200, []))

    def test_bad_digest(self):
        """
        A malformed subject digest is DIGEST_INVALID.
        """
        reply = self.client.request("GET", "/v2/foo/referrers/sha256:nope")
        self.assertEqual((reply.code, reply.error_codes()), (400, ["DIGEST_INVALID"]))

    def test_deleted_referrer(self):
        """
        A deleted referrer is no longer listed.
        """
        sbom, _ = self.attach("application/example.sbom")
        self.client.request("DELETE", f"/v2/foo/manifests/{sbom}")
        reply = self.client.request("GET", f"/v2/foo/referrers/{self.subject}")
        self.assertEqual(reply.json()["manifests"], [])

    def test_rebuilt_from_revisions(self):
        """
        Referrers written without the index (by Distribution, say) are found
        by scanning the revisions the first time they are asked for.
        """
        sbom, _ = self.attach("application/example.sbom")
        driver = self.client.memory.driver
        self.successResultOf(driver.delete("/docker/registry/v2/repositories/foo/_referrers"))
        reply = self.client.request("GET", f"/v2/foo/referrers/{self.subject}")
        self.assertEqual([d["digest"] for d in reply.json()["manifests"]], [sbom])

    def test_referrers_added_without_index_later(self):
        """
        Referrers written without the index (by Distribution, say) after the
        index was built are found too: revisions not indexed yet are
        scanned whenever referrers are asked for.
        """
        sbom, _ = self.attach("application/example.sbom")
        reply = self.client.request("GET", f"/v2/foo/referrers/{self.subject}")
        self.assertEqual([d["digest"] for d in reply.json()["manifests"]], [sbom])
        signature, _ = self.attach("application/example.sig")
        link = f"/docker/registry/v2/repositories/foo/_referrers/sha256/{self.subject[7:]}"
        driver = self.client.memory.driver
        self.successResultOf(driver.delete(f"{link}/sha256/{signature[7:]}"))
        reply = self.client.request("GET", f"/v2/foo/referrers/{self.subject}")
        self.assertEqual(sorted(d["digest"] for d in reply.json()["manifests"]),
                         sorted([sbom, signature]))


class LargeManifestTests(SynchronousTestCase):
    """
    Large manifests are parsed through the registry's offload, not on the
    reactor thread.
    """

    def test_offloaded(self):
        """
        PUT and GET of a manifest over the offload threshold go through the
        offload; small ones do not.
        """
        calls = []

        def offload(f, *args):
            calls.append(f.__name__)
            return maybeDeferred(f, *args)

        memory = MemoryRegistry()
        memory.registry.offload = offload
        client = MemoryClient(self, memory)
        client.push_image("foo", "small")
        self.assertEqual(calls, [])
        padding = {"org.example.padding": "x" * (OFFLOAD_THRESHOLD + 1)}
        body, digest = client.push_image("foo", "large", extra={"annotations": padding})
        self.assertEqual(calls, ["parse_manifest"])
        reply = client.request("GET", "/v2/foo/manifests/large")
        self.assertEqual(reply.body, body)
        self.assertEqual(calls, ["parse_manifest", "load_stored"])
