"""
Storage trees built by hand, file by file in Distribution's layout, for the
garbage collection tests: blobs, links, image manifests, indexes, referrers
and tags, written through any C{put(path, content)}.
"""

import json
import os

from txregistry.registry.reference import Digest
from txregistry.storage import layout

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"


def driver_writer(driver, testcase):
    """
    A C{put} writing through a driver whose calls fire at once.
    """
    return lambda path, content: testcase.successResultOf(driver.put_content(path, content))


def directory_writer(root: str):
    """
    A C{put} writing files under the filesystem root C{root}.
    """

    def put(path, content):
        target = os.path.join(root, path.lstrip("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as f:
            f.write(content)

    return put


class Tree:
    """
    Writes registry content the way a registry would have.
    """

    def __init__(self, put):
        self.put = put
        self._count = 0

    def blob(self, content: bytes) -> Digest:
        """
        Store C{content} as a blob (in no repository).
        """
        digest = Digest.of(content)
        self.put(layout.blob_data(digest), content)
        return digest

    def link(self, name: str, digest: Digest, target: Digest | None = None) -> None:
        """
        Make a blob part of a repository (C{target} for an alias link).
        """
        self.put(layout.layer_link(name, digest), str(target or digest).encode())

    def layer(self, name: str, content: bytes) -> Digest:
        """
        A blob linked into repository C{name}.
        """
        digest = self.blob(content)
        self.link(name, digest)
        return digest

    def tag(self, name: str, tag: str, digest: Digest) -> None:
        """
        Point C{tag} at C{digest}, with its history entry.
        """
        self.put(layout.tag_index_link(name, tag, digest), str(digest).encode())
        self.put(layout.tag_current_link(name, tag), str(digest).encode())

    def manifest(self, name: str, document: dict, tag: str | None = None) -> Digest:
        """
        Store a manifest in repository C{name}: its bytes, its revision,
        its referrers index entry, and a tag.
        """
        raw = json.dumps(document).encode()
        digest = self.blob(raw)
        self.put(layout.revision_link(name, digest), str(digest).encode())
        subject = document.get("subject")
        if subject is not None:
            subject_digest = Digest.parse(subject["digest"])
            self.put(layout.referrer_link(name, subject_digest, digest), str(digest).encode())
        if tag is not None:
            self.tag(name, tag, digest)
        return digest

    def image(self, name: str, layers=(), tag: str | None = None,
              subject: Digest | None = None, config: Digest | None = None) -> Digest:
        """
        An image manifest with a config of its own (unless C{config} is
        given) and C{layers}: contents to store, or digests already linked.
        """
        self._count += 1
        if config is None:
            config = self.layer(name, json.dumps({"image": self._count}).encode())
        descriptors = []
        for layer in layers:
            digest = layer if isinstance(layer, Digest) else self.layer(name, layer)
            descriptors.append({"mediaType": OCI_LAYER, "digest": str(digest), "size": 1})
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": str(config), "size": 1},
            "layers": descriptors,
        }
        if subject is not None:
            document["subject"] = {"mediaType": OCI_MANIFEST, "digest": str(subject), "size": 1}
        return self.manifest(name, document, tag)

    def index(self, name: str, children, tag: str | None = None) -> Digest:
        """
        An image index of the manifests C{children} (digests).
        """
        document = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": OCI_MANIFEST, "digest": str(child), "size": 1,
                 "platform": {"architecture": f"arch{n}", "os": "linux"}}
                for n, child in enumerate(children)
            ],
        }
        return self.manifest(name, document, tag)
