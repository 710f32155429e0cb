"""
Offline garbage collection (L{txregistry.gc.collect} with no grace period
and no claims) against storage trees built by hand: what is marked, what is
swept, with and without C{delete_untagged}, and dry runs.
"""

from twisted.internet.defer import ensureDeferred
from twisted.trial.unittest import SynchronousTestCase

from tests.gc_trees import Tree, driver_writer
from txregistry.gc.collect import Options, Report, collect
from txregistry.gc.mark import GarbageCollectionError
from txregistry.registry.reference import Digest
from txregistry.storage import layout
from txregistry.storage.drivers.inmemory import InMemoryDriver
from txregistry.storage.interfaces import PathNotFoundError


class RecordingReport(Report):
    """
    Remembers what a collection reported, digests as L{Digest}s.
    """

    def __init__(self):
        self.manifests = []
        self.blobs = []
        self.links = []

    def manifest_eligible(self, repository, digest):
        self.manifests.append((repository, Digest.parse(digest)))

    def blob_eligible(self, digest, size):
        self.blobs.append(Digest.parse(digest))

    def link_eligible(self, repository, digest):
        self.links.append((repository, Digest.parse(digest)))


class CollectionTestCase(SynchronousTestCase):
    """
    A store in memory, a L{Tree} writing into it, and checks of what is
    left.
    """

    def setUp(self):
        self.driver = InMemoryDriver()
        self.tree = Tree(driver_writer(self.driver, self))

    def collect(self, **options):
        """
        Run a collection to its end.

        @return: its L{Result} and what it reported.
        """
        report = RecordingReport()
        result = self.successResultOf(
            ensureDeferred(collect(self.driver, Options(**options), report=report))
        )
        return result, report

    def exists(self, path: str) -> bool:
        failures = []
        self.driver.stat(path).addErrback(lambda f: failures.append(f.trap(PathNotFoundError)))
        return not failures

    def blob_exists(self, digest: Digest) -> bool:
        return self.exists(layout.blob_data(digest))

    def revision_exists(self, name: str, digest: Digest) -> bool:
        return self.exists(layout.revision_link(name, digest))

    def link_exists(self, name: str, digest: Digest) -> bool:
        return self.exists(layout.layer_link(name, digest))

    def files(self) -> set:
        found = set()

        def visit(info):
            if not info.is_dir:
                found.add(info.path)

        self.successResultOf(self.driver.walk("/", visit))
        return found


