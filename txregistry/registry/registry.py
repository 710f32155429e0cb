"""
The registry: repositories over one storage driver, and the rules that
apply to all of them (read-only mode, whether deletes are allowed).

This is the HTTP-free API the web layer calls.
"""

import attrs

from txregistry.gc.claims import NO_CLAIMS
from txregistry.registry import catalog, errors
from txregistry.registry.blobs import BlobDescriptor, BlobStore, RepositoryBlobs
from txregistry.registry.manifeststore import ManifestStore, ValidationPolicy
from txregistry.registry.offload import inline
from txregistry.registry.reference import Digest, validate_name
from txregistry.registry.uploads import UploadStore


@attrs.frozen
class RegistryPolicy:
    """
    Registry-wide switches from the configuration.

    @ivar delete_enabled: C{storage.delete.enabled}.
    @ivar read_only: C{storage.maintenance.readonly.enabled}.
    @ivar validation: what pushed manifests must satisfy.
    """

    delete_enabled: bool = False
    read_only: bool = False
    validation: ValidationPolicy = ValidationPolicy()


class Repository:
    """
    One repository: its blobs, manifests, tags and referrers.
    """

    def __init__(self, registry: "Registry", name: str):
        self.name = name
        self.blobs = RepositoryBlobs(registry.driver, registry.blobs, name)
        self.manifests = ManifestStore(
            registry.driver, registry.blobs, name, registry.policy.validation, registry.offload
        )
        self.tags = self.manifests.tags
        self.referrers = self.manifests.referrers
        self._registry = registry

    async def mount(self, digest: Digest, source: str | None) -> BlobDescriptor | None:
        """
        Make a blob visible here without uploading it again.

        @param source: the repository to mount from; C{None} mounts any blob
            the store holds (the OCI spec's automatic content discovery).
        @return: the mounted blob, or C{None} if it cannot be mounted (the
            caller then starts an ordinary upload).
        """
        if source is None:
            descriptor = await self._registry.blobs.stat(digest)
        else:
            try:
                origin = self._registry.repository(source)
            except errors.RegistryError:
                return None
            descriptor = await origin.blobs.stat(digest)
        if descriptor is None:
            return None
        await self.blobs.link(digest, descriptor.digest)
        return descriptor


class Registry:
    """
    All repositories of one store.

    @ivar driver: the L{IStorageDriver}.
    @ivar blobs: the global L{BlobStore}.
    @ivar uploads: the L{UploadStore}.
    @ivar policy: the L{RegistryPolicy}.
    @ivar offload: how CPU-heavy work leaves the reactor; see
        L{txregistry.registry.offload}.
    """

    def __init__(self, driver, clock, policy: RegistryPolicy = RegistryPolicy(),
                 *, offload=inline, claims=NO_CLAIMS):
        """
        @param claims: where the API records what it uses, for online garbage
            collection (L{txregistry.gc.claims}).
        """
        self.driver = driver
        self.policy = policy
        self.offload = offload
        self.blobs = BlobStore(driver, claims)
        self.uploads = UploadStore(driver, self.blobs, clock)

    def repository(self, name: str) -> Repository:
        """
        @raise errors.RegistryError: C{NAME_INVALID}.
        """
        return Repository(self, validate_name(name))

    def check_writable(self) -> None:
        """
        @raise errors.RegistryError: C{UNSUPPORTED} in read-only mode, with
            the C{Allow} header Distribution sends then.
        """
        if self.policy.read_only:
            raise errors.RegistryError(
                errors.UNSUPPORTED,
                message="the registry is in read-only mode",
                headers={"Allow": "GET, HEAD"},
            )

    def check_deletable(self) -> None:
        """
        @raise errors.RegistryError: C{UNSUPPORTED} unless deletes are enabled.
        """
        self.check_writable()
        if not self.policy.delete_enabled:
            raise errors.RegistryError(
                errors.UNSUPPORTED, message="deletes are disabled on this registry"
            )

    async def catalog(self, limit: int | None = None, last: str | None = None) -> list[str]:
        """
        Repository names in catalog order; see L{catalog.repositories}.
        """
        return await catalog.repositories(self.driver, limit, last)
