"""
Helpers for tests that drive a L{MemoryRegistry} over its in-memory HTTP.
"""

import hashlib
import json

import attrs

from tests.replies import JSONBody
import treq
from twisted.web.http_headers import Headers

from txregistry.testing import MemoryRegistry

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def sha256(data: bytes) -> str:
    """
    The sha256 digest string of C{data}.
    """
    return "sha256:" + hashlib.sha256(data).hexdigest()


@attrs.frozen
class Reply(JSONBody):
    """
    A response, read whole.

    @ivar length: the C{Content-Length} (for a C{GET}), or C{None}.
    """

    code: int
    headers: Headers
    body: bytes
    length: int | None

    def header(self, name: str) -> str | None:
        """
        The first value of header C{name}, or C{None}.
        """
        values = self.headers.getRawHeaders(name)
        return values[0] if values else None



class MemoryClient:
    """
    Synchronous requests against a L{MemoryRegistry}.
    """

    def __init__(self, testcase, registry: MemoryRegistry | None = None):
        self.testcase = testcase
        self.memory = registry if registry is not None else MemoryRegistry()

    def request(self, method: str, path: str, body: bytes = b"", headers=None) -> Reply:
        """
        Send one request and read the whole response.
        """
        url = path if path.startswith("http") else "http://registry.test" + path
        d = self.memory.client.request(
            method, url, data=body if body else None, headers=headers or {}
        )
        self.memory.flush()
        response = self.testcase.successResultOf(d)
        content = treq.content(response)
        self.memory.flush()
        # Twisted's client keeps Content-Length out of the headers.
        length = response.length if isinstance(response.length, int) else None
        return Reply(
            response.code, response.headers, self.testcase.successResultOf(content), length
        )

    def push_blob(self, name: str, data: bytes) -> str:
        """
        Upload C{data} with POST then PUT; assert success.

        @return: its digest.
        """
        digest = sha256(data)
        started = self.request("POST", f"/v2/{name}/blobs/uploads/")
        self.testcase.assertEqual(started.code, 202, started.body)
        location = started.header("location")
        done = self.request("PUT", f"{location}?digest={digest}", data)
        self.testcase.assertEqual(done.code, 201, done.body)
        return digest

    def push_manifest(self, name: str, reference: str, manifest: dict | bytes,
                      media_type: str = OCI_MANIFEST) -> Reply:
        """
        PUT a manifest (a dict is serialised).
        """
        body = manifest if isinstance(manifest, bytes) else json.dumps(manifest).encode()
        return self.request(
            "PUT", f"/v2/{name}/manifests/{reference}", body, {"Content-Type": media_type}
        )

    def push_image(self, name: str, tag: str, layers=(b"layer one",), config=b"{}",
                   extra=None) -> tuple[bytes, str]:
        """
        Push an OCI image (config, layers, manifest tagged C{tag}).

        @return: the manifest bytes and digest.
        """
        config_digest = self.push_blob(name, config)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": self.push_blob(name, layer), "size": len(layer)}
                for layer in layers
            ],
        }
        manifest.update(extra or {})
        body = json.dumps(manifest).encode()
        reply = self.push_manifest(name, tag, body)
        self.testcase.assertEqual(reply.code, 201, reply.body)
        return body, sha256(body)
