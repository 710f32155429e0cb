"""
The features Distribution's configuration offers that txregistry does not
implement yet.  A configuration that uses one is refused at load time rather
than silently served without it.

When a feature lands, remove its row from L{UNSUPPORTED}.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import attrs

from txregistry.config.errors import ConfigError
from txregistry.config.model import (
    BugsnagConfig,
    Config,
    LetsEncryptConfig,
    NewRelicConfig,
)


@attrs.frozen
class Unsupported:
    """
    One feature that is not implemented yet.

    @ivar feature: what it is, as the subject of "is not supported yet".
    @ivar keys: the dotted keys at which a configuration uses it.
    @ivar advice: what to do instead, if anything.
    """

    feature: str
    keys: Callable[[Config], Iterable[str]]
    advice: str = ""


def _when(condition: bool, key: str) -> list[str]:
    """
    C{[key]} if C{condition}, else nothing.
    """
    return [key] if condition else []


UNSUPPORTED: tuple[Unsupported, ...] = (
    Unsupported("log hooks", lambda c: _when(bool(c.log.hooks), "log.hooks")),
    Unsupported(
        "the logstash log formatter",
        lambda c: _when(c.log.formatter == "logstash", "log.formatter"),
    ),
    Unsupported(
        "the redis blob descriptor cache",
        lambda c: _when(c.storage.cache_blobdescriptor == "redis", "storage.cache.blobdescriptor"),
    ),
    Unsupported(
        "listening on networks other than tcp and unix",
        lambda c: _when(c.http.net not in ("tcp", "unix"), "http.net"),
    ),
    Unsupported(
        "Let's Encrypt (ACME) certificates",
        lambda c: _when(c.http.tls.letsencrypt != LetsEncryptConfig(), "http.tls.letsencrypt"),
        advice="give http.tls.certificate and http.tls.key, renewed by an ACME client "
        "such as certbot, instead",
    ),
    Unsupported("cleartext HTTP/2 (h2c)", lambda c: _when(c.http.h2c_enabled, "http.h2c.enabled")),
    Unsupported("the debug listener", lambda c: _when(bool(c.http.debug.addr), "http.debug.addr")),
    Unsupported(
        "redis",
        lambda c: [f"redis.{name}" for name in ("addrs", "addr") if c.redis.get(name)],
    ),
    Unsupported(
        "health checks other than storagedriver",
        lambda c: [
            f"health.{name}"
            for name in ("file", "http", "tcp")
            if getattr(c.health, name)
        ],
    ),
    Unsupported(
        "pull-through proxy mode", lambda c: _when(bool(c.proxy.remoteurl), "proxy.remoteurl")
    ),
    Unsupported(
        "middleware",
        lambda c: [f"middleware.{name}" for name, entries in c.middleware.items() if entries],
    ),
    Unsupported(
        "repository class policy",
        lambda c: _when(bool(c.policy.repository_classes), "policy.repository.classes"),
    ),
    Unsupported(
        "schema1 manifest pushes",
        lambda c: _when(c.compatibility.schema1_enabled, "compatibility.schema1.enabled"),
    ),
    Unsupported(
        "error reporting",
        lambda c: [
            f"reporting.{name}"
            for name, used in (
                ("bugsnag", c.reporting.bugsnag != BugsnagConfig()),
                ("newrelic", c.reporting.newrelic != NewRelicConfig()),
            )
            if used
        ],
    ),
)
"""Every feature refused at load time, in the order they are checked."""


def check_supported(config: Config) -> None:
    """
    Refuse a configuration that uses a feature in L{UNSUPPORTED}.

    @raise ConfigError: naming the first key at which one is used.
    """
    for entry in UNSUPPORTED:
        for key in entry.keys(config):
            advice = f"; {entry.advice}" if entry.advice else ""
            raise ConfigError(key, f"{entry.feature} is not supported yet by txregistry{advice}")
