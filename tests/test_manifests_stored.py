"""
Tests for L{txregistry.registry.manifests.load_stored} and for what a manifest
requires and references.
"""

import base64
import json

from twisted.trial.unittest import SynchronousTestCase

from tests.manifest_samples import (
    ManifestAssertions,
    descriptor,
    docker_list,
    docker_manifest,
    encode,
    fixture,
    oci_index,
    oci_manifest,
    with_data,
)
from txregistry.registry.manifests import (
    DOCKER_FOREIGN_LAYER,
    DOCKER_FOREIGN_LAYER_UNCOMPRESSED,
    DOCKER_LAYER,
    DOCKER_LAYER_UNCOMPRESSED,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_ARTIFACT_MANIFEST,
    OCI_CONFIG,
    OCI_EMPTY,
    OCI_INDEX,
    OCI_LAYER,
    OCI_LAYER_GZIP,
    OCI_LAYER_NONDISTRIBUTABLE,
    OCI_LAYER_NONDISTRIBUTABLE_GZIP,
    OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
    OCI_LAYER_ZSTD,
    OCI_MANIFEST,
    SCHEMA1_LAYER,
    SCHEMA1_SIGNED,
    SCHEMA1_UNSIGNED,
    Descriptor,
    load_stored,
    parse_manifest,
)
from txregistry.registry.reference import Digest

URLS = ["https://example.com/blob"]


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _schema1(fs_layers: list, **members) -> dict:
    return {
        "schemaVersion": 1,
        "name": "library/test",
        "tag": "latest",
        "architecture": "amd64",
        "fsLayers": fs_layers,
        "history": [{"v1Compatibility": "{}"} for _ in fs_layers],
        **members,
    }


def _blob_sums(*contents: bytes) -> list:
    return [{"blobSum": str(Digest.of(content))} for content in contents]


def _pretty_jws(payload: bytes, unsigned: bytes = b"") -> bytes:
    """
    A signed schema 1 document as libtrust lays it out: the payload up to its
    closing brace, the signatures, then the tail; C{unsigned} goes right
    after the signed part.  The signature itself is a dummy: nothing here
    verifies it.
    """
    length = payload.rindex(b"}")
    protected = _b64url(
        json.dumps({"formatLength": length, "formatTail": _b64url(payload[length:])}).encode()
    )
    signatures = json.dumps(
        [{"header": {"alg": "ES256"}, "signature": "x", "protected": protected}]
    )
    return (
        payload[:length] + unsigned + b',"signatures":' + signatures.encode() + payload[length:]
    )


