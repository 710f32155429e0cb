"""
The C{twistd txregistry} command: options and the service it runs.
"""

import os

from twisted.python import usage

from txregistry.config import ConfigError, load_config
from txregistry.logs import make_observer, twistd_log_file
from txregistry.service import RegistryService
from txregistry.storage.plugins import get_driver_factory


class Options(usage.Options):
    """
    Options of C{twistd txregistry}.
    """

    synopsis = "[--config CONFIG]"
    optParameters = [
        [
            "config",
            "c",
            None,
            "Configuration file in Distribution's format "
            "(default: $REGISTRY_CONFIGURATION_PATH, else the built-in configuration).",
        ],
    ]

    def postOptions(self):
        """
        Load and check the configuration now, so an invalid one stops
        twistd before anything listens; and log as it asks.
        """
        path = self["config"] or os.environ.get("REGISTRY_CONFIGURATION_PATH") or None
        try:
            self["configuration"] = load_config(path, os.environ)
            storage = self["configuration"].storage
            get_driver_factory(storage.driver).validate(storage.parameters)
        except ConfigError as e:
            raise usage.UsageError(f"invalid configuration: {e}")
        parent = getattr(self, "parent", None)
        if parent is not None and not parent.get("logger"):
            parent["logger"] = self._observer_factory(parent)

    def _observer_factory(self, twistd_options):
        log_config = self["configuration"].log

        def factory():
            return make_observer(log_config, twistd_log_file(twistd_options))

        return factory


def makeService(options):
    """
    The registry service for parsed C{options}.
    """
    from twisted.internet import reactor

    return RegistryService(options["configuration"], reactor)
