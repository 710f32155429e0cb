"""
Reading Docker image manifests (schema 2) and manifest lists.

Both are read like their OCI counterparts; their own C{mediaType} must be set
(checked by the caller).  Fields the Docker formats do not have
(C{artifactType}, C{subject}, C{annotations}) are ignored, as Distribution
ignores them.
"""

from txregistry.registry.manifests import mediatypes
from txregistry.registry.manifests.descriptor import read_config, read_descriptors
from txregistry.registry.manifests.document import JSONObject, invalid
from txregistry.registry.manifests.manifest import ParsedManifest


def _check_layers(layers) -> None:
    # Strict reading drops nothing, so positions are the document's.
    for i, layer in enumerate(layers):
        if layer.media_type not in mediatypes.DOCKER_LAYER_TYPES:
            raise invalid(
                f"layers[{i}].mediaType: {layer.media_type!r} is not a Docker"
                " layer type (use an OCI image manifest for other types)"
            )


def read_manifest(doc: JSONObject, raw: bytes) -> ParsedManifest:
    """
    Read a Docker schema 2 image manifest: C{config} and C{layers}.

    Strict mode also requires every layer to be of a Docker layer type
    (C{rootfs.diff.tar.gzip}, C{rootfs.diff.tar} or a foreign variant).  A
    foreign layer without C{urls} is not refused here (Distribution refuses
    it while checking references): it is then required as a blob of the
    repository, like any layer, so a registry that holds it can serve it.

    @param doc: the root object, C{schemaVersion} and C{mediaType} checked.
    @param raw: the manifest bytes.
    @raise errors.RegistryError: C{MANIFEST_INVALID}.
    """
    config = read_config(doc)
    layers = read_descriptors(doc, "layers", required=doc.strict)
    if doc.strict:
        _check_layers(layers)
    return ParsedManifest(
        media_type=mediatypes.DOCKER_MANIFEST,
        raw=raw,
        config=config,
        layers=layers,
        artifact_type=None if config is None else config.media_type or None,
    )


def read_manifest_list(doc: JSONObject, raw: bytes) -> ParsedManifest:
    """
    Read a Docker manifest list: C{manifests}, each with a C{platform}
    (strict mode), whatever the entries' media types.

    @param doc: the root object, C{schemaVersion} and C{mediaType} checked.
    @param raw: the manifest bytes.
    @raise errors.RegistryError: C{MANIFEST_INVALID}.
    """
    manifests = read_descriptors(doc, "manifests", required=doc.strict)
    if doc.strict:
        for i, entry in enumerate(manifests):
            if entry.platform is None:
                raise invalid(f"manifests[{i}].platform: is required in a manifest list")
    return ParsedManifest(media_type=mediatypes.DOCKER_MANIFEST_LIST, raw=raw, manifests=manifests)
