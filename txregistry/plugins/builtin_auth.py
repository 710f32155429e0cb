# -*- test-case-name: tests.test_auth_controllers -*-
"""
The built-in access controllers, as L{IAccessControllerFactory} plugins:
C{htpasswd}, C{token} and C{silly}.
"""

import os

from twisted.logger import Logger
from twisted.plugin import IPlugin
from zope.interface import implementer

from txregistry.auth.files import in_thread
from txregistry.auth.htpasswd import (
    HtpasswdAccessController,
    HtpasswdUsers,
    parse_htpasswd,
    provision,
)
from txregistry.auth.interfaces import IAccessControllerFactory
from txregistry.auth.setup import read_file, token_signer, token_verifier
from txregistry.auth.silly import SillyAccessController
from txregistry.auth.token import TokenAccessController
from txregistry.config import ConfigError

_log = Logger()


@implementer(IPlugin, IAccessControllerFactory)
class HtpasswdFactory:
    """
    Makes L{HtpasswdAccessController}s from C{realm} and C{path}.
    """

    name = "htpasswd"

    def validate(self, options) -> None:
        """
        See L{IAccessControllerFactory.validate}: an existing file must
        parse (a missing one is created by L{create}).
        """
        if os.path.exists(options.path):
            read_file(options.path, "auth.htpasswd.path", parse_htpasswd)

    def create(self, options, reactor) -> HtpasswdAccessController:
        """
        See L{IAccessControllerFactory.create}; a missing file is created
        as Distribution creates it.
        """
        try:
            password_file = provision(options.path)
        except OSError as e:
            raise ConfigError("auth.htpasswd.path",
                              f"cannot create {options.path}: {e.strerror}") from None
        if password_file is not None:
            _log.warn(
                "htpasswd file {path} was missing: created with the user docker, whose "
                "password is in {password_file}", path=options.path, password_file=password_file)
        users = HtpasswdUsers(options.path, reactor, in_thread(reactor))
        return HtpasswdAccessController(options.realm, users)


@implementer(IPlugin, IAccessControllerFactory)
class TokenFactory:
    """
    Makes L{TokenAccessController}s from Distribution's C{auth.token}
    options (the built-in token server, C{server}, is served beside the
    API; see L{txregistry.auth.setup.token_server}).
    """

    name = "token"

    def validate(self, options) -> None:
        """
        See L{IAccessControllerFactory.validate}: the keys load, and so
        does the token server's configuration.
        """
        token_verifier(options, None)
        if options.server is not None:
            token_signer(options)

    def create(self, options, reactor) -> TokenAccessController:
        """
        See L{IAccessControllerFactory.create}.
        """
        return TokenAccessController(
            token_verifier(options, reactor), options.realm, options.service,
            options.autoredirect, options.autoredirectpath)


@implementer(IPlugin, IAccessControllerFactory)
class SillyFactory:
    """
    Makes L{SillyAccessController}s from C{realm} and C{service}.
    """

    name = "silly"

    def validate(self, options) -> None:
        """
        See L{IAccessControllerFactory.validate}: nothing beyond the
        configuration's own checks.
        """

    def create(self, options, reactor) -> SillyAccessController:
        """
        See L{IAccessControllerFactory.create}.
        """
        return SillyAccessController(options.realm, options.service)


htpasswd = HtpasswdFactory()
token = TokenFactory()
silly = SillyFactory()
