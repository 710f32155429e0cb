"""
Tokens for tests of token authentication: a trusted issuer, and every kind
of token a registry must refuse.
"""

import base64
import json
import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from twisted.internet.task import Clock

from tests.pki import certificate_pem, self_signed
from txregistry.auth.token import TokenVerifier, TrustedKeys, libtrust_id, thumbprint

ISSUER = "test-issuer"
SERVICE = "test-registry"
#: The time the tests' clocks show: now, as certificates are made now.
NOW = int(time.time())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwk(public_key) -> dict:
    if isinstance(public_key, rsa.RSAPublicKey):
        return jwt.algorithms.RSAAlgorithm.to_jwk(public_key, as_dict=True)
    return jwt.algorithms.ECAlgorithm.to_jwk(public_key, as_dict=True)


class Issuer:
    """
    A token server's key and certificate (RSA), trusted through
    C{rootcertbundle}; and a stranger's key, trusted by nobody.
    """

    def __init__(self):
        self.signer = self_signed()
        self.stranger = self_signed(name="stranger")
        self.public = self.signer.key.public_key()

    def bundle(self) -> bytes:
        """
        The C{rootcertbundle} content: the issuer's certificate.
        """
        return certificate_pem(self.signer.certificate)

    def trusted(self) -> TrustedKeys:
        """
        The keys a registry trusting this issuer has.
        """
        return TrustedKeys.build([self.signer.certificate])

    def verifier(self, clock=None) -> TokenVerifier:
        """
        A verifier trusting this issuer, at L{NOW} unless C{clock} says.
        """
        if clock is None:
            clock = Clock()
            clock.advance(NOW)
        return TokenVerifier(self.trusted(), ISSUER, SERVICE, clock=clock)

    def claims(self, access=(), subject="alice", **changes) -> dict:
        """
        Valid claims granting C{access}: C{(name, [actions])} pairs on
        repositories, or C{(type, name, [actions])} triples.
        """
        entries = []
        for item in access:
            kind, name, actions = item if len(item) == 3 else ("repository", *item)
            entries.append({"type": kind, "name": name, "actions": list(actions)})
        claims = {"iss": ISSUER, "sub": subject, "aud": SERVICE, "exp": NOW + 300,
                  "nbf": NOW - 10, "iat": NOW - 10, "jti": "t", "access": entries}
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, access=(), header="x5c", key=None, **changes) -> str:
        """
        A token signed by this issuer (or by C{key}), naming its key as
        C{header} says: C{x5c}, C{kid} (RFC 7638), C{libtrust} or C{jwk}.
        """
        key = key or self.signer.key
        headers = {
            "x5c": {"x5c": [base64.b64encode(self.signer.certificate.public_bytes(
                serialization.Encoding.DER)).decode()]},
            "kid": {"kid": thumbprint(key.public_key())},
            "libtrust": {"kid": libtrust_id(key.public_key())},
            "jwk": {"jwk": _jwk(key.public_key())},
        }[header]
        return jwt.encode(self.claims(access, **changes), key, algorithm="RS256",
                          headers=headers)

    def bad_tokens(self, access) -> dict[str, str]:
        """
        Tokens granting C{access} that must each be refused, by kind.
        """
        claims = self.claims(access)
        kid = thumbprint(self.public)
        public_pem = self.public.public_bytes(serialization.Encoding.PEM,
                                              serialization.PublicFormat.SubjectPublicKeyInfo)
        header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": kid}).encode())
        unsigned = f"{header}.{_b64(json.dumps(claims).encode())}."
        hmac_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": kid}).encode())
        hmac_body = f"{hmac_header}.{_b64(json.dumps(claims).encode())}"
        stranger_jwk = dict(_jwk(self.stranger.key.public_key()), kid=kid)
        return {
            "alg none": unsigned,
            # The trusted public key (PEM) used as an HMAC secret.
            "hmac with the public key": hmac_body + "." + _b64(
                jwt.algorithms.HMACAlgorithm(jwt.algorithms.HMACAlgorithm.SHA256).sign(
                    hmac_body.encode(), public_pem)),
            "untrusted key": jwt.encode(
                claims, self.stranger.key, algorithm="RS256",
                headers={"kid": thumbprint(self.stranger.key.public_key())}),
            "untrusted x5c": jwt.encode(claims, self.stranger.key, algorithm="RS256", headers={
                "x5c": [base64.b64encode(self.stranger.certificate.public_bytes(
                    serialization.Encoding.DER)).decode()]}),
            "kid of a trusted key, another jwk": jwt.encode(
                claims, self.stranger.key, algorithm="RS256",
                headers={"kid": kid, "jwk": stranger_jwk}),
            "expired": self.token(access, exp=NOW - 61, nbf=NOW - 400, iat=NOW - 400),
            "not yet valid": self.token(access, nbf=NOW + 61, exp=NOW + 600),
            "another audience": self.token(access, aud="another-registry"),
            "another issuer": self.token(access, iss="another-issuer"),
            "no expiry": self.token(access, exp=None),
            "garbage": "not.a.token",
        }


def ec_key():
    """
    A P-256 key.
    """
    return ec.generate_private_key(ec.SECP256R1())
