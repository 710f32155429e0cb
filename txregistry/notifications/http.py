# -*- test-case-name: tests.test_notify_http -*-
"""
The webhook sink: events POSTed as JSON envelopes with treq, over a
persistent connection pool, HTTPS receivers' certificates verified
(platform trust store, host name checked by service-identity).

A 2xx answer means delivered.  408, 429, 5xx, a 3xx (redirects are not
followed: the events did not reach their receiver), a transport error or
no complete answer within C{timeout} mean "try again"; any other 4xx is a
refusal, and the events are dead-lettered.
"""

from email.utils import parsedate_to_datetime

from treq.client import HTTPClient
from twisted.internet.defer import succeed
from twisted.web.client import (
    Agent,
    BrowserLikePolicyForHTTPS,
    HTTPConnectionPool,
    ResponseFailed,
    ResponseNeverReceived,
    _HTTP11ClientFactory,
)
from zope.interface import implementer

from txregistry.notifications.events import envelope
from txregistry.notifications.interfaces import (
    DeliveryFailed,
    DeliveryRefused,
    IEventSink,
)

USER_AGENT = "txregistry-notifications"
#: How much of a refusal's body goes into the log and the dead-letter file.
REASON_BYTES = 200
#: Statuses that mean "not now" although they are 4xx.
_RETRIED = frozenset({408, 429})


def retry_after(value: bytes | None, now: float) -> float | None:
    """
    Seconds to wait from a C{Retry-After} header (delay seconds, or an
    HTTP date), or C{None} if there is none that parses.
    """
    if not value:
        return None
    text = value.decode("latin-1").strip()
    if text.isdigit():
        return float(text)
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - now)
    except (TypeError, ValueError):
        return None


class _QuietFactory(_HTTP11ClientFactory):
    noisy = False


class _QuietPool(HTTPConnectionPool):
    """
    A connection pool that does not log every connection it opens and
    closes: against a receiver that is down, that is a line per attempt.
    (The factory class is a private hook of L{HTTPConnectionPool}.)
    """

    _factory = _QuietFactory


@implementer(IEventSink)
class HTTPSink:
    """
    POSTs batches of events to one URL.
    """

    def __init__(self, url: str, headers: dict[str, list[str]], timeout: float,
                 media_type: str, reactor, client: HTTPClient | None = None,
                 tls_policy=None):
        """
        @param headers: added to every request (name to values).
        @param timeout: seconds a request may take, answer read included.
        @param media_type: the envelope's C{Content-Type}.
        @param client: the treq client to use (tests); by default one over
            a persistent L{HTTPConnectionPool}, closed by L{close}.
        @param tls_policy: how HTTPS receivers are verified; by default
            L{BrowserLikePolicyForHTTPS} with the platform's trust store.
        """
        self._url = url
        self._timeout = timeout
        self._reactor = reactor
        self._headers = {name: list(values) for name, values in headers.items()}
        self._headers["Content-Type"] = [media_type]
        self._headers.setdefault("User-Agent", [USER_AGENT])
        self._pool = None
        if client is None:
            self._pool = _QuietPool(reactor, persistent=True)
            self._pool.maxPersistentPerHost = 1
            agent = Agent(reactor, tls_policy or BrowserLikePolicyForHTTPS(), pool=self._pool)
            client = HTTPClient(agent)
        self._client = client

    def send(self, events):
        """
        See L{IEventSink.send}.
        """
        posted = self._client.post(
            self._url, data=envelope(events), headers=dict(self._headers),
            allow_redirects=False,
        )
        posted.addCallback(self._answered)
        posted.addTimeout(self._timeout, self._reactor, onTimeoutCancel=self._timed_out)
        posted.addErrback(self._failed)
        return posted

    def _timed_out(self, result, timeout: float):
        # Whatever the cancelled request failed with, the cause is the time.
        raise DeliveryFailed(f"no answer within {timeout:g} s")

    def _answered(self, response):
        return response.content().addCallback(self._judge, response)

    def _judge(self, body: bytes, response) -> None:
        code = response.code
        if 200 <= code < 300:
            return None
        if code in _RETRIED or code >= 500:
            raise DeliveryFailed(
                f"HTTP {code}",
                retry_after(response.headers.getRawHeaders(b"retry-after", [None])[0],
                            self._reactor.seconds()),
            )
        if 400 <= code < 500:
            snippet = body[:REASON_BYTES].decode("utf-8", "replace").strip()
            raise DeliveryRefused(f"HTTP {code}" + (f": {snippet}" if snippet else ""))
        location = response.headers.getRawHeaders(b"location", [b""])[0].decode("latin-1")
        raise DeliveryFailed(f"HTTP {code}" + (f" to {location}" if location else ""))

    def _failed(self, failure):
        if failure.check(DeliveryFailed, DeliveryRefused):
            return failure
        raise DeliveryFailed(_describe(failure.value))

    def close(self):
        """
        See L{IEventSink.close}.
        """
        if self._pool is None:
            return succeed(None)
        return self._pool.closeCachedConnections()


def _describe(error: BaseException) -> str:
    """
    A transport error in a few words: the first reason twisted.web gives
    for a failed exchange, else the error itself.
    """
    if isinstance(error, (ResponseFailed, ResponseNeverReceived)) and error.reasons:
        error = error.reasons[0].value
    return str(error) or type(error).__name__
