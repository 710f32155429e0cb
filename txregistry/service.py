"""
Assembling the running registry from a configuration: the storage driver,
the HTTP listener serving the API, and the background services.
"""

import socket
from functools import partial

from twisted.application.service import MultiService, Service
from twisted.internet import defer
from twisted.internet.defer import ensureDeferred
from twisted.internet.threads import deferToThreadPool
from twisted.internet.endpoints import TCP4ServerEndpoint, TCP6ServerEndpoint, UNIXServerEndpoint
from twisted.logger import Logger

from txregistry.api.app import RegistryAPI
from txregistry.api.errors import render_error
from txregistry.api.urls import URLBuilder
from txregistry.auth.setup import access_controller, check_auth, token_server
from txregistry.auth.tokenserver import FORM_LIMIT
from txregistry.config import Config, ConfigError
from txregistry.gc.online import maintenance_claims, maintenance_services
from txregistry.health import StorageHealth
from txregistry.notifications.emitter import EventEmitter
from txregistry.notifications.service import NotificationService, check_notifications, source_record
from txregistry.registry import errors
from txregistry.registry.manifeststore import ValidationPolicy
from txregistry.registry.registry import Registry, RegistryPolicy
from txregistry.storage.plugins import create_driver, get_driver_factory
from txregistry.web.site import RegistrySite
from txregistry.web.tls import ServerTLS, tls_factory
from txregistry.workers.listen import SharedPortEndpoint
from txregistry.workers.pool import WorkerPool, worker_command
from txregistry.workers.role import Worker, check_workers, former_worker_spools

_log = Logger()


def listen_endpoint(http, reactor, worker: Worker = Worker()):
    """
    The server endpoint for C{http.addr} and C{http.net}: one that shares
    the address with the other processes when there are several.

    @param worker: which server process this is.
    @raise ConfigError: if the address does not parse.
    """
    if http.net == "unix":
        return UNIXServerEndpoint(reactor, http.addr)
    host, sep, port_text = http.addr.rpartition(":")
    if not sep or not port_text.isdigit() or int(port_text) > 65535:
        raise ConfigError("http.addr", f"expected HOST:PORT, got {http.addr!r}")
    port = int(port_text) if worker.port is None else worker.port
    family = socket.AF_INET
    if host.startswith("[") and host.endswith("]"):
        host, family = host[1:-1], socket.AF_INET6
    if worker.shares_port:
        return SharedPortEndpoint(reactor, family, host, port)
    if family == socket.AF_INET6:
        return TCP6ServerEndpoint(reactor, port, interface=host)
    return TCP4ServerEndpoint(reactor, port, interface=host)


def validation_policy(config: Config) -> ValidationPolicy:
    """
    The manifest validation rules of the C{validation} section.
    """
    validation = config.validation
    return ValidationPolicy(
        enabled=not validation.disabled,
        url_allow=tuple(validation.url_allow),
        url_deny=tuple(validation.url_deny),
        index_platforms=validation.index_platforms,
        platform_list=frozenset(validation.platform_list),
    )


def check_resources(config: Config, environ) -> None:
    """
    Check what the configuration names outside itself, before anything
    starts: the storage driver's parameters, access control and its files,
    the TLS certificate and key, the notification sinks and spool.

    @param environ: the environment (for default directories).
    @raise ConfigError: naming the key at fault.
    """
    get_driver_factory(config.storage.driver).validate(config.storage.parameters)
    check_auth(config.auth)
    if config.http.tls.certificate:
        ServerTLS(config.http.tls)
    check_notifications(config, environ)
    check_workers(config)


class Listener(Service):
    """
    Listens on an endpoint while running.  Listening happens in
    L{privilegedStartService}, so a failure (address in use) stops start-up
    with an error rather than leaving a registry that serves nothing.

    @ivar port: the L{IListeningPort}, once listening.
    """

    _log = Logger()

    def __init__(self, endpoint, factory):
        self._endpoint = endpoint
        self._factory = factory
        self.port = None

    def privilegedStartService(self):
        """
        Listen now.
        """
        super().privilegedStartService()
        failures = []
        self._endpoint.listen(self._factory).addCallbacks(self._listening, failures.append)
        if failures:
            failures[0].raiseException()

    def _listening(self, port):
        self.port = port
        address = port.getHost()
        self._log.info(
            "txregistry: listening on {address}",
            address=getattr(address, "name", None) or f"{address.host}:{address.port}",
        )

    def startService(self):
        """
        Listen, unless L{privilegedStartService} did already.
        """
        if self.port is None:
            self.privilegedStartService()
        super().startService()

    def stopService(self):
        """
        Stop listening.
        """
        super().stopService()
        port, self.port = self.port, None
        return port.stopListening() if port is not None else None


