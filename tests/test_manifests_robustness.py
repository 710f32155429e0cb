"""
Robustness of manifest reading: whatever the bytes, C{parse_manifest} and
C{load_stored} either return a manifest or raise C{MANIFEST_INVALID}.
"""

import copy
import json
import random

from twisted.trial.unittest import SynchronousTestCase

from tests.manifest_samples import FIXTURES, encode, oci_index, oci_manifest
from txregistry.registry import errors
from txregistry.registry.manifests import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MAX_MANIFEST_SIZE,
    OCI_INDEX,
    OCI_MANIFEST,
    SCHEMA1_SIGNED,
    load_stored,
    parse_manifest,
)

CONTENT_TYPES = (
    None,
    "application/json",
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    SCHEMA1_SIGNED,
)

# Values a mutation puts in place of a member.
ODD_VALUES = (
    None,
    True,
    0,
    -1,
    1,
    2,
    2.0,
    1e300,
    2**64,
    "",
    "\ud800",
    "sha256:" + "a" * 64,
    "YQ==",
    [],
    {},
    [None],
    ["x"],
    [{}],
    {"a": 1},
    {"architecture": "a", "os": "b"},
)


def _fixtures() -> list[bytes]:
    return sorted(
        path.read_bytes()
        for path in FIXTURES.iterdir()
        if path.name not in ("index.json", "SOURCES.md")
    )


class RobustnessTests(SynchronousTestCase):
    """
    Random, mutated and hostile input never raises anything else than
    C{MANIFEST_INVALID}.
    """

    def check(self, raw: bytes, content_types=CONTENT_TYPES) -> None:
        """
        Read C{raw} every way there is; whatever is returned must be usable
        (hashable, serialisable), whatever is raised must be
        C{MANIFEST_INVALID} with a text detail.
        """
        calls = [lambda ct=ct: parse_manifest(raw, ct) for ct in content_types]
        for call in calls + [lambda: load_stored(raw)]:
            try:
                manifest = call()
            except errors.RegistryError as e:
                self.assertEqual([d.code for d in e.errors], [errors.MANIFEST_INVALID], raw[:200])
                self.assertIsInstance(e.errors[0].detail, str)
                continue
            hash(manifest)
            descriptors = (
                manifest.references() + manifest.required_blobs() + manifest.required_manifests()
            )
            if manifest.subject is not None:
                descriptors += (manifest.subject,)
            summary = [d.to_json() for d in descriptors] + [
                manifest.annotations,
                manifest.artifact_type,
            ]
            json.dumps(summary, ensure_ascii=False).encode("utf-8")

    def test_random_bytes(self):
        """
        Random bytes, some starting like JSON.
        """
        rng = random.Random(20240601)
        for _ in range(400):
            raw = rng.randbytes(rng.randrange(0, 300))
            self.check(rng.choice([b"", b"{", b'{"schemaVersion": 2,']) + raw)

    def test_mutated_bytes(self):
        """
        Fixtures with bytes changed, inserted, removed or cut off.
        """
        rng = random.Random(7)
        for original in _fixtures():
            for _ in range(12):
                raw = bytearray(original)
                for _ in range(rng.randint(1, 4)):
                    position = rng.randrange(len(raw))
                    action = rng.randrange(4)
                    if action == 0:
                        raw[position] = rng.randrange(256)
                    elif action == 1:
                        raw.insert(position, rng.choice(b'{}[],:"\\0-e.'))
                    elif action == 2:
                        del raw[position]
                    else:
                        del raw[position:]
                        break
                self.check(bytes(raw), (None, OCI_MANIFEST, DOCKER_MANIFEST))

    def mutate(self, rng: random.Random, value) -> None:
        """
        Replace or delete one member somewhere inside C{value}, in place.
        """
        while isinstance(value, (dict, list)) and value:
            key = rng.choice(list(value)) if isinstance(value, dict) else rng.randrange(len(value))
            roll = rng.random()
            if roll < 0.25:
                value[key] = copy.deepcopy(rng.choice(ODD_VALUES))
                return
            if roll < 0.3:
                del value[key]
                return
            value = value[key]

    def test_mutated_structure(self):
        """
        Fixtures with members replaced by odd values or deleted.
        """
        rng = random.Random(11)
        documents = []
        for raw in _fixtures():
            try:
                documents.append(json.loads(raw))
            except ValueError:
                pass
        for document in documents:
            for _ in range(25):
                mutated = copy.deepcopy(document)
                for _ in range(rng.randint(1, 3)):
                    self.mutate(rng, mutated)
                raw = json.dumps(mutated).encode()
                self.check(raw)

    def test_deep_nesting(self):
        """
        Nesting deeper than the interpreter's recursion limit.
        """
        for raw in (
            b"[" * 100000,
            b'{"a":' * 100000,
            b'{"schemaVersion": 2, "layers": ' + b"[" * 50000 + b"]" * 50000 + b"}",
            encode(oci_manifest(annotations={"a": "b"})).replace(b'"b"', b"[" * 5000 + b"]" * 5000),
        ):
            self.check(raw)

    def test_numbers(self):
        """
        Huge, float, negative-zero and non-finite numbers anywhere.
        """
        template = encode(oci_manifest()).replace(b'"size": 6', b'"size": NUMBER')
        for number in (
            b"9" * 5000,
            b"1e999",
            b"-1e999",
            b"-0",
            b"0.0",
            b"1E2",
            b"NaN",
            b"Infinity",
            b"-Infinity",
            b"18446744073709551616",
        ):
            self.check(template.replace(b"NUMBER", number))
            self.check(b'{"schemaVersion": ' + number + b"}")

    def test_duplicate_keys(self):
        """
        Duplicate keys at the top and inside descriptors.
        """
        raw = encode(oci_manifest())
        self.check(raw.replace(b'"layers"', b'"layers": [], "layers"'))
        self.check(raw.replace(b'"digest"', b'"digest": 1, "digest"'))
        self.check(b'{"schemaVersion": 1, "schemaVersion": 2, "manifests": [], "manifests": 3}')

    def test_text(self):
        """
        Byte order marks, invalid UTF-8, surrogates and control characters.
        """
        raw = encode(oci_index(annotations={"a": "TEXT"}))
        for text in (
            b"\xff",
            b"\xc0\xaf",
            b"\xed\xa0\x80",
            b"\\ud800",
            b"\\udfff\\ud800",
            b"\x00",
            b"\\u0000",
            b"\x1f",
        ):
            self.check(raw.replace(b"TEXT", text))
        self.check(b"\xef\xbb\xbf" + raw)
        self.check(raw.decode().encode("utf-16"))

    def test_sizes(self):
        """
        Oversized bodies and large valid ones.
        """
        self.check(b"{" + b" " * MAX_MANIFEST_SIZE + b"}")
        many = oci_index(manifests=oci_index()["manifests"] * 10000)
        raw = encode(many)
        self.assertLess(len(raw), MAX_MANIFEST_SIZE)
        self.assertEqual(len(parse_manifest(raw, OCI_INDEX).required_manifests()), 10000)
