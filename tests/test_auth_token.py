"""
Tests for L{txregistry.auth.token}: which tokens a registry accepts, and
the challenges it answers with.
"""

import json

import jwt
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from tests.tokens import NOW, SERVICE, Issuer, ec_key
from txregistry.auth.access import Access, Grant, Requirements, requirements
from txregistry.auth.interfaces import Challenge
from txregistry.auth.token import (
    InvalidToken,
    TokenAccessController,
    TokenVerifier,
    TrustedKeys,
    libtrust_id,
    parse_jwks,
    thumbprint,
)

PULL = requirements("repository", "GET", "team/app")
PUSH = requirements("repository", "PUT", "team/app")


def _request(token=None, **headers):
    request = DummyRequest([b""])
    if token is not None:
        request.requestHeaders.setRawHeaders(b"authorization", [f"Bearer {token}".encode()])
    for name, value in headers.items():
        request.requestHeaders.setRawHeaders(name.replace("_", "-").encode(), [value.encode()])
    return request


class KeyIdTests(SynchronousTestCase):
    """
    Key ids, as token servers compute them.
    """

    def test_thumbprint(self):
        """
        The RFC 7638 thumbprint of the RFC's own example key.
        """
        jwk = {
            "kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxu"
                 "hDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w"
                 "6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajr"
                 "n1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0L"
                 "s1jF44-csFCur-kEgU8awapJzKnqDKgw",
        }
        key = jwt.PyJWK(jwk).key
        self.assertEqual(thumbprint(key), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs")

    def test_libtrust(self):
        """
        A libtrust key id is 12 groups of 4 base32 characters.
        """
        key_id = libtrust_id(ec_key().public_key())
        groups = key_id.split(":")
        self.assertEqual([len(g) for g in groups], [4] * 12)
        self.assertTrue(key_id.replace(":", "").isalnum())


class VerifierTests(SynchronousTestCase):
    """
    L{TokenVerifier} accepts tokens of a trusted issuer however they name
    its key, and refuses every kind of bad token.
    """

    def setUp(self):
        self.issuer = Issuer()
        self.verifier = self.issuer.verifier()

    def test_keyNamedEveryWay(self):
        """
        The key is found from an C{x5c} chain, an RFC 7638 C{kid}, a
        libtrust C{kid} (Distribution 2.x) and an embedded trusted C{jwk}.
        """
        for header in ("x5c", "kid", "libtrust", "jwk"):
            grant = self.verifier.verify(self.issuer.token([("team/app", ["pull"])], header))
            self.assertEqual(grant, Grant("alice", frozenset({Access("repository", "team/app",
                                                                     "pull")})), header)

    def test_badTokens(self):
        """
        Every bad kind of token is refused.
        """
        reasons = {
            "alg none": "algorithm 'none' not accepted",
            "hmac with the public key": "HS256 cannot be used with the signing key",
            "untrusted key": "no trusted signing key",
            "untrusted x5c": "untrusted certificate chain",
            "kid of a trusted key, another jwk": "untrusted jwk",
            "expired": "expired token",
            "not yet valid": "token not valid yet",
            "another audience": "token for another audience",
            "another issuer": "token from another issuer",
            "no expiry": "malformed exp or nbf",
            "garbage": "malformed token",
        }
        bad = self.issuer.bad_tokens([("team/app", ["pull"])])
        self.assertEqual(set(bad), set(reasons))
        for kind, token in bad.items():
            error = self.assertRaises(InvalidToken, self.verifier.verify, token)
            self.assertIn(reasons[kind], str(error), kind)

    def test_leeway(self):
        """
        Up to 60 s past C{exp} or before C{nbf}, a token still holds.
        """
        self.verifier.verify(self.issuer.token(exp=NOW - 59, nbf=NOW - 400))
        self.verifier.verify(self.issuer.token(nbf=NOW + 59, exp=NOW + 600))

    def test_rememberedTokenExpires(self):
        """
        A token verified before is still refused once it has expired.
        """
        clock = Clock()
        clock.advance(NOW)
        verifier = self.issuer.verifier(clock)
        token = self.issuer.token([("team/app", ["pull"])])
        first = verifier.verify(token)
        self.assertEqual(verifier.verify(token), first)
        clock.advance(300 + 61)
        self.assertRaises(InvalidToken, verifier.verify, token)

    def test_audienceList(self):
        """
        C{aud} may be a list holding the service.
        """
        self.verifier.verify(self.issuer.token(aud=["other", SERVICE]))

    def test_anonymous(self):
        """
        An empty C{sub} is the anonymous account.
        """
        self.assertIsNone(self.verifier.verify(self.issuer.token(subject="")).account)

    def test_algorithmList(self):
        """
        Only the algorithms configured are accepted.
        """
        clock = Clock()
        clock.advance(NOW)
        verifier = TokenVerifier(self.issuer.trusted(), "test-issuer", SERVICE, ["ES256"], clock)
        self.assertRaises(InvalidToken, verifier.verify, self.issuer.token())

    def test_jwks(self):
        """
        Keys of a JWKS are trusted under their C{kid}, an HMAC secret
        included (for HS256 only).
        """
        ec = ec_key()
        document = {"keys": [
            dict(jwt.algorithms.ECAlgorithm.to_jwk(ec.public_key(), as_dict=True), kid="ec"),
            {"kty": "oct", "kid": "shared", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"},
        ]}
        clock = Clock()
        clock.advance(NOW)
        verifier = TokenVerifier(TrustedKeys.build(jwks=parse_jwks(json.dumps(document).encode())),
                                 "test-issuer", SERVICE, clock=clock)
        claims = self.issuer.claims()
        verifier.verify(jwt.encode(claims, ec, algorithm="ES256", headers={"kid": "ec"}))
        verifier.verify(jwt.encode(claims, b"secret-secret-secret-secret-secret", algorithm="HS256",
                                   headers={"kid": "shared"}))
        # The EC key is no HMAC secret, and the secret signs no ES256.
        self.assertRaises(InvalidToken, verifier.verify, jwt.encode(
            claims, b"secret-secret-secret-secret-secret", algorithm="HS256",
            headers={"kid": "ec"}))

    def test_jwksInvalid(self):
        """
        A JWKS file must be one.
        """
        for content in (b"[]", b"{}", b"{\"keys\": 1}", b"not json"):
            self.assertRaises(ValueError, parse_jwks, content)

    def test_malformedAccess(self):
        """
        An C{access} claim that is not a list of resources is refused.
        """
        for access in ({"type": "repository"}, [{"type": "repository"}], ["x"],
                       [{"type": "repository", "name": "a", "actions": "pull"}]):
            claims = dict(self.issuer.claims(), access=access)
            token = jwt.encode(claims, self.issuer.signer.key, algorithm="RS256",
                               headers={"kid": thumbprint(self.issuer.public)})
            self.assertRaises(InvalidToken, self.verifier.verify, token)


class ControllerTests(SynchronousTestCase):
    """
    L{TokenAccessController}'s challenges, as Distribution writes them.
    """

    def setUp(self):
        self.issuer = Issuer()
        self.controller = TokenAccessController(
            self.issuer.verifier(), "https://auth.example/token", SERVICE)

    def challenge(self, request, needs) -> str:
        """
        The challenge C{request} gets.
        """
        return self.failureResultOf(self.controller.authorize(request, needs),
                                    Challenge).value.header

    def test_noToken(self):
        """
        No token: realm, service and scope, no error.
        """
        self.assertEqual(
            self.challenge(_request(), PUSH),
            'Bearer realm="https://auth.example/token",service="test-registry",'
            'scope="repository:team/app:pull,push"')

    def test_baseNoScope(self):
        """
        C{/v2/} asks for no scope.
        """
        self.assertEqual(self.challenge(_request(), Requirements()),
                         'Bearer realm="https://auth.example/token",service="test-registry"')

    def test_mountScope(self):
        """
        A mount asks for pull on its source too, as a second resource.
        """
        needs = requirements("repository", "POST", "dst", "src")
        self.assertIn('scope="repository:dst:pull,push repository:src:pull"',
                      self.challenge(_request(), needs))

    def test_invalidToken(self):
        """
        A bad token: C{error="invalid_token"}.
        """
        for token in self.issuer.bad_tokens([("team/app", ["pull"])]).values():
            self.assertTrue(self.challenge(_request(token), PULL).endswith(
                ',error="invalid_token"'))

    def test_insufficientScope(self):
        """
        A valid token lacking an action: C{error="insufficient_scope"}.
        """
        token = self.issuer.token([("team/app", ["pull"])])
        self.assertTrue(self.challenge(_request(token), PUSH).endswith(
            ',error="insufficient_scope"'))
        self.assertEqual(self.successResultOf(self.controller.authorize(_request(token), PULL))
                         .account, "alice")

    def test_wildcardAction(self):
        """
        C{*} in a token grants every action on its resource.
        """
        token = self.issuer.token([("team/app", ["*"])])
        self.successResultOf(self.controller.authorize(_request(token), PUSH))

    def test_basicIgnored(self):
        """
        Basic credentials are no token.
        """
        request = DummyRequest([b""])
        request.requestHeaders.setRawHeaders(b"authorization", [b"Basic YTpi"])
        self.assertNotIn("error", self.challenge(request, PULL))

    def test_autoredirect(self):
        """
        With C{autoredirect}, the realm is the request's host and scheme.
        """
        controller = TokenAccessController(self.issuer.verifier(), "https://ignored/", SERVICE,
                                           autoredirect=True, autoredirectpath="/auth/token")
        request = _request(host="registry.example:5000", x_forwarded_proto="http")
        header = self.failureResultOf(controller.authorize(request, PULL)).value.header
        self.assertTrue(header.startswith('Bearer realm="http://registry.example:5000/auth/token"'))
