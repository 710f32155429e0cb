"""
Blob uploads, downloads, ranges, mounts and deletes over the API.
"""

import hashlib

from twisted.trial.unittest import SynchronousTestCase

from tests.memory_client import MemoryClient, sha256
from txregistry.registry.registry import RegistryPolicy
from txregistry.storage import layout
from txregistry.registry.reference import Digest
from txregistry.testing import MemoryRegistry

DATA = bytes(range(256)) * 40


class UploadTests(SynchronousTestCase):
    """
    The upload state machine.
    """

    def setUp(self):
        self.client = MemoryClient(self)
        self.memory = self.client.memory

    def start(self, name="foo"):
        reply = self.client.request("POST", f"/v2/{name}/blobs/uploads/")
        self.assertEqual(reply.code, 202)
        return reply

    def stored_files(self):
        return self.successResultOf(self.memory.driver.list(layout.BLOBS + "/sha256")) \
            if self.exists(layout.BLOBS + "/sha256") else []

    def exists(self, path):
        d = self.memory.driver.stat(path)
        results = []
        d.addCallbacks(results.append, lambda f: results.append(None))
        return results[0] is not None

    def test_start(self):
        """
        POST opens a session: 202, Location, Range 0-0, upload UUID, and a
        C{startedat} in Distribution's layout.
        """
        reply = self.start()
        upload_id = reply.header("docker-upload-uuid")
        self.assertEqual(reply.header("range"), "0-0")
        self.assertTrue(reply.header("location").endswith(f"/v2/foo/blobs/uploads/{upload_id}"))
        started = self.successResultOf(
            self.memory.driver.get_content(layout.upload_started_at("foo", upload_id))
        )
        self.assertRegex(started.decode(), r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

    def test_monolithic(self):
        """
        POST then PUT with the whole body stores the blob under its digest.
        """
        digest = self.client.push_blob("foo", DATA)
        blob = self.client.request("GET", f"/v2/foo/blobs/{digest}")
        self.assertEqual(blob.code, 200)
        self.assertEqual(blob.body, DATA)
        link = self.successResultOf(
            self.memory.driver.get_content(layout.layer_link("foo", Digest.parse(digest)))
        )
        self.assertEqual(link, digest.encode())

    def test_single_post(self):
        """
        POST with C{?digest=} and the body creates the blob in one request.
        """
        digest = sha256(DATA)
        reply = self.client.request("POST", f"/v2/foo/blobs/uploads/?digest={digest}", DATA)
        self.assertEqual(reply.code, 201, reply.body)
        self.assertEqual(reply.header("docker-content-digest"), digest)
        self.assertTrue(reply.header("location").endswith(f"/v2/foo/blobs/{digest}"))
        self.assertEqual(self.client.request("GET", f"/v2/foo/blobs/{digest}").body, DATA)

    def test_single_post_wrong_digest(self):
        """
        POST C{?digest=} with a body that does not match is DIGEST_INVALID and
        leaves nothing behind.
        """
        digest = sha256(b"other")
        reply = self.client.request("POST", f"/v2/foo/blobs/uploads/?digest={digest}", DATA)
        self.assertEqual(reply.code, 400)
        self.assertEqual(reply.error_codes(), ["DIGEST_INVALID"])
        self.assertEqual(self.client.request("HEAD", f"/v2/foo/blobs/{digest}").code, 404)
        self.assertFalse(self.exists(layout.blob_data(Digest.parse(sha256(DATA)))))

    def test_chunked(self):
        """
        PATCH chunks with Content-Range, then PUT without a body.
        """
        location = self.start().header("location")
        offset = 0
        for chunk in (DATA[:1000], DATA[1000:5000], DATA[5000:]):
            end = offset + len(chunk) - 1
            reply = self.client.request(
                "PATCH", location, chunk,
                {"Content-Range": f"{offset}-{end}", "Content-Type": "application/octet-stream"},
            )
            self.assertEqual(reply.code, 202, reply.body)
            self.assertEqual(reply.header("range"), f"0-{end}")
            location = reply.header("location")
            offset = end + 1
        status = self.client.request("GET", location)
        self.assertEqual((status.code, status.header("range")), (204, f"0-{len(DATA) - 1}"))
        done = self.client.request("PUT", f"{location}?digest={sha256(DATA)}")
        self.assertEqual(done.code, 201, done.body)
        self.assertEqual(self.client.request("GET", f"/v2/foo/blobs/{sha256(DATA)}").body, DATA)

    def test_patch_out_of_order(self):
        """
        A chunk that does not start at the session's offset is 416 and
        changes nothing.
        """
        location = self.start().header("location")
        self.client.request("PATCH", location, DATA[:10], {"Content-Range": "0-9"})
        reply = self.client.request("PATCH", location, DATA[20:30], {"Content-Range": "20-29"})
        self.assertEqual(reply.code, 416)
        self.assertEqual(reply.error_codes(), ["RANGE_INVALID"])
        self.assertEqual(self.client.request("GET", location).header("range"), "0-9")

    def test_patch_bad_content_range(self):
        """
        A Content-Range that does not parse, or ends before it starts, is 416.
        """
        location = self.start().header("location")
        for value in ("bytes 0-9/10", "9-0", "a-b", "-1-5"):
            reply = self.client.request("PATCH", location, DATA[:10], {"Content-Range": value})
            self.assertEqual(reply.code, 416, value)

    def test_patch_length_mismatch(self):
        """
        A Content-Length that does not match the Content-Range is SIZE_INVALID.
        """
        location = self.start().header("location")
        reply = self.client.request("PATCH", location, DATA[:10], {"Content-Range": "0-19"})
        self.assertEqual(reply.code, 400)
        self.assertEqual(reply.error_codes(), ["SIZE_INVALID"])

    def test_patch_streamed(self):
        """
        PATCH without Content-Range appends the body at the current offset
        (how podman streams).
        """
        location = self.start().header("location")
        reply = self.client.request("PATCH", location, DATA[:3000])
        self.assertEqual((reply.code, reply.header("range")), (202, "0-2999"))
        reply = self.client.request("PATCH", reply.header("location"), DATA[3000:])
        self.assertEqual(reply.header("range"), f"0-{len(DATA) - 1}")
        done = self.client.request("PUT", f"{reply.header('location')}?digest={sha256(DATA)}")
        self.assertEqual(done.code, 201)

    def test_put_with_final_chunk(self):
        """
        The PUT may carry the last chunk.
        """
        location = self.start().header("location")
        reply = self.client.request("PATCH", location, DATA[:100], {"Content-Range": "0-99"})
        done = self.client.request(
            "PUT", f"{reply.header('location')}?digest={sha256(DATA)}", DATA[100:]
        )
        self.assertEqual(done.code, 201)

    def test_put_out_of_order_final_chunk(self):
        """
        A final chunk whose Content-Range does not follow on is 416.
        """
        location = self.start().header("location")
        self.client.request("PATCH", location, DATA[:100], {"Content-Range": "0-99"})
        done = self.client.request(
            "PUT", f"{location}?digest={sha256(DATA)}", DATA[200:],
            {"Content-Range": f"200-{len(DATA) - 1}"},
        )
        self.assertEqual(done.code, 416)

    def test_put_digest_mismatch_cancels(self):
        """
        A PUT whose digest does not match is DIGEST_INVALID; the session is
        gone afterwards and no blob is visible.
        """
        location = self.start().header("location")
        bad = sha256(b"not this")
        reply = self.client.request("PUT", f"{location}?digest={bad}", DATA)
        self.assertEqual(reply.code, 400)
        self.assertEqual(reply.error_codes(), ["DIGEST_INVALID"])
        self.assertEqual(self.client.request("GET", location).code, 404)
        self.assertEqual(self.client.request("HEAD", f"/v2/foo/blobs/{sha256(DATA)}").code, 404)

    def test_put_missing_or_malformed_digest(self):
        """
        PUT without a digest, or with a malformed one, is DIGEST_INVALID and
        keeps the session.
        """
        location = self.start().header("location")
        for query in ("", "?digest=", "?digest=sha256:1234", "?digest=md5:abcd", "?digest=bogus"):
            reply = self.client.request("PUT", f"{location}{query}", DATA)
            self.assertEqual(reply.code, 400, query)
            self.assertEqual(reply.error_codes(), ["DIGEST_INVALID"], query)
        self.assertEqual(self.client.request("GET", location).code, 204)

    def test_sha512(self):
        """
        A blob pushed with a sha512 digest is stored under sha256 (as
        Distribution does) and readable by both digests; responses name the
        digest the client used.
        """
        location = self.start().header("location")
        digest512 = "sha512:" + hashlib.sha512(DATA).hexdigest()
        done = self.client.request("PUT", f"{location}?digest={digest512}", DATA)
        self.assertEqual(done.code, 201, done.body)
        self.assertEqual(done.header("docker-content-digest"), digest512)
        self.assertTrue(done.header("location").endswith(f"/v2/foo/blobs/{digest512}"))
        for digest in (digest512, sha256(DATA)):
            reply = self.client.request("GET", f"/v2/foo/blobs/{digest}")
            self.assertEqual(reply.body, DATA)
            self.assertEqual(reply.header("docker-content-digest"), digest)

    def test_empty_blob(self):
        """
        The zero-length blob can be pushed and fetched.
        """
        digest = self.client.push_blob("foo", b"")
        self.assertEqual(digest, "sha256:" + hashlib.sha256(b"").hexdigest())
        reply = self.client.request("GET", f"/v2/foo/blobs/{digest}")
        self.assertEqual((reply.code, reply.body, reply.length), (200, b"", 0))

    def test_existing_blob_not_moved_twice(self):
        """
        Pushing a blob that exists already just links it.
        """
        digest = self.client.push_blob("foo", DATA)
        self.assertEqual(self.client.push_blob("bar", DATA), digest)
        self.assertEqual(self.client.request("GET", f"/v2/bar/blobs/{digest}").body, DATA)

    def test_status_and_cancel(self):
        """
        GET on a session reports it; DELETE cancels it; both then 404.
        """
        reply = self.start()
        location, upload_id = reply.header("location"), reply.header("docker-upload-uuid")
        self.assertEqual(self.client.request("HEAD", location).code, 204)
        cancelled = self.client.request("DELETE", location)
        self.assertEqual(cancelled.code, 204)
        self.assertEqual(cancelled.header("docker-upload-uuid"), upload_id)
        for method in ("GET", "DELETE", "PATCH", "PUT"):
            reply = self.client.request(method, f"{location}?digest={sha256(b'')}")
            self.assertEqual(reply.code, 404, method)
            self.assertEqual(reply.error_codes(), ["BLOB_UPLOAD_UNKNOWN"])
        self.assertFalse(self.exists(layout.upload_dir("foo", upload_id)))

    def record(self, method):
        """
        Record the paths the driver's C{method} is called with.
        """
        driver = self.memory.driver
        original = getattr(driver, method)
        paths = []

        def recorded(path, *args, **kwargs):
            paths.append(path)
            return original(path, *args, **kwargs)

        self.patch(driver, method, recorded)
        return paths

    def test_chunk_opens_with_one_look(self):
        """
        A chunk to a session that has data opens it without looking for
        C{startedat} first; the first chunk, before there is data, does.
        """
        reply = self.start()
        location, upload_id = reply.header("location"), reply.header("docker-upload-uuid")
        stats = self.record("stat")
        self.client.request("PATCH", location, DATA[:100], {"Content-Range": "0-99"})
        self.assertEqual(stats, [layout.upload_started_at("foo", upload_id)])
        del stats[:]
        reply = self.client.request("PATCH", location, DATA[100:], {"Content-Range": f"100-{len(DATA) - 1}"})
        self.assertEqual(reply.code, 202)
        self.assertEqual(stats, [])
        done = self.client.request("PUT", f"{location}?digest={sha256(DATA)}")
        self.assertEqual(done.code, 201, done.body)

    def test_session_data_removed_first(self):
        """
        Cancelling, or completing a blob that exists already, removes the
        session's data before the rest (so data never outlives
        C{startedat}); completing a new blob moves the data and removes the
        rest.
        """
        deleted = self.record("delete")
        data = self.client.push_blob("foo", DATA)
        for_existing = self.start()
        location = for_existing.header("location")
        self.client.request("PATCH", location, DATA, {"Content-Range": f"0-{len(DATA) - 1}"})
        self.assertEqual(self.client.request("PUT", f"{location}?digest={data}").code, 201)
        cancelled = self.start()
        self.client.request("PATCH", cancelled.header("location"), b"abc", {"Content-Range": "0-2"})
        self.assertEqual(self.client.request("DELETE", cancelled.header("location")).code, 204)
        sessions = [
            layout.upload_dir("foo", reply.header("docker-upload-uuid"))
            for reply in (for_existing, cancelled)
        ]
        self.assertEqual(
            [path for path in deleted if "/_uploads/" in path][-4:],
            [sessions[0] + "/data", sessions[0], sessions[1] + "/data", sessions[1]],
        )
        self.assertFalse(self.exists(sessions[0]) or self.exists(sessions[1]))

    def test_unknown_and_malformed_upload_ids(self):
        """
        Upload ids that were never issued are BLOB_UPLOAD_UNKNOWN.
        """
        for upload_id in ("nope", "00000000-0000-4000-8000-000000000000", "A" * 36, "..", "%2e%2e"):
            reply = self.client.request("PATCH", f"/v2/foo/blobs/uploads/{upload_id}", b"x")
            self.assertEqual(reply.code, 404, upload_id)
            self.assertEqual(reply.error_codes(), ["BLOB_UPLOAD_UNKNOWN"])

    def test_session_of_another_repository(self):
        """
        A session belongs to its repository.
        """
        upload_id = self.start("foo").header("docker-upload-uuid")
        reply = self.client.request("GET", f"/v2/bar/blobs/uploads/{upload_id}")
        self.assertEqual(reply.code, 404)

    def test_resumes_without_hash_state(self):
        """
        A session continues correctly in a registry that did not see its
        earlier chunks (a restart, another process): the stored prefix is
        hashed again.
        """
        location = self.start().header("location")
        self.client.request("PATCH", location, DATA[:5000], {"Content-Range": "0-4999"})
        other = MemoryClient(self, MemoryRegistry(driver=self.memory.driver))
        other.request("PATCH", location, DATA[5000:], {"Content-Range": f"5000-{len(DATA) - 1}"})
        done = other.request("PUT", f"{location}?digest={sha256(DATA)}")
        self.assertEqual(done.code, 201, done.body)


class DownloadTests(SynchronousTestCase):
    """
    GET and HEAD of blobs.
    """

    def setUp(self):
        self.client = MemoryClient(self)
        self.digest = self.client.push_blob("foo", DATA)
        self.url = f"/v2/foo/blobs/{self.digest}"

    def test_headers(self):
        """
        GET and HEAD carry length, digest, ETag, ranges and caching headers.
        """
        for method in ("GET", "HEAD"):
            reply = self.client.request(method, self.url)
            self.assertEqual(reply.code, 200)
            if method == "GET":
                self.assertEqual(reply.length, len(DATA))
            self.assertEqual(reply.header("docker-content-digest"), self.digest)
            self.assertEqual(reply.header("etag"), f'"{self.digest}"')
            self.assertEqual(reply.header("accept-ranges"), "bytes")
            self.assertEqual(reply.header("content-type"), "application/octet-stream")
            self.assertEqual(reply.body, DATA if method == "GET" else b"")

    def test_unknown(self):
        """
        A blob not linked into the repository is BLOB_UNKNOWN, even if another
        repository has it.
        """
        reply = self.client.request("GET", f"/v2/other/blobs/{self.digest}")
        self.assertEqual((reply.code, reply.error_codes()), (404, ["BLOB_UNKNOWN"]))
        reply = self.client.request("HEAD", f"/v2/foo/blobs/{sha256(b'missing')}")
        self.assertEqual(reply.code, 404)

    def test_malformed_digest(self):
        """
        A digest that does not parse is DIGEST_INVALID.
        """
        for digest in ("sha256:abc", "sha256:" + "A" * 64, "md5:" + "a" * 32, "nocolon"):
            reply = self.client.request("GET", f"/v2/foo/blobs/{digest}")
            self.assertEqual((reply.code, reply.error_codes()), (400, ["DIGEST_INVALID"]), digest)

    def test_range(self):
        """
        A single range is a 206 with Content-Range.
        """
        cases = {
            "bytes=0-9": (0, 9),
            "bytes=100-": (100, len(DATA) - 1),
            "bytes=-50": (len(DATA) - 50, len(DATA) - 1),
            f"bytes=10-{len(DATA) + 100}": (10, len(DATA) - 1),
        }
        for value, (first, last) in cases.items():
            reply = self.client.request("GET", self.url, headers={"Range": value})
            self.assertEqual(reply.code, 206, value)
            self.assertEqual(reply.body, DATA[first:last + 1])
            self.assertEqual(reply.header("content-range"), f"bytes {first}-{last}/{len(DATA)}")
            self.assertEqual(reply.length, last - first + 1)

    def test_unsatisfiable_range(self):
        """
        A range past the end is 416 with C{Content-Range: bytes */size}.
        """
        reply = self.client.request("GET", self.url, headers={"Range": f"bytes={len(DATA)}-"})
        self.assertEqual(reply.code, 416)
        self.assertEqual(reply.header("content-range"), f"bytes */{len(DATA)}")

    def test_ignored_ranges(self):
        """
        Several ranges, or a header that does not parse, get the whole blob.
        """
        for value in ("bytes=0-1,5-6", "items=0-1", "bytes=5-2", "bytes=x-y"):
            reply = self.client.request("GET", self.url, headers={"Range": value})
            self.assertEqual((reply.code, reply.body), (200, DATA), value)

    def test_if_none_match(self):
        """
        A matching If-None-Match is a 304 without a body.
        """
        for value in (f'"{self.digest}"', self.digest, '"other", ' + f'"{self.digest}"'):
            reply = self.client.request("GET", self.url, headers={"If-None-Match": value})
            self.assertEqual((reply.code, reply.body), (304, b""))
        reply = self.client.request("GET", self.url, headers={"If-None-Match": '"nope"'})
        self.assertEqual(reply.code, 200)

    def test_large_blob_streams(self):
        """
        A blob of several read pieces comes back whole.
        """
        big = hashlib.sha256(b"seed").digest() * (3 * 1024 * 1024 // 32 + 7)
        digest = self.client.push_blob("foo", big)
        self.assertEqual(self.client.request("GET", f"/v2/foo/blobs/{digest}").body, big)


class MountTests(SynchronousTestCase):
    """
    Cross-repository mounts.
    """

    def setUp(self):
        self.client = MemoryClient(self)
        self.digest = self.client.push_blob("source", DATA)

    def test_mount_from(self):
        """
        C{?mount=&from=} links the blob: 201 and readable.
        """
        reply = self.client.request(
            "POST", f"/v2/target/blobs/uploads/?mount={self.digest}&from=source"
        )
        self.assertEqual(reply.code, 201)
        self.assertEqual(reply.header("docker-content-digest"), self.digest)
        self.assertTrue(reply.header("location").endswith(f"/v2/target/blobs/{self.digest}"))
        self.assertEqual(self.client.request("GET", f"/v2/target/blobs/{self.digest}").body, DATA)

    def test_mount_without_from(self):
        """
        Without C{from}, a blob the store holds is mounted (automatic content
        discovery).
        """
        reply = self.client.request("POST", f"/v2/target/blobs/uploads/?mount={self.digest}")
        self.assertEqual(reply.code, 201)

    def test_mount_falls_back(self):
        """
        A mount that cannot happen opens an ordinary session instead.
        """
        missing = sha256(b"missing")
        for query in (
            f"mount={missing}&from=source",
            f"mount={self.digest}&from=elsewhere",
            f"mount={self.digest}&from=Bad..Name",
            "mount=sha256:bogus&from=source",
            f"mount={missing}",
        ):
            reply = self.client.request("POST", f"/v2/target/blobs/uploads/?{query}")
            self.assertEqual(reply.code, 202, query)
            self.assertIsNotNone(reply.header("docker-upload-uuid"))


class DeleteTests(SynchronousTestCase):
    """
    Blob deletes.
    """

    def test_delete(self):
        """
        DELETE unlinks the blob from the repository: 202, then 404.
        """
        client = MemoryClient(self)
        digest = client.push_blob("foo", DATA)
        client.push_blob("bar", DATA)
        self.assertEqual(client.request("DELETE", f"/v2/foo/blobs/{digest}").code, 202)
        self.assertEqual(client.request("HEAD", f"/v2/foo/blobs/{digest}").code, 404)
        self.assertEqual(client.request("HEAD", f"/v2/bar/blobs/{digest}").code, 200)
        reply = client.request("DELETE", f"/v2/foo/blobs/{digest}")
        self.assertEqual((reply.code, reply.error_codes()), (404, ["BLOB_UNKNOWN"]))

    def test_delete_disabled(self):
        """
        With deletes disabled, DELETE is 405 UNSUPPORTED and the blob stays.
        """
        client = MemoryClient(self, MemoryRegistry(policy=RegistryPolicy(delete_enabled=False)))
        digest = client.push_blob("foo", DATA)
        reply = client.request("DELETE", f"/v2/foo/blobs/{digest}")
        self.assertEqual((reply.code, reply.error_codes()), (405, ["UNSUPPORTED"]))
        self.assertEqual(client.request("HEAD", f"/v2/foo/blobs/{digest}").code, 200)


class ReadOnlyTests(SynchronousTestCase):
    """
    Read-only mode refuses every write, and reads keep working.
    """

    def test_read_only(self):
        """
        Uploads, mounts, manifest pushes and deletes are 405 UNSUPPORTED.
        """
        memory = MemoryRegistry(policy=RegistryPolicy(delete_enabled=True))
        writer = MemoryClient(self, memory)
        digest = writer.push_blob("foo", DATA)
        location = writer.request("POST", "/v2/foo/blobs/uploads/").header("location")
        reader = MemoryClient(
            self,
            MemoryRegistry(
                driver=memory.driver,
                policy=RegistryPolicy(delete_enabled=True, read_only=True),
            ),
        )
        attempts = [
            ("POST", "/v2/foo/blobs/uploads/", b""),
            ("POST", f"/v2/foo/blobs/uploads/?digest={sha256(b'x')}", b"x"),
            ("POST", f"/v2/bar/blobs/uploads/?mount={digest}&from=foo", b""),
            ("PATCH", location, b"data"),
            ("PUT", f"{location}?digest={sha256(b'')}", b""),
            ("DELETE", location, b""),
            ("DELETE", f"/v2/foo/blobs/{digest}", b""),
            ("PUT", "/v2/foo/manifests/latest", b"{}"),
            ("DELETE", "/v2/foo/manifests/latest", b""),
        ]
        for method, path, body in attempts:
            reply = reader.request(method, path, body)
            self.assertEqual((reply.code, reply.error_codes()), (405, ["UNSUPPORTED"]), path)
        self.assertEqual(reader.request("GET", f"/v2/foo/blobs/{digest}").body, DATA)
        self.assertEqual(writer.request("GET", location).code, 204)
