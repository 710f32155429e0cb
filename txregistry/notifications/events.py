# -*- test-case-name: tests.test_notify_events -*-
"""
Distribution's notification events: plain records, and their JSON in the
two shapes Distribution has sent.

Envelope C{v1} (C{application/vnd.docker.distribution.events.v1+json}) is
what Distribution 2.x sends: empty target fields are left out.  Envelope
C{v2} (C{...events.v2+json}) is Distribution 3's: the target embeds an OCI
descriptor, so C{mediaType}, C{digest} and C{size} are always there (empty
on deletes) and references are OCI descriptors.  Keys come in the order Go
writes them, so that an event can be compared with Distribution's by eye.
"""

import json
import time

import attrs

from txregistry.registry.manifests.descriptor import Descriptor

PULL = "pull"
PUSH = "push"
MOUNT = "mount"
DELETE = "delete"

BLOB_MEDIA_TYPE = "application/octet-stream"
"""The media type of every blob event: Distribution does not track blob types."""

ENVELOPE_MEDIA_TYPES = {
    "v1": "application/vnd.docker.distribution.events.v1+json",
    "v2": "application/vnd.docker.distribution.events.v2+json",
}
"""The C{Content-Type} of an envelope, by envelope version."""

#: One encoder for all events: json.dumps makes a new one per call when
#: given separators.
_ENCODER = json.JSONEncoder(separators=(",", ":"))
#: The fields of a reference in a v1 event (Distribution 2.x's descriptor).
_V1_REFERENCE_KEYS = ("mediaType", "size", "digest", "urls", "annotations", "platform")


def format_timestamp(nanoseconds: int) -> str:
    """
    A time as Go writes C{time.Time} in JSON (RFC 3339 with up to nine
    fractional digits, trailing zeros dropped), in UTC.

    @param nanoseconds: since the epoch.
    """
    seconds, fraction = divmod(nanoseconds, 1_000_000_000)
    moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    digits = f"{fraction:09d}".rstrip("0")
    return f"{moment}.{digits}Z" if digits else f"{moment}Z"


def _present(pairs) -> dict:
    """
    The pairs whose values are not empty (Go's C{omitempty}).
    """
    return {key: value for key, value in pairs if value}


@attrs.frozen
class Target:
    """
    What an event is about.

    @ivar repository: the repository's name.
    @ivar media_type: the manifest's media type, L{BLOB_MEDIA_TYPE} for a
        blob, C{""} on deletes.
    @ivar size: the content's length in bytes (0 on deletes); reported as
        C{size} and again as C{length}.
    @ivar digest: the content's digest, C{""} on tag deletes.
    @ivar from_repository: where a blob was mounted from.
    @ivar url: where the manifest or blob can be fetched (by digest).
    @ivar tag: the tag of a manifest pushed or pulled by tag, or deleted.
    @ivar references: what a manifest refers to, when
        C{notifications.events.includereferences} asks for it.
    """

    repository: str
    media_type: str = ""
    size: int = 0
    digest: str = ""
    from_repository: str = ""
    url: str = ""
    tag: str = ""
    references: tuple[Descriptor, ...] = ()

    def to_json(self, version: str) -> dict:
        """
        The target in envelope C{version}'s shape.
        """
        if version == "v1":
            head = _present([
                ("mediaType", self.media_type), ("size", self.size), ("digest", self.digest),
            ])
            references = [_v1_reference(r) for r in self.references]
        else:
            head = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
            references = [r.to_json() for r in self.references]
        return head | _present([
            ("length", self.size),
            ("repository", self.repository),
            ("fromRepository", self.from_repository),
            ("url", self.url),
            ("tag", self.tag),
            ("references", references),
        ])


def _v1_reference(descriptor: Descriptor) -> dict:
    """
    A reference as Distribution 2.x writes it: its descriptor type has no
    C{data} or C{artifactType}, and puts C{size} before C{digest}.
    """
    oci = descriptor.to_json()
    return {key: oci[key] for key in _V1_REFERENCE_KEYS if key in oci}


@attrs.frozen
class RequestRecord:
    """
    The API request that caused an event.

    @ivar id: the request's id (as in the logs).
    @ivar addr: the client's address: the first C{X-Forwarded-For} entry or
        C{X-Real-IP} when they hold an IP address, else C{host:port}.
    @ivar host: the C{Host} header.
    """

    id: str
    addr: str
    host: str
    method: str
    useragent: str

    def to_json(self) -> dict:
        """
        The record as JSON; C{id}, C{method} and C{useragent} are always
        there, as in Distribution.
        """
        return {"id": self.id} | _present([("addr", self.addr), ("host", self.host)]) | {
            "method": self.method, "useragent": self.useragent,
        }


@attrs.frozen
class ActorRecord:
    """
    Who made the request: the authenticated account's name, C{""} when
    anonymous.
    """

    name: str = ""

    def to_json(self) -> dict:
        """
        C{{"name": ...}}, or C{{}} when anonymous.
        """
        return _present([("name", self.name)])


@attrs.frozen
class SourceRecord:
    """
    The registry instance that emitted an event.

    @ivar addr: C{<hostname>:<port of http.addr>}.
    @ivar instance_id: a UUID chosen when the process starts.
    """

    addr: str
    instance_id: str

    def to_json(self) -> dict:
        """
        The record as JSON.
        """
        return _present([("addr", self.addr), ("instanceID", self.instance_id)])


@attrs.frozen
class Event:
    """
    One notification event.

    @ivar id: a UUID.
    @ivar timestamp: when it happened, in nanoseconds since the epoch.
    @ivar action: L{PULL}, L{PUSH}, L{MOUNT} or L{DELETE}.
    """

    id: str
    timestamp: int
    action: str
    target: Target
    request: RequestRecord
    actor: ActorRecord
    source: SourceRecord

    def to_json(self, version: str) -> dict:
        """
        The event as JSON in envelope C{version}'s shape (C{v1} or C{v2}).
        """
        return {
            "id": self.id,
            "timestamp": format_timestamp(self.timestamp),
            "action": self.action,
            "target": self.target.to_json(version),
            "request": self.request.to_json(),
            "actor": self.actor.to_json(),
            "source": self.source.to_json(),
        }

    def encode(self, version: str) -> bytes:
        """
        The event's JSON, compact, as bytes.
        """
        return _ENCODER.encode(self.to_json(version)).encode("ascii")


def envelope(events: list[bytes]) -> bytes:
    """
    The body of a POST carrying C{events} (each one's JSON, from
    L{Event.encode}): C{{"events": [...]}}.
    """
    return b'{"events":[' + b",".join(events) + b"]}"
