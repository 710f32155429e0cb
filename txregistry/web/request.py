"""
The request class of the registry's site: it chooses where the body goes as
soon as the headers are in, and adds the headers every response carries.
"""

import itertools
import uuid

from twisted.web import server

from txregistry.web.sink import BodySink, BoundedBody

#: What a body may hold on endpoints that do not use one.
_IGNORED_BODY_LIMIT = 0

#: Methods whose routes never take a body: without one, they skip the early
#: route match (the handler's own access check then decides).
_BODILESS = frozenset([b"GET", b"HEAD"])

#: Request ids are UUIDs as Distribution's are, without a system call for
#: each: the first 80 bits random per process, the last 48 counted.
_ID_PREFIX = str(uuid.uuid4())[:24]
_ID_COUNTER = itertools.count(1)


class RegistryRequest(server.Request):
    """
    A request whose body is routed early.

    When the headers are complete (L{gotLength}), the site's C{body_router}
    is asked what to do with the body, given the method and target: stream
    it (an L{IBodyConsumer} L{Deferred}), keep up to a limit in memory (an
    L{int}), or drop it (C{None}).

    @ivar request_id: a UUID for this request (for logs and events): a
        random prefix per process and a counter.
    @ivar actor: the account access control authenticated the request as,
        or C{None} (anonymous, or no access control).
    @ivar access: the access decision taken on the request (see
        L{txregistry.api.app.RegistryAPI}), or C{None}.
    """

    actor = None
    access = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.request_id = f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFF:012x}"

    def gotLength(self, length):
        """
        Pick the body's destination instead of twisted.web's buffer.
        """
        channel = self.channel
        channel.site.request_started(self)
        method = getattr(channel, "_command", None)
        target = getattr(channel, "_path", None)
        router = getattr(channel.site, "body_router", None)
        decision = None
        if length == 0 and method in _BODILESS:
            router = None
        if router is not None and method is not None and target is not None:
            decision = router(self, method, target)
        if decision is None:
            self.content = BoundedBody(_IGNORED_BODY_LIMIT)
        elif isinstance(decision, int):
            self.content = BoundedBody(decision)
        else:
            self.content = BodySink(self.transport, channel, decision, length)

    def requestReceived(self, command, path, version):
        """
        The whole body is in: tell a streaming sink before the handler runs.
        """
        if isinstance(self.content, BodySink):
            self.content.body_complete()
        super().requestReceived(command, path, version)

    def process(self):
        """
        Add the headers every response carries, then render (unless the
        site's gate answers instead).
        """
        site = self.channel.site
        for name, values in site.response_headers:
            self.responseHeaders.setRawHeaders(name, values)
        if site.gate is not None:
            body = site.gate(self)
            if body is not None:
                self.site = site
                self.write(body)
                self.finish()
                return
        super().process()

    def connectionLost(self, reason):
        """
        Release a streaming upload whose client went away.
        """
        if isinstance(self.content, BodySink) and not self.finished:
            self.content.connection_lost()
        super().connectionLost(reason)
