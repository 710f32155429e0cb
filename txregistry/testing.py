"""
Test doubles for code that uses txregistry, in the spirit of
L{treq.testing}: a registry on the in-memory driver, served in memory,
driven with treq's API and no sockets.
"""

from treq.client import HTTPClient
from treq.testing import RequestTraversalAgent, _SynchronousProducer
from twisted.internet.task import Clock

from txregistry.api.app import RegistryAPI
from txregistry.api.urls import URLBuilder
from txregistry.gc.claims import NO_CLAIMS
from txregistry.registry.registry import Registry, RegistryPolicy
from txregistry.storage.drivers.inmemory import InMemoryDriver
from txregistry.web.site import RegistrySite

__all__ = ["InMemoryDriver", "MemoryRegistry"]


class _SiteAgent(RequestTraversalAgent):
    """
    treq's in-memory agent, serving a given site (with its request class)
    instead of a plain L{Site} around a resource.
    """

    def __init__(self, site):
        super().__init__(site.resource)
        self._serverFactory = site


class MemoryRegistry:
    """
    A registry on an L{InMemoryDriver}, served by a L{RegistrySite} in
    memory, with a treq-like client.

    @ivar driver: the L{InMemoryDriver}.
    @ivar registry: the L{Registry}.
    @ivar api: the L{RegistryAPI}.
    @ivar site: the L{RegistrySite}.
    @ivar client: a L{treq.client.HTTPClient} whose requests reach C{site};
        call L{flush} after each request.
    @ivar clock: the L{Clock} the registry uses for time.
    """

    def __init__(self, policy: RegistryPolicy = RegistryPolicy(delete_enabled=True),
                 urls: URLBuilder = URLBuilder(), headers=(), driver=None,
                 claims=NO_CLAIMS, clock=None, **api_options):
        """
        @param claims: the registry's claims, for online garbage collection
            (L{txregistry.gc.claims}).
        @param clock: the clock to use instead of a new L{Clock}.
        """
        self.clock = clock if clock is not None else Clock()
        self.driver = driver if driver is not None else InMemoryDriver()
        self.registry = Registry(self.driver, self.clock, policy, claims=claims)
        self.api = RegistryAPI(self.registry, urls, **api_options)
        self.site = RegistrySite(
            self.api.resource(), self.api.body_router, extra_headers=headers, access_log=False
        )
        self._agent = _SiteAgent(self.site)
        self.client = HTTPClient(agent=self._agent, data_to_body_producer=_SynchronousProducer)

    def flush(self) -> None:
        """
        Deliver pending bytes between the client and the site.
        """
        self._agent.flush()