class MarkAndSweepTests(CollectionTestCase):
    """
    Without C{delete_untagged}: every manifest is kept, every blob no
    manifest refers to goes, with the links to it.
    """

    def test_emptyStore(self):
        """
        A store with nothing in it: nothing to do, no error.
        """
        result, _ = self.collect()
        self.assertEqual((result.repositories, result.blobs_deleted), (0, 0))

    def test_unreferencedBlobs(self):
        """
        Blobs no manifest refers to are deleted, whether linked into a
        repository (the link goes too) or not; everything a manifest,
        tagged or not, refers to stays.
        """
        tagged = self.tree.image("app", [b"base", b"top"], tag="v1")
        untagged = self.tree.image("app", [b"old"])
        linked_orphan = self.tree.layer("app", b"uploaded, never used")
        orphan = self.tree.blob(b"in no repository")
        result, report = self.collect()
        for digest in (tagged, untagged, Digest.of(b"base"), Digest.of(b"old")):
            self.assertTrue(self.blob_exists(digest), digest)
        self.assertTrue(self.link_exists("app", Digest.of(b"top")))
        self.assertTrue(self.revision_exists("app", untagged))
        self.assertFalse(self.blob_exists(linked_orphan))
        self.assertFalse(self.link_exists("app", linked_orphan))
        self.assertFalse(self.blob_exists(orphan))
        self.assertEqual(sorted(report.blobs), sorted([linked_orphan, orphan]))
        self.assertEqual(report.links, [("app", linked_orphan)])
        self.assertEqual(
            (result.manifests_deleted, result.blobs_deleted, result.links_deleted),
            (0, 2, 1),
        )
        self.assertEqual(
            result.bytes_freed, len(b"uploaded, never used") + len(b"in no repository")
        )

    def test_sharedAcrossRepositories(self):
        """
        A layer used by a manifest of one repository stays, and so does
        another repository's link to it, though nothing there uses it.
        """
        shared = self.tree.layer("other", b"shared")
        self.tree.image("app", [shared], tag="v1")
        self.tree.link("other", shared)
        self.collect()
        self.assertTrue(self.blob_exists(shared))
        self.assertTrue(self.link_exists("other", shared))

    def test_nestedRepositories(self):
        """
        Repositories nested in others (C{a} and C{a/b}) are both read.
        """
        outer = self.tree.image("a", [b"outer"], tag="v1")
        inner = self.tree.image("a/b", [b"inner"], tag="v1")
        self.collect()
        self.assertTrue(self.blob_exists(outer) and self.blob_exists(inner))
        self.assertTrue(self.blob_exists(Digest.of(b"inner")))

    def test_aliasLinks(self):
        """
        A layer a manifest names by its sha512 digest is stored under its
        sha256 digest behind an alias link: the stored blob is kept.
        """
        content = b"pushed as sha512"
        canonical = self.tree.blob(content)
        alias = Digest.of(content, "sha512")
        self.tree.link("app", canonical)
        self.tree.link("app", alias, target=canonical)
        self.tree.image("app", [alias], tag="v1")
        result, _ = self.collect()
        self.assertTrue(self.blob_exists(canonical))
        self.assertTrue(self.link_exists("app", alias))
        self.assertEqual(result.blobs_deleted, 0)

    def test_revisionWithoutBytes(self):
        """
        A revision whose manifest bytes are gone is no manifest (as in
        Distribution): no error, and it is left alone.
        """
        gone = Digest.of(b"gone")
        self.tree.put(layout.revision_link("app", gone), str(gone).encode())
        self.tree.image("app", [b"layer"], tag="v1")
        result, _ = self.collect(delete_untagged=True)
        self.assertTrue(self.revision_exists("app", gone))
        self.assertEqual(result.manifests_deleted, 0)

    def test_unreadableManifest(self):
        """
        A revision whose bytes are not a manifest stops the collection
        before anything is deleted, naming the manifest.
        """
        orphan = self.tree.blob(b"orphan")
        broken = self.tree.blob(b"not json")
        self.tree.put(layout.revision_link("app", broken), str(broken).encode())
        failure = self.failureResultOf(
            ensureDeferred(collect(self.driver, Options())), GarbageCollectionError
        )
        self.assertIn(str(broken), str(failure.value))
        self.assertTrue(self.blob_exists(orphan))

    def test_dryRun(self):
        """
        A dry run reports what a real one deletes, and deletes nothing.
        """
        index_child = self.tree.image("app", [b"child layer"])
        self.tree.index("app", [index_child], tag="multi")
        self.tree.image("app", [b"untagged layer"])
        self.tree.layer("app", b"orphan")
        self.tree.blob(b"orphan too")
        before = self.files()
        for untagged in (False, True):
            dry, dry_report = self.collect(dry_run=True, delete_untagged=untagged)
            self.assertEqual(self.files(), before)
            self.assertGreater(dry.blobs_deleted, 0)
            self.assertEqual(bool(dry.manifests_deleted), untagged)
        real, report = self.collect(delete_untagged=True)
        self.assertEqual(dry, real)
        self.assertEqual(
            (sorted(dry_report.manifests), sorted(dry_report.blobs), sorted(dry_report.links)),
            (sorted(report.manifests), sorted(report.blobs), sorted(report.links)),
        )
        self.assertNotEqual(self.files(), before)


