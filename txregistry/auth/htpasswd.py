# -*- test-case-name: tests.test_auth_htpasswd -*-
"""
C{auth.htpasswd}: HTTP Basic authentication against an htpasswd file of
bcrypt hashes.  Every authenticated user may do everything, as in
Distribution; per-repository rules need the token server.
"""

from __future__ import annotations

import base64
import binascii
import collections
import hashlib
import hmac
import os
import secrets

import bcrypt
from twisted.internet.defer import ensureDeferred
from twisted.logger import Logger
from zope.interface import implementer

from txregistry.auth.access import Grant
from txregistry.auth.files import FileProblem, WatchedFile
from txregistry.auth.interfaces import Challenge, IAccessController, go_quote
from txregistry.registry import errors

_log = Logger()

#: The hash prefixes of bcrypt; entries with any other hash never match.
BCRYPT_PREFIXES = (b"$2a$", b"$2b$", b"$2y$")
#: Compared against when the user is unknown, so that the answer takes as
#: long as for a known user (cost 10, the usual one).
_DUMMY_HASH = b"$2b$10$qXmHKVDbZWLzjycWp93htOUWo6nLDDeo0Ce3/nw.9WcqS.0Egs2HG"
#: Successful checks remembered, so bcrypt runs once per credentials.
_VERIFIED_CACHE_SIZE = 1024


def parse_htpasswd(content: bytes) -> dict[str, bytes]:
    """
    Read an htpasswd file: C{user:hash} per line; blank lines and lines
    starting with C{#} are skipped.

    @return: the hash of each user.
    @raise ValueError: for a line without a colon, or a name that is not
        UTF-8.
    """
    entries = {}
    for number, line in enumerate(content.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(b"#"):
            continue
        user, colon, hashed = line.partition(b":")
        if not colon:
            raise ValueError(f"line {number} has no colon")
        try:
            entries[user.decode("utf-8")] = hashed
        except UnicodeDecodeError:
            raise ValueError(f"line {number}: the user name is not UTF-8") from None
    return entries


def _check(password: bytes, hashed: bytes | None) -> bool:
    # In a thread: bcrypt takes tens of milliseconds by design.
    usable = hashed is not None and hashed.startswith(BCRYPT_PREFIXES)
    try:
        matched = bcrypt.checkpw(password, hashed if usable else _DUMMY_HASH)
    except ValueError:
        # A malformed hash, or a password over bcrypt's 72 bytes.
        return False
    return usable and matched


def basic_credentials(request) -> tuple[str, bytes] | None:
    """
    The user name and password of a request's C{Authorization: Basic}
    header, or C{None} if there is none that decodes.
    """
    header = request.getHeader(b"authorization")
    if header is None:
        return None
    scheme, _, encoded = header.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
        user, colon, password = decoded.partition(b":")
        return (user.decode("utf-8"), password) if colon else None
    except (binascii.Error, UnicodeDecodeError):
        return None


class HtpasswdUsers:
    """
    The users of an htpasswd file, which is reloaded when it changes.
    Passwords are checked with bcrypt in a thread; successful checks are
    remembered (under a keyed hash, never the password) until the user's
    entry changes.
    """

    def __init__(self, path: str, clock, run_blocking):
        """
        @param clock: an L{IReactorTime}.
        @param run_blocking: see L{WatchedFile}; runs bcrypt too.
        """
        self._file = WatchedFile(path, parse_htpasswd, clock, run_blocking)
        self._run = run_blocking
        self._key = secrets.token_bytes(32)
        self._verified: collections.OrderedDict[bytes, bytes] = collections.OrderedDict()

    async def entry(self, user: str) -> bytes | None:
        """
        The stored hash of C{user}, or C{None}.

        @raise FileProblem: the file is missing or invalid.
        """
        return (await self._file.current()).get(user)

    async def authenticate(self, user: str, password: bytes) -> bool:
        """
        Whether C{password} is C{user}'s.

        @raise FileProblem: the file is missing or invalid.
        """
        hashed = await self.entry(user)
        key = hmac.new(self._key, user.encode("utf-8") + b"\0" + password,
                       hashlib.sha256).digest()
        if hashed is not None and self._verified.get(key) == hashed:
            self._verified.move_to_end(key)
            return True
        if not await self._run(_check, password, hashed):
            return False
        self._verified[key] = hashed
        if len(self._verified) > _VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return True


async def authenticate_basic(users: HtpasswdUsers, request) -> str | None:
    """
    The user a request's Basic credentials authenticate, or C{None}.

    @raise errors.RegistryError: C{UNAVAILABLE} while the file is missing
        or invalid (logged).
    """
    credentials = basic_credentials(request)
    if credentials is None:
        return None
    try:
        matched = await users.authenticate(*credentials)
    except FileProblem as e:
        _log.error("htpasswd file unusable, refusing every login: {problem}", problem=str(e))
        raise errors.RegistryError(
            errors.UNAVAILABLE, message="authentication is unavailable") from None
    return credentials[0] if matched else None


@implementer(IAccessController)
class HtpasswdAccessController:
    """
    Basic authentication; any user in the file may do anything.
    """

    def __init__(self, realm: str, users: HtpasswdUsers):
        self._challenge = f"Basic realm={go_quote(realm)}"
        self._users = users

    def authorize(self, request, requirements):
        """
        See L{IAccessController.authorize}.
        """
        return ensureDeferred(self._authorize(request))

    async def _authorize(self, request) -> Grant:
        user = await authenticate_basic(self._users, request)
        if user is None:
            raise Challenge(self._challenge)
        return Grant(user)


def provision(path: str) -> str | None:
    """
    Create a missing htpasswd file as Distribution does: with the user
    C{docker} and a random password.  Unlike Distribution, the password is
    not logged but written beside the file (C{<path>.password}, mode 0600).

    @return: the path of the password file, or C{None} if the htpasswd
        file existed.
    @raise OSError: if it cannot be created.
    """
    if os.path.exists(path):
        return None
    directory = os.path.dirname(path)
    if directory:
        os.makedirs(directory, mode=0o700, exist_ok=True)
    password = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=")
    hashed = bcrypt.hashpw(password, bcrypt.gensalt(10))
    password_path = path + ".password"
    for target, content in ((password_path, password), (path, b"docker:" + hashed)):
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as f:
            f.write(content + b"\n")
    return password_path
