"""
Tests for L{txregistry.registry.manifests}: the fixture corpus, the push
validation rules of C{parse_manifest} and C{parse_accept}.
"""

import base64
import hashlib
import json

from twisted.trial.unittest import SynchronousTestCase

from tests.manifest_samples import (
    FIXTURES,
    ManifestAssertions,
    descriptor,
    docker_list,
    docker_manifest,
    encode,
    fixture,
    fixture_index,
    oci_index,
    oci_manifest,
    with_data,
)
from txregistry.registry import errors
from txregistry.registry.manifests import (
    DOCKER_CONFIG,
    DOCKER_FOREIGN_LAYER,
    DOCKER_FOREIGN_LAYER_UNCOMPRESSED,
    DOCKER_LAYER,
    DOCKER_LAYER_UNCOMPRESSED,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MAX_MANIFEST_SIZE,
    OCI_ARTIFACT_MANIFEST,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    SCHEMA1_SIGNED,
    SCHEMA1_TYPES,
    SCHEMA1_UNSIGNED,
    Descriptor,
    ParsedManifest,
    Platform,
    load_stored,
    parse_accept,
    parse_manifest,
)
from txregistry.registry.reference import Digest

NOT_YET = "not accepted yet"

# Fixtures index.json calls valid (they follow the image specs) that
# parse_manifest refuses on purpose, with the reason it gives.


def _digest(hex_digit: str) -> Digest:
    return Digest("sha256", hex_digit * 64)


