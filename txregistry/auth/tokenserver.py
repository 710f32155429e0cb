# -*- test-case-name: tests.test_auth_tokenserver -*-
"""
The built-in token server (C{auth.token.server}, a txregistry extension):
Docker's token protocol on the registry's own listener, at the path of
C{auth.token.realm}.

 - C{GET ?service=&scope=...&account=}, with Basic credentials or none
   (anonymous): a token for what the ACL grants of the scopes asked;
 - C{POST}, an OAuth2 form: C{grant_type=password} (C{username},
   C{password}) or C{grant_type=refresh_token}, as docker uses after
   C{login}; C{access_type=offline} adds a refresh token.

Bad credentials on a C{GET} get the registry's 401 (a Basic challenge and
the spec's C{UNAUTHORIZED}); other errors are OAuth2's
(C{{"error": "invalid_request", ...}}, RFC 6749 section 5.2).

Refresh tokens are opaque: the account and service, and a fingerprint of
the account's password hash, under an HMAC keyed by the signing key; they
stop working when the account is removed or its password changes.  Tokens
and credentials are never logged.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
import time
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger

from txregistry.api.json_response import json_body
from txregistry.auth import acl
from txregistry.auth.access import Access, parse_scope, scope
from txregistry.auth.files import FileProblem
from txregistry.auth.htpasswd import authenticate_basic
from txregistry.auth.interfaces import go_quote
from txregistry.auth.token import read_certificates, same_key, thumbprint
from txregistry.registry import errors

_log = Logger()

#: The largest POST form taken.
FORM_LIMIT = 64 * 1024
_CURVE_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """
    Signs tokens with the server's key, naming it so that registries
    trusting C{rootcertbundle} find it: its certificate as C{x5c}, its RFC
    7638 thumbprint as C{kid}.

    @ivar algorithm: the JWS algorithm of the key.
    """

    def __init__(self, key_pem: bytes, bundle: bytes):
        """
        @raise ValueError: the key does not parse, is of an unusable kind,
            or has no certificate in C{bundle}.
        """
        try:
            self._key = serialization.load_pem_private_key(key_pem, password=None)
        except (ValueError, TypeError) as e:
            raise ValueError(f"not an unencrypted PEM private key: {e}") from None
        public = self._key.public_key()
        if isinstance(self._key, rsa.RSAPrivateKey):
            self.algorithm = "RS256"
        elif isinstance(self._key, ec.EllipticCurvePrivateKey) and (
                self._key.curve.name in _CURVE_ALGORITHMS):
            self.algorithm = _CURVE_ALGORITHMS[self._key.curve.name]
        elif isinstance(self._key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
            self.algorithm = "EdDSA"
        else:
            raise ValueError("expected an RSA, ECDSA (P-256, P-384, P-521) or EdDSA key")
        matching = [c for c in read_certificates(bundle) if same_key(c.public_key(), public)]
        if not matching:
            raise ValueError("no certificate of this key in auth.token.rootcertbundle")
        der = matching[0].public_bytes(serialization.Encoding.DER)
        self._headers = {"kid": thumbprint(public), "x5c": [base64.b64encode(der).decode()]}
        private = self._key.private_bytes(serialization.Encoding.DER,
                                          serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
        self._refresh_key = hashlib.sha256(b"txregistry refresh tokens\0" + private).digest()

    def sign(self, claims: dict) -> str:
        """
        A compact JWS of C{claims}.
        """
        return jwt.encode(claims, self._key, algorithm=self.algorithm, headers=self._headers)

    def refresh_token(self, account: str, service: str, hashed: bytes) -> str:
        """
        An opaque refresh token for C{account} at C{service}, valid while
        the account's password hash is C{hashed}.
        """
        body = _b64(json.dumps({"sub": account, "svc": service,
                                "pwd": hashlib.sha256(hashed).hexdigest()[:32]}).encode())
        return f"{body}.{_b64(hmac.new(self._refresh_key, body.encode(), 'sha256').digest())}"

    def read_refresh_token(self, token: str) -> dict | None:
        """
        The content of a refresh token this signer made, or C{None}.
        """
        body, _, mac = token.partition(".")
        expected = _b64(hmac.new(self._refresh_key, body.encode(), "sha256").digest())
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            return None
        try:
            content = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            return None
        return content if isinstance(content, dict) else None


class _OAuthError(Exception):
    """
    An OAuth2 error response (RFC 6749 section 5.2).
    """

    def __init__(self, error: str, description: str, status: int = 400):
        self.error, self.description, self.status = error, description, status
        super().__init__(error, description)


def _refused(challenge_realm: str) -> errors.RegistryError:
    return errors.RegistryError(
        errors.UNAUTHORIZED, message="invalid credentials",
        headers={"WWW-Authenticate": f"Basic realm={go_quote(challenge_realm)}"})


class TokenServer:
    """
    Issues tokens for the registry's own token authentication.
    """

    def __init__(self, issuer: str, service: str, expiration: float, signer: TokenSigner,
                 users, rules, clock):
        """
        @param users: the L{HtpasswdUsers} who may log in.
        @param rules: a L{WatchedFile} of the ACL's rules.
        @param clock: an L{IReactorTime}.
        """
        self._issuer = issuer
        self._service = service
        self._expiration = expiration
        self._signer = signer
        self._users = users
        self._rules = rules
        self._clock = clock

    def handle(self, request):
        """
        Answer a token request.

        @return: a L{Deferred} of the body.
        """
        return ensureDeferred(self._handle(request))

    async def _handle(self, request) -> bytes:
        try:
            if request.method == b"POST":
                return json_body(request, await self._post(request))
            return json_body(request, await self._get(request))
        except _OAuthError as e:
            request.setResponseCode(e.status)
            return json_body(request, {"error": e.error, "error_description": e.description})
        except FileProblem as e:
            _log.error("token server: {problem}; issuing nothing", problem=str(e))
            raise errors.RegistryError(
                errors.UNAVAILABLE, message="the token server is unavailable") from None

    async def _grant(self, account: str | None, scopes: list[str]) -> list[Access]:
        rules = await self._rules.current()
        granted = []
        for text in scopes:
            try:
                resources = parse_scope(text)
            except ValueError as e:
                raise _OAuthError("invalid_scope", str(e)) from None
            for kind, name, actions in resources:
                allowed = acl.granted(rules, account, kind, name, frozenset(actions))
                granted.extend(Access(kind, name, a) for a in actions if a in allowed)
                granted.extend(Access(kind, name, a) for a in sorted(allowed - set(actions)))
        return granted

    def _issue(self, account: str | None, access: list[Access]) -> dict:
        now = int(self._clock.seconds())
        resources: dict[tuple[str, str], list[str]] = {}
        for record in access:
            resources.setdefault((record.type, record.name), []).append(record.action)
        claims = {
            "iss": self._issuer, "sub": account or "", "aud": self._service,
            "exp": now + int(self._expiration), "nbf": now, "iat": now,
            "jti": secrets.token_urlsafe(16),
            "access": [{"type": t, "name": n, "actions": a} for (t, n), a in resources.items()],
        }
        token = self._signer.sign(claims)
        _log.info("token server: {account} granted {scope}",
                  account=account or "anonymous", scope=scope(access) or "nothing")
        return {
            "token": token, "access_token": token, "expires_in": int(self._expiration),
            "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
        }

    def _check_service(self, service: str | None) -> None:
        if service is not None and service != self._service:
            raise _OAuthError("invalid_request",
                              f"this token server serves {self._service!r} only")

    async def _get(self, request) -> dict:
        arguments = {k.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in vs]
                     for k, vs in request.args.items()}
        self._check_service(_single(arguments, "service"))
        account = None
        if request.getHeader(b"authorization") is not None:
            account = await authenticate_basic(self._users, request)
            if account is None:
                raise _refused(self._issuer)
        response = self._issue(account, await self._grant(account, arguments.get("scope", [])))
        if account is not None and _single(arguments, "offline_token") == "true":
            response["refresh_token"] = self._signer.refresh_token(
                account, self._service, await self._users.entry(account))
        return response

    async def _post(self, request) -> dict:
        body = request.content
        if body.overflowed:
            raise _OAuthError("invalid_request", "form too large")
        form = parse_qs(body.getvalue().decode("utf-8", "replace"), keep_blank_values=True)
        self._check_service(_single(form, "service"))
        grant_type = _single(form, "grant_type")
        if grant_type == "password":
            account, password = _single(form, "username"), _single(form, "password")
            if not account or password is None or not await self._users.authenticate(
                    account, password.encode("utf-8")):
                raise _OAuthError("invalid_grant", "invalid credentials", 401)
        elif grant_type == "refresh_token":
            account = await self._refreshed_account(_single(form, "refresh_token") or "")
        else:
            raise _OAuthError("unsupported_grant_type", f"unsupported grant_type {grant_type!r}")
        access = await self._grant(account, [_single(form, "scope") or ""])
        response = self._issue(account, access)
        response["scope"] = scope(access)
        if grant_type == "refresh_token" or _single(form, "access_type") == "offline":
            response["refresh_token"] = self._signer.refresh_token(
                account, self._service, await self._users.entry(account))
        return response

    async def _refreshed_account(self, token: str) -> str:
        content = self._signer.read_refresh_token(token) or {}
        account = content.get("sub")
        hashed = await self._users.entry(account) if isinstance(account, str) else None
        if (hashed is None or content.get("svc") != self._service
                or content.get("pwd") != hashlib.sha256(hashed).hexdigest()[:32]):
            raise _OAuthError("invalid_grant", "invalid refresh token", 401)
        return account


def _single(arguments: dict, name: str) -> str | None:
    values = arguments.get(name)
    return values[0] if values else None
