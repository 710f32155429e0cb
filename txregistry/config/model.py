"""
The configuration tree: Distribution's YAML format described once, as frozen
attrs classes whose fields are L{setting}s.

The same description checks a document (L{SCHEMA}) and guides the
C{REGISTRY_*} environment overrides.  Keys are Distribution's; fields are their
snake_case forms, flattened where a mapping only wraps one value
(C{storage.delete.enabled} is L{StorageConfig.delete_enabled}).  Durations are
in seconds.  Whether a feature is implemented yet is not decided here but in
L{txregistry.config.unsupported}.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import attrs

from txregistry.config.duration import parse_duration
from txregistry.config.errors import ConfigError
from txregistry.config.nodes import (
    URL,
    Anything,
    Choice,
    Duration,
    Flag,
    Integer,
    Leaf,
    ListOf,
    MapOf,
    Node,
    Pattern,
    Section,
    Text,
    Warnings,
    join,
    plain,
    setting,
)

ANYTHING = Anything()
DURATION = Duration()
FLAG = Flag()
INTEGER = Integer()
COUNT = Integer(minimum=0)
TEXT = Text()
TEXTS = ListOf(TEXT)
HEADERS = MapOf(ListOf(TEXT, lone=True))
"""HTTP headers: name to list of values; a single value may be written bare."""
LEVEL = Choice(("error", "warn", "info", "debug"), fold=True)
VERSION = "0.1"
"""The only configuration version Distribution (and so txregistry) reads."""
DEFAULT_CHECK_INTERVAL = 10.0
"""Seconds between health checks when a checker gives no interval."""


def _default_interval(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    A health check's zero interval means the default, as in Distribution.
    """
    if values["interval"] == 0:
        values["interval"] = DEFAULT_CHECK_INTERVAL


class _Version(Text):
    """
    The configuration version: C{0.1}, which YAML may also give as a number.
    """

    def check(self, value: object, key: str) -> str:
        text = super().check(value, key)
        if text != VERSION:
            raise ConfigError(key, f"unsupported version {text!r}: only {VERSION} is supported")
        return text


# log


@attrs.frozen(kw_only=True)
class MailOptions:
    """
    The options of a C{mail} log hook.
    """

    smtp_addr: str | None = setting(TEXT, key="smtp.addr", go="SMTP.Addr", default=None)
    smtp_username: str | None = setting(TEXT, key="smtp.username", go="SMTP.Username", default=None)
    smtp_password: str | None = setting(TEXT, key="smtp.password", go="SMTP.Password", default=None)
    smtp_insecure: bool = setting(FLAG, key="smtp.insecure", go="SMTP.Insecure", default=False)
    sender: str | None = setting(TEXT, key="from", default=None)
    to: list[str] = setting(TEXTS, factory=list)


@attrs.frozen(kw_only=True)
class LogHook:
    """
    One entry of C{log.hooks}.
    """

    disabled: bool = setting(FLAG, default=False)
    type: str | None = setting(TEXT, default=None)
    levels: list[str] = setting(TEXTS, factory=list)
    options: MailOptions = setting(Section(MailOptions), go="MailOptions")


@attrs.frozen(kw_only=True)
class LogConfig:
    """
    C{log}: the application log (on stderr) and the access log (on stdout).

    @ivar level: C{error}, C{warn}, C{info} or C{debug}.
    @ivar formatter: C{text}, C{json} (or C{logstash}).
    @ivar fields: static fields added to every log line.
    """

    level: str = setting(LEVEL, default="info")
    formatter: str = setting(Choice(("text", "json", "logstash")), default="text")
    fields: dict[str, str] = setting(MapOf(TEXT), factory=dict)
    accesslog_disabled: bool = setting(FLAG, key="accesslog.disabled", default=False)
    reportcaller: bool = setting(FLAG, default=False)
    hooks: list[LogHook] = setting(ListOf(Section(LogHook)), factory=list)


# storage


@attrs.frozen(kw_only=True)
class UploadPurgingConfig:
    """
    C{storage.maintenance.uploadpurging}: removal of abandoned uploads.

    Distribution insists on all four keys when the section is given; here
    missing ones take their defaults.

    @ivar age: seconds after which an upload counts as abandoned.
    @ivar interval: seconds between purges.
    """

    enabled: bool = setting(FLAG, default=True)
    age: float = setting(DURATION, default=168 * 3600.0)
    interval: float = setting(Duration(positive=True), default=24 * 3600.0)
    dryrun: bool = setting(FLAG, default=False)