class FixtureTests(ManifestAssertions, SynchronousTestCase):
    """
    Every manifest fixture, through C{parse_manifest} and C{load_stored}.
    """

    def test_index_lists_every_file(self):
        """
        index.json lists every fixture file, and the copied bytes still hash
        to the sha256 it records.
        """
        entries = fixture_index()
        files = {p.name for p in FIXTURES.iterdir()} - {"index.json", "SOURCES.md"}
        self.assertEqual({e["file"] for e in entries}, files)
        self.assertEqual(len(entries), 60)
        for entry in entries:
            self.assertEqual(
                hashlib.sha256(fixture(entry["file"])).hexdigest(),
                entry["sha256"],
                entry["file"],
            )

    def test_parse_every_fixture(self):
        """
        Pushed with its index.json media type as Content-Type, a valid
        fixture parses with that media type and a digest equal to its
        sha256; schema 1 is refused as not accepted yet; invalid fixtures and
        the deliberate exceptions are refused with C{MANIFEST_INVALID}.
        """
        outcomes = {"parsed": 0, "schema1": 0, "refused": 0}
        for entry in fixture_index():
            name, media_type = entry["file"], entry["mediaType"]
            raw = fixture(name)
            if media_type in SCHEMA1_TYPES:
                self.assertInvalid(parse_manifest, raw, media_type, detail=NOT_YET)
                outcomes["schema1"] += 1
            elif entry["valid"]:
                manifest = parse_manifest(raw, media_type)
                self.assertEqual(manifest.media_type, media_type, name)
                self.assertEqual(manifest.digest, Digest("sha256", entry["sha256"]), name)
                self.assertEqual(manifest.raw, raw)
                outcomes["parsed"] += 1
            else:
                self.assertInvalid(
                    parse_manifest, raw, media_type
                )
                outcomes["refused"] += 1
        self.assertEqual(outcomes, {"parsed": 42, "schema1": 13, "refused": 5})

    def test_load_every_fixture(self):
        """
        C{load_stored} reads every valid fixture with its index.json media
        type (schema 1 too) and the digest of its bytes, and either reads or
        refuses with C{MANIFEST_INVALID} the invalid ones.
        """
        for entry in fixture_index():
            raw = fixture(entry["file"])
            if not entry["valid"]:
                try:
                    load_stored(raw)
                except errors.RegistryError as e:
                    self.assertEqual(e.errors[0].code, errors.MANIFEST_INVALID)
                continue
            manifest = load_stored(raw)
            self.assertEqual(manifest.media_type, entry["mediaType"], entry["file"])
            self.assertEqual(manifest.digest, Digest("sha256", entry["sha256"]))

    def test_stored_and_pushed_agree(self):
        """
        For every fixture that parses, the lenient and the strict reading find
        the same manifest.
        """
        for entry in fixture_index():
            name, media_type = entry["file"], entry["mediaType"]
            if (
                entry["valid"]
                and media_type not in SCHEMA1_TYPES
            ):
                raw = fixture(name)
                self.assertEqual(load_stored(raw), parse_manifest(raw, media_type), name)

    def test_docker_manifest_references(self):
        """
        A Docker schema 2 manifest references its config and layers, all
        required as blobs; its artifact type is the config media type.
        """
        manifest = parse_manifest(fixture("docker-v2s2-alpine-docker-cli.json"), DOCKER_MANIFEST)
        self.assertEqual(
            manifest.config,
            Descriptor(
                DOCKER_CONFIG,
                Digest.parse(
                    "sha256:7328f6f8b41890597575cbaadc884e7386ae0acc53b747401ebce5cf0d624560"
                ),
                1520,
            ),
        )
        self.assertEqual(
            [str(d.digest) for d in manifest.layers],
            ["sha256:88286f41530e93dffd4b964e1db22ce4939fffa4a4c665dab8591fbab03d4926"],
        )
        self.assertEqual(manifest.layers[0].media_type, DOCKER_LAYER)
        self.assertEqual(manifest.layers[0].size, 1990402)
        self.assertEqual(manifest.references(), (manifest.config,) + manifest.layers)
        self.assertEqual(manifest.required_blobs(), manifest.references())
        self.assertEqual(manifest.required_manifests(), ())
        self.assertEqual(manifest.artifact_type, DOCKER_CONFIG)
        self.assertIsNone(manifest.subject)

    def test_manifest_list_references(self):
        """
        A Docker manifest list requires its seven entries as manifests and no
        blobs; the entries keep their platforms.
        """
        manifest = parse_manifest(
            fixture("docker-manifest-list-multiarch-7-platforms.json"), DOCKER_MANIFEST_LIST
        )
        self.assertEqual(len(manifest.manifests), 7)
        self.assertEqual(manifest.required_manifests(), manifest.manifests)
        self.assertEqual(manifest.references(), manifest.manifests)
        self.assertEqual(manifest.required_blobs(), ())
        self.assertEqual(
            [(m.platform.architecture, m.platform.variant) for m in manifest.manifests][:4],
            [("amd64", None), ("arm", "v5"), ("arm", "v6"), ("arm64", "v8")],
        )

    def test_platform_fields(self):
        """
        Every platform field is read, C{features} included.
        """
        manifest = parse_manifest(
            fixture("docker-manifest-list-all-platform-fields.json"), DOCKER_MANIFEST_LIST
        )
        self.assertEqual(
            manifest.manifests[0].platform,
            Platform(
                architecture="a",
                os="b",
                os_version="c",
                os_features=("d",),
                variant="e",
                features=("f",),
            ),
        )

    def test_oci_subject_and_annotations(self):
        """
        The image-spec example keeps its subject out of its references and
        exposes its top-level annotations.
        """
        manifest = parse_manifest(
            fixture("oci-manifest-spec-example-subject-annotations.json"), OCI_MANIFEST
        )
        self.assertEqual(manifest.subject.media_type, OCI_MANIFEST)
        self.assertNotIn(manifest.subject, manifest.references())
        self.assertNotIn(manifest.subject, manifest.required_blobs())
        self.assertEqual(len(manifest.layers), 3)
        self.assertEqual(manifest.artifact_type, OCI_CONFIG)
        self.assertIn("com.example.key1", manifest.annotations)

    def test_artifact_types(self):
        """
        The effective artifact type is the manifest's C{artifactType}, else
        the config media type, and for an index its C{artifactType} or
        nothing.
        """
        cases = {
            ("cosign-v3-sigstore-bundle-referrer.json", OCI_MANIFEST): (
                "application/vnd.dev.sigstore.bundle.v0.3+json"
            ),
            ("notation-signature-jws.json", OCI_MANIFEST): "application/vnd.cncf.notary.signature",
            ("oras-artifact-custom-config-type-no-layers.json", OCI_MANIFEST): "referrer/image",
            ("oci-index-artifacttype-and-subject.json", OCI_INDEX): "application/example.loop",
            ("oci-index-with-subject.json", OCI_INDEX): None,
        }
        for (name, media_type), artifact_type in cases.items():
            manifest = parse_manifest(fixture(name), media_type)
            self.assertEqual(manifest.artifact_type, artifact_type, name)
            self.assertIsNotNone(manifest.subject, name)

    def test_empty_config_and_data(self):
        """
        The empty descriptor, with its embedded C{{}}, is read as config and
        layer, and both are required as blobs.
        """
        manifest = parse_manifest(
            fixture("oras-artifact-empty-config-empty-layer.json"), OCI_MANIFEST
        )
        empty = Descriptor(OCI_EMPTY, Digest.of(b"{}"), 2, data=b"{}")
        self.assertEqual(manifest.config, empty)
        self.assertEqual(manifest.layers, (empty,))
        self.assertEqual(manifest.required_blobs(), (empty, empty))
        self.assertEqual(manifest.artifact_type, "test/empty.artifact")

    def test_nondistributable_and_zstd_layers(self):
        """
        The OCI fixture with every layer type requires them all: none of its
        nondistributable layers carries C{urls}.
        """
        manifest = parse_manifest(
            fixture("oci-manifest-nondistributable-and-zstd-layers.json"), OCI_MANIFEST
        )
        self.assertEqual(len(manifest.layers), 6)
        self.assertIn(OCI_LAYER_ZSTD, [d.media_type for d in manifest.required_blobs()])
        self.assertEqual(manifest.required_blobs(), manifest.references())

    def test_empty_index(self):
        """
        An index without entries is valid and references nothing.
        """
        manifest = parse_manifest(fixture("oci-index-empty-manifests.json"), OCI_INDEX)
        self.assertEqual(manifest.references(), ())
        self.assertEqual(manifest.required_manifests(), ())

    def test_nested_index_children(self):
        """
        An index entry that is itself an index, without a platform, is a
        required manifest like any other entry.
        """
        manifest = parse_manifest(fixture("oci-index-spec-example-nested-index.json"), OCI_INDEX)
        self.assertEqual(
            [(d.media_type, d.platform is None) for d in manifest.required_manifests()],
            [(OCI_MANIFEST, False), (OCI_INDEX, True)],
        )

    def test_invalid_fixtures_without_content_type(self):
        """
        The invalid fixtures are refused when pushed without Content-Type too.
        """
        for entry in fixture_index():
            if not entry["valid"] and entry["mediaType"] not in SCHEMA1_TYPES:
                self.assertInvalid(parse_manifest, fixture(entry["file"]), None)


