# -*- test-case-name: tests.test_auth_token -*-
"""
C{auth.token}: bearer tokens (JWTs) from a token server, checked as
Distribution checks them.

The signing key comes from the token's first header: an C{x5c} chain that
must lead to a certificate of C{rootcertbundle}; else an embedded C{jwk},
which must itself be a trusted key (or carry such a chain); else a C{kid}
naming a trusted key.  Trusted keys are those of the C{rootcertbundle}
certificates, under their RFC 7638 thumbprint and their libtrust key id
(Distribution 2.x), and those of the C{jwks} file, under their C{kid}.
The algorithm must suit the key (an RSA key never serves as an HMAC
secret), and C{none} is never accepted.  C{iss}, C{aud}, C{exp} and
C{nbf} are checked with 60 s of leeway, then the C{access} claim.
"""

from __future__ import annotations

import base64
import binascii
import collections
import datetime
import hashlib
import hmac
import json

import attrs
import jwt
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from OpenSSL import crypto
from twisted.internet.defer import fail, succeed
from zope.interface import implementer

from txregistry.auth.access import Access, Grant, scope
from txregistry.auth.interfaces import Challenge, IAccessController, go_quote
from txregistry.config.model import SIGNING_ALGORITHMS as ALGORITHMS

#: Seconds of clock skew allowed on C{exp} and C{nbf}.
LEEWAY = 60
#: Tokens remembered as verified.
_VERIFIED_CACHE_SIZE = 1024
_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}


class InvalidToken(Exception):
    """
    A token that is malformed, untrusted, expired or for someone else.
    """


def _public(key):
    return key.public_key() if hasattr(key, "public_key") else key


def _spki(key) -> bytes:
    return key.public_bytes(serialization.Encoding.DER,
                            serialization.PublicFormat.SubjectPublicKeyInfo)


def thumbprint(key) -> str:
    """
    The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public key.
    """
    if isinstance(key, rsa.RSAPublicKey):
        members = jwt.algorithms.RSAAlgorithm.to_jwk(key, as_dict=True)
        required = ("e", "kty", "n")
    elif isinstance(key, ec.EllipticCurvePublicKey):
        members = jwt.algorithms.ECAlgorithm.to_jwk(key, as_dict=True)
        required = ("crv", "kty", "x", "y")
    else:
        members = jwt.algorithms.OKPAlgorithm.to_jwk(key, as_dict=True)
        required = ("crv", "kty", "x")
    canonical = json.dumps({k: members[k] for k in required}, sort_keys=True,
                           separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def libtrust_id(key) -> str:
    """
    The key id libtrust (Distribution 2.x) gives a public key: the first
    240 bits of the SHA-256 of its DER SubjectPublicKeyInfo, in base32,
    as 12 groups of 4 joined by colons.
    """
    encoded = base64.b32encode(hashlib.sha256(_spki(key)).digest()[:30]).decode("ascii")
    return ":".join(encoded[i:i + 4] for i in range(0, len(encoded), 4))


def same_key(a, b) -> bool:
    """
    Whether two keys (public keys, or HMAC secrets as bytes) are the same.
    """
    if isinstance(a, bytes) or isinstance(b, bytes):
        return isinstance(a, bytes) and isinstance(b, bytes) and hmac.compare_digest(a, b)
    return _spki(a) == _spki(b)


def _suits(algorithm: str, key) -> bool:
    """
    Whether C{key} can verify C{algorithm}: HMAC only with a secret, RSA
    algorithms with RSA keys, each ECDSA one with its curve.
    """
    if algorithm.startswith("HS"):
        return isinstance(key, bytes)
    if algorithm.startswith(("RS", "PS")):
        return isinstance(key, rsa.RSAPublicKey)
    if algorithm in _CURVES:
        return isinstance(key, ec.EllipticCurvePublicKey) and isinstance(
            key.curve, _CURVES[algorithm])
    return algorithm == "EdDSA" and isinstance(
        key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey))


def read_certificates(content: bytes) -> list[x509.Certificate]:
    """
    The certificates of a PEM bundle (other blocks are skipped).

    @raise ValueError: a certificate does not parse.
    """
    if b"-----BEGIN CERTIFICATE-----" not in content:
        return []
    return x509.load_pem_x509_certificates(content)


def _jwk_key(document: dict):
    """
    The key of a JWK: a public key, or the secret of an C{oct} key.

    @raise ValueError: not a usable JWK.
    """
    try:
        key = jwt.PyJWK(document).key
    except (jwt.PyJWKError, jwt.InvalidKeyError, TypeError, ValueError, KeyError) as e:
        raise ValueError(f"unusable JWK: {e}") from None
    return _public(key)


