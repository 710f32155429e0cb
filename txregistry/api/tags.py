"""
C{GET /v2/<name>/tags/list}: a repository's tags, paginated.
"""

import bisect

from txregistry.api.json_response import json_body
from txregistry.api.params import pagination, set_link


async def list_tags(api, request, name):
    """
    The tags in byte order, starting after C{last}, at most C{n} (clamped to
    C{tags.maxtags}); C{Link} to the next page when this one is full.
    """
    repository = api.registry.repository(name)
    n, last = pagination(request, api.tags_max, clamp=True)
    tags = await repository.tags.all()
    if last is not None:
        tags = tags[bisect.bisect_right(tags, last):]
    if n is not None:
        tags = tags[:n]
        if n and len(tags) == n:
            set_link(request, api.urls.path(name, "tags", "list"), tags[-1], n)
    return json_body(request, {"name": name, "tags": tags})
