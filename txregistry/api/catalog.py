"""
C{GET /v2/_catalog}: the repositories, paginated.
"""

from txregistry.api.json_response import json_body
from txregistry.api.params import pagination, set_link

#: Entries returned when the client gives no C{n} (Distribution's default).
DEFAULT_PAGE = 100


async def list_repositories(api, request):
    """
    A page of repository names; C{Link} to the next page when this one is full.
    """
    n, last = pagination(request, api.catalog_max_entries, clamp=False)
    limit = DEFAULT_PAGE if n is None else n
    names = await api.registry.catalog(limit, last) if limit else []
    if limit and len(names) == limit:
        set_link(request, api.urls.path("_catalog"), names[-1], limit)
    return json_body(request, {"repositories": names})