def parse_jwks(content: bytes) -> dict:
    """
    The keys of a JWKS file by C{kid} (keys without one cannot be named,
    and are left out).

    @raise ValueError: it is not a JWKS, or a key is unusable.
    """
    try:
        keys = json.loads(content)["keys"]
    except (ValueError, KeyError, TypeError):
        keys = None
    if not isinstance(keys, list):
        raise ValueError("not a JWKS (a JSON object with a list of keys)")
    return {
        document["kid"]: _jwk_key(document)
        for document in keys
        if isinstance(document, dict) and document.get("kid")
    }


@attrs.frozen
class TrustedKeys:
    """
    Whom tokens may come from.

    @ivar roots: the C{rootcertbundle} certificates (trust anchors of
        C{x5c} chains).
    @ivar by_id: trusted keys by RFC 7638 thumbprint, libtrust id and JWKS
        C{kid}.
    """

    roots: tuple[x509.Certificate, ...] = ()
    by_id: dict = attrs.field(factory=dict)

    @classmethod
    def build(cls, roots=(), jwks=None) -> TrustedKeys:
        """
        @param roots: the C{rootcertbundle} certificates.
        @param jwks: the C{jwks} keys by C{kid} (see L{parse_jwks}).
        """
        by_id = {}
        for certificate in roots:
            key = certificate.public_key()
            by_id[thumbprint(key)] = key
            by_id[libtrust_id(key)] = key
        by_id.update(jwks or {})
        return cls(tuple(roots), by_id)

    def verify_chain(self, chain: list, when: datetime.datetime):
        """
        The public key of the first certificate of an C{x5c} chain that
        leads to one of the roots.

        @param chain: base64 DER certificates, leaf first.
        @raise InvalidToken: it does not.
        """
        try:
            certificates = [
                crypto.X509.from_cryptography(x509.load_der_x509_certificate(
                    base64.b64decode(item, validate=True)))
                for item in chain
            ]
        except (TypeError, ValueError, binascii.Error):
            raise InvalidToken("x5c does not hold certificates") from None
        if not certificates:
            raise InvalidToken("empty x5c")
        store = crypto.X509Store()
        for root in self.roots:
            store.add_cert(crypto.X509.from_cryptography(root))
        store.set_time(when)
        try:
            crypto.X509StoreContext(store, certificates[0], certificates[1:]).verify_certificate()
        except crypto.X509StoreContextError as e:
            raise InvalidToken(f"untrusted certificate chain: {e}") from None
        return certificates[0].to_cryptography().public_key()


def _b64_json(segment: str) -> object:
    try:
        return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error):
        raise InvalidToken("malformed token") from None


def _access_claim(claim) -> frozenset[Access]:
    if claim is None:
        return frozenset()
    if not isinstance(claim, list):
        raise InvalidToken("malformed access claim")
    granted = set()
    for entry in claim:
        try:
            kind, name, actions = entry["type"], entry["name"], entry.get("actions") or []
        except (TypeError, KeyError):
            raise InvalidToken("malformed access claim") from None
        if not (isinstance(kind, str) and isinstance(name, str) and isinstance(actions, list)
                and all(isinstance(action, str) for action in actions)):
            raise InvalidToken("malformed access claim")
        # A resource class (repository(plugin)) does not matter, as in Distribution.
        granted.update(Access(kind.split("(", 1)[0], name, action) for action in actions)
    return frozenset(granted)