class ContentTypeTests(ManifestAssertions, SynchronousTestCase):
    """
    How C{parse_manifest} decides which type a pushed manifest is.
    """

    def test_parameters_ignored(self):
        """
        Content-Type parameters and case do not matter.
        """
        raw = encode(oci_manifest())
        for content_type in (
            OCI_MANIFEST + "; charset=utf-8",
            " " + OCI_MANIFEST.upper() + " ;q=1",
        ):
            self.assertEqual(parse_manifest(raw, content_type).media_type, OCI_MANIFEST)

    def test_body_media_type_must_match(self):
        """
        A body C{mediaType} different from the Content-Type is refused.
        """
        raw = encode(oci_manifest())
        self.assertInvalid(parse_manifest, raw, OCI_INDEX, detail="does not match")
        self.assertInvalid(parse_manifest, raw, DOCKER_MANIFEST, detail="does not match")

    def test_body_media_type_optional_for_oci(self):
        """
        OCI manifests and indexes may leave out C{mediaType} (or leave it
        empty); the Content-Type says what they are.
        """
        for document, media_type in ((oci_manifest(), OCI_MANIFEST), (oci_index(), OCI_INDEX)):
            for value in (None, ""):
                document["mediaType"] = value
                manifest = parse_manifest(encode(document), media_type)
                self.assertEqual(manifest.media_type, media_type)
            del document["mediaType"]
            self.assertEqual(parse_manifest(encode(document), media_type).media_type, media_type)

    def test_fallback_to_body(self):
        """
        Without a Content-Type, or with a generic one, the body's
        C{mediaType} decides.
        """
        cases = [
            (oci_manifest(), OCI_MANIFEST),
            (oci_index(), OCI_INDEX),
            (docker_manifest(), DOCKER_MANIFEST),
            (docker_list(), DOCKER_MANIFEST_LIST),
        ]
        for content_type in (None, "", "application/json", "application/octet-stream; x=y"):
            for document, media_type in cases:
                manifest = parse_manifest(encode(document), content_type)
                self.assertEqual(manifest.media_type, media_type)

    def test_fallback_needs_media_type(self):
        """
        Without a Content-Type, a body without C{mediaType} is refused rather
        than guessed at.
        """
        document = oci_manifest()
        del document["mediaType"]
        self.assertInvalid(
            parse_manifest, encode(document), None, detail="cannot tell the manifest type"
        )
        self.assertInvalid(parse_manifest, encode(document), "application/json")

    def test_fallback_to_unknown_type(self):
        """
        Without a Content-Type, a body C{mediaType} that is no manifest type
        is refused.
        """
        raw = encode(oci_manifest(mediaType=OCI_CONFIG))
        self.assertInvalid(parse_manifest, raw, None, detail="unsupported manifest media type")

    def test_unknown_content_type(self):
        """
        A specific Content-Type that is no manifest type is refused, even if
        the body says what it is.
        """
        raw = encode(oci_manifest())
        for content_type in ("text/plain", OCI_CONFIG, "nonsense", "*/*"):
            self.assertInvalid(
                parse_manifest, raw, content_type, detail="unsupported manifest media type"
            )

    def test_schema1_refused(self):
        """
        Schema 1 manifests are refused as not accepted yet, by Content-Type
        or, without one, by C{"schemaVersion": 1}.
        """
        signed = fixture("schema1-signed-hello-world-dockerhub.json")
        unsigned = fixture("schema1-unsigned-busybox.json")
        self.assertInvalid(parse_manifest, signed, SCHEMA1_SIGNED, detail=NOT_YET)
        self.assertInvalid(parse_manifest, unsigned, SCHEMA1_UNSIGNED, detail=NOT_YET)
        self.assertIn(
            SCHEMA1_SIGNED, self.assertInvalid(parse_manifest, signed, None, detail=NOT_YET)
        )
        self.assertIn(
            SCHEMA1_UNSIGNED,
            self.assertInvalid(parse_manifest, unsigned, "application/json", detail=NOT_YET),
        )
        self.assertInvalid(parse_manifest, b"not json", SCHEMA1_SIGNED, detail=NOT_YET)

    def test_artifact_manifest_refused(self):
        """
        The OCI artifact manifest of the 1.1 release candidates is refused,
        by Content-Type or by body.
        """
        raw = encode(
            {
                "mediaType": OCI_ARTIFACT_MANIFEST,
                "artifactType": "application/example",
                "blobs": [descriptor("application/example", b"x")],
            }
        )
        self.assertInvalid(parse_manifest, raw, OCI_ARTIFACT_MANIFEST, detail="release candidates")
        self.assertInvalid(parse_manifest, raw, None, detail="release candidates")


