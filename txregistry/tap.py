"""
The C{twistd txregistry} command: options and the service it runs.
"""

import os

from twisted.logger import ILogObserver
from twisted.python import usage
from twisted.python.components import Componentized

from txregistry.allocator import keep_freed_memory
from txregistry.config import ConfigError, load_config
from txregistry.logs import make_observer, twistd_log_file
from txregistry.service import RegistryService, check_resources


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
        self["configuration_path"] = path
        try:
            self["configuration"] = load_config(path, os.environ)
            check_resources(self["configuration"], os.environ)
        except ConfigError as e:
            raise usage.UsageError(f"invalid configuration: {e}")


class _TwistdRegistryService(RegistryService):
    """
    The registry as twistd runs it: it gives the application the log
    observer the C{log} section asks for (twistd uses an application's
    L{ILogObserver} component unless C{--logger} names another), writing
    where twistd's own options say.
    """

    def __init__(self, config, reactor, twistd_options, config_path):
        super().__init__(config, reactor, config_path=config_path)
        self._twistd_options = twistd_options

    def setServiceParent(self, parent):
        """
        Join the application and give it the log observer.
        """
        if isinstance(parent, Componentized) and parent.getComponent(ILogObserver) is None:
            parent.setComponent(
                ILogObserver,
                make_observer(self._config.log, twistd_log_file(self._twistd_options)),
            )
        super().setServiceParent(parent)


def makeService(options):
    """
    The registry service for parsed C{options}.
    """
    from twisted.internet import reactor

    keep_freed_memory()
    return _TwistdRegistryService(options["configuration"], reactor, options.parent or {},
                                  options["configuration_path"])
