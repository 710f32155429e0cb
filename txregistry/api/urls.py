"""
The URLs the registry hands out (C{Location} headers), built the way
Distribution builds them: from C{http.host} if configured, else from the
request (C{Forwarded}, then C{X-Forwarded-Proto}/C{X-Forwarded-Host}, then
C{Host}); path-only with C{http.relativeurls}; always under C{http.prefix}.
"""

import re
from urllib.parse import quote

import attrs

_FORWARDED_PAIR = re.compile(r'\s*([a-zA-Z]+)\s*=\s*("[^"]*"|[^;,\s]*)')
_HOST_RE = re.compile(r"[A-Za-z0-9.\-\[\]:]+\Z")


def _forwarded(header: str) -> dict:
    # Only the first element (the proxy closest to the client) counts.
    first = header.split(",", 1)[0]
    values = {}
    for key, value in _FORWARDED_PAIR.findall(first):
        values[key.lower()] = value.strip('"')
    return values


@attrs.frozen
class URLBuilder:
    """
    @ivar prefix: C{http.prefix}, starting and ending with C{/}.
    @ivar host: C{http.host} (scheme and authority), or C{None}.
    @ivar relative: C{http.relativeurls}.
    """

    prefix: str = "/"
    host: str | None = None
    relative: bool = False

    def _origin(self, request) -> str:
        if self.host:
            return self.host.rstrip("/")
        scheme = "https" if request.isSecure() else "http"
        host = (request.getHeader(b"host") or b"").decode("latin-1")
        forwarded = request.getHeader(b"forwarded")
        if forwarded:
            values = _forwarded(forwarded.decode("latin-1"))
            scheme = values.get("proto", scheme)
            host = values.get("host", host)
        else:
            proto = request.getHeader(b"x-forwarded-proto")
            if proto:
                scheme = proto.decode("latin-1").split(",")[0].strip()
            forwarded_host = request.getHeader(b"x-forwarded-host")
            if forwarded_host:
                host = forwarded_host.decode("latin-1").split(",")[0].strip()
        if scheme not in ("http", "https"):
            scheme = "http"
        if not _HOST_RE.match(host):
            # A Host we cannot repeat safely: fall back to the address we
            # were reached at.
            address = request.getHost()
            host = f"{address.host}:{address.port}"
        return f"{scheme}://{host}"

    def path(self, *segments: str, query: str = "") -> str:
        """
        A path under the prefix: C{/v2/<segments...>}.
        """
        quoted = "/".join(quote(segment, safe="/:@") for segment in segments)
        url = f"{self.prefix}v2/{quoted}"
        return f"{url}?{query}" if query else url

    def url(self, request, *segments: str, query: str = "") -> str:
        """
        The URL of C{/v2/<segments...>} as the client should use it.
        """
        path = self.path(*segments, query=query)
        if self.relative:
            return path
        return self._origin(request) + path
