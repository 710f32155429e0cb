"""
Tests for L{txregistry.auth.tokenserver}: the built-in token server on the
registry's own site, in memory, and tokens it issues used against the
registry.
"""

import base64
import json
import os
from urllib.parse import urlencode

import jwt
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.processes import temporary_directory
from tests.memory_client import MemoryClient
from tests.pki import certificate_pem, key_pem, self_signed, write_file, write_htpasswd
from tests.test_auth_acl import EXAMPLE
from tests.test_auth_htpasswd import basic
from tests.tokens import NOW
from txregistry.auth.files import CHECK_INTERVAL, inline
from txregistry.auth.setup import token_server, token_verifier
from txregistry.auth.token import TokenAccessController
from txregistry.auth.tokenserver import FORM_LIMIT, TokenSigner
from txregistry.config import ConfigError, parse_config
from txregistry.testing import MemoryRegistry

SERVICE = "txregistry"
ISSUER = "txregistry-token-server"
REALM = "https://registry.test/auth/token"


def token_options(directory: str, signer=None, **server):
    """
    Checked C{auth.token} options with a built-in server whose files are in
    C{directory}.
    """
    signer = signer or self_signed()
    settings = {
        "key": write_file(directory, "token.key", key_pem(signer.key)),
        "htpasswd": write_htpasswd(os.path.join(directory, "htpasswd"),
                                   {"alice": "secret", "admin": "root", "bob": "builder"}),
        "acl": write_file(directory, "acl.yml", EXAMPLE),
        "expiration": 300,
    }
    settings.update(server)
    config = parse_config({"version": "0.1", "storage": "inmemory", "auth": {"token": {
        "realm": REALM, "service": SERVICE, "issuer": ISSUER,
        "rootcertbundle": write_file(directory, "token.crt", certificate_pem(signer.certificate)),
        "server": settings,
    }}}, {})
    return config.auth.options


