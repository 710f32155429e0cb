"""
Media types of manifests and of the blobs they reference, and the reading of
media types from C{Content-Type} and C{Accept} header values.
"""

import re

# Manifests.
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
SCHEMA1_SIGNED = "application/vnd.docker.distribution.manifest.v1+prettyjws"
SCHEMA1_UNSIGNED = "application/vnd.docker.distribution.manifest.v1+json"
#: Only in image-spec 1.1.0 release candidates; refused like Distribution does.
OCI_ARTIFACT_MANIFEST = "application/vnd.oci.artifact.manifest.v1+json"

# Configs.
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_PLUGIN_CONFIG = "application/vnd.docker.plugin.v1+json"
#: The two-byte C{{}} blob of descriptors that point at nothing in particular.
OCI_EMPTY = "application/vnd.oci.empty.v1+json"

# Layers.
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDISTRIBUTABLE = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDISTRIBUTABLE_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_UNCOMPRESSED = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_FOREIGN_LAYER_UNCOMPRESSED = "application/vnd.docker.image.rootfs.foreign.diff.tar"
#: What Distribution calls the C{fsLayers} of a schema 1 manifest.
SCHEMA1_LAYER = "application/vnd.docker.container.image.rootfs.diff+x-gtar"

#: Every manifest media type a registry may hold.
MANIFEST_TYPES = frozenset(
    {
        OCI_MANIFEST,
        OCI_INDEX,
        DOCKER_MANIFEST,
        DOCKER_MANIFEST_LIST,
        SCHEMA1_SIGNED,
        SCHEMA1_UNSIGNED,
    }
)
SCHEMA1_TYPES = frozenset({SCHEMA1_SIGNED, SCHEMA1_UNSIGNED})
#: The layer types a Docker schema 2 manifest may use.
DOCKER_LAYER_TYPES = frozenset(
    {
        DOCKER_LAYER,
        DOCKER_LAYER_UNCOMPRESSED,
        DOCKER_FOREIGN_LAYER,
        DOCKER_FOREIGN_LAYER_UNCOMPRESSED,
    }
)
#: Docker layers that are fetched from their C{urls}, never pushed.
DOCKER_FOREIGN_LAYER_TYPES = frozenset({DOCKER_FOREIGN_LAYER, DOCKER_FOREIGN_LAYER_UNCOMPRESSED})

# RFC 6838 section 4.2 names, as image-spec's descriptor schema spells them.
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE_RE = re.compile(f"{_NAME}/{_NAME}")


def is_media_type(value: str) -> bool:
    """
    Whether C{value} is a bare media type (C{type/subtype}, no parameters)
    of valid RFC 6838 syntax.
    """
    return _MEDIA_TYPE_RE.fullmatch(value) is not None


def base_type(value: str) -> str:
    """
    The media type of a header value, without its parameters.

    Media types are case-insensitive, so the result is lower case, as Go's
    C{mime.ParseMediaType} makes it for Distribution.

    @param value: a C{Content-Type} value or one element of an C{Accept}
        value, e.g. C{"application/json; charset=utf-8"}.
    @return: e.g. C{"application/json"}; C{""} when there is no type.
    """
    return value.split(";", 1)[0].strip().lower()


def parse_accept(values: list[str]) -> frozenset[str]:
    """
    The media types a client accepts, as Distribution reads C{Accept}.

    Every header line is split on C{,}; parameters such as C{q=} are
    dropped, so a type with C{q=0} still counts.  No wildcard matching is
    implied: C{*/*} is returned as is and equals no manifest type.

    @param values: all C{Accept} header lines of a request.
    @return: the media types, lower case.
    """
    return frozenset(
        media_type
        for value in values
        for element in value.split(",")
        if (media_type := base_type(element))
    )
