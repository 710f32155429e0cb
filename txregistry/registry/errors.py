"""
The error codes of the distribution specification and the exception that
carries them from the registry core to the HTTP layer.
"""

import attrs


@attrs.frozen
class ErrorCode:
    """
    One code of the spec's error table.

    @ivar code: the upper-case identifier sent to clients.
    @ivar message: the default human-readable message.
    @ivar status: the HTTP status Distribution answers with.
    """

    code: str
    message: str
    status: int


BLOB_UNKNOWN = ErrorCode("BLOB_UNKNOWN", "blob unknown to registry", 404)
BLOB_UPLOAD_INVALID = ErrorCode("BLOB_UPLOAD_INVALID", "blob upload invalid", 404)
BLOB_UPLOAD_UNKNOWN = ErrorCode(
    "BLOB_UPLOAD_UNKNOWN", "blob upload unknown to registry", 404
)
DIGEST_INVALID = ErrorCode(
    "DIGEST_INVALID", "provided digest did not match uploaded content", 400
)
MANIFEST_BLOB_UNKNOWN = ErrorCode(
    "MANIFEST_BLOB_UNKNOWN", "blob unknown to registry", 400
)
MANIFEST_INVALID = ErrorCode("MANIFEST_INVALID", "manifest invalid", 400)
MANIFEST_UNKNOWN = ErrorCode("MANIFEST_UNKNOWN", "manifest unknown", 404)
NAME_INVALID = ErrorCode("NAME_INVALID", "invalid repository name", 400)
NAME_UNKNOWN = ErrorCode(
    "NAME_UNKNOWN", "repository name not known to registry", 404
)
SIZE_INVALID = ErrorCode(
    "SIZE_INVALID", "provided length did not match content length", 400
)
UNAUTHORIZED = ErrorCode("UNAUTHORIZED", "authentication required", 401)
DENIED = ErrorCode("DENIED", "requested access to the resource is denied", 403)
UNSUPPORTED = ErrorCode("UNSUPPORTED", "The operation is unsupported.", 405)
TOOMANYREQUESTS = ErrorCode("TOOMANYREQUESTS", "too many requests", 429)
UNKNOWN = ErrorCode("UNKNOWN", "unknown error", 500)
UNAVAILABLE = ErrorCode("UNAVAILABLE", "service unavailable", 503)
PAGINATION_NUMBER_INVALID = ErrorCode(
    "PAGINATION_NUMBER_INVALID", "invalid number of results requested", 400
)
RANGE_INVALID = ErrorCode("RANGE_INVALID", "invalid content range", 416)
TAG_INVALID = ErrorCode("TAG_INVALID", "manifest tag did not match URI", 400)


@attrs.frozen
class ErrorDetail:
    """
    One entry of an error response.
    """

    code: ErrorCode
    detail: object = None
    message: str | None = None

    def to_json(self) -> dict:
        """
        The entry as the spec's JSON object.
        """
        entry = {"code": self.code.code, "message": self.message or self.code.message}
        if self.detail is not None:
            entry["detail"] = self.detail
        return entry


class RegistryError(Exception):
    """
    A request failed for a reason the client should be told about.

    The HTTP status is that of the first error unless C{status} overrides it.

    @ivar errors: the L{ErrorDetail}s to report, first one decisive.
    @ivar status: the HTTP status of the response.
    @ivar headers: extra response headers, as a dict of str to str.
    """

    def __init__(self, code, detail=None, message=None, status=None, headers=None):
        self.errors = [ErrorDetail(code, detail, message)]
        self.status = status or code.status
        self.headers = dict(headers or {})
        super().__init__(code.code, detail)

    @classmethod
    def several(cls, details, status=None) -> "RegistryError":
        """
        One error reporting several L{ErrorDetail}s.
        """
        first, *rest = details
        error = cls(first.code, first.detail, first.message, status=status)
        error.errors.extend(rest)
        return error

    def to_json(self) -> dict:
        """
        The body of the error response.
        """
        return {"errors": [e.to_json() for e in self.errors]}
