"""
JSON response bodies.
"""

import json


def json_body(request, document, content_type: bytes = b"application/json") -> bytes:
    """
    Set the headers for a JSON body and return it.
    """
    body = json.dumps(document).encode("utf-8")
    request.setHeader(b"Content-Type", content_type)
    request.setHeader(b"Content-Length", b"%d" % (len(body),))
    return body
