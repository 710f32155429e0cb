# -*- test-case-name: tests.test_notify_api -*-
"""
Building events from API requests: the API calls L{EventEmitter} after a
storage operation succeeded and awaits it before answering, so the event is
spooled before the client hears of success.
"""

import functools
import ipaddress
import time
import uuid

from twisted.internet.defer import succeed

from txregistry.api.urls import URLBuilder
from txregistry.notifications.events import (
    BLOB_MEDIA_TYPE,
    DELETE,
    MOUNT,
    PULL,
    PUSH,
    ActorRecord,
    Event,
    RequestRecord,
    SourceRecord,
    Target,
)


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("latin-1")


def _ip(text: str) -> str | None:
    """
    C{text} if it is an IP address, else C{None}.
    """
    if not text:
        return None
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return None
    return text


def client_address(request) -> str:
    """
    The client's address as Distribution reports it: the first
    C{X-Forwarded-For} entry, else C{X-Real-IP}, when it is an IP address;
    else the peer's C{host:port} (C{[host]:port} for IPv6).
    """
    forwarded = _text(request.getHeader(b"x-forwarded-for")).split(",")[0].strip()
    real = _text(request.getHeader(b"x-real-ip")).strip()
    named = _ip(forwarded) or _ip(real)
    if named:
        return named
    peer = request.getClientAddress()
    host, port = getattr(peer, "host", None), getattr(peer, "port", None)
    if host is None or port is None:
        return ""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def request_record(request) -> RequestRecord:
    """
    The facts of an API request that go into its events.
    """
    return RequestRecord(
        id=request.request_id,
        addr=client_address(request),
        host=_text(request.getHeader(b"host")),
        method=_text(request.method),
        useragent=_text(request.getHeader(b"user-agent")),
    )


def actor_record(request) -> ActorRecord:
    """
    Who the request was authenticated as: C{request.actor}, a name or an
    object with a C{name}; anonymous when C{None}.
    """
    actor = request.actor
    if actor is None:
        return ActorRecord()
    return ActorRecord(actor if isinstance(actor, str) else str(getattr(actor, "name", actor)))


def _emitting(method):
    """
    Make C{method}, which returns C{(action, target)} pairs about a request,
    emit them: spool them and return a L{Deferred} that fires once they are
    spooled.  Without a notifier nothing is built at all.
    """

    @functools.wraps(method)
    def emit(self, request, *args):
        if self._notifier is None:
            return succeed(None)
        return self._write(request, method(self, request, *args))

    return emit


class EventEmitter:
    """
    Makes the events of API operations and hands them to the notifier.
    Without a notifier (no endpoint configured) it does nothing.

    Each public method returns a L{Deferred} that fires once the events are
    spooled; it never fails.
    """

    def __init__(self, notifier=None, source: SourceRecord = SourceRecord("", ""),
                 urls: URLBuilder = URLBuilder(), include_references: bool = False,
                 clock=time.time_ns):
        """
        @param notifier: has C{write(events)} returning a L{Deferred} that
            fires once the events are spooled (and never fails); C{None}
            to emit nothing.
        @param source: this registry instance.
        @param urls: builds the events' C{url}s.
        @param include_references: C{notifications.events.includereferences}.
        @param clock: the time in nanoseconds since the epoch.
        """
        self._notifier = notifier
        self._source = source
        self._urls = urls
        self._include_references = include_references
        self._clock = clock

    def _write(self, request, actions):
        """
        Spool one event per C{(action, target)} pair.

        @return: a L{Deferred} that fires when they are spooled.
        """
        facts, actor = request_record(request), actor_record(request)
        return self._notifier.write([
            Event(str(uuid.uuid4()), self._clock(), action, target, facts, actor, self._source)
            for action, target in actions
        ])

    def _blob(self, request, name: str, digest, size: int, **fields) -> Target:
        return Target(
            repository=name, media_type=BLOB_MEDIA_TYPE, size=size, digest=str(digest),
            url=self._urls.url(request, name, "blobs", str(digest)), **fields,
        )

    def _manifest(self, request, name: str, media_type: str, digest, size: int,
                  references, tag: str | None) -> Target:
        return Target(
            repository=name, media_type=media_type, size=size, digest=str(digest),
            url=self._urls.url(request, name, "manifests", str(digest)), tag=tag or "",
            references=tuple(references()) if self._include_references else (),
        )

    @_emitting
    def blob_pushed(self, request, name: str, digest, size: int):
        """
        An upload completed.
        """
        return [(PUSH, self._blob(request, name, digest, size))]

    @_emitting
    def blob_mounted(self, request, name: str, digest, size: int, source: str | None):
        """
        A blob was mounted from repository C{source} (C{None}: from any).
        """
        return [(MOUNT, self._blob(request, name, digest, size, from_repository=source or ""))]

    @_emitting
    def blob_pulled(self, request, name: str, digest, size: int):
        """
        A blob was served (C{GET} or C{HEAD}, a redirect included).
        """
        return [(PULL, self._blob(request, name, digest, size))]

    @_emitting
    def blob_deleted(self, request, name: str, digest):
        """
        A blob was unlinked from a repository.
        """
        return [(DELETE, Target(repository=name, digest=str(digest)))]

    @_emitting
    def manifest_pushed(self, request, name: str, manifest, tag: str | None):
        """
        A manifest (a L{ParsedManifest}) was stored, by tag or by digest.
        """
        target = self._manifest(request, name, manifest.media_type, manifest.digest,
                                len(manifest.raw), manifest.references, tag)
        return [(PUSH, target)]

    @_emitting
    def manifest_pulled(self, request, name: str, stored, tag: str | None):
        """
        A manifest (a L{StoredManifest}) was served, by tag or by digest.
        """
        target = self._manifest(request, name, stored.media_type, stored.digest,
                                len(stored.raw), stored.parsed.references, tag)
        return [(PULL, target)]

    @_emitting
    def manifest_deleted(self, request, name: str, digest, tags):
        """
        A manifest was deleted, and with it C{tags}: one event for the
        manifest, then one per tag, as Distribution sends them.
        """
        return [(DELETE, Target(repository=name, digest=str(digest)))] + [
            (DELETE, Target(repository=name, tag=tag)) for tag in tags
        ]

    @_emitting
    def tag_deleted(self, request, name: str, tag: str):
        """
        A tag was deleted (the manifest stays).
        """
        return [(DELETE, Target(repository=name, tag=tag))]


NO_EVENTS = EventEmitter()
"""The emitter of a registry without notification endpoints."""
