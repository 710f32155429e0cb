# -*- test-case-name: tests.test_notify_service -*-
"""
Finding event sinks: every L{IEventSinkFactory} plugin in the
L{txregistry.plugins} package, built in or installed by another
distribution, by the URL schemes it serves.
"""

from urllib.parse import urlsplit

from twisted.plugin import getPlugins

from txregistry import plugins
from txregistry.config import ConfigError
from txregistry.notifications.interfaces import IEventSinkFactory


def sink_factories() -> dict[str, IEventSinkFactory]:
    """
    The event sink factories installed, by URL scheme.  When two serve the
    same scheme the first found is kept; the built-in one is found first.

    @return: a new L{dict} each call.
    """
    factories: dict[str, IEventSinkFactory] = {}
    for factory in getPlugins(IEventSinkFactory, plugins):
        for scheme in factory.schemes:
            factories.setdefault(scheme, factory)
    return factories


def check_endpoints(notifications, factories=None) -> None:
    """
    Check that every enabled endpoint's URL has a sink.

    @param notifications: the L{NotificationsConfig}.
    @param factories: as from L{sink_factories} (the default).
    @raise ConfigError: naming the first endpoint URL with no sink.
    """
    factories = sink_factories() if factories is None else factories
    for index, endpoint in enumerate(notifications.endpoints):
        scheme = urlsplit(endpoint.url or "").scheme
        if not endpoint.disabled and scheme not in factories:
            available = ", ".join(sorted(factories))
            raise ConfigError(
                f"notifications.endpoints[{index}].url",
                f"no event sink for {scheme} URLs; available: {available}",
            )
