"""
txregistry's C{garbage-collect} against Distribution's (Debian's
C{docker-registry garbage-collect}, 2.8): content pushed through
txregistry by skopeo and plain HTTP (and, for what pushes cannot produce,
roots written file by file), then the same root collected by each tool on
its own copy, and the files each deleted compared.

The differences allowed are exactly those C{docs/gc.md} lists: txregistry
also removes the C{_layers} links to the blobs it deletes (and, with
C{-m}, the referrers index entries of the manifests it deletes), and with
C{-m} Distribution 2.8 also deletes the children of tagged indexes and the
referrers of tagged manifests, with the blobs only they use.
"""

import json
import os
import re
import shutil
import sys

import requests
import yaml
from twisted.trial.unittest import SynchronousTestCase

from tests.gc_trees import Tree, directory_writer
from tests.integration.clients import Skopeo, list_referrers, push_blob, run
from tests.integration.harness import (
    OCI_CONFIG,
    OCI_LAYER,
    OCI_MANIFEST,
    sha256,
    temporary_directory,
    time_limit,
)
from tests.integration.images import read_oci_layout, sample_image, sample_index
from tests.integration.processes import RegistryProcess, base_config, require_tool
from txregistry.registry.reference import Digest

V2 = os.path.join("docker", "registry", "v2")
APP = "compat/app"
OTHER = "compat/other"
_LINK = re.compile(r"repositories/(.+)/_layers/sha256/([0-9a-f]{64})/link\Z")
_REVISION = re.compile(r"repositories/(.+)/_manifests/revisions/sha256/([0-9a-f]{64})/link\Z")
_BLOB = re.compile(r"blobs/sha256/[0-9a-f]{2}/([0-9a-f]{64})/data\Z")


def files(root: str) -> set[str]:
    """
    Every file under C{root}/docker/registry/v2, relative to it.
    """
    base = os.path.join(root, V2)
    return {
        os.path.relpath(os.path.join(directory, name), base)
        for directory, _, names in os.walk(base) for name in names
    }


def blob_digest(path: str) -> str | None:
    """
    The digest of a C{blobs/…/data} path, else C{None}.
    """
    match = _BLOB.match(path)
    return f"sha256:{match.group(1)}" if match else None


class Pusher:
    """
    Plain HTTP pushes to one registry.
    """

    def __init__(self, url: str):
        self.url = url
        self.count = 0

    def image(self, name: str, reference: str | None, layers=(), subject=None) -> str:
        """
        Push an image of new small layers (or digests already pushed) by
        tag, or by digest if C{reference} is C{None}; return its digest.
        """
        self.count += 1
        config = json.dumps({"image": self.count}).encode()
        descriptors = []
        for layer in layers:
            digest = layer if isinstance(layer, str) else push_blob(self.url, name, layer)
            descriptors.append({"mediaType": OCI_LAYER, "digest": digest, "size": 1})
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": push_blob(self.url, name, config),
                       "size": len(config)},
            "layers": descriptors,
        }
        if subject is not None:
            manifest["subject"] = {"mediaType": OCI_MANIFEST, "digest": subject, "size": 1}
        body = json.dumps(manifest).encode()
        digest = sha256(body)
        reply = requests.put(f"{self.url}/v2/{name}/manifests/{reference or digest}", data=body,
                             headers={"Content-Type": OCI_MANIFEST}, timeout=30)
        if reply.status_code != 201:
            raise AssertionError(f"manifest PUT: {reply.status_code} {reply.text}")
        return digest