@attrs.frozen(kw_only=True)
class GCConfig:
    """
    C{storage.maintenance.gc}: garbage collection inside the running
    registry (a txregistry extension; Distribution only collects offline).

    @ivar interval: seconds between the starts of two collections.
    @ivar delay: the grace period in seconds: nothing modified or used by a
        client more recently than this is deleted.
    @ivar deleteuntagged: delete manifests no tag reaches too, as
        C{garbage-collect --delete-untagged} does.
    @ivar dryrun: log what would be deleted, delete nothing.
    """

    enabled: bool = setting(FLAG, default=False)
    interval: float = setting(Duration(positive=True), default=24 * 3600.0)
    delay: float = setting(DURATION, default=3600.0)
    deleteuntagged: bool = setting(FLAG, default=False)
    dryrun: bool = setting(FLAG, default=False)


@attrs.frozen(kw_only=True)
class MaintenanceConfig:
    """
    C{storage.maintenance}.

    @ivar readonly_enabled: whether every write is refused.
    """

    uploadpurging: UploadPurgingConfig = setting(Section(UploadPurgingConfig))
    readonly_enabled: bool = setting(FLAG, key="readonly.enabled", default=False)
    gc: GCConfig = setting(Section(GCConfig))


CACHES = ("inmemory", "redis")
"""The blob descriptor caches Distribution knows."""