class DocumentTests(ManifestAssertions, SynchronousTestCase):
    """
    What C{parse_manifest} refuses before looking at the manifest structure.
    """

    def test_size_limit(self):
        """
        A manifest of exactly C{MAX_MANIFEST_SIZE} bytes is accepted, one byte
        more is refused.
        """
        raw = encode(oci_manifest())
        padded = raw + b" " * (MAX_MANIFEST_SIZE - len(raw))
        self.assertEqual(parse_manifest(padded, OCI_MANIFEST).digest, Digest.of(padded))
        self.assertInvalid(parse_manifest, padded + b" ", OCI_MANIFEST, detail="more than")

    def test_not_json(self):
        """
        Bytes that are not a JSON object are refused.
        """
        for raw in (b"", b"   ", b"[]", b"null", b"2", b'"x"', b"{", b"{}{}", b"\x00\x01"):
            self.assertInvalid(parse_manifest, raw, OCI_MANIFEST)

    def test_not_utf8(self):
        """
        Invalid UTF-8 is refused, inside a string or not.
        """
        raw = encode(oci_manifest(annotations={"a": "PLACEHOLDER"}))
        self.assertInvalid(
            parse_manifest, raw.replace(b"PLACEHOLDER", b"\xff\xfe"), OCI_MANIFEST, detail="UTF-8"
        )
        self.assertInvalid(parse_manifest, b"\xef\xbb\xbf" + raw, OCI_MANIFEST)

    def test_duplicate_keys(self):
        """
        A duplicate key anywhere is refused: clients would disagree on which
        one counts.
        """
        raw = encode(oci_manifest())
        top = raw.replace(b'"schemaVersion": 2', b'"schemaVersion": 2, "schemaVersion": 2', 1)
        self.assertInvalid(
            parse_manifest, top, OCI_MANIFEST, detail="duplicate key 'schemaVersion'"
        )
        nested = raw.replace(b'"size": 6', b'"size": 6, "size": 7', 1)
        self.assertInvalid(parse_manifest, nested, OCI_MANIFEST, detail="duplicate key 'size'")

    def test_constants(self):
        """
        C{NaN} and C{Infinity} are no JSON numbers.
        """
        for constant in (b"NaN", b"Infinity", b"-Infinity"):
            raw = encode(oci_manifest()).replace(
                b'"schemaVersion": 2', b'"schemaVersion": ' + constant
            )
            self.assertInvalid(parse_manifest, raw, OCI_MANIFEST, detail="not a JSON number")

    def test_unpaired_surrogate(self):
        """
        An escaped unpaired surrogate in a string is refused.
        """
        raw = encode(oci_manifest(annotations={"a": "\ud800"}))
        self.assertIn(b"\\ud800", raw)
        self.assertInvalid(parse_manifest, raw, OCI_MANIFEST, detail="surrogate")

    def test_non_ascii(self):
        """
        Non-ASCII text, raw or escaped, is kept as is.
        """
        document = oci_manifest(annotations={"cl\u00e9\u2026": "\U0001f600"})
        for raw in (encode(document), json.dumps(document, ensure_ascii=False).encode()):
            manifest = parse_manifest(raw, OCI_MANIFEST)
            self.assertEqual(manifest.annotations, {"cl\u00e9\u2026": "\U0001f600"})

    def test_schema_version(self):
        """
        C{schemaVersion} must be the integer 2.
        """
        for value in (None, 1, 3, 2.0, "2", True, [2]):
            for document, media_type in (
                (oci_manifest(), OCI_MANIFEST),
                (docker_list(), DOCKER_MANIFEST_LIST),
            ):
                document["schemaVersion"] = value
                self.assertInvalid(
                    parse_manifest, encode(document), media_type, detail="schemaVersion"
                )