class TokenServerTests(SynchronousTestCase):
    """
    The token server's GET and POST answers, and registry requests with
    the tokens.
    """

    def setUp(self):
        self.directory = temporary_directory(self)
        self.options = token_options(self.directory)
        self.clock = Clock()
        self.clock.advance(NOW)
        controller = TokenAccessController(token_verifier(self.options, self.clock), REALM,
                                           SERVICE)
        self.memory = MemoryRegistry(access_controller=controller)
        server = token_server(self.options, self.clock, inline)
        self.memory.api.serve(self.options.server_path, ("GET", "POST"),
                              lambda api, request: server.handle(request), FORM_LIMIT)
        self.client = MemoryClient(self, self.memory)

    def get_token(self, *scopes, authorization=None, **arguments):
        """
        GET a token.

        @return: the reply.
        """
        query = urlencode([("service", SERVICE)] + [("scope", s) for s in scopes]
                          + list(arguments.items()))
        headers = {"Authorization": authorization} if authorization else {}
        return self.client.request("GET", f"/auth/token?{query}", headers=headers)

    def post_token(self, **form):
        """
        POST the OAuth2 form.
        """
        return self.client.request(
            "POST", "/auth/token", urlencode(dict({"service": SERVICE, "client_id": "test"},
                                                  **form)).encode(),
            {"Content-Type": "application/x-www-form-urlencoded"})

    def access(self, token: str) -> list:
        """
        The C{access} claim of a token (unverified).
        """
        return jwt.decode(token, options={"verify_signature": False})["access"]

    def test_anonymous(self):
        """
        Without credentials, the ACL's anonymous rules apply: pull on
        public/*, nothing else.
        """
        reply = self.get_token("repository:public/base:pull,push", "repository:team/app:pull")
        self.assertEqual(reply.code, 200)
        body = reply.json()
        self.assertEqual(body["token"], body["access_token"])
        self.assertEqual(body["expires_in"], 300)
        self.assertEqual(self.access(body["token"]),
                         [{"type": "repository", "name": "public/base", "actions": ["pull"]}])
        self.assertEqual(jwt.decode(body["token"], options={"verify_signature": False})["sub"], "")

    def test_authenticated(self):
        """
        alice gets what the first matching rule allows of what she asks.
        """
        reply = self.get_token("repository:team/app:pull,push,delete repository:bob/tool:pull",
                               authorization=basic("alice", "secret"), account="alice")
        self.assertEqual(reply.code, 200, reply.body)
        self.assertEqual(self.access(reply.json()["token"]), [
            {"type": "repository", "name": "team/app", "actions": ["pull", "push"]},
        ])

    def test_claims(self):
        """
        The token is signed by the server's key with its certificate as
        C{x5c}, for the service, from the issuer, valid for C{expiration}.
        """
        token = self.get_token(authorization=basic("alice", "secret")).json()["token"]
        header = jwt.get_unverified_header(token)
        self.assertEqual(header["alg"], "RS256")
        self.assertEqual(len(header["x5c"]), 1)
        claims = jwt.decode(token, options={"verify_signature": False})
        self.assertEqual((claims["iss"], claims["aud"], claims["sub"]), (ISSUER, SERVICE, "alice"))
        self.assertEqual(claims["exp"] - claims["nbf"], 300)

    def test_wrongPassword(self):
        """
        Wrong credentials: 401 with a Basic challenge, no token.
        """
        for authorization in (basic("alice", "wrong"), basic("nobody", "secret"), "Basic !!"):
            reply = self.get_token("repository:team/app:pull", authorization=authorization)
            self.assertEqual(reply.code, 401)
            self.assertEqual(reply.header("www-authenticate"), f'Basic realm="{ISSUER}"')
            self.assertEqual(reply.error_codes(), ["UNAUTHORIZED"])

    def test_badRequests(self):
        """
        Another service or a scope that does not parse: 400.
        """
        reply = self.client.request("GET", "/auth/token?service=other")
        self.assertEqual((reply.code, reply.json()["error"]), (400, "invalid_request"))
        reply = self.get_token("repository")
        self.assertEqual((reply.code, reply.json()["error"]), (400, "invalid_scope"))

    def test_flow(self):
        """
        The client's flow: challenge, token for the challenge's scope, the
        request again with it; then insufficient scope for more.
        """
        challenge = self.client.request("POST", "/v2/team/app/blobs/uploads/")
        self.assertEqual(challenge.code, 401)
        header = challenge.header("www-authenticate")
        self.assertIn(f'realm="{REALM}"', header)
        scope = header.split('scope="')[1].split('"')[0]
        token = self.get_token(scope, authorization=basic("alice", "secret")).json()["token"]
        bearer = {"Authorization": f"Bearer {token}"}
        self.assertEqual(self.client.request("POST", "/v2/team/app/blobs/uploads/",
                                             headers=bearer).code, 202)
        refused = self.client.request("DELETE", "/v2/team/app/manifests/v1", headers=bearer)
        self.assertEqual(refused.code, 401)
        self.assertIn('error="insufficient_scope"', refused.header("www-authenticate"))

    def test_catalog(self):
        """
        The catalog only for admin, as the ACL says.
        """
        for user, password, code in (("admin", "root", 200), ("alice", "secret", 401)):
            token = self.get_token("registry:catalog:*",
                                   authorization=basic(user, password)).json()["token"]
            reply = self.client.request("GET", "/v2/_catalog",
                                        headers={"Authorization": f"Bearer {token}"})
            self.assertEqual(reply.code, code, user)

    def test_aclReloaded(self):
        """
        A changed ACL applies once the interval has passed.
        """
        write_file(self.directory, "acl.yml", b"- {account: '*', name: '*', actions: [pull]}")
        self.clock.advance(CHECK_INTERVAL)
        token = self.get_token("repository:any/thing:pull,push",
                               authorization=basic("bob", "builder")).json()["token"]
        self.assertEqual(self.access(token), [
            {"type": "repository", "name": "any/thing", "actions": ["pull"]}])

    def test_aclBroken(self):
        """
        An ACL that stops parsing issues nothing: 503.
        """
        write_file(self.directory, "acl.yml", b"- {account: alice}")
        self.clock.advance(CHECK_INTERVAL)
        self.assertEqual(self.get_token("repository:team/app:pull",
                                        authorization=basic("alice", "secret")).code, 503)

    def test_passwordGrant(self):
        """
        The OAuth2 password grant: a token for the scope, the granted
        scope, and a refresh token with C{access_type=offline}.
        """
        reply = self.post_token(grant_type="password", username="alice", password="secret",
                                scope="repository:team/app:pull,push,delete",
                                access_type="offline")
        self.assertEqual(reply.code, 200, reply.body)
        body = reply.json()
        self.assertEqual(body["scope"], "repository:team/app:pull,push")
        self.assertEqual(self.access(body["access_token"])[0]["actions"], ["pull", "push"])
        self.assertIn("refresh_token", body)
        refreshed = self.post_token(grant_type="refresh_token",
                                    refresh_token=body["refresh_token"],
                                    scope="repository:alice/x:pull")
        self.assertEqual(refreshed.code, 200, refreshed.body)
        self.assertEqual(refreshed.json()["scope"], "repository:alice/x:pull")
        self.assertEqual(jwt.decode(refreshed.json()["access_token"],
                                    options={"verify_signature": False})["sub"], "alice")

    def test_refreshTokenRevoked(self):
        """
        A refresh token stops working when the password changes; a forged
        or garbled one never works.
        """
        refresh = self.post_token(grant_type="password", username="bob", password="builder",
                                  access_type="offline").json()["refresh_token"]
        body, _, mac = refresh.partition(".")
        forged = base64.urlsafe_b64encode(json.dumps(
            {"sub": "admin", "svc": SERVICE, "pwd": "x"}).encode()).decode().rstrip("=")
        for token in (forged + "." + mac, "garbage", ""):
            reply = self.post_token(grant_type="refresh_token", refresh_token=token)
            self.assertEqual((reply.code, reply.json()["error"]), (401, "invalid_grant"))
        write_htpasswd(os.path.join(self.directory, "htpasswd"),
                       {"alice": "secret", "bob": "changed"})
        self.clock.advance(CHECK_INTERVAL)
        reply = self.post_token(grant_type="refresh_token", refresh_token=refresh)
        self.assertEqual((reply.code, reply.json()["error"]), (401, "invalid_grant"))

    def test_oauthErrors(self):
        """
        A wrong password and an unknown grant type answer as RFC 6749 says.
        """
        reply = self.post_token(grant_type="password", username="alice", password="wrong")
        self.assertEqual((reply.code, reply.json()["error"]), (401, "invalid_grant"))
        reply = self.post_token(grant_type="authorization_code", code="x")
        self.assertEqual((reply.code, reply.json()["error"]), (400, "unsupported_grant_type"))
        reply = self.post_token(grant_type="password", username="alice", password="secret",
                                scope="nonsense")
        self.assertEqual((reply.code, reply.json()["error"]), (400, "invalid_scope"))
        reply = self.client.request("POST", "/auth/token", b"x" * (FORM_LIMIT + 1),
                                    {"Content-Type": "application/x-www-form-urlencoded"})
        self.assertEqual((reply.code, reply.json()["error"]), (400, "invalid_request"))


