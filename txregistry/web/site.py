"""
The registry's L{server.Site}: the streaming request class, the headers
every response carries, HTTP/1.1 only, and the access log.
"""

import time

from twisted.internet.defer import Deferred, succeed
from twisted.logger import Logger
from twisted.web import http, server

from txregistry.web.request import RegistryRequest
from txregistry.web.sink import BodySink

API_VERSION_HEADER = (b"Docker-Distribution-API-Version", [b"registry/2.0"])
#: The digits of the largest C{Content-Length} taken (2**63 has 19).
_MAX_LENGTH_DIGITS = 19


_access = Logger(namespace="txregistry.access")


def _text(value: bytes | None) -> str:
    return "-" if not value else value.decode("latin-1")


class RegistryChannel(http.HTTPChannel):
    """
    HTTP/1.1, answering a TLS handshake sent to a cleartext port at once.

    Clients told to skip TLS verification (skopeo, podman, containerd) try
    HTTPS first and fall back to HTTP when that fails; twisted.web would
    wait for a request line that never comes, and the fallback would only
    happen at the client's handshake timeout (10 s per connection).  Go's
    server, and so Distribution, answers with a 400 immediately; so do we.
    """

    _first = True

    def dataReceived(self, data: bytes) -> None:
        """
        Check the first byte of the connection, then parse HTTP.
        """
        if self._first and data:
            self._first = False
            if data[:1] == b"\x16":
                self.transport.write(
                    b"HTTP/1.0 400 Bad Request\r\n\r\n"
                    b"Client sent an HTTP request to an HTTPS server.\n"
                )
                self.transport.loseConnection()
                return
        super().dataReceived(data)

    def lineLengthExceeded(self, line: bytes) -> None:
        """
        A request line or header line longer than C{MAX_LENGTH}: answer 400
        and close, as twisted.web does when the headers together are too
        long, instead of closing without a word.
        """
        self._refuse()

    def headerReceived(self, line: bytes) -> bool:
        """
        Refuse a C{Content-Length} longer than any number of 64 bits: past
        4300 digits, twisted.web's int() raises and the connection drops with
        an unhandled error.
        """
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and len(value.strip()) > _MAX_LENGTH_DIGITS:
            self._refuse()
            return False
        return super().headerReceived(line)

    def timeoutConnection(self) -> None:
        """
        Close an idle connection, unless the body being received has bytes
        waiting unread below the socket's low-water mark (see
        L{txregistry.web.sink.BodySink}): the client is slow, not idle, so
        read them and wait again.
        """
        content = getattr(self.requests[-1], "content", None) if self.requests else None
        if isinstance(content, BodySink) and content.read_waiting():
            # The timer that fired is gone: start another.
            self.setTimeout(self.timeOut)
            return
        super().timeoutConnection()

    def _refuse(self) -> None:
        """
        Answer a malformed request head with a 400 and close.
        """
        self.transport.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        self.transport.loseConnection()


class RegistrySite(server.Site):
    """
    @ivar body_router: called as C{body_router(request, method, target)}
        when a request's headers are in; see L{RegistryRequest}.
    @ivar response_headers: C{(name, [values])} pairs set on every response.
    @ivar gate: called as C{gate(request)} before a request is rendered;
        returns the body of a response it gave instead (the registry is
        unavailable, say), or C{None} to let the request through.
    """

    requestFactory = RegistryRequest
    protocol = RegistryChannel
    noisy = False

    def __init__(self, resource, body_router, extra_headers=(), access_log=True,
                 gate=None, reactor=None):
        super().__init__(resource, reactor=reactor)
        self.body_router = body_router
        self.gate = gate
        self.response_headers = [API_VERSION_HEADER] + [
            (name.encode("latin-1"), [v.encode("latin-1") for v in values])
            for name, values in extra_headers
        ]
        self._access_log = access_log
        self._active = 0
        self._idle_waiters = []

    def request_started(self, request) -> None:
        """
        Count C{request} as in flight until it is finished or lost.
        """
        self._active += 1
        request.notifyFinish().addBoth(self._request_ended)

    def _request_ended(self, _) -> None:
        self._active -= 1
        if self._active == 0:
            waiters, self._idle_waiters = self._idle_waiters, []
            for d in waiters:
                d.callback(None)

    def idle(self) -> Deferred:
        """
        @return: a L{Deferred} that fires when no request is in flight.
        """
        if self._active == 0:
            return succeed(None)
        d = Deferred()
        self._idle_waiters.append(d)
        return d

    def acceptableProtocols(self):
        """
        HTTP/1.1 only: HTTP/2 framing in Twisted moves blobs several times
        slower (measured), and nothing in the registry API needs it.
        """
        return [b"http/1.1"]

    def log(self, request):
        """
        One access-log line per request, in the combined log format (the
        user is the account access control authenticated), with the same
        facts as structured fields.
        """
        if not self._access_log:
            return
        client = request.getClientAddress()
        host = getattr(client, "host", "-")
        length = request.sentLength
        _access.info(
            '{remote} - {user} [{when}] "{method} {uri} {protocol}" {status} {length} '
            '"{referer}" "{useragent}"',
            remote=host,
            user=getattr(request, "actor", None) or "-",
            when=time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            method=_text(request.method),
            uri=_text(request.uri),
            protocol=_text(request.clientproto),
            status=request.code,
            length=length if length else "-",
            referer=_text(request.getHeader(b"referer")),
            useragent=_text(request.getHeader(b"user-agent")),
            log_format_access=True,
        )
