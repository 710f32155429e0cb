"""
Tests for finding and building access controllers: the built-in plugins,
third-party ones, start-up checks of their files, and C{silly}.
"""

import os

from twisted.internet import reactor
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest
from zope.interface.verify import verifyObject

from tests.configdocs import document, parse
from tests.integration.processes import temporary_directory
from tests.test_driver_plugins import run_with_plugin
from txregistry.auth.access import Requirements, requirements
from txregistry.auth.interfaces import Challenge, IAccessController, IAccessControllerFactory
from txregistry.auth.setup import access_controller, check_auth, controller_factory
from txregistry.auth.silly import SillyAccessController
from txregistry.config import ConfigError
from txregistry.extensions import named_factories

TINY_CONTROLLER = """
from twisted.internet.defer import succeed
from twisted.plugin import IPlugin
from zope.interface import implementer

from txregistry.auth.access import Grant
from txregistry.auth.interfaces import IAccessController, IAccessControllerFactory


@implementer(IAccessController)
class Everyone:
    def authorize(self, request, requirements):
        return succeed(Grant("everyone"))


@implementer(IPlugin, IAccessControllerFactory)
class EveryoneFactory:
    name = "everyone"

    def validate(self, options):
        pass

    def create(self, options, reactor):
        return Everyone()


everyone = EveryoneFactory()
"""

USE_TINY = """
from twisted.internet import reactor
from txregistry.auth.setup import access_controller, check_auth
from txregistry.config import parse_config

config = parse_config({"version": "0.1", "storage": "inmemory",
                       "auth": {"everyone": {"motto": "come in"}}}, {})
check_auth(config.auth)
print(config.auth.options)
print(access_controller(config.auth, reactor).authorize(None, None).result.account)
"""


class DiscoveryTests(SynchronousTestCase):
    """
    Access controllers are L{IAccessControllerFactory} plugins.
    """

    def test_builtins(self):
        """
        C{htpasswd}, C{token} and C{silly} are found and provide the
        interface.
        """
        factories = named_factories(IAccessControllerFactory)
        self.assertEqual({"htpasswd", "silly", "token"}, set(factories))
        for name, factory in factories.items():
            self.assertTrue(verifyObject(IAccessControllerFactory, factory))
            self.assertIs(controller_factory(name), factory)

    def test_none(self):
        """
        No C{auth}: no controller.
        """
        self.assertIsNone(access_controller(None, reactor))
        check_auth(None)

    def test_third_party(self):
        """
        A controller in another distribution's C{txregistry/plugins}
        directory is found by its name under C{auth:}, and gets its options
        as written.
        """
        self.assertEqual(run_with_plugin(self, "everyone", TINY_CONTROLLER, USE_TINY),
                         ["{'motto': 'come in'}", "everyone"])


class BuiltinTests(SynchronousTestCase):
    """
    The built-in controllers from their configuration.
    """

    def setUp(self):
        self.directory = temporary_directory(self)

    def auth(self, provider, **options):
        """
        The checked C{auth} section for one provider.
        """
        return parse(document(auth={provider: options})).auth

    def test_htpasswdCreated(self):
        """
        A missing htpasswd file passes the check and is created with the
        controller.
        """
        path = os.path.join(self.directory, "sub", "htpasswd")
        auth = self.auth("htpasswd", realm="r", path=path)
        check_auth(auth)
        self.assertFalse(os.path.exists(path))
        controller = access_controller(auth, reactor)
        self.assertTrue(verifyObject(IAccessController, controller))
        self.assertTrue(os.path.exists(path))

    def test_htpasswdInvalid(self):
        """
        An htpasswd file that does not parse is refused at start.
        """
        path = os.path.join(self.directory, "htpasswd")
        with open(path, "w") as f:
            f.write("nobody\n")
        error = self.assertRaises(ConfigError, check_auth,
                                  self.auth("htpasswd", realm="r", path=path))
        self.assertEqual(error.key, "auth.htpasswd.path")

    def test_tokenFiles(self):
        """
        Token auth's key files must be readable and hold keys.
        """
        empty = os.path.join(self.directory, "empty.pem")
        open(empty, "w").close()
        for options, key in (
            ({"rootcertbundle": "/nonexistent.pem"}, "auth.token.rootcertbundle"),
            ({"rootcertbundle": empty}, "auth.token.rootcertbundle"),
            ({"jwks": empty}, "auth.token.jwks"),
        ):
            auth = self.auth("token", realm="https://a.example/token", service="s",
                             issuer="i", **options)
            error = self.assertRaises(ConfigError, check_auth, auth)
            self.assertEqual(error.key, key)


class SillyTests(SynchronousTestCase):
    """
    C{silly} lets anything with an C{Authorization} header through.
    """

    def test_silly(self):
        """
        Any credentials: the user C{silly}; none: a Bearer challenge with
        one scope item per record, as Distribution writes it.
        """
        controller = SillyAccessController("https://auth.example/", "reg")
        request = DummyRequest([b""])
        request.requestHeaders.setRawHeaders(b"authorization", [b"anything"])
        grant = self.successResultOf(controller.authorize(request, Requirements()))
        self.assertEqual(grant.account, "silly")
        failure = self.failureResultOf(
            controller.authorize(DummyRequest([b""]), requirements("repository", "PUT", "foo")),
            Challenge)
        self.assertEqual(failure.value.header, 'Bearer realm="https://auth.example/",'
                         'service="reg",scope="repository:foo:pull repository:foo:push"')
