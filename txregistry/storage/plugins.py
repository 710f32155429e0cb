# -*- test-case-name: tests.test_driver_plugins -*-
"""
Finding storage drivers: every L{IStorageDriverFactory} plugin in the
L{txregistry.plugins} package, built in or installed by another
distribution.
"""

from txregistry.extensions import named_factories, named_factory
from txregistry.storage.interfaces import IStorageDriverFactory


def driver_factories() -> dict[str, IStorageDriverFactory]:
    """
    The storage driver factories installed, by name.  When two have the same
    name the first found is kept; the built-in ones are found first.

    @return: a new L{dict} each call.
    """
    return named_factories(IStorageDriverFactory)


def get_driver_factory(name: str) -> IStorageDriverFactory:
    """
    The storage driver factory called C{name}.

    @raise ConfigError: (for the key C{storage}) if there is none.
    """
    return named_factory(IStorageDriverFactory, name, "storage", "storage driver")


def create_driver(config, reactor):
    """
    The storage driver a configuration names, found among the plugins.

    @param config: a L{txregistry.config.Config}.
    @raise ConfigError: unknown driver or invalid parameters.
    """
    factory = get_driver_factory(config.storage.driver)
    factory.validate(config.storage.parameters)
    return factory.create(config.storage.parameters, reactor)
