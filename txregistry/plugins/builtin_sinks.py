# -*- test-case-name: tests.test_notify_http -*-
"""
The built-in event sink, as an L{IEventSinkFactory} plugin: webhooks over
C{http} and C{https}.
"""

from typing import Any

from twisted.plugin import IPlugin
from zope.interface import implementer

from txregistry.notifications.events import ENVELOPE_MEDIA_TYPES
from txregistry.notifications.http import HTTPSink
from txregistry.notifications.interfaces import IEventSinkFactory


@implementer(IPlugin, IEventSinkFactory)
class HTTPSinkFactory:
    """
    Makes L{HTTPSink}s for C{http} and C{https} endpoint URLs.
    """

    schemes = ("http", "https")

    def create(self, endpoint: Any, reactor: Any) -> HTTPSink:
        """
        See L{IEventSinkFactory.create}.
        """
        return HTTPSink(endpoint.url, endpoint.headers, endpoint.timeout,
                        ENVELOPE_MEDIA_TYPES[endpoint.envelope], reactor)


webhooks = HTTPSinkFactory()