def _finish_storage(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    Pick the one storage driver and the blob descriptor cache.
    """
    drivers = values.pop("drivers", {})
    if len(drivers) > 1:
        names = ", ".join(sorted(map(str, drivers)))
        raise ConfigError(key, f"must name exactly one storage driver, got {names}")
    driver, parameters = next(iter(drivers.items()), ("", {}))
    if not isinstance(driver, str):
        raise ConfigError(key, f"the storage driver's name must be a string, got {driver!r}")
    if not driver:
        raise ConfigError(key, "no storage configuration provided: name a driver, e.g. filesystem")
    values["driver"], values["parameters"] = driver, parameters

    layerinfo = values.pop("cache.layerinfo", None)
    cache = values["cache_blobdescriptor"] or layerinfo
    if cache and cache not in CACHES:
        warnings.append(
            f"{join(key, 'cache.blobdescriptor')}: unknown cache type {cache!r}, caching disabled"
        )
    values["cache_blobdescriptor"] = cache if cache in CACHES else None


@attrs.frozen(kw_only=True)
class StorageConfig:
    """
    C{storage}: one driver with its parameters, and the keys Distribution
    reserves beside it.

    @ivar driver: the driver's name (C{filesystem}, C{inmemory}, C{s3}, ...).
    @ivar parameters: the mapping under the driver's key, for the driver to
        check.
    @ivar redirect_disabled: C{storage.redirect.disable}.
    @ivar cache_blobdescriptor: C{None}, C{inmemory} or C{redis}
        (C{storage.cache.layerinfo} is the old name).
    @ivar tag_concurrencylimit: C{None} for the default.
    """

    driver: str
    parameters: dict
    delete_enabled: bool = setting(FLAG, key="delete.enabled", default=False)
    redirect_disabled: bool = setting(FLAG, key="redirect.disable", default=False)
    cache_blobdescriptor: str | None = setting(TEXT, key="cache.blobdescriptor", default=None)
    cache_blobdescriptorsize: int = setting(COUNT, key="cache.blobdescriptorsize", default=10000)
    maintenance: MaintenanceConfig = setting(Section(MaintenanceConfig))
    tag_concurrencylimit: int | None = setting(
        Integer(minimum=1), key="tag.concurrencylimit", default=None
    )


class _StorageSection(Section):
    """
    C{storage}, which may also be written as a bare driver name.
    """

    def adopt(self, value: object) -> object:
        return {value: {}} if isinstance(value, str) else value

    def validate(self, value: object, key: str, warnings: Warnings) -> StorageConfig:
        return super().validate(self.adopt(value), key, warnings)


# auth


@attrs.frozen(kw_only=True)
class SillyAuthOptions:
    """
    C{auth.silly}: any request with an Authorization header passes.
    """

    realm: str = setting(TEXT)
    service: str = setting(TEXT)


SIGNING_ALGORITHMS = (
    "EdDSA", "HS256", "HS384", "HS512", "RS256", "RS384", "RS512",
    "ES256", "ES384", "ES512", "PS256", "PS384", "PS512",
)


class _Seconds(Leaf):
    """
    A positive time in seconds: a number, or a Go duration string (C{5m}).
    Unlike Distribution's durations, a bare number counts seconds.
    """

    def check(self, value: object, key: str) -> float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            seconds = float(value)
        else:
            seconds = parse_duration(value, key)
        if seconds <= 0:
            raise ConfigError(key, f"must be positive, got {value!r}")
        return seconds


@attrs.frozen(kw_only=True)
class TokenServerOptions:
    """
    C{auth.token.server} (a txregistry extension): the built-in token server.

    @ivar key: the PEM private key signing tokens; its certificate is in
        C{auth.token.rootcertbundle}.
    @ivar htpasswd: the users (bcrypt htpasswd file).
    @ivar acl: the access control list (YAML; see docs/auth.md).
    @ivar expiration: the lifetime of a token, in seconds.
    """

    key: str = setting(TEXT)
    htpasswd: str = setting(TEXT)
    acl: str = setting(TEXT)
    expiration: float = setting(_Seconds(), default=300.0)


def _server_path(realm: str, autoredirect: bool, autoredirectpath: str) -> str:
    """
    The path the built-in token server answers at: that of C{realm}, or
    C{autoredirectpath} when the realm follows the request's host.
    """
    return autoredirectpath if autoredirect else (urlsplit(realm).path or "/")


def _finish_token(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    Token auth needs somewhere to find the issuer's keys; the built-in
    token server needs its certificate there and a path outside the API.
    """
    if not (values["rootcertbundle"] or values["jwks"]):
        raise ConfigError(join(key, "rootcertbundle"), "token auth needs rootcertbundle or jwks")
    if values["server"] is None:
        return
    if not values["rootcertbundle"]:
        raise ConfigError(
            join(key, "rootcertbundle"),
            "is required with server: it holds the certificate of server.key",
        )
    path = _server_path(values["realm"], values["autoredirect"], values["autoredirectpath"])
    segments = path.strip("/").split("/")
    if not path.startswith("/") or segments[0] in ("", "v2"):
        raise ConfigError(
            join(key, "autoredirectpath" if values["autoredirect"] else "realm"),
            f"the token server needs a path of its own outside /v2/, got {path!r}",
        )


@attrs.frozen(kw_only=True)
class TokenAuthOptions:
    """
    C{auth.token}: bearer tokens from a token server, external or built in.

    @ivar signingalgorithms: empty for all.
    @ivar server: the built-in token server, or C{None}.
    """

    realm: str = setting(URL())
    service: str = setting(TEXT)
    issuer: str = setting(TEXT)
    rootcertbundle: str | None = setting(TEXT, default=None)
    jwks: str | None = setting(TEXT, default=None)
    autoredirect: bool = setting(FLAG, default=False)
    autoredirectpath: str = setting(TEXT, default="/auth/token")
    signingalgorithms: list[str] = setting(ListOf(Choice(SIGNING_ALGORITHMS)), factory=list)
    server: TokenServerOptions | None = setting(Section(TokenServerOptions), default=None)

    @property
    def server_path(self) -> str:
        """
        The path the built-in token server answers at.
        """
        return _server_path(self.realm, self.autoredirect, self.autoredirectpath)


@attrs.frozen(kw_only=True)
class HtpasswdAuthOptions:
    """
    C{auth.htpasswd}: basic auth against an htpasswd file.
    """

    realm: str = setting(TEXT)
    path: str = setting(TEXT)


AUTH_PROVIDERS: dict[str, Section] = {
    "silly": Section(SillyAuthOptions),
    "token": Section(TokenAuthOptions, finish=_finish_token),
    "htpasswd": Section(HtpasswdAuthOptions),
}
"""The built-in auth providers and the node checking each one's options."""


@attrs.frozen(kw_only=True)
class AuthConfig:
    """
    C{auth}: the one access controller.

    @ivar provider: its name: one of L{AUTH_PROVIDERS}, or the name of an
        access controller another package installs.
    @ivar options: its checked options; for a provider not in
        L{AUTH_PROVIDERS}, the mapping as written, for its plugin to check.
    """

    provider: str
    options: SillyAuthOptions | TokenAuthOptions | HtpasswdAuthOptions | dict


class _AuthNode(MapOf):
    """
    C{auth}: a mapping of one provider name to its options, or a bare name.
    Provider C{none} (any case) or no provider means no auth: C{None}.
    """

    def __init__(self) -> None:
        super().__init__(ANYTHING)

    def adopt(self, value: object) -> object:
        return {value: {}} if isinstance(value, str) else value

    def validate(self, value: object, key: str, warnings: Warnings) -> AuthConfig | None:
        providers = super().validate(self.adopt(value), key, warnings)
        if len(providers) > 1:
            names = ", ".join(sorted(providers))
            raise ConfigError(key, f"must name exactly one auth provider, got {names}")
        if not providers:
            return None
        [(provider, options)] = providers.items()
        if provider.lower() == "none":
            return None
        node = AUTH_PROVIDERS.get(provider)
        if node is None:
            # Another package's access controller checks its own options.
            return AuthConfig(provider=provider, options=plain(options or {}))
        return AuthConfig(
            provider=provider, options=node.validate(options, join(key, provider), warnings)
        )


# http


@attrs.frozen(kw_only=True)
class LetsEncryptConfig:
    """
    C{http.tls.letsencrypt}: certificates from an ACME server.
    """

    cachefile: str | None = setting(TEXT, default=None)
    email: str | None = setting(TEXT, default=None)
    hosts: list[str] = setting(TEXTS, factory=list)
    directoryurl: str | None = setting(URL(), default=None)


TLS_VERSIONS = ("tls1.0", "tls1.1", "tls1.2", "tls1.3")
"""The values of C{http.tls.minimumtls} Distribution 2.8 reads."""


def _finish_tls(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    A certificate needs its key and a key its certificate; ACME needs an
    email address.  C{minimumversion} is another name for C{minimumtls};
    TLS 1.0 and 1.1 are refused (as in Distribution 3).
    """
    alias = values.pop("minimumversion", None)
    if alias is not None and "minimumtls" not in mapping:
        values["minimumtls"] = alias
    if values["minimumtls"] in ("tls1.0", "tls1.1"):
        name = "minimumtls" if "minimumtls" in mapping else "minimumversion"
        raise ConfigError(
            join(key, name),
            f"{values['minimumtls']} is insecure and refused: use tls1.2 or tls1.3",
        )
    for present, missing in (("certificate", "key"), ("key", "certificate"),
                             ("clientcas", "certificate")):
        if values[present] and not values[missing]:
            raise ConfigError(join(key, missing), f"is required with {join(key, present)}")
    if values["letsencrypt"].cachefile and not values["letsencrypt"].email:
        raise ConfigError(join(key, "letsencrypt.email"), "is required with letsencrypt.cachefile")


@attrs.frozen(kw_only=True)
class TLSConfig:
    """
    C{http.tls}.
    """

    certificate: str | None = setting(TEXT, default=None)
    key: str | None = setting(TEXT, default=None)
    clientcas: list[str] = setting(TEXTS, factory=list)
    clientauth: str = setting(
        Choice((
            "require-and-verify-client-cert",
            "verify-client-cert-if-given",
            "require-any-client-cert",
            "request-client-cert",
        )),
        default="require-and-verify-client-cert",
    )
    minimumtls: str = setting(Choice(TLS_VERSIONS), default="tls1.2")
    ciphersuites: list[str] = setting(TEXTS, factory=list)
    letsencrypt: LetsEncryptConfig = setting(Section(LetsEncryptConfig))


def _finish_prometheus(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    The metrics path is a URL path.
    """
    if not values["path"].startswith("/"):
        raise ConfigError(join(key, "path"), f"must start with /, got {values['path']!r}")


@attrs.frozen(kw_only=True)
class PrometheusConfig:
    """
    C{http.debug.prometheus}.
    """

    enabled: bool = setting(FLAG, default=False)
    path: str = setting(TEXT, default="/metrics")


@attrs.frozen(kw_only=True)
class DebugConfig:
    """
    C{http.debug}: the separate debug listener.
    """

    addr: str | None = setting(TEXT, default=None)
    prometheus: PrometheusConfig = setting(Section(PrometheusConfig, finish=_finish_prometheus))


NETWORKS = ("tcp", "tcp4", "tcp6", "unix", "unixpacket")
"""The values of C{http.net} Go can listen on."""
_HOST_PORT = re.compile(r"(?P<host>\[[0-9A-Fa-f:.%\w]+\]|[^:\[\]]*):(?P<port>\d{1,5})")


def _finish_http(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    Check the listening address against the network; normalise the prefix;
    an empty secret means none.
    """
    net = values["net"] or "tcp"
    if net not in NETWORKS:
        raise ConfigError(join(key, "net"), f"expected one of {', '.join(NETWORKS)}, got {net!r}")
    values["net"] = net
    addr = values["addr"]
    if net.startswith("tcp"):
        match = _HOST_PORT.fullmatch(addr)
        if match is None or int(match["port"]) > 65535:
            raise ConfigError(
                join(key, "addr"), f"expected HOST:PORT (such as :5000), got {addr!r}"
            )
    elif not addr:
        raise ConfigError(join(key, "addr"), f"expected a socket path for network {net}")
    inner = values["prefix"].strip("/")
    values["prefix"] = f"/{inner}/" if inner else "/"
    values["secret"] = values["secret"] or None


@attrs.frozen(kw_only=True)
class HTTPConfig:
    """
    C{http}: the registry's listener.

    @ivar addr: C{HOST:PORT} for TCP, a path for a Unix socket.
    @ivar net: C{tcp} (the default), C{tcp4}, C{tcp6}, C{unix}, C{unixpacket}.
    @ivar prefix: the path before C{/v2/}, starting and ending with C{/}.
    @ivar host: the external base URL (no trailing slash), or C{None}.
    @ivar secret: the upload state HMAC key; C{None} for a random one.
    @ivar draintimeout: seconds to wait for connections on shutdown.
    @ivar headers: headers added to every response.
    @ivar workers: (txregistry) how many server processes share the
        listening address; 1 serves from the registry's own process.
    """

    addr: str = setting(TEXT, default=":5000")
    net: str = setting(TEXT, default="tcp")
    prefix: str = setting(TEXT, default="/")
    host: str | None = setting(URL(origin=True), default=None)
    secret: str | None = setting(TEXT, default=None)
    relativeurls: bool = setting(FLAG, default=False)
    draintimeout: float = setting(DURATION, default=0.0)
    headers: dict[str, list[str]] = setting(HEADERS, factory=dict)
    workers: int = setting(Integer(minimum=1), default=1)
    tls: TLSConfig = setting(
        Section(TLSConfig, finish=_finish_tls, extras={"minimumversion": Choice(TLS_VERSIONS)})
    )
    debug: DebugConfig = setting(Section(DebugConfig))
    http2_disabled: bool = setting(FLAG, key="http2.disabled", default=False)
    h2c_enabled: bool = setting(FLAG, key="h2c.enabled", go="H2C.Enabled", default=False)


# notifications


ACTIONS = ("pull", "push", "mount", "delete")
"""The event actions an endpoint can ignore."""


@attrs.frozen(kw_only=True)
class IgnoreConfig:
    """
    C{notifications.endpoints[].ignore}.
    """

    mediatypes: list[str] = setting(TEXTS, factory=list)
    actions: list[str] = setting(ListOf(Choice(ACTIONS)), factory=list)


def _finish_endpoint(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    An enabled endpoint needs a name and a URL; zero timeouts, backoffs and
    thresholds mean the defaults, as in Distribution.
    """
    if not values["disabled"]:
        for name in ("name", "url"):
            if not values[name]:
                raise ConfigError(join(key, name), "is required for an enabled endpoint")
    values["timeout"] = values["timeout"] or 1.0
    values["backoff"] = values["backoff"] or 1.0
    if values["threshold"] <= 0:
        values["threshold"] = 10


ENVELOPES = ("v1", "v2")
"""The event envelope versions (media types ...events.v1+json, ...v2+json)."""


@attrs.frozen(kw_only=True)
class EndpointConfig:
    """
    One entry of C{notifications.endpoints}.

    The keys from C{envelope} on are txregistry's own.

    @ivar url: where events are sent; the scheme chooses the event sink
        (C{http} and C{https} built in).
    @ivar timeout: seconds per request.
    @ivar threshold: failures before backing off.
    @ivar backoff: seconds to pause after C{threshold} failures.
    @ivar envelope: C{v1} (Distribution 2's media type, the default) or
        C{v2} (Distribution 3's).
    @ivar maxbatch: the most events in one request (1: Distribution's way).
    @ivar maxbackoff: the longest pause between attempts, in seconds (before
        jitter).
    @ivar maxevents: the most events queued; the oldest are dropped.
    @ivar maxbytes: the most bytes of queue files; the oldest are dropped.
    @ivar maxage: seconds an event may wait; older ones are dropped.
    """

    name: str | None = setting(TEXT, default=None)
    disabled: bool = setting(FLAG, default=False)
    url: str | None = setting(URL(any_scheme=True), default=None)
    headers: dict[str, list[str]] = setting(HEADERS, factory=dict)
    timeout: float = setting(DURATION, default=1.0)
    threshold: int = setting(INTEGER, default=10)
    backoff: float = setting(DURATION, default=1.0)
    ignoredmediatypes: list[str] = setting(TEXTS, factory=list)
    ignore: IgnoreConfig = setting(Section(IgnoreConfig))
    envelope: str = setting(Choice(ENVELOPES, fold=True), default="v1")
    maxbatch: int = setting(Integer(minimum=1), default=1)
    maxbackoff: float = setting(Duration(positive=True), default=60.0)
    maxevents: int = setting(Integer(minimum=1), default=1_000_000)
    maxbytes: int = setting(Integer(minimum=4096), default=1024**3)
    maxage: float = setting(Duration(positive=True), default=7 * 24 * 3600.0)


def _finish_notifications(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    Enabled endpoints need names of their own: a name is where its queue
    is kept.
    """
    seen = set()
    for index, endpoint in enumerate(values["endpoints"]):
        if endpoint.disabled:
            continue
        if endpoint.name in seen:
            raise ConfigError(
                f"{join(key, 'endpoints')}[{index}].name",
                f"another enabled endpoint is named {endpoint.name!r}",
            )
        seen.add(endpoint.name)


@attrs.frozen(kw_only=True)
class NotificationsConfig:
    """
    C{notifications}.

    @ivar spool: (txregistry) the directory of the endpoints' queues;
        C{None} for the default.
    @ivar fsync: (txregistry) whether the events of requests that change
        the registry (push, mount, delete) are flushed to the device before
        the request is answered, as the change itself is.  Either way every
        event is written before the answer (a killed registry process loses
        none) and flushed to the device within about a second.
    """

    events_includereferences: bool = setting(
        FLAG, key="events.includereferences", go="EventConfig.IncludeReferences", default=False
    )
    endpoints: list[EndpointConfig] = setting(
        ListOf(Section(EndpointConfig, finish=_finish_endpoint)), factory=list
    )
    spool: str | None = setting(TEXT, default=None)
    fsync: bool = setting(FLAG, default=False)


# health


@attrs.frozen(kw_only=True)
class StorageDriverCheck:
    """
    C{health.storagedriver}: a periodic check of the storage driver.

    @ivar threshold: failures before unhealthy (0: the first).
    """

    enabled: bool = setting(FLAG, default=False)
    interval: float = setting(DURATION, default=DEFAULT_CHECK_INTERVAL)
    threshold: int = setting(COUNT, default=0)


@attrs.frozen(kw_only=True)
class FileCheck:
    """
    One entry of C{health.file}: unhealthy while the file exists.
    """

    file: str = setting(TEXT)
    interval: float = setting(DURATION, default=DEFAULT_CHECK_INTERVAL)
    threshold: int = setting(COUNT, default=0)


def _finish_http_check(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    Zero status code and interval mean the defaults.
    """
    _default_interval(values, mapping, key, warnings)
    values["statuscode"] = values["statuscode"] or 200


@attrs.frozen(kw_only=True)
class HTTPCheck:
    """
    One entry of C{health.http}.

    @ivar timeout: seconds; 0 for none.
    """

    uri: str = setting(URL())
    headers: dict[str, list[str]] = setting(HEADERS, factory=dict)
    statuscode: int = setting(COUNT, default=200)
    timeout: float = setting(DURATION, default=0.0)
    interval: float = setting(DURATION, default=DEFAULT_CHECK_INTERVAL)
    threshold: int = setting(COUNT, default=0)


@attrs.frozen(kw_only=True)
class TCPCheck:
    """
    One entry of C{health.tcp}.

    @ivar timeout: seconds; 0 for none.
    """

    addr: str = setting(TEXT)
    timeout: float = setting(DURATION, default=0.0)
    interval: float = setting(DURATION, default=DEFAULT_CHECK_INTERVAL)
    threshold: int = setting(COUNT, default=0)


@attrs.frozen(kw_only=True)
class HealthConfig:
    """
    C{health}.
    """

    storagedriver: StorageDriverCheck = setting(
        Section(StorageDriverCheck, finish=_default_interval)
    )
    file: list[FileCheck] = setting(
        ListOf(Section(FileCheck, finish=_default_interval)), go="FileCheckers", factory=list
    )
    http: list[HTTPCheck] = setting(
        ListOf(Section(HTTPCheck, finish=_finish_http_check)), go="HTTPCheckers", factory=list
    )
    tcp: list[TCPCheck] = setting(
        ListOf(Section(TCPCheck, finish=_default_interval)), go="TCPCheckers", factory=list
    )


# the smaller sections


@attrs.frozen(kw_only=True)
class ProxyExec:
    """
    C{proxy.exec}: a credential helper command.

    @ivar lifetime: seconds its answer is reused; C{None}: for ever.
    """

    command: str | None = setting(TEXT, default=None)
    lifetime: float | None = setting(DURATION, default=None)


@attrs.frozen(kw_only=True)
class ProxyConfig:
    """
    C{proxy}: pull-through cache mode.

    @ivar ttl: seconds cached content lives; 0 for ever.
    """

    remoteurl: str | None = setting(URL(), default=None)
    username: str | None = setting(TEXT, default=None)
    password: str | None = setting(TEXT, default=None)
    exec: ProxyExec | None = setting(Section(ProxyExec), default=None)
    ttl: float = setting(DURATION, default=168 * 3600.0)
    cachewritetimeout: float = setting(DURATION, default=300.0)


def _finish_catalog(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    Zero or less means the default, as in Distribution.
    """
    if values["maxentries"] <= 0:
        values["maxentries"] = 1000


@attrs.frozen(kw_only=True)
class CatalogConfig:
    """
    C{catalog}.

    @ivar maxentries: the most repositories one catalog page lists.
    """

    maxentries: int = setting(INTEGER, default=1000)


def _finish_tags(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    Zero means the default, as in Distribution.
    """
    values["maxtags"] = values["maxtags"] or 1000


@attrs.frozen(kw_only=True)
class TagsConfig:
    """
    C{tags}.

    @ivar maxtags: the most tags one tag list page holds.
    """

    maxtags: int = setting(COUNT, default=1000)


@attrs.frozen(kw_only=True)
class Platform:
    """
    One entry of C{validation.manifests.indexes.platformlist}.
    """

    architecture: str | None = setting(TEXT, default=None)
    os: str | None = setting(TEXT, default=None)


def _finish_validation(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    Fold the deprecated C{enabled} into C{disabled}, as Distribution does;
    list platforms as pairs.
    """
    if values.pop("enabled", False):
        values["disabled"] = False
    values["platform_list"] = [
        (platform.architecture, platform.os) for platform in values["platform_list"]
    ]


@attrs.frozen(kw_only=True)
class ValidationConfig:
    """
    C{validation}: checks on pushed manifests.

    @ivar disabled: whether the checks are off (C{enabled: true}, the
        deprecated inverse, wins over it).
    @ivar url_allow: C{manifests.urls.allow}, compiled: patterns foreign URLs
        must match.
    @ivar url_deny: C{manifests.urls.deny}, compiled: patterns foreign URLs
        must not match.
    @ivar index_platforms: C{manifests.indexes.platforms}: C{all}, C{none}
        or C{list}.
    @ivar platform_list: C{manifests.indexes.platformlist} as
        C{(architecture, os)} pairs.
    """

    disabled: bool = setting(FLAG, default=False)
    url_allow: list[re.Pattern] = setting(
        ListOf(Pattern()), key="manifests.urls.allow", factory=list
    )
    url_deny: list[re.Pattern] = setting(ListOf(Pattern()), key="manifests.urls.deny", factory=list)
    index_platforms: str = setting(
        Choice(("all", "none", "list"), fold=True), key="manifests.indexes.platforms", default="all"
    )
    platform_list: list[tuple[str | None, str | None]] = setting(
        ListOf(Section(Platform)), key="manifests.indexes.platformlist", factory=list
    )


@attrs.frozen(kw_only=True)
class MiddlewareConfig:
    """
    One entry of a C{middleware} list.
    """

    name: str = setting(TEXT)
    disabled: bool = setting(FLAG, default=False)
    options: dict = setting(MapOf(ANYTHING), factory=dict)


@attrs.frozen(kw_only=True)
class PolicyConfig:
    """
    C{policy}.
    """

    repository_classes: list[str] = setting(TEXTS, key="repository.classes", factory=list)


@attrs.frozen(kw_only=True)
class CompatibilityConfig:
    """
    C{compatibility} (Distribution 2.x).
    """

    schema1_signingkeyfile: str | None = setting(
        TEXT, key="schema1.signingkeyfile", go="Schema1.TrustKey", default=None
    )
    schema1_enabled: bool = setting(FLAG, key="schema1.enabled", default=False)


@attrs.frozen(kw_only=True)
class BugsnagConfig:
    """
    C{reporting.bugsnag} (Distribution 2.x).
    """

    apikey: str | None = setting(TEXT, default=None)
    releasestage: str | None = setting(TEXT, default=None)
    endpoint: str | None = setting(TEXT, default=None)


@attrs.frozen(kw_only=True)
class NewRelicConfig:
    """
    C{reporting.newrelic} (Distribution 2.x).
    """

    licensekey: str | None = setting(TEXT, default=None)
    name: str | None = setting(TEXT, default=None)
    verbose: bool = setting(FLAG, default=False)


@attrs.frozen(kw_only=True)
class ReportingConfig:
    """
    C{reporting} (Distribution 2.x).
    """

    bugsnag: BugsnagConfig = setting(Section(BugsnagConfig))
    newrelic: NewRelicConfig = setting(Section(NewRelicConfig))


# the whole


def _finish_config(values: dict, mapping: dict, key: str, warnings: Warnings) -> None:
    """
    Fold the deprecated top-level C{loglevel} into C{log.level}, as
    Distribution does: it counts only when C{log.level} is not given.
    """
    loglevel = values.pop("loglevel", None)
    if loglevel is not None and not (mapping.get("log") or {}).get("level"):
        values["log"] = attrs.evolve(values["log"], level=loglevel)


@attrs.frozen(kw_only=True)
class Config:
    """
    A checked configuration.

    @ivar auth: C{None} when there is no auth (no section, or provider
        C{none}).
    @ivar redis: the C{redis} section as plain data.
    @ivar middleware: lists of middleware by where they apply (C{registry},
        C{repository}, C{storage}).
    @ivar raw: the document as plain data, after environment overrides.
    @ivar warnings: what was ignored, one line each, for the service to log.
    """

    version: str = setting(_Version())
    log: LogConfig = setting(Section(LogConfig))
    storage: StorageConfig = setting(
        _StorageSection(
            StorageConfig,
            finish=_finish_storage,
            extras={"cache.layerinfo": TEXT},
            others=("drivers", MapOf(ANYTHING)),
        )
    )
    auth: AuthConfig | None = setting(_AuthNode(), default=None)
    http: HTTPConfig = setting(Section(HTTPConfig, finish=_finish_http))
    notifications: NotificationsConfig = setting(
        Section(NotificationsConfig, finish=_finish_notifications)
    )
    redis: dict = setting(MapOf(ANYTHING), factory=dict)
    health: HealthConfig = setting(Section(HealthConfig))
    proxy: ProxyConfig = setting(Section(ProxyConfig))
    catalog: CatalogConfig = setting(Section(CatalogConfig, finish=_finish_catalog))
    tags: TagsConfig = setting(Section(TagsConfig, finish=_finish_tags))
    validation: ValidationConfig = setting(
        Section(ValidationConfig, finish=_finish_validation, extras={"enabled": FLAG})
    )
    middleware: dict[str, list[MiddlewareConfig]] = setting(
        MapOf(ListOf(Section(MiddlewareConfig))), factory=dict
    )
    policy: PolicyConfig = setting(Section(PolicyConfig))
    compatibility: CompatibilityConfig = setting(Section(CompatibilityConfig))
    reporting: ReportingConfig = setting(Section(ReportingConfig))
    raw: dict = attrs.field(factory=dict)
    warnings: list[str] = attrs.field(factory=list)


SCHEMA: Node = Section(Config, finish=_finish_config, extras={"loglevel": LEVEL})
"""The node for a whole configuration document."""
