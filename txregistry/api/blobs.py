"""
C{/v2/<name>/blobs/<digest>}: fetching and deleting blobs.
"""

import re

from txregistry.api.params import header, path_digest
from txregistry.registry import errors
from txregistry.web.producer import send_stored

_RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)\Z")
#: Positions with more significant digits than this are past any blob's end.
_MAX_DIGITS = 19


def _position(digits: str) -> int:
    """
    A byte position of a C{Range} header.  One too long to be a position
    in any blob is taken as 2**63 (int() would refuse it past 4300 digits).
    """
    significant = digits.lstrip("0")
    return int(significant or "0") if len(significant) <= _MAX_DIGITS else 1 << 63


def parse_range(value: str | None, size: int):
    """
    Interpret a C{Range} header against a blob of C{size} bytes.

    Only a single range is served as such; several ranges, or a header that
    does not parse, mean the whole blob (RFC 9110 lets a server ignore them).

    @return: C{None} for the whole blob, or C{(first, last)} inclusive.
    @raise errors.RegistryError: 416 with C{Content-Range: bytes */size} if
        the range cannot be satisfied.
    """
    if value is None:
        return None
    match = _RANGE_RE.match(value.strip())
    if match is None:
        return None
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    if not first_text:
        suffix = _position(last_text)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return max(size - suffix, 0), size - 1
    first = _position(first_text)
    if last_text and _position(last_text) < first:
        return None
    if first >= size:
        raise _unsatisfiable(size)
    last = _position(last_text) if last_text else size - 1
    return first, min(last, size - 1)


def _unsatisfiable(size: int) -> errors.RegistryError:
    return errors.RegistryError(
        errors.RANGE_INVALID,
        detail="requested range not satisfiable",
        headers={"Content-Range": f"bytes */{size}"},
    )


def _etag_matches(header_value: str | None, digest: str) -> bool:
    if header_value is None:
        return False
    candidates = [v.strip() for v in header_value.split(",")]
    return "*" in candidates or f'"{digest}"' in candidates or digest in candidates


async def get(api, request, name, digest):
    """
    C{GET}/C{HEAD}: the blob's bytes (or one range of them) and headers.
    """
    repository = api.registry.repository(name)
    requested = path_digest(digest)
    descriptor = await repository.blobs.require(requested)
    # The digest asked for, even when the bytes are stored under another
    # algorithm's digest (a blob pushed as sha512 is kept under sha256).
    canonical = str(requested)
    request.setHeader(b"Docker-Content-Digest", canonical.encode("ascii"))
    request.setHeader(b"ETag", f'"{canonical}"'.encode("ascii"))
    request.setHeader(b"Cache-Control", b"max-age=31536000")
    request.setHeader(b"Accept-Ranges", b"bytes")

    redirect = await api.registry.blobs.redirect_url(descriptor.digest, request.method.decode())
    if redirect is not None:
        await api.events.blob_pulled(request, name, canonical, descriptor.size)
        request.setResponseCode(307)
        request.setHeader(b"Location", redirect.encode("utf-8"))
        request.setHeader(b"Content-Length", b"0")
        return b""

    if _etag_matches(header(request, "if-none-match"), canonical):
        await api.events.blob_pulled(request, name, canonical, descriptor.size)
        request.setResponseCode(304)
        return b""

    size = descriptor.size
    byte_range = None
    if_range = header(request, "if-range")
    if if_range is None or if_range.strip() == f'"{canonical}"':
        byte_range = parse_range(header(request, "range"), size)
    request.setHeader(b"Content-Type", b"application/octet-stream")
    if byte_range is None:
        first, length = 0, size
    else:
        first, last = byte_range
        length = last - first + 1
        request.setResponseCode(206)
        request.setHeader(b"Content-Range", f"bytes {first}-{last}/{size}".encode("ascii"))
    request.setHeader(b"Content-Length", b"%d" % (length,))
    await api.events.blob_pulled(request, name, canonical, size)
    if request.method == b"HEAD" or length == 0:
        return b""
    reader = await api.registry.blobs.reader(descriptor.digest, first)
    await send_stored(reader, request, length)
    return None


async def delete(api, request, name, digest):
    """
    C{DELETE}: unlink the blob from the repository (the bytes stay until
    garbage collection).
    """
    api.registry.check_deletable()
    repository = api.registry.repository(name)
    requested = path_digest(digest)
    await repository.blobs.unlink(requested)
    await api.events.blob_deleted(request, name, requested)
    request.setResponseCode(202)
    request.setHeader(b"Content-Length", b"0")
    return b""
