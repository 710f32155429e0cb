"""
The distribution API as a Klein application.

The route table is the single description of the API: Klein serves it, and
the early body router (see L{txregistry.web.request}) matches the same
rules when a request's headers arrive, to stream upload bodies straight into
storage.  Handlers live in one module per resource and receive the
L{RegistryAPI} as their first argument.
"""

from urllib.parse import parse_qs, unquote_to_bytes

import attrs
from klein import Klein
from klein.resource import KleinResource
from werkzeug.exceptions import HTTPException

from txregistry.api import base, blobs, catalog, errors, manifests, referrers, tags, uploads
from txregistry.api.urls import URLBuilder
from txregistry.notifications.emitter import NO_EVENTS
from txregistry.registry.manifests import MAX_MANIFEST_SIZE
from txregistry.registry.registry import Registry


@attrs.frozen
class _Route:
    rule: str
    endpoint: str
    methods: tuple[str, ...]
    handler: object
    begin_body: object = None


_NAME = "v2/<path:name>"
ROUTES = (
    _Route("", "liveness", ("GET", "HEAD"), base.liveness),
    _Route("v2/", "base", ("GET", "HEAD"), base.version_check),
    _Route("v2", "base_no_slash", ("GET", "HEAD"), base.version_check),
    _Route("v2/_catalog", "catalog", ("GET",), catalog.list_repositories),
    _Route(f"{_NAME}/tags/list", "tags", ("GET",), tags.list_tags),
    _Route(f"{_NAME}/manifests/<reference>", "manifest_get", ("GET", "HEAD"), manifests.get),
    _Route(f"{_NAME}/manifests/<reference>", "manifest_put", ("PUT",), manifests.put),
    _Route(f"{_NAME}/manifests/<reference>", "manifest_delete", ("DELETE",), manifests.delete),
    _Route(f"{_NAME}/blobs/<digest>", "blob_get", ("GET", "HEAD"), blobs.get),
    _Route(f"{_NAME}/blobs/<digest>", "blob_delete", ("DELETE",), blobs.delete),
    _Route(f"{_NAME}/blobs/uploads/", "upload_start", ("POST",), uploads.start,
           uploads.begin_monolithic),
    _Route(f"{_NAME}/blobs/uploads", "upload_start_no_slash", ("POST",), uploads.start,
           uploads.begin_monolithic),
    _Route(f"{_NAME}/blobs/uploads/<upload_id>", "upload_status", ("GET", "HEAD"),
           uploads.status),
    _Route(f"{_NAME}/blobs/uploads/<upload_id>", "upload_patch", ("PATCH",), uploads.patch,
           uploads.begin_patch),
    _Route(f"{_NAME}/blobs/uploads/<upload_id>", "upload_put", ("PUT",), uploads.put,
           uploads.begin_put),
    _Route(f"{_NAME}/blobs/uploads/<upload_id>", "upload_cancel", ("DELETE",), uploads.cancel),
    _Route(f"{_NAME}/referrers/<digest>", "referrers", ("GET",), referrers.list_referrers),
)


def _utf8(segment: bytes) -> bytes:
    """
    A decoded path segment, made valid UTF-8 by replacing each byte that is
    not with U+FFFD (which no name, reference or upload id may hold).
    """
    return segment.decode("utf-8", "replace").encode("utf-8")


class _APIResource(KleinResource):
    """
    Klein's resource, routing a path that is not UTF-8 with its bad bytes
    replaced (see L{_utf8}) rather than answering Klein's plain-text 400: the
    request then fails with the spec's JSON error for the part it spoils.
    A C{Host} that is not UTF-8 is malformed HTTP: a bare 400, as Go's
    server gives, without the traceback Klein would log.
    """

    def render(self, request):
        """
        Make the path decodable, then route it.
        """
        try:
            request.getRequestHostname().decode("utf-8")
        except UnicodeDecodeError:
            request.setResponseCode(400)
            request.setHeader(b"Content-Length", b"0")
            return b""
        request.postpath = [_utf8(segment) for segment in request.postpath]
        return super().render(request)


#: Bodies kept in memory per endpoint (anything longer is an error there).
_BOUNDED_BODIES = {"manifest_put": MAX_MANIFEST_SIZE}


class RegistryAPI:
    """
    The HTTP face of a L{Registry}.

    @ivar registry: the L{Registry}.
    @ivar urls: the L{URLBuilder} for C{Location} headers.
    @ivar catalog_max_entries: C{catalog.maxentries}.
    @ivar tags_max: C{tags.maxtags}.
    @ivar events: the L{EventEmitter} handlers report what they did to.
    """

    def __init__(
        self,
        registry: Registry,
        urls: URLBuilder = URLBuilder(),
        catalog_max_entries: int = 1000,
        tags_max: int = 1000,
        events=NO_EVENTS,
    ):
        self.registry = registry
        self.urls = urls
        self.catalog_max_entries = catalog_max_entries
        self.tags_max = tags_max
        self.events = events
        self.app = Klein()
        # Werkzeug would answer "//" in a path with a redirect (an exception
        # no handler expects); such a path is an invalid name instead.
        self.app.url_map.merge_slashes = False
        self._routes = {}
        for route in ROUTES:
            self.app.route(
                urls.prefix + route.rule,
                methods=list(route.methods),
                endpoint=route.endpoint,
                strict_slashes=False,
            )(self._bind(route.handler))
            self._routes[route.endpoint] = route
        errors.install(self.app)

    def _bind(self, handler):
        def bound(request, **kwargs):
            return handler(self, request, **kwargs)

        bound.__name__ = handler.__name__
        return bound

    def resource(self):
        """
        @return: the Klein resource serving the API.
        """
        return _APIResource(self.app)

    def match(self, method: bytes, target: bytes):
        """
        Find the route of a request from its request line, as Klein will.

        @return: C{(route, kwargs, query)} or C{None} if nothing matches.
        """
        raw_path, _, raw_query = target.partition(b"?")
        try:
            # Decode each segment as twisted.web does for postpath.
            path = b"/".join(_utf8(unquote_to_bytes(s)) for s in raw_path.split(b"/")).decode()
            adapter = self.app.url_map.bind("registry")
            endpoint, kwargs = adapter.match(path, method=method.decode("ascii"))
        except (HTTPException, UnicodeDecodeError):
            return None
        query = parse_qs(raw_query.decode("latin-1"))
        return self._routes[endpoint], kwargs, query

    def body_router(self, request, method: bytes, target: bytes):
        """
        Where the body of a request goes; see L{RegistryRequest}.
        """
        found = self.match(method, target)
        if found is None:
            return None
        route, kwargs, query = found
        if route.begin_body is not None:
            return route.begin_body(self, request, query, **kwargs)
        return _BOUNDED_BODIES.get(route.endpoint)