class OCIManifestTests(ManifestAssertions, SynchronousTestCase):
    """
    The structure of OCI image manifests.
    """

    def test_minimal(self):
        """
        Config and layers are read in order, with the top-level fields.
        """
        document = oci_manifest(
            layers=[descriptor(OCI_LAYER_GZIP, b"1"), descriptor(OCI_LAYER_ZSTD, b"2")],
            artifactType="application/example",
            annotations={"k": "v"},
            subject=descriptor(OCI_MANIFEST, b"subject"),
        )
        manifest = parse_manifest(encode(document), OCI_MANIFEST)
        self.assertEqual(manifest.config.digest, Digest.of(b"config"))
        self.assertEqual([d.digest for d in manifest.layers], [Digest.of(b"1"), Digest.of(b"2")])
        self.assertEqual(manifest.artifact_type, "application/example")
        self.assertEqual(manifest.annotations, {"k": "v"})
        self.assertEqual(manifest.subject, Descriptor(OCI_MANIFEST, Digest.of(b"subject"), 7))
        self.assertEqual(manifest.manifests, ())

    def test_empty_layers(self):
        """
        An empty C{layers} array is accepted; a missing or C{null} one is not.
        """
        self.assertEqual(parse_manifest(encode(oci_manifest(layers=[])), OCI_MANIFEST).layers, ())
        self.assertInvalid(
            parse_manifest, encode(oci_manifest(layers=None)), OCI_MANIFEST, detail="layers"
        )
        document = oci_manifest()
        del document["layers"]
        self.assertInvalid(
            parse_manifest, encode(document), OCI_MANIFEST, detail="layers: is required"
        )

    def test_config_required(self):
        """
        C{config} must be a descriptor object.
        """
        document = oci_manifest()
        del document["config"]
        self.assertInvalid(
            parse_manifest, encode(document), OCI_MANIFEST, detail="config: is required"
        )
        for value in ([], "x", {}):
            self.assertInvalid(
                parse_manifest, encode(oci_manifest(config=value)), OCI_MANIFEST, detail="config"
            )

    def test_no_manifests(self):
        """
        An image manifest with C{manifests} is refused.
        """
        raw = encode(oci_manifest(manifests=[]))
        self.assertInvalid(parse_manifest, raw, OCI_MANIFEST, detail="manifests: not allowed")

    def test_artifact_type(self):
        """
        C{artifactType} must be a string; an empty one falls back to the
        config media type.
        """
        self.assertInvalid(
            parse_manifest,
            encode(oci_manifest(artifactType=1)),
            OCI_MANIFEST,
            detail="artifactType",
        )
        manifest = parse_manifest(encode(oci_manifest(artifactType="")), OCI_MANIFEST)
        self.assertEqual(manifest.artifact_type, OCI_CONFIG)

    def test_annotations(self):
        """
        Annotations must map strings to strings.
        """
        for value in ({"a": 1}, {"a": None}, ["a"], "a", {"a": {"b": "c"}}):
            raw = encode(oci_manifest(annotations=value))
            self.assertInvalid(parse_manifest, raw, OCI_MANIFEST, detail="annotations")

    def test_unknown_fields(self):
        """
        Unknown top-level and descriptor members, and unknown media types,
        are accepted.
        """
        document = oci_manifest(
            extra={"x": [1, 2]},
            config=descriptor("application/x.unknown+json", b"c", extra=True),
            layers=[descriptor("application/x.whatever", b"l")],
        )
        self.assertEqual(
            parse_manifest(encode(document), OCI_MANIFEST).artifact_type,
            "application/x.unknown+json",
        )


