"""
Reading request parameters: query arguments, headers, path values.
"""

from urllib.parse import urlencode

from txregistry.registry import errors
from txregistry.registry.reference import Digest


def query_value(request, name: str) -> str | None:
    """
    The first value of query argument C{name}, or C{None}.
    """
    values = request.args.get(name.encode("ascii"))
    if not values:
        return None
    return values[0].decode("utf-8", "replace")


def header(request, name: str) -> str | None:
    """
    A request header as text, or C{None}.
    """
    value = request.getHeader(name.encode("latin-1"))
    return None if value is None else value.decode("latin-1")


def path_digest(text: str) -> Digest:
    """
    A digest given in the URL path.

    @raise errors.RegistryError: C{DIGEST_INVALID}.
    """
    return Digest.parse(text)


def pagination(request, maximum: int, clamp: bool) -> tuple[int | None, str | None]:
    """
    The C{n} and C{last} arguments of a paginated list.

    @param maximum: the largest C{n} allowed.
    @param clamp: reduce a larger C{n} to C{maximum} (tags) instead of
        refusing it (catalog).
    @raise errors.RegistryError: C{PAGINATION_NUMBER_INVALID}.
    """
    raw = query_value(request, "n")
    last = query_value(request, "last")
    if raw is None or raw == "":
        return None, last
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        raise errors.RegistryError(errors.PAGINATION_NUMBER_INVALID, detail={"n": raw})
    n = int(raw)
    if n > maximum:
        if not clamp:
            raise errors.RegistryError(errors.PAGINATION_NUMBER_INVALID, detail={"n": raw})
        n = maximum
    return n, last


def set_link(request, path: str, last: str, n: int) -> None:
    """
    Send the C{Link} header to the next page, as Distribution does
    (query keys sorted: C{last} before C{n}).
    """
    query = urlencode([("last", last), ("n", str(n))])
    request.setHeader(b"Link", f'<{path}?{query}>; rel="next"'.encode("utf-8"))
