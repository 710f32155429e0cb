"""
Tests for L{txregistry.notifications.events}: the JSON of events and
envelopes, checked against what Distribution 2.8 sends.
"""

import json
import os

from twisted.trial.unittest import SynchronousTestCase

from txregistry.notifications.events import (
    BLOB_MEDIA_TYPE,
    ENVELOPE_MEDIA_TYPES,
    ActorRecord,
    Event,
    RequestRecord,
    SourceRecord,
    Target,
    envelope,
    format_timestamp,
)
from txregistry.registry.manifests.descriptor import Descriptor, Platform
from txregistry.registry.reference import Digest

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures",
                       "notifications", "distribution-2.8.2.json")
DIGEST = "sha256:" + "ab" * 32
LAYER = Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", Digest.parse("sha256:" + "cd" * 32),
                   1234, annotations={"a": "b"}, data=b"x", artifact_type="t/t")
CHILD = Descriptor("application/vnd.oci.image.manifest.v1+json",
                   Digest.parse("sha256:" + "ef" * 32), 99, platform=Platform("amd64", "linux"))


def distribution_events() -> list[dict]:
    """
    The events Distribution 2.8.2 sent in the fixture's scenario.
    """
    with open(FIXTURE) as f:
        return json.load(f)["events"]


def event(target: Target, action: str = "push", actor: str = "") -> Event:
    """
    An event about C{target} with fixed request and source facts.
    """
    return Event(
        id="0d8ac1a0-1111-4222-8333-444455556666",
        timestamp=1_764_242_076_106_560_270,
        action=action,
        target=target,
        request=RequestRecord("req-1", "10.0.0.7:51234", "reg.example", "PUT", "skopeo/1.9.3"),
        actor=ActorRecord(actor),
        source=SourceRecord("reg-0:5000", "inst-1"),
    )


def manifest_target(**fields) -> Target:
    """
    The target of a manifest pushed by tag, with two references.
    """
    return Target(repository="team/app", media_type="application/vnd.oci.image.manifest.v1+json",
                  size=749, digest=DIGEST, url=f"http://reg.example/v2/team/app/manifests/{DIGEST}",
                  **fields)


class TimestampTests(SynchronousTestCase):
    """
    L{format_timestamp} writes times as Go writes C{time.Time}.
    """

    def test_nanoseconds(self):
        """
        Nine fractional digits at most, trailing zeros dropped, UTC.
        """
        self.assertEqual(format_timestamp(1_764_242_076_106_560_270),
                         "2025-11-27T11:14:36.10656027Z")
        self.assertEqual(format_timestamp(1_764_242_076_000_000_001),
                         "2025-11-27T11:14:36.000000001Z")

    def test_wholeSecond(self):
        """
        A whole second has no fraction at all.
        """
        self.assertEqual(format_timestamp(1_764_242_076_000_000_000), "2025-11-27T11:14:36Z")


