"""
C{/v2/<name>/manifests/<reference>}: fetching, pushing and deleting
manifests by tag or digest.
"""

from txregistry.api.params import header
from txregistry.registry import errors
from txregistry.registry.manifests import (
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
    MAX_MANIFEST_SIZE,
    parse_accept,
)
from txregistry.registry.reference import Digest, is_tag


def _reference(reference: str):
    """
    Split a reference into C{(tag, digest)}, one of them C{None}: anything
    with a colon must be a digest, anything else a tag (Distribution's rule).

    @raise errors.RegistryError: C{DIGEST_INVALID} or C{TAG_INVALID}.
    """
    if ":" in reference:
        return None, Digest.parse(reference)
    if not is_tag(reference):
        raise errors.RegistryError(errors.TAG_INVALID, detail={"tag": reference})
    return reference, None


def _existing_reference(reference: str):
    """
    Like L{_reference}, for reading and deleting: a malformed tag is
    C{MANIFEST_UNKNOWN}, since no manifest can have that name.
    """
    try:
        return _reference(reference)
    except errors.RegistryError as e:
        if e.errors[0].code is errors.TAG_INVALID:
            raise errors.RegistryError(errors.MANIFEST_UNKNOWN, detail={"tag": reference})
        raise


def _etag_matches(request, digest: Digest) -> bool:
    value = header(request, "if-none-match")
    if value is None:
        return False
    candidates = {v.strip() for v in value.split(",")}
    return bool(candidates & {str(digest), f'"{digest}"', "*"})


async def _negotiate(repository, tag, stored, accepted: frozenset):
    """
    Distribution's one content negotiation: an old client that asks by tag
    for a Docker manifest list without accepting lists gets the linux/amd64
    image instead, if it accepts that image's type.  Everything else is
    served as stored, whatever the C{Accept} header says: the spec lets the
    registry do that, and clients check the C{Content-Type} they get.
    """
    if (
        tag is None
        or not accepted
        or stored.media_type != DOCKER_MANIFEST_LIST
        or DOCKER_MANIFEST_LIST in accepted
        or DOCKER_MANIFEST not in accepted
    ):
        return stored
    for child in stored.parsed.manifests:
        platform = child.platform
        if platform is not None and (platform.os, platform.architecture) == ("linux", "amd64"):
            candidate = await repository.manifests.get(child.digest)
            if candidate.media_type in accepted:
                return candidate
            break
    return stored


async def get(api, request, name, reference):
    """
    C{GET}/C{HEAD}: the stored bytes with their media type.
    """
    repository = api.registry.repository(name)
    tag, digest = _existing_reference(reference)
    stored = None
    if digest is None:
        digest, stored = await repository.manifests.get_tagged(tag)
    if _etag_matches(request, digest):
        request.setHeader(b"Docker-Content-Digest", str(digest).encode("ascii"))
        request.setHeader(b"ETag", f'"{digest}"'.encode("ascii"))
        request.setResponseCode(304)
        return b""
    if stored is None:
        stored = await repository.manifests.get(digest)
    accepted = parse_accept(
        [v.decode("latin-1") for v in request.requestHeaders.getRawHeaders(b"accept", [])]
    )
    served = await _negotiate(repository, tag, stored, accepted)
    await api.events.manifest_pulled(request, name, served, tag)
    request.setHeader(b"Content-Type", served.media_type.encode("ascii"))
    request.setHeader(b"Content-Length", b"%d" % (len(served.raw),))
    request.setHeader(b"Docker-Content-Digest", str(served.digest).encode("ascii"))
    request.setHeader(b"ETag", f'"{served.digest}"'.encode("ascii"))
    return served.raw


async def put(api, request, name, reference):
    """
    C{PUT}: validate and store a manifest; tag it if the reference is a tag.
    """
    api.registry.check_writable()
    repository = api.registry.repository(name)
    tag, _ = _reference(reference)
    body = request.content
    if body.overflowed:
        raise errors.RegistryError(
            errors.MANIFEST_INVALID,
            detail=f"manifest larger than {MAX_MANIFEST_SIZE} bytes",
        )
    manifest = await repository.manifests.put(
        reference, body.getvalue(), header(request, "content-type")
    )
    await api.events.manifest_pushed(request, name, manifest, tag)
    request.setResponseCode(201)
    request.setHeader(
        b"Location", api.urls.url(request, name, "manifests", str(manifest.digest)).encode("utf-8")
    )
    request.setHeader(b"Docker-Content-Digest", str(manifest.digest).encode("ascii"))
    if manifest.subject is not None:
        request.setHeader(b"OCI-Subject", str(manifest.subject.digest).encode("ascii"))
    request.setHeader(b"Content-Length", b"0")
    return b""


async def delete(api, request, name, reference):
    """
    C{DELETE}: by digest, the manifest and the tags pointing to it; by tag,
    only the tag (the manifest stays).
    """
    api.registry.check_deletable()
    repository = api.registry.repository(name)
    tag, digest = _existing_reference(reference)
    if tag is not None:
        await repository.tags.untag(tag)
        await api.events.tag_deleted(request, name, tag)
    else:
        untagged = await repository.manifests.delete(digest)
        await api.events.manifest_deleted(request, name, digest, untagged)
    request.setResponseCode(202)
    request.setHeader(b"Content-Length", b"0")
    return b""
