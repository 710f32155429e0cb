"""
The API root: C{/v2/}, which clients probe to find a v2 registry, and the
liveness path C{/}.
"""

from txregistry.api.json_response import json_body


def version_check(api, request):
    """
    C{GET /v2/}: 200 with an empty JSON object.
    """
    return json_body(request, {})


def liveness(api, request):
    """
    C{GET /}: 200 with an empty body, never cached.
    """
    request.setHeader(b"Cache-Control", b"no-cache")
    request.setHeader(b"Content-Length", b"0")
    return b""