class ShapeTests(SynchronousTestCase):
    """
    Events have Distribution's keys, in Distribution's order, for each kind
    of event in the fixture captured from Distribution 2.8.2.
    """

    def assertSameShape(self, ours: dict, theirs: dict):
        """
        Both events have the same keys at every level, in the same order,
        with values of the same types.
        """
        self.assertEqual(list(ours), list(theirs))
        for key, value in theirs.items():
            self.assertIsInstance(ours[key], type(value), key)
            if isinstance(value, dict):
                self.assertSameShape(ours[key], value)

    def fixture(self, action: str, method: str, **target) -> dict:
        """
        The first fixture event with this action, request method and target
        values.
        """
        for found in distribution_events():
            if (found["action"], found["request"]["method"]) == (action, method) and all(
                found["target"].get(k) == v for k, v in target.items()
            ):
                return found
        raise AssertionError(f"no {action} {method} {target} in the fixture")

    def test_blobPush(self):
        """
        A blob push: C{application/octet-stream}, size, digest, length,
        repository, url.
        """
        ours = event(Target(repository="team/app", media_type=BLOB_MEDIA_TYPE, size=461,
                            digest=DIGEST, url=f"http://reg.example/v2/team/app/blobs/{DIGEST}"))
        self.assertSameShape(ours.to_json("v1"),
                             self.fixture("push", "PUT", mediaType=BLOB_MEDIA_TYPE))

    def test_manifestPush(self):
        """
        A manifest push by tag with references.
        """
        ours = event(manifest_target(tag="v1", references=(LAYER,)))
        theirs = self.fixture("push", "PUT", tag="v1")
        self.assertSameShape(ours.to_json("v1"), theirs)
        self.assertEqual(list(ours.to_json("v1")["target"]["references"][0]),
                         list(theirs["target"]["references"][0]) + ["annotations"])

    def test_mount(self):
        """
        A mount names the repository it came from.
        """
        ours = event(Target(repository="other/app", media_type=BLOB_MEDIA_TYPE, size=461,
                            digest=DIGEST, from_repository="team/app",
                            url=f"http://reg.example/v2/other/app/blobs/{DIGEST}"), "mount")
        self.assertSameShape(ours.to_json("v1"), self.fixture("mount", "POST"))

    def test_deletes(self):
        """
        A manifest or blob delete has only the digest and repository; a tag
        delete only the repository and tag.
        """
        by_digest = event(Target(repository="team/app", digest=DIGEST), "delete").to_json("v1")
        self.assertSameShape(by_digest, self.fixture("delete", "DELETE", repository="other/app"))
        self.assertEqual(by_digest["target"], {"digest": DIGEST, "repository": "team/app"})
        by_tag = event(Target(repository="team/app", tag="v1"), "delete").to_json("v1")
        self.assertSameShape(by_tag, self.fixture("delete", "DELETE", tag="v1"))
        self.assertEqual(by_tag["target"], {"repository": "team/app", "tag": "v1"})

    def test_anonymousActor(self):
        """
        Anonymous requests have an empty actor, as in the fixture; an
        authenticated one is named.
        """
        self.assertEqual(event(manifest_target()).to_json("v1")["actor"], {})
        self.assertEqual(self.fixture("push", "PUT", tag="v1")["actor"], {})
        self.assertEqual(event(manifest_target(), actor="alice").to_json("v1")["actor"],
                         {"name": "alice"})

    def test_emptyRequestFields(self):
        """
        C{id}, C{method} and C{useragent} are always there; C{addr} and
        C{host} only when known.
        """
        record = RequestRecord("r", "", "", "GET", "")
        self.assertEqual(record.to_json(), {"id": "r", "method": "GET", "useragent": ""})


class EnvelopeV2Tests(SynchronousTestCase):
    """
    The v2 shape is Distribution 3's: the target embeds an OCI descriptor.
    """

    def test_descriptorFieldsAlways(self):
        """
        C{mediaType}, C{digest} and C{size} are always written, in OCI's
        order, empty on a tag delete.
        """
        target = event(Target(repository="team/app", tag="v1"), "delete").to_json("v2")["target"]
        self.assertEqual(target, {"mediaType": "", "digest": "", "size": 0,
                                  "repository": "team/app", "tag": "v1"})
        pushed = event(manifest_target()).to_json("v2")["target"]
        self.assertEqual(list(pushed)[:4], ["mediaType", "digest", "size", "length"])

    def test_ociReferences(self):
        """
        References are whole OCI descriptors (with C{data} and
        C{artifactType}), where v1 keeps Distribution 2's descriptor fields.
        """
        v2 = event(manifest_target(references=(LAYER, CHILD))).to_json("v2")
        self.assertEqual(v2["target"]["references"], [LAYER.to_json(), CHILD.to_json()])
        v1 = event(manifest_target(references=(LAYER, CHILD))).to_json("v1")
        self.assertEqual(v1["target"]["references"], [
            {"mediaType": LAYER.media_type, "size": 1234, "digest": str(LAYER.digest),
             "annotations": {"a": "b"}},
            {"mediaType": CHILD.media_type, "size": 99, "digest": str(CHILD.digest),
             "platform": {"architecture": "amd64", "os": "linux"}},
        ])

    def test_mediaTypes(self):
        """
        The envelope media types are Distribution 2's and 3's.
        """
        self.assertEqual(ENVELOPE_MEDIA_TYPES, {
            "v1": "application/vnd.docker.distribution.events.v1+json",
            "v2": "application/vnd.docker.distribution.events.v2+json",
        })


class EnvelopeTests(SynchronousTestCase):
    """
    L{envelope} wraps encoded events in C{{"events": [...]}}.
    """

    def test_envelope(self):
        """
        The envelope is JSON holding the events in order.
        """
        first = event(manifest_target(tag="a"))
        second = event(Target(repository="team/app", tag="a"), "delete")
        body = envelope([first.encode("v1"), second.encode("v1")])
        self.assertEqual(json.loads(body),
                         {"events": [first.to_json("v1"), second.to_json("v1")]})

    def test_encodeCompactASCII(self):
        """
        Encoded events are compact ASCII JSON, whatever the names hold.
        """
        encoded = event(Target(repository="team/app", tag="v1")).encode("v1")
        self.assertNotIn(b" ", encoded)
        encoded = event(manifest_target(), actor="zoë").encode("v1")
        self.assertEqual(json.loads(encoded)["actor"], {"name": "zoë"})
        encoded.decode("ascii")