class CompareWithDistributionTests(SynchronousTestCase):
    """
    One root, collected by both tools with and without C{-m}.
    """

    def setUp(self):
        time_limit(self, 300)
        self.distribution = require_tool("docker-registry")
        self.scratch = temporary_directory(self, "txregistry-gc-compat-")
        self.root = os.path.join(self.scratch, "root")
        self.build()

    def build(self) -> None:
        """
        Push through txregistry: a tagged image and a multi-platform index
        (skopeo), a tag moved from one image to another, referrers of a
        tagged and of an untagged image, an orphan blob, a deleted manifest,
        and a second repository sharing a layer by mount.
        """
        skopeo = Skopeo(self)
        image = sample_image(os.path.join(self.scratch, "layout"))
        index = sample_index(os.path.join(self.scratch, "index"))
        registry = RegistryProcess.started(self, base_config(self.root))
        skopeo.copy(f"oci:{self.scratch}/layout:v1", f"docker://{registry.address}/{APP}:v1")
        skopeo.copy(f"oci:{self.scratch}/index:v1", f"docker://{registry.address}/{APP}:multi",
                    "--all")
        self.v1 = image["_digest"]
        self.index = index["_digest"]
        self.children = [entry["digest"] for entry in index["manifests"]]
        push = Pusher(registry.url)
        self.old = push.image(APP, "latest", [b"old layer"])
        push.image(APP, "latest", [b"new layer"])
        self.v1_signature = push.image(APP, None, [b"signature of v1"], subject=self.v1)
        self.old_signature = push.image(APP, None, [b"signature of old"], subject=self.old)
        self.orphan = push_blob(registry.url, APP, b"uploaded, never used")
        gone = push.image(APP, "gone", [b"deleted image layer"])
        reply = requests.delete(f"{registry.url}/v2/{APP}/manifests/{gone}", timeout=30)
        self.assertEqual(reply.status_code, 202)
        shared = image["layers"][0]["digest"]
        reply = requests.post(f"{registry.url}/v2/{OTHER}/blobs/uploads/",
                              params={"mount": shared, "from": APP}, timeout=30)
        self.assertEqual(reply.status_code, 201)
        push.image(OTHER, "v1", [shared, b"other layer"])
        push.image(OTHER, None, [b"untagged in other"])
        registry.stop()
        self.original = files(self.root)

    def copy(self, name: str) -> tuple[str, str]:
        """
        A copy of the root and a configuration file naming it.
        """
        copy = os.path.join(self.scratch, name)
        shutil.copytree(self.root, copy, symlinks=True)
        config = os.path.join(self.scratch, f"{name}.yml")
        with open(config, "w") as f:
            yaml.safe_dump({"version": 0.1, "storage": {"filesystem": {"rootdirectory": copy}}}, f)
        return copy, config

    def collect(self, untagged: bool) -> tuple[set, set]:
        """
        Run both tools on copies of the root.

        @return: the files Distribution deleted and those txregistry deleted.
        """
        flags = ["--delete-untagged"] if untagged else []
        suffix = "-m" if untagged else ""
        theirs, config = self.copy(f"distribution{suffix}")
        run([self.distribution, "garbage-collect", *flags, config])
        ours, config = self.copy(f"txregistry{suffix}")
        run([sys.executable, "-m", "txregistry", "garbage-collect", "--quiet", *flags, config])
        return self.original - files(theirs), self.original - files(ours)

    def manifest(self, digest: str) -> dict:
        algorithm, encoded = digest.split(":")
        with open(os.path.join(self.root, V2, "blobs", algorithm, encoded[:2], encoded,
                               "data"), "rb") as f:
            return json.load(f)

    def assert_only_links(self, extra: set, deleted: set) -> None:
        """
        Each of C{extra} is a C{_layers} link to a blob in C{deleted}, or a
        referrers index file.
        """
        deleted_blobs = {blob_digest(path) for path in deleted}
        for path in extra:
            match = _LINK.match(path)
            if match is None:
                self.assertIn("/_referrers/", path)
            else:
                self.assertIn(f"sha256:{match.group(2)}", deleted_blobs, path)

    def test_sameDeletions(self):
        """
        Without C{-m}: the same blobs are deleted and no manifest;
        txregistry also deletes the links to the blobs it deletes.
        """
        theirs, ours = self.collect(untagged=False)
        self.assertEqual(theirs - ours, set())
        self.assertTrue(theirs, "Distribution deleted nothing")
        self.assertEqual({p for p in theirs if blob_digest(p)}, {p for p in ours if blob_digest(p)})
        self.assertIn(self.orphan, {blob_digest(p) for p in ours})
        self.assert_only_links(ours - theirs, ours)
        self.assertTrue(ours - theirs, "no link deleted")
        self.assertFalse([p for p in ours if _REVISION.match(p)])

    def test_deleteUntagged(self):
        """
        With C{-m}: both delete the untagged image, its referrer and what
        only they use; Distribution 2.8 also deletes the tagged index's
        children and the tagged image's referrer (and blobs only they use),
        which txregistry keeps; the index then still pulls from
        txregistry's copy.
        """
        theirs, ours = self.collect(untagged=True)
        deleted_revisions = {f"sha256:{_REVISION.match(p).group(2)}"
                             for p in ours if _REVISION.match(p)}
        self.assertIn(self.old, deleted_revisions)
        self.assertIn(self.old_signature, deleted_revisions)
        self.assertNotIn(self.v1_signature, deleted_revisions)
        self.assertFalse(set(self.children) & deleted_revisions)
        self.assert_only_links(ours - theirs, ours)

        # What 2.8 deletes beyond: the index children and the referrer of
        # v1, and blobs only they refer to.
        spared = set(self.children) | {self.v1_signature}
        spared_blobs = set(spared)
        for digest in spared:
            manifest = self.manifest(digest)
            spared_blobs.update(d["digest"] for d in [manifest["config"]] + manifest["layers"])
        extra = theirs - ours
        self.assertTrue(extra, "Distribution 2.8 no longer deletes index children")
        for path in extra:
            match = _REVISION.match(path)
            if match:
                self.assertIn(f"sha256:{match.group(2)}", spared, path)
            else:
                self.assertIn(blob_digest(path), spared_blobs, path)

        copy = os.path.join(self.scratch, "txregistry-m")
        registry = RegistryProcess.started(self, base_config(copy))
        skopeo = Skopeo(self)
        pulled = os.path.join(self.scratch, "pulled")
        skopeo.copy(f"docker://{registry.address}/{APP}:multi", f"oci:{pulled}:multi", "--all")
        self.assertEqual(read_oci_layout(pulled, "multi")["_digest"], self.index)
        listed = list_referrers(registry.url, APP, self.v1).json()["manifests"]
        self.assertEqual([d["digest"] for d in listed], [self.v1_signature])


