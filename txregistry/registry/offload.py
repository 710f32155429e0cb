"""
Running CPU-heavy work (parsing large manifests) away from the reactor.

An I{offload} is a callable C{offload(f, *args)} returning a L{Deferred} of
C{f(*args)}: the service passes one that runs C{f} in the reactor's thread
pool; tests and tools use L{inline}.
"""

from twisted.internet.defer import maybeDeferred

#: Manifests larger than this are parsed off the reactor thread (a 4 MiB
#: manifest takes about half a second to check).
OFFLOAD_THRESHOLD = 64 * 1024


def inline(f, *args):
    """
    The default L{ManifestStore} offload: run C{f} right away.

    @return: a L{Deferred} of C{f(*args)}.
    """
    return maybeDeferred(f, *args)


def parse_off_reactor(offload, parse, raw: bytes, *args):
    """
    C{parse(raw, *args)}, through C{offload} when C{raw} is large.

    @return: a L{Deferred} of the result.
    """
    if len(raw) > OFFLOAD_THRESHOLD:
        return offload(parse, raw, *args)
    return maybeDeferred(parse, raw, *args)