class DeleteUntaggedTests(CollectionTestCase):
    """
    With C{delete_untagged}: manifests no tag reaches go, with their tag
    history, but not the children of a tagged index nor the referrers of a
    kept manifest.
    """

    def test_untaggedDeleted(self):
        """
        A manifest whose tag moved on loses its revision, its history entry
        and its bytes, and the blobs only it used; the current tag's
        manifest and what it shares with the old one stay.
        """
        base = self.tree.layer("app", b"base")
        old = self.tree.image("app", [base, b"old top"], tag="latest")
        new = self.tree.image("app", [base, b"new top"], tag="latest")
        result, report = self.collect(delete_untagged=True)
        self.assertFalse(self.revision_exists("app", old))
        self.assertFalse(self.exists(layout.tag_index_dir("app", "latest", old)))
        self.assertFalse(self.blob_exists(old))
        self.assertFalse(self.blob_exists(Digest.of(b"old top")))
        self.assertFalse(self.link_exists("app", Digest.of(b"old top")))
        self.assertTrue(self.exists(layout.tag_index_dir("app", "latest", new)))
        self.assertTrue(self.blob_exists(base) and self.blob_exists(Digest.of(b"new top")))
        self.assertEqual(report.manifests, [("app", old)])
        self.assertEqual(result.manifests_deleted, 1)

    def test_multiArchIndex(self):
        """
        The untagged children of a tagged index stay, with their layers
        (Distribution 2.8 deletes them); the children of an untagged index
        go with it.
        """
        amd64 = self.tree.image("app", [b"amd64 layer"])
        arm64 = self.tree.image("app", [b"arm64 layer"])
        index = self.tree.index("app", [amd64, arm64], tag="multi")
        gone_child = self.tree.image("app", [b"old child layer"])
        gone_index = self.tree.index("app", [gone_child])
        _, report = self.collect(delete_untagged=True)
        for digest in (index, amd64, arm64):
            self.assertTrue(self.revision_exists("app", digest))
            self.assertTrue(self.blob_exists(digest))
        self.assertTrue(self.blob_exists(Digest.of(b"arm64 layer")))
        self.assertEqual(report.manifests, [("app", gone_index), ("app", gone_child)])
        self.assertFalse(self.blob_exists(Digest.of(b"old child layer")))

    def test_nestedIndex(self):
        """
        Children of children of a tagged index stay.
        """
        image = self.tree.image("app", [b"deep layer"])
        inner = self.tree.index("app", [image])
        self.tree.index("app", [inner], tag="outer")
        result, _ = self.collect(delete_untagged=True)
        self.assertTrue(self.revision_exists("app", image))
        self.assertTrue(self.blob_exists(Digest.of(b"deep layer")))
        self.assertEqual(result.manifests_deleted, 0)

    def test_referrers(self):
        """
        Referrers of a kept manifest stay (and their own referrers); a
        referrer of a manifest that goes goes too, with its referrers index
        entry.
        """
        image = self.tree.image("app", [b"image layer"], tag="v1")
        signature = self.tree.image("app", [b"signature"], subject=image)
        countersignature = self.tree.image("app", [b"countersignature"], subject=signature)
        old = self.tree.image("app", [b"old layer"])
        old_sbom = self.tree.image("app", [b"old sbom"], subject=old)
        _, report = self.collect(delete_untagged=True)
        for digest in (image, signature, countersignature):
            self.assertTrue(self.revision_exists("app", digest))
        self.assertTrue(self.blob_exists(Digest.of(b"countersignature")))
        self.assertTrue(self.exists(layout.referrer_link("app", image, signature)))
        self.assertEqual(report.manifests, [("app", old_sbom), ("app", old)])
        self.assertFalse(self.exists(layout.referrer_link("app", old, old_sbom)))
        self.assertFalse(self.blob_exists(Digest.of(b"old sbom")))

    def test_keptElsewhere(self):
        """
        An untagged manifest of one repository stays if another repository
        keeps the same manifest (Distribution 3's rule), with its referrers
        there.
        """
        layer = self.tree.layer("one", b"layer")
        self.tree.link("two", layer)
        config = self.tree.layer("one", b"config")
        self.tree.link("two", config)
        tagged = self.tree.image("one", [layer], tag="v1", config=config)
        untagged = self.tree.image("two", [layer], config=config)
        self.assertEqual(tagged, untagged)
        signature = self.tree.image("two", [b"signature"], subject=untagged)
        result, _ = self.collect(delete_untagged=True)
        self.assertTrue(self.revision_exists("two", untagged))
        self.assertTrue(self.revision_exists("two", signature))
        self.assertEqual(result.manifests_deleted, 0)

    def test_noTags(self):
        """
        In a repository that never had a tag (pushed by digest only), every
        manifest is untagged (Distribution 2.8 stops with an error there,
        3.x leaves the revisions and deletes their blobs).
        """
        image = self.tree.image("app", [b"layer"])
        result, _ = self.collect(delete_untagged=True)
        self.assertFalse(self.revision_exists("app", image))
        self.assertFalse(self.blob_exists(Digest.of(b"layer")))
        self.assertEqual(result.manifests_deleted, 1)

    def test_aliasRevision(self):
        """
        A manifest pushed by its sha512 digest has an alias revision too:
        both go when it does, and a tagged index naming a child by sha512
        keeps the child.
        """
        child = self.tree.image("app", [b"child"])
        raw = self.successResultOf(self.driver.get_content(layout.blob_data(child)))
        alias = Digest.of(raw, "sha512")
        self.tree.put(layout.revision_link("app", alias), str(child).encode())
        self.tree.index("app", [alias], tag="multi")
        result, _ = self.collect(delete_untagged=True)
        self.assertTrue(self.revision_exists("app", child))
        self.assertTrue(self.blob_exists(Digest.of(b"child")))
        self.assertEqual(result.manifests_deleted, 0)
        self.successResultOf(self.driver.delete(layout.tag_dir("app", "multi")))
        result, _ = self.collect(delete_untagged=True)
        self.assertFalse(self.revision_exists("app", alias))
        self.assertFalse(self.revision_exists("app", child))
        self.assertEqual(result.manifests_deleted, 2)
