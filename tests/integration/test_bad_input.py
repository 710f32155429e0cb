"""
Hostile and careless requests, sent byte for byte over a raw socket to a
real server.

Each row of the table is one request and the answer a Distribution user
expects: a 4xx status and the spec's error code.  Every answer must be the
spec's JSON error body with that code and nothing of Python in it, the
server must survive every request, and nothing may be written outside the
storage root, nor inside it except where the legitimate requests of the
test write.
"""

import hashlib
import os
import socket

import attrs
from twisted.trial.unittest import SynchronousTestCase

from tests.integration import rawhttp
from tests.integration.harness import (
    OCI_INDEX,
    OCI_MANIFEST,
    assert_quiet_log,
    manifest_body,
    sha256,
    start_registry,
    temporary_directory,
    time_limit,
    upload_offset,
)

#: The repository the legitimate requests use, and another one.
REPOSITORY = "robust/app"
OTHER = "robust/other"
#: A file outside the storage root that attacks aim at.
TARGET = "/tmp/txregistry-pwned"
#: A digest nothing has.
ZEROS = "sha256:" + "0" * 64
#: What a response body must never hold.
PYTHON_TEXT = (b"Traceback", b'File "', b"builtins.", b"twisted.", b"txregistry.",
               b"Exception", b"<html")


@attrs.frozen
class Row:
    """
    One request of the table and the answer expected.

    @ivar data: the whole request, byte for byte.
    @ivar code: the spec error code expected, or C{None} where malformed
        HTTP is refused with a bare 400 before any route runs (by twisted.web,
        or for a C{Host} that is not UTF-8, by the API's resource).
    """

    label: str
    data: bytes
    status: int
    code: str | None
    head: bool = False


def row(label: str, method: str, target, status: int, code: str | None, headers=(),
        body: bytes = b"", length: int | None = None) -> Row:
    """
    A row for a request built from its parts; C{target} may be bytes, to
    hold anything, and header values too.
    """
    if isinstance(target, str):
        target = target.encode("utf-8")
    encoded = [(n.encode("ascii"), v if isinstance(v, bytes) else v.encode("latin-1"))
               for n, v in headers]
    data = rawhttp.build(method.encode("ascii"), target, encoded, body, length)
    return Row(label, data, status, code, head=method == "HEAD")


def malformed(label: str, data: bytes) -> Row:
    """
    A row for malformed HTTP, refused with a bare 400 (see L{Row.code}).
    """
    return Row(label, data, 400, None)


@attrs.frozen
class Setup:
    """
    What the legitimate requests made.

    @ivar blob: a blob of L{REPOSITORY}.
    @ivar config: the config blob of its image.
    @ivar manifest: the image's manifest digest (tagged C{v1}).
    @ivar session: an open upload session of L{REPOSITORY} (its id).
    @ivar other_session: an open upload session of L{OTHER}.
    """

    blob: str
    config: str
    manifest: str
    session: str
    other_session: str


