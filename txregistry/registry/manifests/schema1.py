"""
Docker schema 1 manifests, as far as reading them from storage goes.

Distribution 2.x stored only the unsigned payload of a pushed schema 1
manifest (and signed it afresh on every GET), so stored schema 1 bytes
normally have no C{signatures}; signed bytes are read too.
"""

import base64
import json

from txregistry.registry import errors
from txregistry.registry.manifests import mediatypes
from txregistry.registry.manifests.descriptor import Descriptor
from txregistry.registry.manifests.document import decode, is_integer
from txregistry.registry.manifests.manifest import ParsedManifest
from txregistry.registry.reference import Digest


def is_schema1(body: dict) -> bool:
    """
    Whether a decoded manifest says it is schema 1 (C{"schemaVersion": 1}).
    """
    version = body.get("schemaVersion")
    return is_integer(version) and version == 1


def media_type(body: dict) -> str:
    """
    The media type of a schema 1 manifest: signed when it has
    C{signatures}.
    """
    return mediatypes.SCHEMA1_SIGNED if "signatures" in body else mediatypes.SCHEMA1_UNSIGNED


def _base64url(text: object) -> bytes | None:
    if not isinstance(text, str):
        return None
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        return None


def _payload_format(signature: object) -> tuple[int, str] | None:
    protected = _base64url(signature.get("protected")) if isinstance(signature, dict) else None
    try:
        header = json.loads(protected) if protected is not None else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(header, dict):
        return None
    length, tail = header.get("formatLength"), header.get("formatTail")
    if not (is_integer(length) and length >= 0 and isinstance(tail, str)):
        return None
    return length, tail


def _signed_payload(raw: bytes, signatures: object) -> bytes | None:
    """
    The payload a libtrust "pretty JWS" signs: the first C{formatLength}
    bytes of the document and the decoded C{formatTail}, which every
    signature's protected header must agree on.  Bytes after the signed part
    are not part of the manifest, whatever they say.
    """
    if not isinstance(signatures, list) or not signatures:
        return None
    formats = {_payload_format(signature) for signature in signatures}
    if len(formats) != 1 or None in formats:
        return None
    [(length, tail)] = formats
    tail_bytes = _base64url(tail)
    if length > len(raw) or tail_bytes is None:
        return None
    return raw[:length] + tail_bytes


def _blob_sum(entry: object) -> Digest | None:
    try:
        return Digest.parse(entry.get("blobSum") if isinstance(entry, dict) else None)
    except errors.RegistryError:
        return None


def read_stored(body: dict, raw: bytes) -> ParsedManifest:
    """
    Read a stored schema 1 manifest; never fails.

    Its references are its C{fsLayers} blob sums, in document order (they
    repeat), taken from the signed payload when the signatures say what
    that is.  Entries that do not hold a digest are skipped: they cannot
    reference stored content.

    @param body: the decoded manifest, for which L{is_schema1} is true.
    @param raw: the stored bytes.
    """
    kind = media_type(body)
    if kind == mediatypes.SCHEMA1_SIGNED:
        payload = _signed_payload(raw, body["signatures"])
        try:
            body = body if payload is None else decode(payload, strict=False).members
        except errors.RegistryError:
            pass
    entries = body.get("fsLayers")
    digests = map(_blob_sum, entries if isinstance(entries, list) else ())
    return ParsedManifest(
        media_type=kind,
        raw=raw,
        layers=tuple(
            Descriptor(mediatypes.SCHEMA1_LAYER, digest, 0)
            for digest in digests
            if digest is not None
        ),
    )