class StoredFormatsTests(ManifestAssertions, SynchronousTestCase):
    """
    How C{load_stored} classifies stored bytes.
    """

    def test_by_media_type(self):
        """
        A body C{mediaType} names the type.
        """
        for document, media_type in (
            (oci_manifest(), OCI_MANIFEST),
            (oci_index(), OCI_INDEX),
            (docker_manifest(), DOCKER_MANIFEST),
            (docker_list(), DOCKER_MANIFEST_LIST),
        ):
            self.assertEqual(load_stored(encode(document)).media_type, media_type)

    def test_by_shape(self):
        """
        Without C{mediaType}, a body with C{manifests} is an OCI index and
        anything else an OCI image manifest.
        """
        for document, media_type in ((oci_manifest(), OCI_MANIFEST), (oci_index(), OCI_INDEX)):
            del document["mediaType"]
            self.assertEqual(load_stored(encode(document)).media_type, media_type)

    def test_unknown_types(self):
        """
        Stored bytes of an unknown, schema 1 or artifact-manifest media type
        with C{"schemaVersion": 2} are garbage, as for Distribution.
        """
        for media_type in (OCI_CONFIG, OCI_ARTIFACT_MANIFEST, SCHEMA1_SIGNED, "x"):
            self.assertInvalid(
                load_stored,
                encode(oci_manifest(mediaType=media_type)),
                detail="unknown manifest media type",
            )

    def test_garbage(self):
        """
        Bytes no registry could have stored are refused with
        C{MANIFEST_INVALID}.
        """
        for raw in (
            b"",
            b"[]",
            b"{}",
            b'{"schemaVersion": 3}',
            b"\x89PNG",
            encode(oci_manifest(config=None)),
            encode(oci_manifest(layers={"a": 1})),
        ):
            self.assertInvalid(load_stored, raw)

    def test_not_revalidated(self):
        """
        The push rules are not applied again to stored content: a Docker list
        entry without platform, a non-Docker schema 2 layer, negative sizes,
        odd media types and duplicate keys all load.
        """
        cases = [
            (docker_list(manifests=[descriptor(DOCKER_MANIFEST)]), 1),
            (
                docker_manifest(
                    layers=[descriptor(OCI_LAYER_ZSTD), descriptor(DOCKER_FOREIGN_LAYER)]
                ),
                3,
            ),
            (
                oci_manifest(
                    layers=[dict(with_data(OCI_LAYER_GZIP, b"a"), size=-1, mediaType="no")]
                ),
                2,
            ),
        ]
        for document, references in cases:
            raw = encode(document)
            self.assertInvalid(parse_manifest, raw, document["mediaType"])
            manifest = load_stored(raw)
            self.assertEqual(manifest.media_type, document["mediaType"])
            self.assertEqual(len(manifest.references()), references)
        duplicate = encode(oci_manifest()).replace(
            b'"schemaVersion": 2', b'"schemaVersion": 1, "schemaVersion": 2'
        )
        self.assertEqual(load_stored(duplicate).media_type, OCI_MANIFEST)

    def test_go_zero_values(self):
        """
        Missing or C{null} arrays read as empty, missing descriptor media
        types and sizes as Go's zero values, as Distribution would have
        stored them.
        """
        layer = descriptor(OCI_LAYER_GZIP)
        del layer["mediaType"], layer["size"]
        manifest = load_stored(encode(oci_manifest(layers=[layer])))
        self.assertEqual(manifest.layers, (Descriptor("", Digest.of(b"content"), 0),))
        self.assertEqual(load_stored(encode(oci_manifest(layers=None))).layers, ())
        self.assertEqual(
            load_stored(encode(oci_index(manifests=None, mediaType=OCI_INDEX))).manifests, ()
        )

    def test_unusable_descriptors_dropped(self):
        """
        Descriptors without a usable digest are dropped, and so is a subject
        that does not read, while the rest of the manifest loads.
        """
        document = oci_manifest(
            layers=[
                descriptor(OCI_LAYER_GZIP, b"1"),
                dict(descriptor(OCI_LAYER_GZIP), digest="bad"),
                {"mediaType": OCI_LAYER},
            ],
            subject={"mediaType": OCI_MANIFEST, "digest": "sha256:short", "size": 1},
            annotations={"a": "b"},
        )
        manifest = load_stored(encode(document))
        self.assertEqual([d.digest for d in manifest.layers], [Digest.of(b"1")])
        self.assertIsNone(manifest.subject)
        self.assertEqual(manifest.annotations, {"a": "b"})
        self.assertIsNone(load_stored(encode(oci_manifest(subject="x"))).subject)

    def test_wrong_json_types(self):
        """
        Wrong JSON types are garbage even in storage: Go could not have
        decoded them either.
        """
        for document in (
            oci_manifest(annotations={"a": 1}),
            oci_manifest(layers=[dict(descriptor(OCI_LAYER_GZIP), size="7")]),
            oci_manifest(mediaType=7),
            oci_index(manifests=[dict(descriptor(OCI_MANIFEST), platform={"os": 1})]),
        ):
            self.assertInvalid(load_stored, encode(document))

    def test_bad_text(self):
        """
        Invalid UTF-8 and unpaired surrogates are replaced, as Go does.
        """
        raw = encode(oci_manifest(annotations={"a": "PLACEHOLDER", "b": "\udc00"}))
        manifest = load_stored(raw.replace(b"PLACEHOLDER", b"\xff"))
        self.assertEqual(manifest.annotations, {"a": "\ufffd", "b": "\ufffd"})
        self.assertEqual(manifest.digest, Digest.of(raw.replace(b"PLACEHOLDER", b"\xff")))

    def test_broken_data_dropped(self):
        """
        A C{data} member that is not base64 is dropped: Distribution 2.x did
        not know the field.
        """
        config = dict(descriptor(OCI_CONFIG), data="not base64!")
        self.assertIsNone(load_stored(encode(oci_manifest(config=config))).config.data)


