"""
Reading manifests: L{parse_manifest} validates a pushed manifest,
L{load_stored} reads one from storage.
"""

from txregistry.registry.manifests import docker, mediatypes, oci, schema1
from txregistry.registry.manifests.document import JSONObject, decode, invalid
from txregistry.registry.manifests.manifest import ParsedManifest

#: The largest manifest accepted on push, as in Distribution.
MAX_MANIFEST_SIZE = 4 * 1024 * 1024

# Content-Type values that say nothing about which manifest type the body is.
_GENERIC_TYPES = frozenset({"", "application/json", "application/octet-stream"})

_READERS = {
    mediatypes.OCI_MANIFEST: oci.read_manifest,
    mediatypes.OCI_INDEX: oci.read_index,
    mediatypes.DOCKER_MANIFEST: docker.read_manifest,
    mediatypes.DOCKER_MANIFEST_LIST: docker.read_manifest_list,
}

# Formats whose body must name its own type (OCI ones may leave it out).
_MEDIA_TYPE_REQUIRED = frozenset({mediatypes.DOCKER_MANIFEST, mediatypes.DOCKER_MANIFEST_LIST})


def _check_supported(media_type: str) -> None:
    if media_type in mediatypes.SCHEMA1_TYPES:
        raise invalid(
            f"schema 1 manifests ({media_type}) are not accepted yet;"
            " push a schema 2 or OCI manifest"
        )
    if media_type == mediatypes.OCI_ARTIFACT_MANIFEST:
        raise invalid(
            f"{media_type} existed only in image-spec 1.1 release candidates;"
            " push an OCI image manifest with artifactType instead"
        )
    if media_type not in _READERS:
        raise invalid(f"unsupported manifest media type {media_type!r}")


def _declared_type(body: dict) -> str | None:
    # What the body says it is: schema 1 by its schemaVersion, anything else
    # by its mediaType.
    if schema1.is_schema1(body):
        return schema1.media_type(body)
    declared = body.get("mediaType")
    return declared if isinstance(declared, str) and declared else None


def _read(doc: JSONObject, raw: bytes, media_type: str) -> ParsedManifest:
    version = doc.integer("schemaVersion", required=True)
    if version != 2:
        raise doc.invalid("schemaVersion", f"must be 2, not {version}")
    # An empty mediaType is an absent one, as for Go's omitempty.
    declared = doc.string("mediaType") or None
    if declared is None and doc.strict and media_type in _MEDIA_TYPE_REQUIRED:
        raise doc.invalid("mediaType", f"is required, and must be {media_type!r}")
    if declared is not None and declared != media_type:
        raise doc.invalid(
            "mediaType", f"{declared!r} does not match the manifest type {media_type!r}"
        )
    return _READERS[media_type](doc, raw)


def parse_manifest(raw: bytes, content_type: str | None) -> ParsedManifest:
    """
    Validate a manifest being pushed.

    The manifest type is the C{Content-Type} without its parameters.  When
    that is missing or generic (C{application/json},
    C{application/octet-stream}), the body's C{mediaType} names the type
    instead (or C{"schemaVersion": 1}, schema 1).  A body C{mediaType}, which
    the Docker formats must have, must equal the manifest type.

    Schema 1 manifests are refused for now, and so is the OCI artifact
    manifest of the image-spec 1.1 release candidates.  Beyond the structure
    of each format (see the readers in L{oci} and L{docker}), strict reading
    refuses duplicate JSON keys, invalid UTF-8, unpaired surrogates,
    descriptors whose C{data} does not match their C{size} and C{digest},
    Docker layers of non-Docker types and foreign layers without C{urls}.
    Whether the referenced content exists is not checked here; see
    L{ParsedManifest.required_blobs}.

    @param raw: the request body, exactly.
    @param content_type: the C{Content-Type} header, if any.
    @return: the manifest, whose C{digest} is the sha256 of C{raw}.
    @raise errors.RegistryError: C{MANIFEST_INVALID}, with a detail saying
        what is wrong, for anything that cannot be accepted.
    """
    if len(raw) > MAX_MANIFEST_SIZE:
        raise invalid(f"manifest is {len(raw)} bytes, more than the {MAX_MANIFEST_SIZE} allowed")
    media_type = mediatypes.base_type(content_type or "")
    generic = media_type in _GENERIC_TYPES
    if not generic:
        _check_supported(media_type)
    doc = decode(raw, strict=True)
    if generic:
        declared = _declared_type(doc.members)
        if declared is None:
            header = repr(content_type) if content_type else "missing"
            raise invalid(
                f"cannot tell the manifest type: Content-Type is {header}"
                " and the body has no mediaType"
            )
        _check_supported(declared)
        media_type = declared
    return _read(doc, raw, media_type)


def load_stored(raw: bytes) -> ParsedManifest:
    """
    Read a manifest from storage, possibly written by Distribution.

    The type comes from the body, as Distribution reads it: C{"schemaVersion":
    1} is schema 1 (signed when it has C{signatures}); otherwise the
    C{mediaType}; without one, an OCI index when there is a C{manifests}
    member, else an OCI image manifest.  Reading is lenient (see
    L{document}): the push rules are not applied again, unusable descriptors
    and a broken C{subject} are dropped.  A schema 1 manifest never fails.

    @param raw: the stored bytes.
    @return: the manifest, whose C{digest} is the sha256 of C{raw}.
    @raise errors.RegistryError: C{MANIFEST_INVALID} for bytes that are no
        manifest Distribution could have stored.
    """
    doc = decode(raw, strict=False)
    if schema1.is_schema1(doc.members):
        return schema1.read_stored(doc.members, raw)
    media_type = _declared_type(doc.members) or (
        mediatypes.OCI_INDEX if doc.has("manifests") else mediatypes.OCI_MANIFEST
    )
    if media_type not in _READERS:
        raise invalid(f"unknown manifest media type {media_type!r}")
    return _read(doc, raw, media_type)