class OCIIndexTests(ManifestAssertions, SynchronousTestCase):
    """
    The structure of OCI image indexes.
    """

    def test_read(self):
        """
        Entries, platforms and top-level fields are read; the effective
        artifact type of an index is its own only.
        """
        manifest = parse_manifest(encode(oci_index(annotations={"a": "b"})), OCI_INDEX)
        self.assertEqual(manifest.manifests[0].platform, Platform(architecture="amd64", os="linux"))
        self.assertEqual(manifest.annotations, {"a": "b"})
        self.assertIsNone(manifest.artifact_type)
        self.assertIsNone(manifest.config)
        self.assertEqual(manifest.layers, ())

    def test_no_config_or_layers(self):
        """
        An index with C{config} or C{layers} is refused.
        """
        for key in ("config", "layers"):
            raw = encode(oci_index(**{key: oci_manifest()[key]}))
            self.assertInvalid(parse_manifest, raw, OCI_INDEX, detail=f"{key}: not allowed")

    def test_manifests_required(self):
        """
        C{manifests} must be an array of objects.
        """
        document = oci_index()
        del document["manifests"]
        self.assertInvalid(
            parse_manifest, encode(document), OCI_INDEX, detail="manifests: is required"
        )
        for value in ({}, [1], ["x"], [[]]):
            self.assertInvalid(
                parse_manifest, encode(oci_index(manifests=value)), OCI_INDEX, detail="manifests"
            )

    def test_platform(self):
        """
        A platform, when present, needs string C{architecture} and C{os};
        entries without one are fine.
        """
        entry = descriptor(OCI_MANIFEST, b"child")
        self.assertIsNone(
            parse_manifest(encode(oci_index(manifests=[entry])), OCI_INDEX).manifests[0].platform
        )
        for platform in (
            {},
            {"os": "linux"},
            {"architecture": "amd64"},
            {"architecture": 1, "os": "linux"},
            "linux/amd64",
        ):
            raw = encode(oci_index(manifests=[dict(entry, platform=platform)]))
            self.assertInvalid(parse_manifest, raw, OCI_INDEX, detail="manifests[0].platform")
        for platform in (
            {"architecture": "arm", "os": "linux", "os.features": "x"},
            {"architecture": "arm", "os": "linux", "variant": 7},
        ):
            raw = encode(oci_index(manifests=[dict(entry, platform=platform)]))
            self.assertInvalid(parse_manifest, raw, OCI_INDEX, detail="manifests[0].platform.")

    def test_subject_and_artifact_type(self):
        """
        An index may carry C{subject} and C{artifactType}.
        """
        raw = encode(oci_index(subject=descriptor(OCI_INDEX, b"s"), artifactType="application/x"))
        manifest = parse_manifest(raw, OCI_INDEX)
        self.assertEqual(manifest.subject.digest, Digest.of(b"s"))
        self.assertEqual(manifest.artifact_type, "application/x")
        self.assertNotIn(manifest.subject, manifest.references())


class DockerTests(ManifestAssertions, SynchronousTestCase):
    """
    The rules of Docker schema 2 manifests and manifest lists.
    """

    def test_media_type_required(self):
        """
        Docker manifests and lists must name their own type in the body.
        """
        for document, media_type in (
            (docker_manifest(), DOCKER_MANIFEST),
            (docker_list(), DOCKER_MANIFEST_LIST),
        ):
            del document["mediaType"]
            self.assertInvalid(
                parse_manifest, encode(document), media_type, detail="mediaType: is required"
            )
            document["mediaType"] = ""
            self.assertInvalid(
                parse_manifest, encode(document), media_type, detail="mediaType: is required"
            )

    def test_layer_types(self):
        """
        Every Docker layer type is accepted in a schema 2 manifest, anything
        else is refused.
        """
        layers = [
            descriptor(DOCKER_LAYER, b"1"),
            descriptor(DOCKER_LAYER_UNCOMPRESSED, b"2"),
            descriptor(DOCKER_FOREIGN_LAYER, b"3", urls=["https://example.com/3"]),
            descriptor(DOCKER_FOREIGN_LAYER_UNCOMPRESSED, b"4", urls=["https://example.com/4"]),
        ]
        manifest = parse_manifest(encode(docker_manifest(layers=layers)), DOCKER_MANIFEST)
        self.assertEqual(len(manifest.layers), 4)
        for media_type in (
            OCI_LAYER_GZIP,
            "application/vnd.docker.image.rootfs.diff.tar.zstd",
            OCI_CONFIG,
        ):
            raw = encode(docker_manifest(layers=layers + [descriptor(media_type, b"5")]))
            self.assertInvalid(parse_manifest, raw, DOCKER_MANIFEST, detail="layers[4].mediaType")

    def test_foreign_layer_without_urls(self):
        """
        A foreign layer without URLs is accepted and then required as a blob
        of the repository (nobody else could serve it).
        """
        for media_type in (DOCKER_FOREIGN_LAYER, DOCKER_FOREIGN_LAYER_UNCOMPRESSED):
            for extra in ({}, {"urls": []}, {"urls": None}):
                layer = descriptor(media_type, b"f", **extra)
                manifest = parse_manifest(encode(docker_manifest(layers=[layer])), DOCKER_MANIFEST)
                self.assertIn(layer["digest"], [str(d.digest) for d in manifest.required_blobs()])

    def test_config_type_free(self):
        """
        The config media type of a schema 2 manifest is not restricted (OCI
        configs are common).
        """
        raw = encode(docker_manifest(config=descriptor(OCI_CONFIG, b"c")))
        self.assertEqual(parse_manifest(raw, DOCKER_MANIFEST).artifact_type, OCI_CONFIG)

    def test_docker_ignores_oci_fields(self):
        """
        C{subject}, C{artifactType} and C{annotations} are not part of the
        Docker formats and are ignored, as Distribution ignores them.
        """
        extra = {
            "subject": descriptor(OCI_MANIFEST, b"s"),
            "artifactType": "application/x",
            "annotations": {"a": "b"},
        }
        for document, media_type in (
            (docker_manifest(**extra), DOCKER_MANIFEST),
            (docker_list(**extra), DOCKER_MANIFEST_LIST),
        ):
            manifest = parse_manifest(encode(document), media_type)
            self.assertIsNone(manifest.subject)
            self.assertIsNone(manifest.annotations)
            self.assertNotEqual(manifest.artifact_type, "application/x")

    def test_list_platform_required(self):
        """
        Every manifest list entry needs a platform with architecture and os;
        the entries' media types are free.
        """
        entry = descriptor(SCHEMA1_SIGNED, b"child")
        self.assertInvalid(
            parse_manifest,
            encode(docker_list(manifests=[entry])),
            DOCKER_MANIFEST_LIST,
            detail="manifests[0].platform: is required",
        )
        entry["platform"] = {"architecture": "amd64"}
        self.assertInvalid(
            parse_manifest,
            encode(docker_list(manifests=[entry])),
            DOCKER_MANIFEST_LIST,
            detail="manifests[0].platform.os",
        )
        entry["platform"]["os"] = "linux"
        manifest = parse_manifest(encode(docker_list(manifests=[entry])), DOCKER_MANIFEST_LIST)
        self.assertEqual(manifest.manifests[0].media_type, SCHEMA1_SIGNED)