class StoredSchema1Tests(ManifestAssertions, SynchronousTestCase):
    """
    Schema 1 manifests in storage.
    """

    def test_unsigned(self):
        """
        An unsigned schema 1 manifest, as Distribution 2.x stored them,
        references its blob sums in order, repeats included.
        """
        raw = encode(_schema1(_blob_sums(b"a", b"b", b"a")))
        manifest = load_stored(raw)
        self.assertEqual(manifest.media_type, SCHEMA1_UNSIGNED)
        self.assertEqual(manifest.digest, Digest.of(raw))
        layers = [Descriptor(SCHEMA1_LAYER, Digest.of(c), 0) for c in (b"a", b"b", b"a")]
        self.assertEqual(list(manifest.references()), layers)
        self.assertEqual(list(manifest.required_blobs()), layers)
        self.assertEqual(
            (manifest.config, manifest.subject, manifest.artifact_type), (None, None, None)
        )

    def test_signed_payload(self):
        """
        A signed schema 1 manifest references the blob sums of its signed
        payload, not a second C{fsLayers} added after the signed part.
        """
        payload = encode(_schema1(_blob_sums(b"signed")))
        appended = b',"fsLayers":' + json.dumps(_blob_sums(b"appended")).encode()
        manifest = load_stored(_pretty_jws(payload, appended))
        self.assertEqual(manifest.media_type, SCHEMA1_SIGNED)
        self.assertEqual([d.digest for d in manifest.layers], [Digest.of(b"signed")])

    def test_signed_fixture(self):
        """
        The adversarial fixture with extra data after the signed payload
        references the signed blob sums.
        """
        manifest = load_stored(fixture("schema1-signed-extra-data-after-signed-payload.json"))
        self.assertEqual(
            [str(d.digest)[:13] for d in manifest.references()],
            ["sha256:a3ed95", "sha256:03f465"],
        )

    def test_signatures_unreadable(self):
        """
        When the signatures do not say what the payload is, the document's
        own C{fsLayers} count.
        """
        payload = encode(_schema1(_blob_sums(b"x")))
        signed = json.loads(_pretty_jws(payload))
        cases = [1, [], [1], [{}], [{"protected": "!!"}], [{"protected": _b64url(b"[]")}]]
        for signatures in cases:
            raw = encode(dict(signed, signatures=signatures))
            manifest = load_stored(raw)
            self.assertEqual(manifest.media_type, SCHEMA1_SIGNED)
            self.assertEqual([d.digest for d in manifest.layers], [Digest.of(b"x")])
        disagreeing = signed["signatures"] + [
            dict(
                signed["signatures"][0], protected=_b64url(b'{"formatLength": 1, "formatTail": ""}')
            )
        ]
        self.assertEqual(len(load_stored(encode(dict(signed, signatures=disagreeing))).layers), 1)

    def test_never_fails(self):
        """
        Any JSON object with C{"schemaVersion": 1} loads, unusable blob sums
        skipped.
        """
        for document in (
            {"schemaVersion": 1},
            _schema1("x"),
            _schema1([1, {}, {"blobSum": 5}, {"blobSum": "sha256:x"}]),
            _schema1(_blob_sums(b"a"), signatures={"x": 1}),
            _schema1(
                _blob_sums(b"a"),
                signatures=[{"protected": _b64url(b'{"formatLength": 99999, "formatTail": "fQ"}')}],
            ),
            _schema1(
                _blob_sums(b"a"),
                signatures=[{"protected": _b64url(b'{"formatLength": 0, "formatTail": "e30"}')}],
            ),
        ):
            manifest = load_stored(encode(document))
            self.assertIn(manifest.media_type, (SCHEMA1_SIGNED, SCHEMA1_UNSIGNED))
            self.assertLessEqual(len(manifest.layers), 1)


