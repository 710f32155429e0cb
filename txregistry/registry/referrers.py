"""
The referrers index: for each subject digest, the manifests of the same
repository whose C{subject} names it.

Distribution keeps no such index, so it is txregistry's own, stored under the
repository's C{_referrers} directory (Distribution skips C{_} directories it
does not know).  It is a cache of what the revisions say: entries are checked
against the revisions when read, and a repository's index is rebuilt from its
revisions (roots written by Distribution, or by a txregistry that lost the
index): a marker records which revisions were scanned, and those not scanned
yet (pushed through Distribution since, say) are scanned when referrers are
asked for.
"""

from txregistry.registry import errors
from txregistry.registry.blobs import BlobStore, read_link, write_link
from txregistry.registry.manifests import load_stored
from txregistry.registry.offload import parse_off_reactor
from txregistry.registry.reference import Digest
from txregistry.storage import layout
from txregistry.storage.interfaces import PathNotFoundError


def _digests_under(paths: list[str]) -> list[Digest]:
    found = []
    for path in paths:
        algorithm_dir, encoded = path.rsplit("/", 2)[-2:]
        try:
            found.append(Digest.parse(f"{algorithm_dir}:{encoded}"))
        except errors.RegistryError:
            continue
    return found


async def _children(driver, path: str) -> list[str]:
    try:
        return await driver.list(path)
    except PathNotFoundError:
        return []


async def list_digest_dirs(driver, path: str) -> list[Digest]:
    """
    The digests named by C{<path>/<algorithm>/<encoded>} directories, the
    shape Distribution uses for revisions and links.
    """
    digests = []
    for algorithm_dir in await _children(driver, path):
        digests.extend(_digests_under(await _children(driver, algorithm_dir)))
    return sorted(digests)


class ReferrersIndex:
    """
    The referrers of one repository.
    """

    def __init__(self, driver, blobs: BlobStore, name: str, offload):
        """
        @param offload: see L{ManifestStore}.
        """
        self._driver = driver
        self._blobs = blobs
        self.name = name
        self._offload = offload

    def _marker(self) -> str:
        return f"{layout.repository(self.name)}/_referrers/scanned"

    async def add(self, subject: Digest, referrer: Digest) -> None:
        """
        Record that C{referrer} refers to C{subject}.
        """
        await write_link(
            self._driver, layout.referrer_link(self.name, subject, referrer), referrer
        )

    async def remove(self, subject: Digest, referrer: Digest) -> None:
        """
        Forget that C{referrer} refers to C{subject}.
        """
        path = layout.referrer_link(self.name, subject, referrer).rsplit("/", 1)[0]
        try:
            await self._driver.delete(path)
        except PathNotFoundError:
            pass

    async def _scan(self) -> None:
        revisions = await list_digest_dirs(self._driver, layout.revisions_dir(self.name))
        try:
            scanned = set((await self._driver.get_content(self._marker())).split())
        except PathNotFoundError:
            scanned = set()
        listed = [str(digest).encode() for digest in revisions]
        if scanned.issuperset(listed):
            return
        for digest, text in zip(revisions, listed):
            if text in scanned:
                continue
            stored = await self._load(digest)
            if stored is not None and stored.subject is not None:
                await self.add(stored.subject.digest, digest)
        await self._driver.put_content(self._marker(), b"\n".join(listed))

    async def _load(self, digest: Digest):
        if await read_link(self._driver, layout.revision_link(self.name, digest)) is None:
            return None
        raw = await self._blobs.get(digest)
        if raw is None:
            return None
        try:
            return await parse_off_reactor(self._offload, load_stored, raw)
        except errors.RegistryError:
            return None

    async def descriptors(self, subject: Digest, artifact_type: str | None = None) -> list[dict]:
        """
        The image-index descriptors of C{subject}'s referrers, sorted by
        digest, optionally only those of one C{artifact_type}.
        """
        await self._scan()
        referrers = await list_digest_dirs(
            self._driver, layout.referrers_dir(self.name, subject)
        )
        found = []
        for digest in referrers:
            stored = await self._load(digest)
            if stored is None or stored.subject is None or stored.subject.digest != subject:
                # A stale entry: the manifest was deleted, possibly by another
                # registry sharing the root.
                continue
            if artifact_type is not None and stored.artifact_type != artifact_type:
                continue
            descriptor = {
                "mediaType": stored.media_type,
                "digest": str(digest),
                "size": len(stored.raw),
            }
            if stored.artifact_type is not None:
                descriptor["artifactType"] = stored.artifact_type
            if stored.annotations:
                descriptor["annotations"] = stored.annotations
            found.append(descriptor)
        return found