class DescriptorTests(ManifestAssertions, SynchronousTestCase):
    """
    The rules every descriptor follows on push.
    """

    def assertLayerInvalid(self, layer: dict, detail: str) -> None:
        """
        Assert that an OCI manifest with C{layer} as its only layer is
        refused, the detail naming C{detail}.
        """
        self.assertInvalid(
            parse_manifest, encode(oci_manifest(layers=[layer])), OCI_MANIFEST, detail=detail
        )

    def parseLayer(self, layer: dict) -> Descriptor:
        """
        The descriptor read from C{layer}, the only layer of a manifest.
        """
        return parse_manifest(encode(oci_manifest(layers=[layer])), OCI_MANIFEST).layers[0]

    def test_media_type(self):
        """
        C{mediaType} must be a bare media type of valid syntax.
        """
        for value in (
            None,
            "",
            "text",
            "a/",
            "/b",
            "a/b; x=y",
            "a b/c",
            5,
            "\u00e9/x",
            "a/" + "b" * 128,
        ):
            self.assertLayerInvalid(
                dict(descriptor(OCI_LAYER_GZIP), mediaType=value), "layers[0].mediaType"
            )
        for value in ("a/b", "application/vnd.x+json", "x-1.2/y_z+a^b!c#d$e&f", "a/" + "b" * 127):
            self.assertEqual(
                self.parseLayer(dict(descriptor(OCI_LAYER_GZIP), mediaType=value)).media_type, value
            )

    def test_digest(self):
        """
        C{digest} must parse, with any supported algorithm.
        """
        for value in (
            None,
            "",
            "sha256:abc",
            "sha256:" + "A" * 64,
            "md5:" + "a" * 32,
            "sha256" + "a" * 64,
            1,
        ):
            self.assertLayerInvalid(
                dict(descriptor(OCI_LAYER_GZIP), digest=value), "layers[0].digest"
            )
        for algorithm in ("sha256", "sha384", "sha512"):
            digest = Digest.of(b"x", algorithm)
            layer = self.parseLayer(dict(descriptor(OCI_LAYER_GZIP), digest=str(digest)))
            self.assertEqual(layer.digest, digest)

    def test_size(self):
        """
        C{size} must be a non-negative integer within Go's int64.
        """
        for value in (None, -1, 1.0, 1.5, "1", True, False, 2**63, [1]):
            self.assertLayerInvalid(dict(descriptor(OCI_LAYER_GZIP), size=value), "layers[0].size")
        for value in (0, 2**63 - 1):
            self.assertEqual(
                self.parseLayer(dict(descriptor(OCI_LAYER_GZIP), size=value)).size, value
            )

    def test_optional_fields(self):
        """
        C{urls}, C{annotations}, C{artifactType} and C{platform} are read and
        type-checked.
        """
        layer = descriptor(
            OCI_LAYER_GZIP,
            b"l",
            urls=["https://a.example/l", "http://b.example/l"],
            annotations={"k": "v"},
            artifactType="application/x",
        )
        self.assertEqual(
            self.parseLayer(layer),
            Descriptor(
                OCI_LAYER_GZIP,
                Digest.of(b"l"),
                1,
                urls=("https://a.example/l", "http://b.example/l"),
                annotations={"k": "v"},
                artifact_type="application/x",
            ),
        )
        for key, value in (
            ("urls", "https://x"),
            ("urls", [1]),
            ("annotations", {"k": 1}),
            ("artifactType", 1),
            ("platform", []),
        ):
            self.assertLayerInvalid(dict(layer, **{key: value}), f"layers[0].{key}")

    def test_data(self):
        """
        C{data} must be base64; whether it is the referenced content is for
        its users to check, not the registry.
        """
        layer = self.parseLayer(with_data(OCI_LAYER_GZIP, b"hello"))
        self.assertEqual(layer.data, b"hello")
        good = with_data(OCI_LAYER_GZIP, b"hello")
        cases = {
            "not valid base64": ("aGVsbG8", "aGVs bG8=", "aGVsbG8=\n", "*", 5, "\u00e9"),
        }
        for other in (b"hell", b"HELLO"):
            mismatched = dict(good, data=base64.b64encode(other).decode())
            self.assertEqual(self.parseLayer(mismatched).data, other)
        for detail, values in cases.items():
            for value in values:
                self.assertLayerInvalid(dict(good, data=value), "layers[0].data")
                if not isinstance(value, int):
                    self.assertLayerInvalid(dict(good, data=value), detail)

    def test_data_other_algorithm(self):
        """
        C{data} is checked with the descriptor's own digest algorithm.
        """
        layer = dict(with_data(OCI_LAYER_GZIP, b"x"), digest=str(Digest.of(b"x", "sha512")))
        self.assertEqual(self.parseLayer(layer).data, b"x")

    def test_subject_checked(self):
        """
        A pushed C{subject} follows the descriptor rules.
        """
        raw = encode(oci_manifest(subject={"mediaType": OCI_MANIFEST, "digest": "nope", "size": 1}))
        self.assertInvalid(parse_manifest, raw, OCI_MANIFEST, detail="subject.digest")

    def test_null_optional(self):
        """
        C{null} optional members count as absent.
        """
        layer = dict(
            descriptor(OCI_LAYER_GZIP), urls=None, annotations=None, data=None, platform=None
        )
        self.assertEqual(
            self.parseLayer(layer), Descriptor(OCI_LAYER_GZIP, Digest.of(b"content"), 7)
        )

    def test_to_json(self):
        """
        C{to_json} gives back the OCI JSON of a descriptor, optional fields
        only when set.
        """
        full = with_data(
            OCI_MANIFEST,
            b"{}",
            urls=["https://x.example/"],
            annotations={"a": "b"},
            artifactType="application/x",
            platform={
                "architecture": "arm64",
                "os": "linux",
                "os.version": "1",
                "os.features": ["f"],
                "variant": "v8",
                "features": ["sse"],
            },
        )
        index = parse_manifest(
            encode(oci_index(manifests=[full, descriptor(OCI_MANIFEST)])), OCI_INDEX
        )
        self.assertEqual([d.to_json() for d in index.manifests], [full, descriptor(OCI_MANIFEST)])