class HandBuiltRootTests(SynchronousTestCase):
    """
    The differences that pushes through a registry cannot produce, on roots
    written file by file: each tool on its own copy.
    """

    def setUp(self):
        self.distribution = require_tool("docker-registry")
        self.scratch = temporary_directory(self, "txregistry-gc-compat-")
        self.root = os.path.join(self.scratch, "root")
        self.tree = Tree(directory_writer(self.root))

    def collect(self, *flags: str) -> tuple:
        """
        Run both tools on copies of the root.

        @return: Distribution's exit status, the files it deleted, and those
            txregistry deleted.
        """
        original = files(self.root)
        statuses, deleted = [], []
        for name, argv in (("distribution", [self.distribution, "garbage-collect"]),
                           ("txregistry", [sys.executable, "-m", "txregistry",
                                           "garbage-collect", "-q"])):
            copy = os.path.join(self.scratch, name)
            shutil.copytree(self.root, copy)
            config = os.path.join(self.scratch, f"{name}.yml")
            with open(config, "w") as f:
                yaml.safe_dump({"version": 0.1,
                                "storage": {"filesystem": {"rootdirectory": copy}}}, f)
            result = run(argv + list(flags) + [config], check=name == "txregistry")
            statuses.append(result.returncode)
            deleted.append(original - files(copy))
        return statuses[0], deleted[0], deleted[1]

    def test_noTags(self):
        """
        With C{-m}, a repository that never had a tag stops Distribution
        2.8 with an error; txregistry deletes its manifests.
        """
        image = self.tree.image("notags", [b"layer"])
        status, theirs, ours = self.collect("-m")
        self.assertNotEqual(status, 0)
        self.assertEqual(theirs, set())
        self.assertIn(f"blobs/sha256/{image.encoded[:2]}/{image.encoded}/data", ours)

    def test_sha512Layer(self):
        """
        A layer named by its sha512 digest: Distribution deletes the sha256
        blob behind it, txregistry keeps it.
        """
        content = b"pushed as sha512"
        canonical = self.tree.blob(content)
        self.tree.link("app", canonical)
        alias = Digest.of(content, "sha512")
        self.tree.link("app", alias, target=canonical)
        self.tree.image("app", [alias], tag="v1")
        _, theirs, ours = self.collect()
        path = f"blobs/sha256/{canonical.encoded[:2]}/{canonical.encoded}/data"
        self.assertIn(path, theirs)
        self.assertEqual(ours, set())

    def test_keptElsewhere(self):
        """
        With C{-m}, a manifest untagged in one repository and tagged in
        another: Distribution 2.8 deletes the untagged revision, txregistry
        keeps it (as Distribution 3 does).
        """
        layer = self.tree.layer("one", b"layer")
        config = self.tree.layer("one", b"config")
        for digest in (layer, config):
            self.tree.link("two", digest)
        self.tree.image("one", [layer], tag="v1", config=config)
        shared = self.tree.image("two", [layer], config=config)
        self.tree.image("two", [b"tagged in two"], tag="v1")
        _, theirs, ours = self.collect("-m")
        self.assertEqual(
            theirs, {f"repositories/two/_manifests/revisions/sha256/{shared.encoded}/link"})
        self.assertEqual(ours, set())
