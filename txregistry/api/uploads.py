"""
C{/v2/<name>/blobs/uploads/...}: the blob upload state machine.

Bodies of C{PATCH}, C{PUT} and single-request C{POST ?digest=} are streamed
into storage while they arrive: when a request's headers are in, the web
layer calls the route's C{begin_*} function here, which waits for the
access decision, checks the request and takes the session; its result (an
L{IBodyConsumer}) then receives the body.  The route's handler runs after
the body and reports the outcome.
"""

import re

from twisted.internet.defer import ensureDeferred
from zope.interface import implementer

from txregistry.api.params import header, query_value
from txregistry.registry import errors
from txregistry.registry.reference import Digest
from txregistry.web.sink import BodySink, IBodyConsumer

_CONTENT_RANGE_RE = re.compile(r"(\d{1,19})-(\d{1,19})\Z")


def _first(query: dict, name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _content_range(request):
    """
    The C{Content-Range} of a chunk, C{start-end} inclusive, or C{None}.

    @raise errors.RegistryError: C{RANGE_INVALID} if it does not parse or
        ends before it starts.
    """
    value = header(request, "content-range")
    if value is None:
        return None
    match = _CONTENT_RANGE_RE.match(value.strip())
    if match is None:
        raise errors.RegistryError(errors.RANGE_INVALID, detail=f"bad Content-Range {value!r}")
    start, end = int(match.group(1)), int(match.group(2))
    if end < start:
        raise errors.RegistryError(errors.RANGE_INVALID, detail=f"bad Content-Range {value!r}")
    return start, end


def _content_length(request) -> int | None:
    value = header(request, "content-length")
    return int(value) if value is not None and value.strip().isdigit() else None


def _check_chunk(request, offset: int):
    """
    Check a chunk's C{Content-Range} against the session's C{offset}.

    @return: the offset the session must reach with this chunk, or C{None}
        if the chunk has no C{Content-Range} (streamed: any length).
    """
    content_range = _content_range(request)
    if content_range is None:
        return None
    start, end = content_range
    if start != offset:
        raise errors.RegistryError(
            errors.RANGE_INVALID,
            detail=f"chunk starts at {start}, upload is at {offset}",
        )
    length = _content_length(request)
    if length is not None and length != end - start + 1:
        raise errors.RegistryError(
            errors.SIZE_INVALID,
            detail=f"Content-Length {length} does not match Content-Range {start}-{end}",
        )
    return end + 1


@implementer(IBodyConsumer)
class _ChunkConsumer:
    """
    Appends a C{PATCH} body to a session.
    """

    def __init__(self, appender, expected_end):
        self._appender = appender
        self._expected_end = expected_end

    def write(self, data):
        return self._appender.write(data)

    def finish(self):
        return ensureDeferred(self._finish())

    async def _finish(self):
        offset = await self._appender.close()
        if self._expected_end is not None and offset != self._expected_end:
            raise errors.RegistryError(
                errors.SIZE_INVALID, detail="body length does not match Content-Range"
            )
        return offset

    def abort(self):
        return ensureDeferred(self._appender.abort())


@implementer(IBodyConsumer)
class _CompletingConsumer:
    """
    Appends a final body (possibly empty) and completes the session; the
    outcome is the digest the client gave and the blob's size.
    """

    def __init__(self, appender, expected: Digest):
        self._appender = appender
        self._expected = expected

    def write(self, data):
        return self._appender.write(data)

    def finish(self):
        return ensureDeferred(self._complete())

    async def _complete(self):
        descriptor = await self._appender.complete(self._expected)
        return self._expected, descriptor.size

    def abort(self):
        return ensureDeferred(self._appender.abort())


def _digest_argument(value: str | None) -> Digest:
    if value is None:
        raise errors.RegistryError(errors.DIGEST_INVALID, detail="digest missing")
    return Digest.parse(value)


async def _open_checked(api, request, name, upload_id):
    await api.authorized(request)
    api.registry.check_writable()
    api.registry.repository(name)
    appender = await api.registry.uploads.open(name, upload_id)
    try:
        expected_end = _check_chunk(request, appender.offset)
    except errors.RegistryError:
        await appender.close()
        raise
    return appender, expected_end


async def _begin_patch(api, request, name, upload_id):
    appender, expected_end = await _open_checked(api, request, name, upload_id)
    return _ChunkConsumer(appender, expected_end)


async def _begin_put(api, request, query, name, upload_id):
    expected = _digest_argument(_first(query, "digest"))
    appender, _ = await _open_checked(api, request, name, upload_id)
    return _CompletingConsumer(appender, expected)


async def _begin_monolithic(api, request, query, name):
    await api.authorized(request)
    expected = _digest_argument(_first(query, "digest"))
    api.registry.check_writable()
    api.registry.repository(name)
    appender = await api.registry.uploads.start_open(name)
    return _CompletingConsumer(appender, expected)


def begin_patch(api, request, query, name, upload_id):
    """
    Headers of a C{PATCH} are in: take the session for its body.
    """
    return ensureDeferred(_begin_patch(api, request, name, upload_id))


def begin_put(api, request, query, name, upload_id):
    """
    Headers of a C{PUT} are in: take the session for its final body.
    """
    return ensureDeferred(_begin_put(api, request, query, name, upload_id))


def begin_monolithic(api, request, query, name):
    """
    Headers of a C{POST} are in: with C{?digest=} (and no C{mount=}) the body
    is the whole blob, so open a session for it; otherwise the body is
    ignored.
    """
    if _first(query, "digest") is None or _first(query, "mount") is not None:
        return None
    return ensureDeferred(_begin_monolithic(api, request, query, name))


def _session_headers(api, request, name: str, upload_id: str, offset: int) -> None:
    location = api.urls.url(request, name, "blobs", "uploads", upload_id)
    request.setHeader(b"Location", location.encode("utf-8"))
    request.setHeader(b"Range", b"0-%d" % (max(offset - 1, 0),))
    request.setHeader(b"Docker-Upload-UUID", upload_id.encode("ascii"))
    request.setHeader(b"Content-Length", b"0")


async def _pushed(api, request, name: str, completed: tuple[Digest, int]) -> bytes:
    """
    The answer to a completed upload, once its event is spooled.
    """
    digest, size = completed
    await api.events.blob_pushed(request, name, digest, size)
    return _created(api, request, name, digest)


def _created(api, request, name: str, digest: Digest) -> bytes:
    request.setResponseCode(201)
    location = api.urls.url(request, name, "blobs", str(digest))
    request.setHeader(b"Location", location.encode("utf-8"))
    request.setHeader(b"Docker-Content-Digest", str(digest).encode("ascii"))
    request.setHeader(b"Content-Length", b"0")
    return b""


async def start(api, request, name):
    """
    C{POST}: mount a blob from another repository (C{?mount=&from=}), take a
    whole blob in one request (C{?digest=}), or open a session.
    """
    if isinstance(request.content, BodySink):
        return await _pushed(api, request, name, await request.content.wait())
    api.registry.check_writable()
    repository = api.registry.repository(name)
    mount = query_value(request, "mount")
    source = query_value(request, "from")
    # Without pull on the source, a mount becomes an ordinary upload.
    if mount is not None and api.may_pull(request, source):
        try:
            digest = Digest.parse(mount)
        except errors.RegistryError:
            digest = None
        if digest is not None:
            descriptor = await repository.mount(digest, source)
            if descriptor is not None:
                await api.events.blob_mounted(request, name, digest, descriptor.size, source)
                return _created(api, request, name, digest)
    upload_id = await api.registry.uploads.start(name)
    request.setResponseCode(202)
    _session_headers(api, request, name, upload_id, 0)
    return b""


async def status(api, request, name, upload_id):
    """
    C{GET}/C{HEAD}: how far the session is.
    """
    api.registry.repository(name)
    offset = await api.registry.uploads.offset(name, upload_id)
    request.setResponseCode(204)
    _session_headers(api, request, name, upload_id, offset)
    return b""


async def patch(api, request, name, upload_id):
    """
    C{PATCH}: the chunk has been appended (or refused).
    """
    offset = await request.content.wait()
    request.setResponseCode(202)
    _session_headers(api, request, name, upload_id, offset)
    return b""


async def put(api, request, name, upload_id):
    """
    C{PUT ?digest=}: the session has been completed (or refused).
    """
    return await _pushed(api, request, name, await request.content.wait())


async def cancel(api, request, name, upload_id):
    """
    C{DELETE}: drop the session and its data.
    """
    api.registry.check_writable()
    api.registry.repository(name)
    await api.registry.uploads.cancel(name, upload_id)
    request.setResponseCode(204)
    request.setHeader(b"Docker-Upload-UUID", upload_id.encode("ascii"))
    request.setHeader(b"Content-Length", b"0")
    return b""
