# -*- test-case-name: tests.test_auth_controllers -*-
"""
From the C{auth} section to running access control: the controller its
plugin makes, and the built-in token server; files are read (and
refused, naming their key) at start.
"""

from twisted.logger import Logger

from txregistry.auth import acl
from txregistry.auth.files import WatchedFile, in_thread
from txregistry.auth.htpasswd import HtpasswdUsers, parse_htpasswd
from txregistry.auth.interfaces import IAccessControllerFactory
from txregistry.auth.token import (
    ALGORITHMS,
    TokenVerifier,
    TrustedKeys,
    parse_jwks,
    read_certificates,
)
from txregistry.auth.tokenserver import TokenServer, TokenSigner
from txregistry.config import ConfigError
from txregistry.extensions import named_factory

_log = Logger()


def read_file(path: str, key: str, parse=None):
    """
    Read a file the configuration names, and parse it.

    @param parse: raises L{ValueError} for content it refuses; C{None} to
        return the bytes.
    @raise ConfigError: for C{key}, if it cannot be read or parsed.
    """
    try:
        with open(path, "rb") as f:
            content = f.read()
    except OSError as e:
        raise ConfigError(key, f"cannot read {path}: {e.strerror}") from None
    if parse is None:
        return content
    try:
        return parse(content)
    except ValueError as e:
        raise ConfigError(key, f"{path}: {e}") from None


def controller_factory(name: str) -> IAccessControllerFactory:
    """
    The access controller factory called C{name}.

    @raise ConfigError: (for C{auth.<name>}) if there is none.
    """
    return named_factory(IAccessControllerFactory, name, f"auth.{name}", "auth provider")


def check_auth(auth) -> None:
    """
    Check the C{auth} section beyond its shape: the controller exists and
    the files it needs are usable.

    @param auth: an L{AuthConfig}, or C{None}.
    @raise ConfigError: naming the key at fault.
    """
    if auth is not None:
        controller_factory(auth.provider).validate(auth.options)


def access_controller(auth, reactor):
    """
    The access controller of the C{auth} section.

    @param auth: an L{AuthConfig}, or C{None} (no access control).
    @return: an L{IAccessController}, or C{None}.
    """
    if auth is None:
        return None
    return controller_factory(auth.provider).create(auth.options, reactor)


def token_verifier(options, clock) -> TokenVerifier:
    """
    The verifier of C{auth.token} (a L{TokenAuthOptions}).

    @raise ConfigError: a key file is unusable, or holds no key.
    """
    roots, jwks = [], {}
    if options.rootcertbundle:
        roots = read_file(options.rootcertbundle, "auth.token.rootcertbundle", read_certificates)
    if options.jwks:
        jwks = read_file(options.jwks, "auth.token.jwks", parse_jwks)
    trusted = TrustedKeys.build(roots, jwks)
    if not trusted.by_id:
        raise ConfigError("auth.token.rootcertbundle",
                          "token auth needs at least one signing key; none found")
    return TokenVerifier(trusted, options.issuer, options.service,
                         options.signingalgorithms or ALGORITHMS, clock)


def token_signer(options) -> TokenSigner:
    """
    The signer of the built-in token server, once every file it needs has
    been read and checked.

    @param options: the L{TokenAuthOptions}; C{options.server} is set.
    @raise ConfigError: a file it needs is unusable.
    """
    server = options.server
    bundle = read_file(options.rootcertbundle, "auth.token.rootcertbundle")
    signer = read_file(server.key, "auth.token.server.key", lambda key: TokenSigner(key, bundle))
    read_file(server.htpasswd, "auth.token.server.htpasswd", parse_htpasswd)
    read_file(server.acl, "auth.token.server.acl", acl.parse_acl)
    return signer


def token_server(options, clock, run_blocking=None) -> TokenServer:
    """
    The built-in token server of C{auth.token.server}.

    @param options: the L{TokenAuthOptions}; C{options.server} is set.
    @param run_blocking: see L{WatchedFile}; C{None} for C{clock}'s threads.
    @raise ConfigError: see L{token_signer}.
    """
    server = options.server
    run = run_blocking or in_thread(clock)
    return TokenServer(
        options.issuer, options.service, server.expiration, token_signer(options),
        HtpasswdUsers(server.htpasswd, clock, run),
        WatchedFile(server.acl, acl.parse_acl, clock, run),
        clock,
    )