class SignerTests(SynchronousTestCase):
    """
    The token server's key and its certificate.
    """

    def test_algorithms(self):
        """
        The algorithm follows the key.
        """
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519

        for key, algorithm in ((ec.generate_private_key(ec.SECP384R1()), "ES384"),
                               (ed25519.Ed25519PrivateKey.generate(), "EdDSA"),
                               (None, "RS256")):
            issued = self_signed(key)
            signer = TokenSigner(key_pem(issued.key), certificate_pem(issued.certificate))
            self.assertEqual(signer.algorithm, algorithm)

    def test_certificateMissing(self):
        """
        A key whose certificate is not in the bundle is refused at start,
        naming the key.
        """
        directory = temporary_directory(self)
        options = token_options(directory)
        write_file(directory, "token.crt", certificate_pem(self_signed().certificate))
        error = self.assertRaises(ConfigError, token_server, options, Clock(), inline)
        self.assertEqual(error.key, "auth.token.server.key")
        self.assertIn("no certificate of this key", error.message)

    def test_filesChecked(self):
        """
        An unreadable or invalid file is refused at start, naming its key.
        """
        directory = temporary_directory(self)
        options = token_options(directory)
        write_file(directory, "acl.yml", b"- nonsense")
        error = self.assertRaises(ConfigError, token_server, options, Clock(), inline)
        self.assertEqual(error.key, "auth.token.server.acl")
        os.remove(os.path.join(directory, "htpasswd"))
        error = self.assertRaises(ConfigError, token_server, options, Clock(), inline)
        self.assertEqual(error.key, "auth.token.server.htpasswd")
