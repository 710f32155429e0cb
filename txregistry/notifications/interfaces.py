"""
The event sink boundary: what carries a batch of events to an endpoint.

A sink only sends; the spool, ordering, retries and dead-lettering around it
are the same for every sink.  Sinks are found by the scheme of an endpoint's
C{url} among the L{IEventSinkFactory} plugins in L{txregistry.plugins}, so
another distribution can add one (a message queue, say) without changes
here; the built-in one speaks HTTP and HTTPS.
"""

from zope.interface import Attribute, Interface


class DeliveryFailed(Exception):
    """
    A delivery did not succeed and should be tried again later: the
    receiver could not be reached, timed out, or answered with a status
    meaning "not now".

    @ivar retry_after: the seconds the receiver asked us to wait, or
        C{None}.
    """

    def __init__(self, reason: str, retry_after: float | None = None):
        super().__init__(reason)
        self.retry_after = retry_after


class DeliveryRefused(Exception):
    """
    The receiver refused the events for good (an HTTP 4xx other than 408
    and 429): trying again would not help, so they are dead-lettered.
    """


class IEventSink(Interface):
    """
    Sends batches of events to one endpoint.
    """

    def send(events):
        """
        Deliver events, in order, as one batch.

        @param events: each event's JSON, as L{bytes}.
        @return: a L{Deferred} that fires with C{None} once the receiver has
            accepted them, or fails with L{DeliveryRefused} if it refused
            them for good; any other failure means "try again".
        """

    def close():
        """
        Release connections; the sink is not used afterwards.

        @return: a L{Deferred} that fires when done.
        """


class IEventSinkFactory(Interface):
    """
    Makes the sinks for endpoints whose URLs have one of its schemes.
    Implementations are registered as L{twisted.plugin.IPlugin} providers in
    the L{txregistry.plugins} package.
    """

    schemes = Attribute("The URL schemes this factory serves (C{tuple} of C{str}).")

    def create(endpoint, reactor):
        """
        A sink for one endpoint.

        @param endpoint: the endpoint's L{txregistry.config.EndpointConfig}.
        @param reactor: the reactor to run on.
        @return: an L{IEventSink}.
        """
