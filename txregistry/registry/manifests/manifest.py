"""
A manifest as the registry sees it: its identity and what it points to.
"""

import attrs

from txregistry.registry.manifests import mediatypes
from txregistry.registry.manifests.descriptor import Descriptor
from txregistry.registry.reference import Digest

# Blob types that Distribution does not require in the repository when the
# descriptor carries urls, by manifest type (it treats config and layers
# alike).  Docker foreign layers always carry urls once the
# manifest is accepted; OCI nondistributable +zstd layers are not in the list,
# matching Distribution, which checks them like any other blob.
_LAYERS_ELSEWHERE = {
    mediatypes.OCI_MANIFEST: frozenset(
        {
            mediatypes.OCI_LAYER_NONDISTRIBUTABLE,
            mediatypes.OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        }
    ),
    mediatypes.DOCKER_MANIFEST: mediatypes.DOCKER_FOREIGN_LAYER_TYPES,
}


def _sha256_of_raw(manifest: "ParsedManifest") -> Digest:
    return Digest.of(manifest.raw)


@attrs.frozen
class ParsedManifest:
    """
    A manifest that was read successfully.

    @ivar media_type: the manifest's media type, which is what a GET must send
        as C{Content-Type}.
    @ivar raw: the exact bytes.
    @ivar digest: the sha256 of C{raw} unless given.
    @ivar config: the config of an image manifest.
    @ivar layers: the layers of an image manifest (the C{fsLayers} of a
        schema 1 manifest), in document order.
    @ivar manifests: the entries of an index or manifest list.
    @ivar subject: the manifest this one refers to, for the referrers API.
    @ivar artifact_type: the effective artifact type for the referrers API:
        the manifest's C{artifactType}, else the config media type of an
        image manifest, else C{None}.
    @ivar annotations: the top-level annotations; treat as read-only.
    """

    media_type: str
    raw: bytes = attrs.field(repr=False)
    digest: Digest = attrs.field(default=attrs.Factory(_sha256_of_raw, takes_self=True))
    config: Descriptor | None = None
    layers: tuple[Descriptor, ...] = ()
    manifests: tuple[Descriptor, ...] = ()
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = attrs.field(default=None, hash=False)

    def references(self) -> tuple[Descriptor, ...]:
        """
        Everything this manifest points to except its C{subject}: config,
        layers (including foreign ones) and index entries, in document order.
        This is what garbage collection marks and what events report.
        """
        config = () if self.config is None else (self.config,)
        return config + self.layers + self.manifests

    def required_blobs(self) -> tuple[Descriptor, ...]:
        """
        The descriptors that must be blobs of the repository before this
        manifest may be stored, by Distribution's rules: the config and the
        layers, except the foreign (Docker) and nondistributable (OCI C{tar},
        C{tar+gzip}) ones that carry C{urls}.  Zstd and unknown layer types,
        the empty config, and layers whose media type is a manifest type are
        all required as blobs.
        """
        elsewhere = _LAYERS_ELSEWHERE.get(self.media_type, frozenset())
        config = () if self.config is None else (self.config,)
        return tuple(
            blob
            for blob in config + self.layers
            if not (blob.urls and blob.media_type in elsewhere)
        )

    def required_manifests(self) -> tuple[Descriptor, ...]:
        """
        The entries of an index or manifest list, which must be manifests of
        the repository before it may be stored, whatever their media type.
        Distribution can narrow this down by platform
        (C{validation.manifests.indexes}); that policy is the caller's.
        """
        return self.manifests