class ParsedManifestTests(SynchronousTestCase):
    """
    L{ParsedManifest} as a value.
    """

    def test_digest_default(self):
        """
        The digest is the sha256 of the bytes unless given.
        """
        self.assertEqual(ParsedManifest(OCI_INDEX, b"{}").digest, Digest.of(b"{}"))
        self.assertEqual(ParsedManifest(OCI_INDEX, b"{}", _digest("a")).digest, _digest("a"))

    def test_hashable(self):
        """
        Manifests and descriptors with annotations can be hashed, and equal
        ones hash alike.
        """
        raw = fixture("oci-manifest-buildkit-manifest-annotation.json")
        first, second = parse_manifest(raw, OCI_MANIFEST), load_stored(raw)
        self.assertEqual(hash(first), hash(second))
        self.assertEqual(len(set(first.references()) | set(second.references())), 5)


class AcceptTests(SynchronousTestCase):
    """
    L{parse_accept}.
    """

    def test_split_and_strip(self):
        """
        All lines are split on commas; parameters and whitespace go, case is
        folded, empty elements are dropped.
        """
        self.assertEqual(
            parse_accept(
                [
                    f"{OCI_MANIFEST}, {OCI_INDEX};q=0.5",
                    f" {DOCKER_MANIFEST.upper()} ;q=0 ,,",
                    "*/*",
                ]
            ),
            frozenset({OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, "*/*"}),
        )

    def test_empty(self):
        """
        No header, or empty ones, accept nothing.
        """
        self.assertEqual(parse_accept([]), frozenset())
        self.assertEqual(parse_accept(["", " , ;q=1"]), frozenset())
