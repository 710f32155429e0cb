"""
The distribution API as a Klein application.

The route table is the single description of the API: Klein serves it, and
the early body router (see L{txregistry.web.request}) matches the same
rules when a request's headers arrive, to stream upload bodies straight into
storage.  Handlers live in one module per resource and receive the
L{RegistryAPI} as their first argument.
"""

from inspect import isawaitable
from urllib.parse import parse_qs, unquote_to_bytes

import attrs
from klein import Klein
from klein.resource import KleinResource
from twisted.internet.defer import Deferred, fail, succeed
from twisted.python.failure import Failure
from werkzeug.exceptions import HTTPException

from txregistry.api import base, blobs, catalog, errors, manifests, referrers, tags, uploads
from txregistry.api.params import query_value
from txregistry.api.urls import URLBuilder
from txregistry.auth import access
from txregistry.auth.interfaces import Challenge
from txregistry.registry.errors import UNAUTHORIZED, RegistryError
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
    access: str = access.REPOSITORY_ROUTE


_NAME = "v2/<path:name>"
ROUTES = (
    _Route("", "liveness", ("GET", "HEAD"), base.liveness, access=access.PUBLIC),
    _Route("v2/", "base", ("GET", "HEAD"), base.version_check, access=access.AUTHENTICATED),
    _Route("v2", "base_no_slash", ("GET", "HEAD"), base.version_check,
           access=access.AUTHENTICATED),
    _Route("v2/_catalog", "catalog", ("GET",), catalog.list_repositories, access=access.CATALOG),
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
    @ivar access_controller: the L{IAccessController} every request but
        the public ones passes, or C{None}.
    @ivar events: the L{EventEmitter} handlers report what they did to.
    """

    def __init__(
        self,
        registry: Registry,
        urls: URLBuilder = URLBuilder(),
        catalog_max_entries: int = 1000,
        tags_max: int = 1000,
        access_controller=None,
        events=NO_EVENTS,
    ):
        self.registry = registry
        self.urls = urls
        self.catalog_max_entries = catalog_max_entries
        self.tags_max = tags_max
        self.access_controller = access_controller
        self.events = events
        self.app = Klein()
        # Werkzeug would answer "//" in a path with a redirect (an exception
        # no handler expects); such a path is an invalid name instead.
        self.app.url_map.merge_slashes = False
        self._routes = {}
        self._bounded = dict(_BOUNDED_BODIES)
        for route in ROUTES:
            self._add(urls.prefix + route.rule, route)
        errors.install(self.app)

    def _add(self, rule: str, route: _Route) -> None:
        self.app.route(
            rule,
            methods=list(route.methods),
            endpoint=route.endpoint,
            strict_slashes=False,
        )(self._bind(route))
        self._routes[route.endpoint] = route

    def serve(self, path: str, methods: tuple[str, ...], handler, body_limit: int = 0) -> None:
        """
        Answer requests for C{path} (outside the API, and without access
        control) with C{handler(api, request)}.

        @param body_limit: the most bytes of a request body kept.
        """
        endpoint = f"extra:{path}"
        self._add(path, _Route(path, endpoint, methods, handler, access=access.PUBLIC))
        self._bounded[endpoint] = body_limit

    def _bind(self, route: _Route):
        handler = route.handler

        def bound(request, **kwargs):
            return handler(self, request, **kwargs)

        async def guarded(request, **kwargs):
            needs = access.requirements(
                route.access, request.method.decode("ascii"), kwargs.get("name"),
                query_value(request, "from"))
            request.actor = (await self._decide(request, needs)).account
            result = handler(self, request, **kwargs)
            return (await result) if isawaitable(result) else result

        public = self.access_controller is None or route.access == access.PUBLIC
        chosen = bound if public else guarded
        chosen.__name__ = handler.__name__
        return chosen

    def _decide(self, request, needs: access.Requirements) -> Deferred:
        """
        The access decision on C{request} for C{needs}: taken once per
        request (the early body router and the handler both ask).

        @return: a L{Deferred} of the L{Grant}; failing with the spec's
            C{UNAUTHORIZED} error and its challenge, or another
            L{errors.RegistryError}.
        """
        decision = request.access
        if decision is None or decision.needs != needs:
            decided = self.access_controller.authorize(request, needs)
            decision = request.access = _Decision(needs, decided.addErrback(_challenged, needs))
        return decision.wait()

    def authorized(self, request) -> Deferred:
        """
        Wait for the access decision the body router started on
        C{request}; a streaming body is taken only after it.

        @return: a L{Deferred} that fails if the request was refused.
        """
        if self.access_controller is None:
            return succeed(None)
        if request.access is None:
            return fail(RuntimeError("no access decision was started for this request"))
        return request.access.wait()

    def may_pull(self, request, name: str | None) -> bool:
        """
        Whether the request, already authorized, may read repository
        C{name} (C{None}: every repository).
        """
        if self.access_controller is None:
            return True
        grant = request.access.grant
        if name is None:
            return grant.resources is None
        return grant.allows(access.Access(access.REPOSITORY, name, access.PULL))

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
        if self.access_controller is not None and route.access != access.PUBLIC:
            # Decide now, while the body arrives; a begin_body waits for it.
            source = query.get("from")
            needs = access.requirements(route.access, method.decode("ascii"),
                                        kwargs.get("name"), source[0] if source else None)
            self._decide(request, needs).addErrback(lambda _: None)
        if route.begin_body is not None:
            return route.begin_body(self, request, query, **kwargs)
        return self._bounded.get(route.endpoint)


class _Decision:
    """
    The access decision on one request, waited for from several places.

    @ivar needs: the L{access.Requirements} decided on.
    @ivar grant: the L{access.Grant}, once granted.
    """

    def __init__(self, needs: access.Requirements, decided: Deferred):
        self.needs = needs
        self.grant = None
        self._outcome = None
        self._waiting = []
        decided.addBoth(self._decided)

    def _decided(self, outcome) -> None:
        self._outcome = outcome
        if not isinstance(outcome, Failure):
            self.grant = outcome
        waiting, self._waiting = self._waiting, []
        for d in waiting:
            self._fire(d)

    def _fire(self, d: Deferred) -> None:
        if isinstance(self._outcome, Failure):
            d.errback(self._outcome)
        else:
            d.callback(self._outcome)

    def wait(self) -> Deferred:
        """
        @return: a L{Deferred} of the outcome.
        """
        d = Deferred()
        if self._outcome is None:
            self._waiting.append(d)
        else:
            self._fire(d)
        return d


def _challenged(failure, needs: access.Requirements):
    """
    A L{Challenge} becomes the spec's 401: C{UNAUTHORIZED} with the
    challenge, the records needed as its detail.
    """
    failure.trap(Challenge)
    records = [record.to_json() for record in needs.required] or None
    raise RegistryError(
        UNAUTHORIZED, detail=records, headers={"WWW-Authenticate": failure.value.header})