class RequiredTests(SynchronousTestCase):
    """
    L{ParsedManifest.required_blobs}, C{required_manifests} and
    C{references}.
    """

    def test_docker_foreign_layers(self):
        """
        Docker foreign layers, which carry URLs, are referenced but not
        required; other layers and the config are.
        """
        layers = [
            descriptor(DOCKER_LAYER, b"1"),
            descriptor(DOCKER_FOREIGN_LAYER, b"2", urls=URLS),
            descriptor(DOCKER_LAYER_UNCOMPRESSED, b"3"),
            descriptor(DOCKER_FOREIGN_LAYER_UNCOMPRESSED, b"4", urls=URLS),
        ]
        manifest = parse_manifest(encode(docker_manifest(layers=layers)), DOCKER_MANIFEST)
        self.assertEqual(
            [d.digest for d in manifest.references()],
            [Digest.of(c) for c in (b"config", b"1", b"2", b"3", b"4")],
        )
        self.assertEqual(
            [d.digest for d in manifest.required_blobs()],
            [Digest.of(c) for c in (b"config", b"1", b"3")],
        )

    def test_oci_layers(self):
        """
        OCI nondistributable C{tar} and C{tar+gzip} layers with URLs are not
        required; the same without URLs, nondistributable C{tar+zstd} with
        URLs, plain layers with URLs, zstd and unknown layers and Docker
        foreign types are, as Distribution checks them.
        """
        skipped = [
            descriptor(OCI_LAYER_NONDISTRIBUTABLE, b"n1", urls=URLS),
            descriptor(OCI_LAYER_NONDISTRIBUTABLE_GZIP, b"n2", urls=URLS),
        ]
        required = [
            descriptor(OCI_LAYER_NONDISTRIBUTABLE, b"r1"),
            descriptor(OCI_LAYER_NONDISTRIBUTABLE_GZIP, b"r2"),
            descriptor(OCI_LAYER_NONDISTRIBUTABLE_ZSTD, b"r3", urls=URLS),
            descriptor(OCI_LAYER_NONDISTRIBUTABLE_ZSTD, b"r4"),
            descriptor(OCI_LAYER, b"r5", urls=URLS),
            descriptor(OCI_LAYER_GZIP, b"r6", urls=URLS),
            descriptor(OCI_LAYER_ZSTD, b"r7"),
            descriptor("application/x.artifact", b"r8"),
            descriptor(DOCKER_FOREIGN_LAYER, b"r9", urls=URLS),
            descriptor(OCI_MANIFEST, b"r10"),
        ]
        manifest = parse_manifest(encode(oci_manifest(layers=skipped + required)), OCI_MANIFEST)
        self.assertEqual(len(manifest.references()), 1 + len(skipped) + len(required))
        self.assertEqual(
            [d.digest for d in manifest.required_blobs()],
            [Digest.of(b"config")] + [Digest.parse(d["digest"]) for d in required],
        )

    def test_config_like_layers(self):
        """
        A config is judged like a layer, as Distribution does: one of a
        nondistributable type with URLs is not required.
        """
        config = descriptor(OCI_LAYER_NONDISTRIBUTABLE, b"c", urls=URLS)
        manifest = parse_manifest(encode(oci_manifest(config=config, layers=[])), OCI_MANIFEST)
        self.assertEqual(manifest.required_blobs(), ())
        self.assertEqual(len(manifest.references()), 1)

    def test_empty_config_required(self):
        """
        The empty config is a blob like any other.
        """
        empty = with_data(OCI_EMPTY, b"{}")
        manifest = parse_manifest(
            encode(oci_manifest(config=empty, layers=[], artifactType="a/b")), OCI_MANIFEST
        )
        self.assertEqual([d.digest for d in manifest.required_blobs()], [Digest.of(b"{}")])

    def test_index_children(self):
        """
        Index and list entries are required manifests, not blobs, whatever
        their media type.
        """
        entries = [
            descriptor(OCI_MANIFEST, b"1"),
            descriptor(OCI_INDEX, b"2"),
            descriptor("application/x", b"3"),
        ]
        for document, media_type in (
            (oci_index(manifests=entries), OCI_INDEX),
            (
                docker_list(
                    manifests=[dict(e, platform={"architecture": "a", "os": "b"}) for e in entries]
                ),
                DOCKER_MANIFEST_LIST,
            ),
        ):
            manifest = parse_manifest(encode(document), media_type)
            self.assertEqual(
                [d.digest for d in manifest.required_manifests()],
                [Digest.of(c) for c in (b"1", b"2", b"3")],
            )
            self.assertEqual(manifest.references(), manifest.required_manifests())
            self.assertEqual(manifest.required_blobs(), ())

    def test_image_has_no_children(self):
        """
        An image manifest requires no manifests.
        """
        self.assertEqual(
            parse_manifest(encode(oci_manifest()), OCI_MANIFEST).required_manifests(), ()
        )

    def test_subject_excluded(self):
        """
        The subject is never required nor referenced.
        """
        subject = descriptor(OCI_MANIFEST, b"subject")
        for document, media_type in (
            (oci_manifest(subject=subject), OCI_MANIFEST),
            (oci_index(subject=subject), OCI_INDEX),
        ):
            for manifest in (
                parse_manifest(encode(document), media_type),
                load_stored(encode(document)),
            ):
                self.assertEqual(manifest.subject.digest, Digest.of(b"subject"))
                everything = (
                    manifest.references()
                    + manifest.required_blobs()
                    + manifest.required_manifests()
                )
                self.assertNotIn(Digest.of(b"subject"), [d.digest for d in everything])