class TokenVerifier:
    """
    Checks tokens against trusted keys, an issuer and a service.
    """

    def __init__(self, trusted: TrustedKeys, issuer: str, service: str,
                 algorithms=ALGORITHMS, clock=None):
        """
        @param algorithms: those accepted (never C{none}).
        @param clock: an L{IReactorTime}.
        """
        self._trusted = trusted
        self._issuer = issuer
        self._service = service
        self._algorithms = frozenset(algorithms) & frozenset(ALGORITHMS)
        self._clock = clock
        self._verified: collections.OrderedDict[str, tuple[Grant, dict]] = (
            collections.OrderedDict())

    def _key(self, header: dict, now: float):
        when = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
        if header.get("x5c") is not None:
            if not isinstance(header["x5c"], list):
                raise InvalidToken("malformed x5c")
            return self._trusted.verify_chain(header["x5c"], when)
        if header.get("jwk") is not None:
            if not isinstance(header["jwk"], dict):
                raise InvalidToken("malformed jwk")
            try:
                embedded = _jwk_key(header["jwk"])
            except ValueError as e:
                raise InvalidToken(str(e)) from None
            if header["jwk"].get("x5c") is not None:
                trusted = self._trusted.verify_chain(header["jwk"]["x5c"], when)
            else:
                # Trust the key itself, never the kid it claims: a kid of a
                # trusted key on another key is the CVE-2025-24976 attack.
                if isinstance(embedded, bytes):
                    raise InvalidToken("a secret key in the token header")
                trusted = (self._trusted.by_id.get(thumbprint(embedded))
                           or self._trusted.by_id.get(libtrust_id(embedded)))
            if trusted is None or not same_key(trusted, embedded):
                raise InvalidToken("untrusted jwk")
            return trusted
        kid = header.get("kid")
        if isinstance(kid, str) and kid in self._trusted.by_id:
            return self._trusted.by_id[kid]
        raise InvalidToken("no trusted signing key")

    def verify(self, raw: str) -> Grant:
        """
        Check a token.  Clients send the same token with every request, so
        tokens whose signature and claims were checked are remembered; only
        their times are checked again.

        @return: the account (C{sub}) and access (C{access}) it grants.
        @raise InvalidToken: if it does not hold.
        """
        now = self._clock.seconds()
        known = self._verified.get(raw)
        if known is not None:
            grant, claims = known
            self._check_times(claims, now)
            self._verified.move_to_end(raw)
            return grant
        grant, claims = self._verify(raw, now)
        self._verified[raw] = grant, claims
        if len(self._verified) > _VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return grant

    def _verify(self, raw: str, now: float) -> tuple[Grant, dict]:
        parts = raw.split(".")
        if len(parts) != 3:
            raise InvalidToken("malformed token")
        header = _b64_json(parts[0])
        if not isinstance(header, dict):
            raise InvalidToken("malformed token")
        algorithm = header.get("alg")
        if algorithm not in self._algorithms:
            raise InvalidToken(f"signing algorithm {algorithm!r} not accepted")
        if "crit" in header or "b64" in header:
            raise InvalidToken("unsupported header parameters")
        key = self._key(header, now)
        if not _suits(algorithm, key):
            raise InvalidToken(f"{algorithm} cannot be used with the signing key")
        try:
            payload = jwt.PyJWS().decode(raw, key, algorithms=[algorithm])
            claims = json.loads(payload)
        except (jwt.InvalidTokenError, jwt.InvalidKeyError, ValueError, TypeError):
            raise InvalidToken("bad signature") from None
        if not isinstance(claims, dict):
            raise InvalidToken("malformed claims")
        if claims.get("iss") != self._issuer:
            raise InvalidToken("token from another issuer")
        audience = claims.get("aud")
        audiences = audience if isinstance(audience, list) else [audience]
        if self._service not in audiences:
            raise InvalidToken("token for another audience")
        self._check_times(claims, now)
        subject = claims.get("sub")
        if subject is not None and not isinstance(subject, str):
            raise InvalidToken("malformed sub")
        return Grant(subject or None, _access_claim(claims.get("access"))), claims

    @staticmethod
    def _check_times(claims: dict, now: float) -> None:
        expires, not_before = claims.get("exp"), claims.get("nbf", 0)
        for value in (expires, not_before):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InvalidToken("malformed exp or nbf")
        if now > expires + LEEWAY:
            raise InvalidToken("expired token")
        if now < not_before - LEEWAY:
            raise InvalidToken("token not valid yet")


@implementer(IAccessController)
class TokenAccessController:
    """
    Bearer tokens: a challenge names the token server (C{realm}), the
    C{service} and the C{scope} the request needs.
    """

    def __init__(self, verifier: TokenVerifier, realm: str, service: str,
                 autoredirect: bool = False, autoredirectpath: str = "/auth/token"):
        self._verifier = verifier
        self._realm = realm
        self._service = service
        self._autoredirect = autoredirect
        self._autoredirectpath = autoredirectpath

    def _realm_for(self, request) -> str:
        if not self._autoredirect:
            return self._realm
        proto = request.getHeader(b"x-forwarded-proto") or b"https"
        host = request.getHeader(b"host") or b""
        return f"{proto.decode('latin-1')}://{host.decode('latin-1')}{self._autoredirectpath}"

    def _challenge(self, request, requirements, error=None) -> Challenge:
        realm = self._realm_for(request)
        header = f"Bearer realm={go_quote(realm)},service={go_quote(self._service)}"
        if requirements.asked:
            header += f",scope={go_quote(scope(requirements.asked))}"
        if error is not None:
            header += f",error={go_quote(error)}"
        return Challenge(header)

    def authorize(self, request, requirements):
        """
        See L{IAccessController.authorize}.
        """
        header = (request.getHeader(b"authorization") or b"").decode("latin-1")
        kind, _, raw = header.strip().partition(" ")
        if kind.lower() != "bearer" or not raw.strip():
            return fail(self._challenge(request, requirements))
        try:
            grant = self._verifier.verify(raw.strip())
        except InvalidToken:
            return fail(self._challenge(request, requirements, "invalid_token"))
        if grant.missing(requirements.required):
            return fail(self._challenge(request, requirements, "insufficient_scope"))
        return succeed(grant)
