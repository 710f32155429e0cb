"""
Descriptors and platforms: the references a manifest makes to other content.
"""

import base64

import attrs

from txregistry.registry import errors
from txregistry.registry.manifests import mediatypes
from txregistry.registry.manifests.document import JSONObject
from txregistry.registry.reference import Digest


@attrs.frozen
class Platform:
    """
    The platform an index entry runs on.  Every field is optional here;
    which ones a manifest must set is checked where it is read.
    """

    architecture: str | None = None
    os: str | None = None
    os_version: str | None = None
    os_features: tuple[str, ...] | None = None
    variant: str | None = None
    #: Reserved by image-spec; set by some Docker manifest lists.
    features: tuple[str, ...] | None = None

    def to_json(self) -> dict:
        """
        The platform as OCI JSON, with only the fields that are set.
        """
        fields = {
            "architecture": self.architecture,
            "os": self.os,
            "os.version": self.os_version,
            "os.features": self.os_features,
            "variant": self.variant,
            "features": self.features,
        }
        return {
            key: list(value) if isinstance(value, tuple) else value
            for key, value in fields.items()
            if value is not None
        }


@attrs.frozen
class Descriptor:
    """
    A reference to content by media type, digest and size.

    @ivar media_type: the type of the referenced content.
    @ivar digest: its digest.
    @ivar size: its length in bytes.
    @ivar urls: where else it can be fetched from (foreign layers).
    @ivar annotations: its annotations; treat as read-only.
    @ivar artifact_type: the artifact type of the referenced manifest.
    @ivar platform: the platform of an index entry.
    @ivar data: the embedded content, decoded.
    """

    media_type: str
    digest: Digest
    size: int
    urls: tuple[str, ...] = ()
    annotations: dict[str, str] | None = attrs.field(default=None, hash=False)
    artifact_type: str | None = None
    platform: Platform | None = None
    data: bytes | None = attrs.field(default=None, repr=False)

    def to_json(self) -> dict:
        """
        The descriptor as OCI JSON: C{mediaType}, C{digest}, C{size} and the
        optional fields that are set.
        """
        result = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            result["urls"] = list(self.urls)
        if self.annotations is not None:
            result["annotations"] = dict(self.annotations)
        if self.data is not None:
            result["data"] = base64.b64encode(self.data).decode("ascii")
        if self.artifact_type is not None:
            result["artifactType"] = self.artifact_type
        if self.platform is not None:
            result["platform"] = self.platform.to_json()
        return result


def read_platform(doc: JSONObject) -> Platform:
    """
    Read a platform object.  Strict mode requires C{architecture} and C{os}.

    @raise errors.RegistryError: C{MANIFEST_INVALID}.
    """
    return Platform(
        architecture=doc.string("architecture", required=doc.strict),
        os=doc.string("os", required=doc.strict),
        os_version=doc.string("os.version"),
        os_features=doc.strings("os.features"),
        variant=doc.string("variant"),
        features=doc.strings("features"),
    )


def _read_data(doc: JSONObject) -> bytes | None:
    text = doc.string("data")
    if text is None:
        return None
    try:
        data = base64.b64decode(text, validate=True)
    except ValueError:
        if doc.strict:
            raise doc.invalid("data", "is not valid base64")
        # Distribution 2.x did not know the field, so it kept anything.
        return None
    # Whether data matches digest and size is for whoever uses the data to
    # check (the image spec says so); a registry stores the manifest as is.
    return data


def read_descriptor(doc: JSONObject) -> Descriptor | None:
    """
    Read a descriptor object.

    Strict mode requires C{mediaType} (valid media-type syntax), C{digest}
    (any supported algorithm) and a non-negative C{size}, and checks C{data}
    against C{size} and C{digest}.  Lenient mode takes missing C{mediaType}
    and C{size} as Go's zero values and returns C{None} for a descriptor
    without a usable digest, which cannot reference stored content anyway.

    @return: the descriptor; C{None} only in lenient mode.
    @raise errors.RegistryError: C{MANIFEST_INVALID}.
    """
    media_type = doc.string("mediaType", required=doc.strict)
    if doc.strict and not mediatypes.is_media_type(media_type):
        raise doc.invalid("mediaType", f"{media_type!r} is not a valid media type")
    digest_text = doc.string("digest", required=doc.strict)
    try:
        digest = Digest.parse(digest_text)
    except errors.RegistryError as e:
        if doc.strict:
            raise doc.invalid("digest", e.errors[0].detail)
        return None
    size = doc.integer("size", required=doc.strict)
    if doc.strict and size < 0:
        raise doc.invalid("size", "must not be negative")
    platform = doc.object("platform")
    return Descriptor(
        media_type=media_type or "",
        digest=digest,
        size=size or 0,
        urls=doc.strings("urls") or (),
        annotations=doc.string_map("annotations"),
        artifact_type=doc.string("artifactType"),
        platform=None if platform is None else read_platform(platform),
        data=_read_data(doc),
    )


def read_descriptors(doc: JSONObject, key: str, required: bool) -> tuple[Descriptor, ...]:
    """
    Read an array of descriptors; lenient mode drops unusable ones.

    @param key: the array member of C{doc}.
    @param required: whether the array must be present.
    @raise errors.RegistryError: C{MANIFEST_INVALID}.
    """
    descriptors = (read_descriptor(item) for item in doc.objects(key, required))
    return tuple(d for d in descriptors if d is not None)


def read_config(doc: JSONObject) -> Descriptor | None:
    """
    Read the required C{config} descriptor of an image manifest.

    @return: the descriptor; C{None} only in lenient mode.
    @raise errors.RegistryError: C{MANIFEST_INVALID}.
    """
    return read_descriptor(doc.object("config", required=True))


def read_subject(doc: JSONObject) -> Descriptor | None:
    """
    Read the optional C{subject} descriptor.

    Distribution never looked at C{subject}, so content it stored may carry
    one that does not read; lenient mode drops it and keeps the manifest.

    @raise errors.RegistryError: C{MANIFEST_INVALID}, in strict mode.
    """
    try:
        subject = doc.object("subject")
        return None if subject is None else read_descriptor(subject)
    except errors.RegistryError:
        if doc.strict:
            raise
        return None
