# -*- test-case-name: tests.test_driver_plugins,tests.test_auth_controllers -*-
"""
Finding named factories among the plugins of the L{txregistry.plugins}
package, built in or installed by another distribution: storage drivers,
access controllers.
"""

from twisted.plugin import getPlugins

from txregistry import plugins
from txregistry.config import ConfigError


def named_factories(interface) -> dict:
    """
    The factories providing C{interface}, by their C{name}.  When two have
    the same name the first found is kept; the built-in ones are found
    first.

    @return: a new L{dict} each call.
    """
    factories: dict = {}
    for factory in getPlugins(interface, plugins):
        factories.setdefault(factory.name, factory)
    return factories


def named_factory(interface, name: str, key: str, kind: str):
    """
    The factory providing C{interface} called C{name}.

    @param key: the configuration key to blame if there is none.
    @param kind: what it makes, for the error (C{storage driver}).
    @raise ConfigError: naming the factories available.
    """
    factories = named_factories(interface)
    try:
        return factories[name]
    except KeyError:
        available = ", ".join(sorted(factories))
        raise ConfigError(key, f"unknown {kind} {name}; available: {available}") from None
