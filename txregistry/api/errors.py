"""
Error responses: every failure becomes the spec's JSON error body.
"""

import json

from twisted.logger import Logger
from werkzeug.exceptions import MethodNotAllowed, NotFound

from txregistry.registry import errors
from txregistry.storage.interfaces import DriverUnavailableError, StorageError

_log = Logger()


def render_error(request, error: errors.RegistryError) -> bytes:
    """
    Answer C{request} with C{error}.

    @return: the body.
    """
    request.setResponseCode(error.status)
    for name, value in error.headers.items():
        request.setHeader(name, value)
    body = json.dumps(error.to_json()).encode("utf-8") + b"\n"
    request.setHeader(b"Content-Type", b"application/json")
    request.setHeader(b"Content-Length", b"%d" % (len(body),))
    return body


def install(app) -> None:
    """
    Register the error handlers on a Klein C{app}, most specific first.
    """

    @app.handle_errors(errors.RegistryError)
    def registry_error(request, failure):
        return render_error(request, failure.value)

    @app.handle_errors(NotFound)
    def not_found(request, failure):
        return render_error(
            request,
            errors.RegistryError(
                errors.UNSUPPORTED, message="unknown endpoint", status=404
            ),
        )

    @app.handle_errors(MethodNotAllowed)
    def method_not_allowed(request, failure):
        allowed = ", ".join(failure.value.valid_methods or ())
        return render_error(
            request,
            errors.RegistryError(
                errors.UNSUPPORTED,
                message="method not allowed on this endpoint",
                headers={"Allow": allowed},
            ),
        )

    @app.handle_errors(DriverUnavailableError)
    def storage_unavailable(request, failure):
        _log.failure("storage unavailable", failure)
        return render_error(request, errors.RegistryError(errors.UNAVAILABLE))

    @app.handle_errors(Exception)
    def unexpected(request, failure):
        # Never a traceback to the client: the details go to the log.
        if failure.check(StorageError):
            _log.failure("storage error", failure)
        else:
            _log.failure("unexpected error handling {method} {uri}",
                         failure, method=request.method, uri=request.uri)
        return render_error(request, errors.RegistryError(errors.UNKNOWN))