class RegistryService(MultiService):
    """
    The whole registry as one service.

    @ivar driver: the storage driver.
    @ivar api: the L{RegistryAPI}.
    @ivar site: the L{RegistrySite} serving it.
    @ivar listener: the L{Listener}.
    @ivar notifications: the L{NotificationService}, or C{None} when no
        notification endpoint is enabled.
    @ivar workers: the L{WorkerPool} of the other server processes, in the
        first of several; else C{None}.
    """

    def __init__(self, config: Config, reactor, worker: Worker | None = None,
                 config_path: str | None = None):
        """
        @param worker: which server process this is; by default the first
            of C{http.workers}.
        @param config_path: the file C{config} came from (C{None}: the
            built-in configuration), for the other server processes.
        """
        super().__init__()
        self._config = config
        self._reactor = reactor
        if worker is None:
            worker = Worker(count=config.http.workers)
        self._worker = worker
        self.driver = create_driver(config, reactor)
        storage = config.storage
        policy = RegistryPolicy(
            delete_enabled=storage.delete_enabled,
            read_only=storage.maintenance.readonly_enabled,
            validation=validation_policy(config),
        )
        registry = Registry(
            self.driver, reactor, policy,
            offload=partial(deferToThreadPool, reactor, reactor.getThreadPool()),
            claims=maintenance_claims(storage.maintenance, reactor),
        )
        http = config.http
        urls = URLBuilder(prefix=http.prefix, host=http.host, relative=http.relativeurls)
        self.notifications = NotificationService.from_config(
            config, reactor, spool=worker.spool_directory
        )
        events = EventEmitter()
        if self.notifications is not None:
            self.notifications.setServiceParent(self)
            events = EventEmitter(self.notifications.notifier, source_record(http.addr), urls,
                                  config.notifications.events_includereferences)
        self.api = RegistryAPI(
            registry,
            urls,
            catalog_max_entries=config.catalog.maxentries,
            tags_max=config.tags.maxtags,
            access_controller=access_controller(config.auth, reactor),
            events=events,
        )
        auth = config.auth
        if auth is not None and auth.provider == "token" and auth.options.server is not None:
            server = token_server(auth.options, reactor)
            self.api.serve(auth.options.server_path, ("GET", "POST"),
                           lambda api, request: server.handle(request), FORM_LIMIT)
        self._health = None
        if config.health.storagedriver.enabled:
            self._health = StorageHealth(self.driver, config.health.storagedriver.threshold)
            timer = self._health.service(config.health.storagedriver.interval, reactor)
            timer.setServiceParent(self)
        self.site = RegistrySite(
            self.api.resource(),
            self.api.body_router,
            extra_headers=sorted(http.headers.items()),
            access_log=not config.log.accesslog_disabled,
            gate=self._gate if self._health is not None else None,
            reactor=reactor,
        )
        self.listener = Listener(listen_endpoint(http, reactor, worker),
                                 tls_factory(http.tls, self.site))
        self.listener.setServiceParent(self)
        self.workers = None
        if worker.first and worker.shares_port:
            self.workers = WorkerPool(
                worker.count,
                lambda index: worker_command(index, worker.count, self.listener.port.getHost().port,
                                             config_path),
                reactor,
                http.draintimeout,
            )
            self.workers.setServiceParent(self)
        if worker.first:
            # Maintenance runs once per registry, in its first process.
            for maintenance in maintenance_services(storage.maintenance, registry, reactor):
                maintenance.setServiceParent(self)

    def _gate(self, request):
        if self._health.healthy or request.path == b"/":
            return None
        return render_error(request, errors.RegistryError(errors.UNAVAILABLE))

    def startService(self):
        """
        Start listening and say where, and where the data lives.
        """
        super().startService()
        storage = self._config.storage
        where = storage.parameters.get("rootdirectory", "")
        _log.info(
            "txregistry: storage driver {driver}{where}",
            driver=storage.driver,
            where=f" at {where}" if where else "",
        )
        if not self._worker.first:
            return  # the first process said the rest
        if self.notifications is not None:
            for index, directory in former_worker_spools(self.notifications.root,
                                                         self._worker.count):
                _log.warn(
                    "notifications: {directory} holds the queue of worker {index}, which "
                    "does not run with http.workers {count}; its events wait until it does",
                    directory=directory, index=index, count=self._worker.count,
                )
        for warning in self._config.warnings:
            _log.warn("configuration: {warning}", warning=warning)
        if storage.cache_blobdescriptor:
            _log.info(
                "configuration: storage.cache.blobdescriptor {cache} accepted; "
                "txregistry has no blob descriptor cache yet",
                cache=storage.cache_blobdescriptor,
            )

    async def _stop(self):
        # Stop taking connections, let requests in flight finish (for at
        # most http.draintimeout), then stop everything else.  The other
        # workers do the same at the same time.
        workers = defer.succeed(None) if self.workers is None else self.workers.stopService()
        await defer.maybeDeferred(self.listener.stopService)
        drain = self._config.http.draintimeout
        if drain > 0:
            idle = self.site.idle()
            idle.addTimeout(drain, self._reactor)
            try:
                await idle
            except defer.TimeoutError:
                _log.warn("requests still running after draining {seconds} s", seconds=drain)
        await workers
        await super().stopService()
        await self.driver.close()

    def stopService(self):
        """
        Stop listening and the background services, then release storage.
        """
        return ensureDeferred(self._stop())
