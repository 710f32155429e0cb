# -*- test-case-name: tests.test_auth_controllers -*-
"""
C{auth.silly}: for development only, as in Distribution.  Any request
with an C{Authorization} header is let through as the user C{silly};
others get a Bearer challenge naming what they asked for.
"""

from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from txregistry.auth.access import Grant
from txregistry.auth.interfaces import Challenge, IAccessController, go_quote


@implementer(IAccessController)
class SillyAccessController:
    """
    Lets through anything that carries credentials of any kind.
    """

    def __init__(self, realm: str, service: str):
        self._realm = realm
        self._service = service

    def authorize(self, request, requirements):
        """
        See L{IAccessController.authorize}.
        """
        if request.getHeader(b"authorization"):
            return succeed(Grant("silly"))
        header = f"Bearer realm={go_quote(self._realm)},service={go_quote(self._service)}"
        if requirements.asked:
            # Distribution writes one type:name:action per record here.
            items = " ".join(f"{a.type}:{a.name}:{a.action}" for a in requirements.asked)
            header += f",scope={go_quote(items)}"
        return fail(Challenge(header))
