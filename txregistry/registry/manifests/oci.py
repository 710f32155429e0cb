"""
Reading OCI image manifests and image indexes (image-spec 1.1).

Unknown config, layer, entry and artifact media types are accepted, as
image-spec requires of a registry.
"""

from txregistry.registry.manifests import mediatypes
from txregistry.registry.manifests.descriptor import (
    read_config,
    read_descriptors,
    read_subject,
)
from txregistry.registry.manifests.document import JSONObject
from txregistry.registry.manifests.manifest import ParsedManifest


def _forbid(doc: JSONObject, keys: tuple[str, ...], reason: str) -> None:
    for key in keys:
        if doc.has(key):
            raise doc.invalid(key, reason)


def read_manifest(doc: JSONObject, raw: bytes) -> ParsedManifest:
    """
    Read an OCI image manifest: C{config}, C{layers} (possibly empty, as the
    conformance tests push), optional C{artifactType}, C{subject} and
    C{annotations}; no C{manifests}.

    @param doc: the root object, C{schemaVersion} and C{mediaType} checked.
    @param raw: the manifest bytes.
    @raise errors.RegistryError: C{MANIFEST_INVALID}.
    """
    _forbid(doc, ("manifests",), "not allowed in an image manifest (is it an index?)")
    config = read_config(doc)
    # An empty artifactType counts as none (distribution-spec, referrers).
    artifact_type = doc.string("artifactType")
    if not artifact_type and config is not None:
        artifact_type = config.media_type
    return ParsedManifest(
        media_type=mediatypes.OCI_MANIFEST,
        raw=raw,
        config=config,
        layers=read_descriptors(doc, "layers", required=doc.strict),
        subject=read_subject(doc),
        artifact_type=artifact_type or None,
        annotations=doc.string_map("annotations"),
    )


def read_index(doc: JSONObject, raw: bytes) -> ParsedManifest:
    """
    Read an OCI image index: C{manifests} (possibly empty), optional
    C{artifactType}, C{subject} and C{annotations}; no C{config} or
    C{layers}.

    @param doc: the root object, C{schemaVersion} and C{mediaType} checked.
    @param raw: the manifest bytes.
    @raise errors.RegistryError: C{MANIFEST_INVALID}.
    """
    _forbid(doc, ("config", "layers"), "not allowed in an image index")
    return ParsedManifest(
        media_type=mediatypes.OCI_INDEX,
        raw=raw,
        manifests=read_descriptors(doc, "manifests", required=doc.strict),
        subject=read_subject(doc),
        artifact_type=doc.string("artifactType") or None,
        annotations=doc.string_map("annotations"),
    )
