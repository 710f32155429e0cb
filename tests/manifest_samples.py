"""
Builders of manifest documents and access to the manifest fixtures, shared by
the manifest tests.
"""

import base64
import json
from pathlib import Path

from txregistry.registry import errors
from txregistry.registry.manifests import (
    DOCKER_CONFIG,
    DOCKER_LAYER,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    OCI_CONFIG,
    OCI_INDEX,
    OCI_LAYER_GZIP,
    OCI_MANIFEST,
)
from txregistry.registry.reference import Digest

FIXTURES = Path(__file__).parent / "fixtures" / "manifests"


def fixture_index() -> list[dict]:
    """
    The entries of the fixtures' C{index.json}: C{file}, C{mediaType} (or
    C{None}), C{valid}, C{sha256}, C{notes}.
    """
    return json.loads((FIXTURES / "index.json").read_bytes())


def fixture(name: str) -> bytes:
    """
    The exact bytes of one fixture file.
    """
    return (FIXTURES / name).read_bytes()


def encode(document: dict) -> bytes:
    """
    A manifest document as bytes.
    """
    return json.dumps(document, indent=3).encode("utf-8")


def descriptor(media_type: str, content: bytes = b"content", **extra) -> dict:
    """
    A descriptor of C{content}, with the right digest and size.

    @param extra: further members, by their JSON names.
    """
    return {
        "mediaType": media_type,
        "digest": str(Digest.of(content)),
        "size": len(content),
        **extra,
    }


def with_data(media_type: str, content: bytes, **extra) -> dict:
    """
    A descriptor of C{content} that embeds it in C{data}.

    @param extra: further members, by their JSON names.
    """
    return descriptor(media_type, content, data=base64.b64encode(content).decode(), **extra)


def oci_manifest(**members) -> dict:
    """
    An OCI image manifest with one config and one layer, C{members} replacing
    or adding top-level members.
    """
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, b"config"),
        "layers": [descriptor(OCI_LAYER_GZIP, b"layer")],
        **members,
    }


def oci_index(**members) -> dict:
    """
    An OCI image index with one linux/amd64 entry, C{members} replacing or
    adding top-level members.
    """
    return {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            descriptor(
                OCI_MANIFEST,
                b"child",
                platform={"architecture": "amd64", "os": "linux"},
            )
        ],
        **members,
    }


def docker_manifest(**members) -> dict:
    """
    A Docker schema 2 manifest with one config and one layer, C{members}
    replacing or adding top-level members.
    """
    return {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST,
        "config": descriptor(DOCKER_CONFIG, b"config"),
        "layers": [descriptor(DOCKER_LAYER, b"layer")],
        **members,
    }


def docker_list(**members) -> dict:
    """
    A Docker manifest list with one linux/amd64 entry, C{members} replacing or
    adding top-level members.
    """
    return {
        "schemaVersion": 2,
        "mediaType": DOCKER_MANIFEST_LIST,
        "manifests": [
            descriptor(
                DOCKER_MANIFEST,
                b"child",
                platform={"architecture": "amd64", "os": "linux"},
            )
        ],
        **members,
    }


class ManifestAssertions:
    """
    Assertions for test cases about manifests.
    """

    def assertInvalid(self, call, *args, detail: str = "") -> str:
        """
        Assert that C{call(*args)} raises C{MANIFEST_INVALID} whose detail
        contains C{detail}.

        @return: the detail.
        """
        error = self.assertRaises(errors.RegistryError, call, *args)
        self.assertEqual([e.code for e in error.errors], [errors.MANIFEST_INVALID], error.errors)
        text = error.errors[0].detail
        self.assertIsInstance(text, str)
        self.assertIn(detail, text)
        return text