def table(s: Setup) -> list[Row]:
    """
    The hostile and careless requests.
    """
    app = f"/v2/{REPOSITORY}"
    session = f"{app}/blobs/uploads/{s.session}"
    json_type = [("Content-Type", OCI_MANIFEST)]
    valid_manifest = manifest_body((s.config, 2))
    half_blob = b"0123456789"
    return [
        # Names: traversal, encodings, grammar.
        row("literal .. above /v2", "GET", "/v2/../etc/passwd", 404, "UNSUPPORTED"),
        row("literal .. in a name", "GET", "/v2/foo/../bar/tags/list", 400, "NAME_INVALID"),
        row("%2e%2e name", "GET", "/v2/%2e%2e/tags/list", 400, "NAME_INVALID"),
        row("%2e%2e up to the sandbox", "GET",
            "/v2/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/sibling.txt/tags/list", 400, "NAME_INVALID"),
        row("%2F and .. in one segment", "GET", "/v2/foo%2F..%2F..%2Fx/tags/list",
            400, "NAME_INVALID"),
        row("NUL in a name", "GET", "/v2/foo%00/tags/list", 400, "NAME_INVALID"),
        row("NUL inside a name", "GET", "/v2/foo%00bar/manifests/latest", 400, "NAME_INVALID"),
        row("absolute name //", "GET", "/v2//etc/passwd/tags/list", 404, "UNSUPPORTED"),
        row("absolute name %2F", "GET", "/v2/%2Fetc%2Fpasswd/tags/list", 404, "UNSUPPORTED"),
        row("absolute-form target", "GET", "http://evil.example/v2/", 404, "UNSUPPORTED"),
        row("backslashes", "GET", "/v2/foo\\..\\..\\x/tags/list", 400, "NAME_INVALID"),
        row("%5c backslashes", "GET", "/v2/foo%5c..%5cx/tags/list", 400, "NAME_INVALID"),
        row("256-character name", "GET", "/v2/" + "a" * 256 + "/tags/list", 400, "NAME_INVALID"),
        row("many components, too long", "GET", "/v2/" + "ab/" * 100 + "tags/list",
            400, "NAME_INVALID"),
        row("uppercase name", "GET", "/v2/Foo/tags/list", 400, "NAME_INVALID"),
        row("name starting with _", "GET", "/v2/_foo/tags/list", 400, "NAME_INVALID"),
        row("name starting with -", "GET", "/v2/-foo/tags/list", 400, "NAME_INVALID"),
        row("name starting with .", "GET", "/v2/.foo/tags/list", 400, "NAME_INVALID"),
        row("reserved _uploads component", "GET", f"{app}/_uploads/tags/list",
            400, "NAME_INVALID"),
        row("upload into a _layers name", "POST", f"{app}/_layers/blobs/uploads/",
            400, "NAME_INVALID"),
        row("manifest PUT with .. name", "PUT", "/v2/../../../x/manifests/latest",
            400, "NAME_INVALID", json_type, valid_manifest),
        row("manifest PUT escaping via %2f", "PUT",
            "/v2/foo%2f..%2f..%2f..%2f..%2f..%2f..%2ftmp%2ftxregistry-pwned/manifests/latest",
            400, "NAME_INVALID", json_type, valid_manifest),
        row("blob upload to a name aiming at /tmp", "POST",
            "/v2/..%2f..%2f..%2f..%2f..%2f..%2f..%2ftmp/blobs/uploads/?digest=" + sha256(b"x"),
            400, "NAME_INVALID", body=b"x"),
        row("non-UTF-8 name (%ff)", "GET", "/v2/foo%ff/tags/list", 400, "NAME_INVALID"),
        row("non-UTF-8 tag (%c3%28)", "GET", f"{app}/manifests/%c3%28", 404, "MANIFEST_UNKNOWN"),
        # Tags and manifest references.
        row("129-character tag", "PUT", f"{app}/manifests/" + "a" * 129, 400, "TAG_INVALID",
            json_type, valid_manifest),
        row("tag starting with -", "PUT", f"{app}/manifests/-tag", 400, "TAG_INVALID",
            json_type, valid_manifest),
        row("tag starting with .", "PUT", f"{app}/manifests/.tag", 400, "TAG_INVALID",
            json_type, valid_manifest),
        row("tag ..", "PUT", f"{app}/manifests/..", 400, "TAG_INVALID", json_type,
            valid_manifest),
        row("GET 129-character tag", "GET", f"{app}/manifests/" + "a" * 129,
            404, "MANIFEST_UNKNOWN"),
        row("DELETE tag starting with -", "DELETE", f"{app}/manifests/-x",
            404, "MANIFEST_UNKNOWN"),
        row("manifest digest sha256: empty", "GET", f"{app}/manifests/sha256:",
            400, "DIGEST_INVALID"),
        row("manifest digest uppercase hex", "GET", f"{app}/manifests/sha256:" + "A" * 64,
            400, "DIGEST_INVALID"),
        row("manifest digest unknown algorithm", "GET",
            f"{app}/manifests/md5:d41d8cd98f00b204e9800998ecf8427e", 400, "DIGEST_INVALID"),
        # Blob digests.
        row("digest too short", "GET", f"{app}/blobs/sha256:abc", 400, "DIGEST_INVALID"),
        row("digest too long", "GET", f"{app}/blobs/sha256:" + "0" * 65, 400, "DIGEST_INVALID"),
        row("digest uppercase hex", "GET", f"{app}/blobs/sha256:" + "A" * 64,
            400, "DIGEST_INVALID"),
        row("digest unknown algorithm", "GET",
            f"{app}/blobs/md5:d41d8cd98f00b204e9800998ecf8427e", 400, "DIGEST_INVALID"),
        row("digest without colon", "GET", f"{app}/blobs/sha256" + "0" * 64,
            400, "DIGEST_INVALID"),
        row("digest sha256: empty", "GET", f"{app}/blobs/sha256:", 400, "DIGEST_INVALID"),
        row("digest %2e%2e", "GET", f"{app}/blobs/sha256:%2e%2e", 400, "DIGEST_INVALID"),
        row("HEAD malformed digest", "HEAD", f"{app}/blobs/sha256:abc", 400, "DIGEST_INVALID"),
        row("DELETE malformed digest", "DELETE", f"{app}/blobs/sha256:zz",
            400, "DIGEST_INVALID"),
        row("referrers of a non-digest", "GET", f"{app}/referrers/nope", 400, "DIGEST_INVALID"),
        row("blob of an unknown repository", "GET", f"/v2/robust/nothing/blobs/{s.blob}",
            404, "BLOB_UNKNOWN"),
        row("manifest digest as a blob", "GET", f"{app}/blobs/{s.manifest}",
            404, "BLOB_UNKNOWN"),
        row("Range start of 5000 digits", "GET", f"{app}/blobs/{s.blob}", 416, "RANGE_INVALID",
            [("Range", "bytes=" + "9" * 5000 + "-")]),
        # Upload ids.
        row("upload id not a UUID", "GET", f"{app}/blobs/uploads/not-a-uuid",
            404, "BLOB_UPLOAD_UNKNOWN"),
        row("upload id uppercase UUID", "GET", f"{app}/blobs/uploads/{s.session.upper()}",
            404, "BLOB_UPLOAD_UNKNOWN"),
        row("upload id ..", "GET", f"{app}/blobs/uploads/..", 404, "BLOB_UPLOAD_UNKNOWN"),
        row("PATCH upload id %2e%2e", "PATCH", f"{app}/blobs/uploads/%2e%2e",
            404, "BLOB_UPLOAD_UNKNOWN", body=b"data"),
        row("PUT upload id ..", "PUT", f"{app}/blobs/uploads/..?digest={sha256(b'data')}",
            404, "BLOB_UPLOAD_UNKNOWN", body=b"data"),
        row("DELETE upload id not a UUID", "DELETE", f"{app}/blobs/uploads/x",
            404, "BLOB_UPLOAD_UNKNOWN"),
        row("GET another repository's session", "GET",
            f"{app}/blobs/uploads/{s.other_session}", 404, "BLOB_UPLOAD_UNKNOWN"),
        row("HEAD another repository's session", "HEAD",
            f"{app}/blobs/uploads/{s.other_session}", 404, "BLOB_UPLOAD_UNKNOWN"),
        row("PATCH another repository's session", "PATCH",
            f"{app}/blobs/uploads/{s.other_session}", 404, "BLOB_UPLOAD_UNKNOWN",
            body=b"stolen"),
        row("PUT another repository's session", "PUT",
            f"{app}/blobs/uploads/{s.other_session}?digest={sha256(b'stolen')}",
            404, "BLOB_UPLOAD_UNKNOWN", body=b"stolen"),
        row("DELETE another repository's session", "DELETE",
            f"{app}/blobs/uploads/{s.other_session}", 404, "BLOB_UPLOAD_UNKNOWN"),
        # Content-Range and Content-Length of chunks.
        row("Content-Range with bytes and total", "PATCH", session, 416, "RANGE_INVALID",
            [("Content-Range", "bytes 0-9/10")], half_blob),
        row("Content-Range end before start", "PATCH", session, 416, "RANGE_INVALID",
            [("Content-Range", "9-0")], half_blob),
        row("Content-Range negative", "PATCH", session, 416, "RANGE_INVALID",
            [("Content-Range", "-1-5")], half_blob),
        row("Content-Range huge", "PATCH", session, 416, "RANGE_INVALID",
            [("Content-Range", "0-99999999999999999999")], half_blob),
        row("Content-Range not at the offset", "PATCH", session, 416, "RANGE_INVALID",
            [("Content-Range", "5-14")], half_blob),
        row("Content-Range 15 KB long", "PATCH", session, 416, "RANGE_INVALID",
            [("Content-Range", "0-" + "9" * 15000)], half_blob),
        row("Content-Length shorter than Content-Range", "PATCH", session, 400, "SIZE_INVALID",
            [("Content-Range", "0-9")], half_blob[:5]),
        row("Content-Length lies short (extra bytes sent)", "PATCH", session, 400,
            "SIZE_INVALID", [("Content-Range", "0-9")], half_blob, length=5),
        row("single POST, Content-Length lies short", "POST",
            f"{app}/blobs/uploads/?digest={sha256(half_blob)}", 400, "DIGEST_INVALID",
            body=half_blob, length=5),
        row("PUT without digest", "PUT", session, 400, "DIGEST_INVALID"),
        row("PUT with malformed digest", "PUT", f"{session}?digest=sha256:xyz",
            400, "DIGEST_INVALID"),
        row("PUT with unknown algorithm", "PUT",
            f"{session}?digest=sha1:da39a3ee5e6b4b0d3255bfef95601890afd80709",
            400, "DIGEST_INVALID"),
        # Pagination.
        row("tags n=-1", "GET", f"{app}/tags/list?n=-1", 400, "PAGINATION_NUMBER_INVALID"),
        row("tags n=abc", "GET", f"{app}/tags/list?n=abc", 400, "PAGINATION_NUMBER_INVALID"),
        row("tags n=1e3", "GET", f"{app}/tags/list?n=1e3", 400, "PAGINATION_NUMBER_INVALID"),
        row("tags n huge", "GET", f"{app}/tags/list?n=" + "9" * 30,
            400, "PAGINATION_NUMBER_INVALID"),
        row("tags n Arabic-Indic digit", "GET", f"{app}/tags/list?n=%D9%A3",
            400, "PAGINATION_NUMBER_INVALID"),
        row("catalog n=-1", "GET", "/v2/_catalog?n=-1", 400, "PAGINATION_NUMBER_INVALID"),
        row("catalog n over maxentries", "GET", "/v2/_catalog?n=1001",
            400, "PAGINATION_NUMBER_INVALID"),
        row("catalog n=NUL", "GET", "/v2/_catalog?n=%00", 400, "PAGINATION_NUMBER_INVALID"),
        row("tags of an unknown repository, last=..", "GET",
            "/v2/robust/nothing/tags/list?last=../../..", 404, "NAME_UNKNOWN"),
        # Manifests.
        row("manifest over 4 MiB", "PUT", f"{app}/manifests/big", 400, "MANIFEST_INVALID",
            json_type, b"{" + b" " * (4 * 1024 * 1024) + b"}"),
        row("binary manifest", "PUT", f"{app}/manifests/bin", 400, "MANIFEST_INVALID",
            json_type, bytes(range(256)) * 4),
        row("truncated JSON", "PUT", f"{app}/manifests/cut", 400, "MANIFEST_INVALID",
            json_type, valid_manifest[:40]),
        row("manifest PUT, Content-Length lies short", "PUT", f"{app}/manifests/cut",
            400, "MANIFEST_INVALID", json_type, valid_manifest, length=40),
        row("deeply nested arrays", "PUT", f"{app}/manifests/deep", 400, "MANIFEST_INVALID",
            json_type, b"[" * 100000 + b"]" * 100000),
        row("deeply nested objects", "PUT", f"{app}/manifests/deep", 400, "MANIFEST_INVALID",
            json_type, b'{"a":' * 50000 + b"1" + b"}" * 50000),
        row("5000-digit number", "PUT", f"{app}/manifests/num", 400, "MANIFEST_INVALID",
            json_type, b'{"schemaVersion": 2' + b"0" * 5000 + b"}"),
        row("wrong media type", "PUT", f"{app}/manifests/type", 400, "MANIFEST_INVALID",
            [("Content-Type", "text/plain")], valid_manifest),
        row("Content-Type and mediaType disagree", "PUT", f"{app}/manifests/type",
            400, "MANIFEST_INVALID", [("Content-Type", OCI_INDEX)], valid_manifest),
        row("empty manifest", "PUT", f"{app}/manifests/empty", 400, "MANIFEST_INVALID",
            json_type),
        row("JSON null manifest", "PUT", f"{app}/manifests/null", 400, "MANIFEST_INVALID",
            json_type, b"null"),
        row("layer digest with ..", "PUT", f"{app}/manifests/dots", 400, "MANIFEST_INVALID",
            json_type, manifest_body((s.config, 2), [("sha256:../../../../" + TARGET, 1)])),
        row("manifest naming a missing blob", "PUT", f"{app}/manifests/missing",
            400, "MANIFEST_BLOB_UNKNOWN", json_type, manifest_body((s.config, 2), [(ZEROS, 1)])),
        row("digest reference that does not match", "PUT", f"{app}/manifests/{ZEROS}",
            400, "DIGEST_INVALID", json_type, valid_manifest),
        row("sha512 reference that does not match", "PUT",
            f"{app}/manifests/sha512:" + "0" * 128, 400, "DIGEST_INVALID",
            json_type, valid_manifest),
        # Unknown paths and wrong methods.
        row("unknown path under a repository", "GET", f"{app}/nothing", 404, "UNSUPPORTED"),
        row("blobs/ without a digest", "GET", f"{app}/blobs/", 404, "UNSUPPORTED"),
        row("unknown path under /v2/", "GET", "/v2/nothing", 404, "UNSUPPORTED"),
        row("POST a manifest", "POST", f"{app}/manifests/latest", 405, "UNSUPPORTED"),
        row("DELETE /v2/", "DELETE", "/v2/", 405, "UNSUPPORTED"),
        row("PATCH tags", "PATCH", f"{app}/tags/list", 405, "UNSUPPORTED"),
        row("unknown method", "BREW", "/v2/", 405, "UNSUPPORTED"),
        row("GET the upload start endpoint", "GET", f"{app}/blobs/uploads/",
            405, "UNSUPPORTED"),
        row("PUT a blob directly", "PUT", f"{app}/blobs/{s.blob}", 405, "UNSUPPORTED",
            body=b"overwrite"),
        # Malformed HTTP, refused by twisted.web before the registry.
        malformed("raw non-UTF-8 bytes in the path",
                  b"GET /v2/foo\xff\xfe/tags/list HTTP/1.1\r\nHost: x\r\n\r\n"),
        malformed("request line without a version", b"GARBAGE\r\n\r\n"),
        malformed("Host not UTF-8",
                  b"GET /v2/ HTTP/1.1\r\nHost: \xff\xfe\r\nConnection: close\r\n\r\n"),
        malformed("unknown HTTP version", b"GET /v2/ HTTP/2.0\r\nHost: x\r\n\r\n"),
        malformed("header without a colon", b"GET /v2/ HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"),
        malformed("20 KB of headers", b"GET /v2/ HTTP/1.1\r\nHost: x\r\n"
                  + b"".join(b"X-H%d: %s\r\n" % (i, b"a" * 1000) for i in range(20)) + b"\r\n"),
        malformed("one 20 KB header line",
                  b"GET /v2/ HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * 20000 + b"\r\n\r\n"),
        malformed("20 KB request line", b"GET /v2/" + b"a" * 20000 + b" HTTP/1.1\r\n\r\n"),
        malformed("two Content-Lengths", b"PUT /v2/robust/app/manifests/x HTTP/1.1\r\n"
                  b"Host: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"),
        malformed("Content-Length of 5000 digits", b"PUT /v2/robust/app/manifests/x HTTP/1.1\r\n"
                  b"Host: x\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n"),
        malformed("negative Content-Length", b"PUT /v2/robust/app/manifests/x HTTP/1.1\r\n"
                  b"Host: x\r\nContent-Length: -1\r\n\r\n"),
        malformed("bad chunk size", b"PATCH " + session.encode() + b" HTTP/1.1\r\n"
                  b"Host: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"),
    ]


def snapshot(top: str) -> dict:
    """
    Every path under C{top} (relative) with what it is: a directory, a link
    and its target, or a file's size, modification time and hash.
    """
    found = {}
    for directory, dirs, files in os.walk(top):
        for name in dirs + files:
            path = os.path.join(directory, name)
            status = os.lstat(path)
            if os.path.islink(path):
                state = ("link", os.readlink(path))
            elif os.path.isdir(path):
                state = ("dir",)
            else:
                with open(path, "rb") as f:
                    content = hashlib.sha256(f.read()).hexdigest()
                state = ("file", status.st_size, status.st_mtime_ns, content)
            found[os.path.relpath(path, top)] = state
    return found


def changes(before: dict, after: dict) -> set:
    """
    The paths created, removed or changed between two snapshots.
    """
    return {p for p in before.keys() | after.keys() if before.get(p) != after.get(p)}


class BadInputTests(SynchronousTestCase):
    """
    A real server against hostile and careless requests.
    """

    def setUp(self):
        time_limit(self, 120)
        self.sandbox = temporary_directory(self, "txregistry-sandbox-")
        self.root = os.path.join(self.sandbox, "storage")
        self.plant_decoys()
        self.registry = start_registry(self, self.root)
        self.address = ("127.0.0.1", self.registry.port)

    def plant_decoys(self) -> None:
        """
        Put what attacks aim at beside the storage root: files, a directory
        named like a registry root, a link out of the sandbox.
        """
        os.makedirs(os.path.join(self.sandbox, "etc"))
        os.makedirs(os.path.join(self.sandbox, "storage2", "docker", "registry", "v2"))
        for name, content in (("sibling.txt", b"sibling"), ("x", b"x"),
                              (os.path.join("etc", "passwd"), b"root:x:0:0")):
            with open(os.path.join(self.sandbox, name), "wb") as f:
                f.write(content)
        os.symlink("/tmp", os.path.join(self.sandbox, "tmp"))

    def request(self, method: str, target: str, headers=(), body: bytes = b"") -> rawhttp.Response:
        """
        A legitimate request.
        """
        return rawhttp.request(self.address, method, target, headers, body)

    def push_blob(self, name: str, data: bytes) -> str:
        """
        Push C{data} to C{name} in one POST C{?digest=}.
        """
        reply = self.request("POST", f"/v2/{name}/blobs/uploads/?digest={sha256(data)}",
                             body=data)
        self.assertEqual(reply.status, 201, reply)
        return sha256(data)

    def start_session(self, name: str) -> str:
        """
        Open an upload session in C{name}.

        @return: its id.
        """
        reply = self.request("POST", f"/v2/{name}/blobs/uploads/")
        self.assertEqual(reply.status, 202, reply)
        return reply.header("docker-upload-uuid")

    def legitimate(self) -> Setup:
        """
        What a client would do: push an image, open two sessions.
        """
        blob = self.push_blob(REPOSITORY, b"layer bytes")
        config = self.push_blob(REPOSITORY, b"{}")
        body = manifest_body((config, 2), [(blob, 11)])
        reply = self.request("PUT", f"/v2/{REPOSITORY}/manifests/v1",
                             [("Content-Type", OCI_MANIFEST)], body)
        self.assertEqual(reply.status, 201, reply)
        return Setup(blob, config, sha256(body), self.start_session(REPOSITORY),
                     self.start_session(OTHER))

    def assert_alive(self, label: str) -> None:
        """
        The server still runs and answers.
        """
        self.assertIsNone(self.registry.process.poll(), f"server died after {label!r}")
        self.assertEqual(self.request("GET", "/v2/").status, 200, label)

    def check(self, entry: Row) -> None:
        """
        Send one row's request and check the answer.
        """
        # Every answer ends the connection at once: a row that waits is a hang.
        reply = rawhttp.exchange(self.address, entry.data, head_only=entry.head, timeout=10)
        label = entry.label
        self.assertTrue(400 <= reply.status < 500, f"{label}: {reply}")
        self.assertEqual(reply.status, entry.status, f"{label}: {reply}")
        for text in PYTHON_TEXT:
            self.assertNotIn(text, reply.body, label)
        if entry.code is None:
            self.assertNotEqual(reply.header("content-type"), "application/json", label)
        else:
            self.assertEqual(reply.header("content-type"), "application/json", label)
            if not entry.head:
                errors = reply.json()["errors"]
                self.assertEqual(errors[0]["code"], entry.code, f"{label}: {reply}")
                for error in errors:
                    self.assertEqual(set(error) - {"code", "message", "detail"}, set(), label)
                    self.assertIsInstance(error["message"], str, label)
        self.assert_alive(label)

    def test_table(self):
        """
        Every row of L{table} gets its 4xx and spec error, as JSON without
        anything of Python in it (or twisted.web's plain 400 for malformed
        HTTP), and the server lives on; nothing changes outside the storage
        root, and inside it only the sessions of the repository the
        legitimate requests use (which rows may append to or cancel).
        """
        setup = self.legitimate()
        rows = table(setup)
        self.assertGreaterEqual(len(rows), 60)
        self.assertEqual(len({r.label for r in rows}), len(rows))
        sandbox_before = snapshot(self.sandbox)
        target_before = os.path.lexists(TARGET)
        for entry in rows:
            self.check(entry)
        changed = changes(sandbox_before, snapshot(self.sandbox))
        sessions = os.path.join("storage", "docker", "registry", "v2", "repositories",
                                REPOSITORY, "_uploads")
        self.assertEqual({p for p in changed if not p.startswith(sessions + os.sep)}, set())
        self.assertEqual(os.path.lexists(TARGET), target_before)
        self.assertEqual(self.request("GET", f"/v2/{OTHER}/blobs/uploads/{setup.other_session}")
                         .header("range"), "0-0")
        blob = self.request("GET", f"/v2/{REPOSITORY}/blobs/{setup.blob}")
        self.assertEqual(blob.body, b"layer bytes")
        self.registry.stop()
        assert_quiet_log(self, self.registry)

    def test_body_shorter_than_content_length(self):
        """
        A client that claims more body than it sends and then goes away
        gets no answer (there is none to give), but the server lives on: a
        chunk keeps at most the bytes that arrived and its session can be
        continued from the offset the server reports, and a manifest cut
        short is not stored.
        """
        data = os.urandom(256 * 1024)
        location = f"/v2/{REPOSITORY}/blobs/uploads/{self.start_session(REPOSITORY)}"
        head = rawhttp.build(b"PATCH", location.encode(),
                             [(b"Content-Range", b"0-%d" % (len(data) - 1,))], length=len(data))
        self.send_and_leave(head + data[:1000])
        manifest = manifest_body((self.push_blob(REPOSITORY, b"{}"), 2))
        head = rawhttp.build(b"PUT", f"/v2/{REPOSITORY}/manifests/short".encode(),
                             [(b"Content-Type", OCI_MANIFEST.encode())], length=len(manifest))
        self.send_and_leave(head + manifest[:-10])
        self.assert_alive("short bodies")
        # An empty PATCH waits for the session's release by the cut-off one,
        # then tells its offset.
        status = self.request("PATCH", location)
        self.assertEqual(status.status, 202, status)
        offset = upload_offset(status)
        self.assertLessEqual(offset, 1000)
        reply = self.request("PATCH", location, [("Content-Range", f"{offset}-{len(data) - 1}")],
                             data[offset:])
        self.assertEqual(reply.status, 202, reply)
        reply = self.request("PUT", f"{location}?digest={sha256(data)}")
        self.assertEqual(reply.status, 201, reply)
        self.assertEqual(self.request("GET", f"/v2/{REPOSITORY}/blobs/{sha256(data)}").body, data)
        self.assertEqual(self.request("GET", f"/v2/{REPOSITORY}/manifests/short").status, 404)

    def send_and_leave(self, data: bytes) -> None:
        """
        Send C{data} and close the connection without waiting for an answer.
        """
        with socket.create_connection(self.address, rawhttp.TIMEOUT) as sock:
            sock.sendall(data)
