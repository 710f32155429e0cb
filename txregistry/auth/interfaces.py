"""
The access control boundary: an access controller decides, from a request
and the access it needs, who is asking and whether they may.  Controllers
come from L{IAccessControllerFactory} plugins named by the C{auth:} key.
"""

from twisted.plugin import IPlugin
from zope.interface import Attribute, Interface


def go_quote(text: str) -> str:
    """
    C{text} in double quotes, as Go's C{%q} writes challenge parameters.
    """
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Challenge(Exception):
    """
    The request must authenticate, or authenticate again with more access:
    it is refused with a 401 carrying this challenge.

    @ivar header: the value of C{WWW-Authenticate}.
    """

    def __init__(self, header: str):
        self.header = header
        super().__init__(header)


class IAccessController(Interface):
    """
    Decides whether requests may proceed.
    """

    def authorize(request, requirements):
        """
        Check a request's credentials against the access it needs.

        @param request: the L{twisted.web.iweb.IRequest} (headers, and the
            transport for controllers that use TLS client certificates).
        @param requirements: a L{txregistry.auth.access.Requirements}; every
            record of C{required} must be granted.
        @return: a L{Deferred} firing with a L{txregistry.auth.access.Grant}
            covering at least C{requirements.required}; failing with
            L{Challenge} to ask for (other) credentials, or with a
            L{txregistry.registry.errors.RegistryError} (C{DENIED} where
            authenticating again cannot help, C{UNAVAILABLE}).
        """


class IAccessControllerFactory(IPlugin):
    """
    Makes access controllers of one kind; found with
    L{twisted.plugin.getPlugins} in the L{txregistry.plugins} package, so
    other distributions can add controllers.
    """

    name = Attribute("The key naming this controller under C{auth:} in the config.")

    def validate(options):
        """
        Check the controller's options, and the files they name, at start.

        @param options: what the configuration holds under C{auth.<name>}:
            the checked options of a built-in controller, else the mapping
            as written.
        @raise txregistry.config.ConfigError: naming the offending key.
        """

    def create(options, reactor):
        """
        @param options: as for L{validate}, and validated.
        @param reactor: for time and threads.
        @return: an L{IAccessController}.
        """
