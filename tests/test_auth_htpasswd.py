"""
Tests for L{txregistry.auth.htpasswd} and L{txregistry.auth.files}: Basic
authentication against an htpasswd file that may change.
"""

import base64
import os
import stat

import bcrypt
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from tests.integration.processes import temporary_directory
from tests.pki import htpasswd_line, write_htpasswd
from txregistry.auth.access import Requirements
from txregistry.auth.files import CHECK_INTERVAL, inline
from txregistry.auth.htpasswd import (
    HtpasswdAccessController,
    HtpasswdUsers,
    basic_credentials,
    parse_htpasswd,
    provision,
)
from txregistry.auth.interfaces import Challenge
from txregistry.registry import errors


def basic(user: str, password: str) -> bytes:
    """
    An C{Authorization} header value for Basic credentials.
    """
    return b"Basic " + base64.b64encode(f"{user}:{password}".encode())


def _request(authorization: bytes | None):
    request = DummyRequest([b""])
    if authorization is not None:
        request.requestHeaders.setRawHeaders(b"authorization", [authorization])
    return request


class ParseTests(SynchronousTestCase):
    """
    The htpasswd file format.
    """

    def test_entries(self):
        """
        C{user:hash} lines; blank lines and comments skipped; the hash is
        all after the first colon.
        """
        self.assertEqual(
            parse_htpasswd(b"# users\n\nalice:$2y$05$abc\n  bob:x:y  \n"),
            {"alice": b"$2y$05$abc", "bob": b"x:y"})

    def test_noColon(self):
        """
        A line without a colon makes the file invalid.
        """
        error = self.assertRaises(ValueError, parse_htpasswd, b"alice:x\nbob\n")
        self.assertIn("line 2", str(error))

    def test_credentials(self):
        """
        Basic credentials decode; anything else is no credentials.
        """
        self.assertEqual(basic_credentials(_request(basic("al:ice", "pa:ss"))),
                         ("al", b"ice:pa:ss"))
        self.assertEqual(basic_credentials(_request(b"basic " + base64.b64encode(b"a:b"))),
                         ("a", b"b"))
        for header in (None, b"Bearer x", b"Basic !!!", b"Basic " + base64.b64encode(b"nocolon"),
                       b"Basic " + base64.b64encode(b"\xff:x")):
            self.assertIsNone(basic_credentials(_request(header)))


class ControllerTests(SynchronousTestCase):
    """
    L{HtpasswdAccessController} over a real file, bcrypt run inline.
    """

    def setUp(self):
        self.directory = temporary_directory(self)
        self.path = write_htpasswd(os.path.join(self.directory, "htpasswd"),
                                   {"alice": "secret", "bob": "hunter2"})
        self.clock = Clock()
        self.clock.advance(1000)
        self.bcrypt_runs = 0

        def run(f, *args):
            if f is not None and f.__name__ == "_check":
                self.bcrypt_runs += 1
            return inline(f, *args)

        self.controller = HtpasswdAccessController(
            "my realm", HtpasswdUsers(self.path, self.clock, run))

    def authorize(self, authorization):
        """
        The outcome of a request with this C{Authorization} header.
        """
        return self.controller.authorize(_request(authorization), Requirements())

    def assertChallenged(self, authorization):
        """
        The request is refused with the Basic challenge.
        """
        failure = self.failureResultOf(self.authorize(authorization), Challenge)
        self.assertEqual(failure.value.header, 'Basic realm="my realm"')

    def test_refused(self):
        """
        No credentials, a wrong password, an unknown user: the challenge.
        """
        for authorization in (None, basic("alice", "wrong"), basic("mallory", "secret"),
                              b"Bearer token"):
            self.assertChallenged(authorization)

    def test_realmQuoted(self):
        """
        The realm is quoted as Go quotes it.
        """
        controller = HtpasswdAccessController('say "hi" \\o/', HtpasswdUsers(
            self.path, self.clock, inline))
        failure = self.failureResultOf(controller.authorize(_request(None), Requirements()))
        self.assertEqual(failure.value.header, 'Basic realm="say \\"hi\\" \\\\o/"')

    def test_granted(self):
        """
        Right credentials: the user, allowed everything.
        """
        grant = self.successResultOf(self.authorize(basic("alice", "secret")))
        self.assertEqual(grant.account, "alice")
        self.assertIsNone(grant.resources)

    def test_bcryptOnce(self):
        """
        bcrypt runs once for the same right credentials; wrong ones are
        checked every time.
        """
        for _ in range(3):
            self.successResultOf(self.authorize(basic("alice", "secret")))
            self.failureResultOf(self.authorize(basic("alice", "wrong")))
        self.assertEqual(self.bcrypt_runs, 4)

    def test_unknownUserTakesBcrypt(self):
        """
        An unknown user still costs a bcrypt check (against a dummy hash).
        """
        self.failureResultOf(self.authorize(basic("mallory", "x")))
        self.assertEqual(self.bcrypt_runs, 1)

    def test_bcryptOnly(self):
        """
        Entries with other hashes (crypt, MD5, SHA, plain text) never match.
        """
        with open(self.path, "w") as f:
            f.write("plain:secret\nsha:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n"
                    "md5:$apr1$r31.....$HqJZimcKQFAMYayBlzkrA/\n")
        self.clock.advance(CHECK_INTERVAL)
        for user in ("plain", "sha", "md5"):
            self.assertChallenged(basic(user, "secret"))

    def test_prefixes(self):
        """
        C{$2a$}, C{$2b$} and C{$2y$} bcrypt hashes all work.
        """
        hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(4)).decode()
        with open(self.path, "w") as f:
            for prefix in ("2a", "2b", "2y"):
                f.write(f"u{prefix}:${prefix}${hashed[4:]}\n")
        self.clock.advance(CHECK_INTERVAL)
        for prefix in ("2a", "2b", "2y"):
            self.successResultOf(self.authorize(basic(f"u{prefix}", "pw")))

    def test_reloaded(self):
        """
        A changed file is read again: a new user can log in, a removed one
        no longer can (once the interval has passed).
        """
        self.successResultOf(self.authorize(basic("bob", "hunter2")))
        with open(self.path, "w") as f:
            f.write(htpasswd_line("carol", "new"))
        self.assertChallenged(basic("carol", "new"))
        self.clock.advance(CHECK_INTERVAL)
        self.successResultOf(self.authorize(basic("carol", "new")))
        self.assertChallenged(basic("bob", "hunter2"))

    def test_missingFile(self):
        """
        While the file is missing or invalid, every login is refused with
        503 (nothing can be checked); it works again once the file is back.
        """
        os.rename(self.path, self.path + ".away")
        self.clock.advance(CHECK_INTERVAL)
        failure = self.failureResultOf(self.authorize(basic("alice", "secret")),
                                       errors.RegistryError)
        self.assertEqual(failure.value.status, 503)
        with open(self.path + ".away", "a") as f:
            f.write("broken line\n")
        os.rename(self.path + ".away", self.path)
        self.clock.advance(CHECK_INTERVAL)
        self.failureResultOf(self.authorize(basic("alice", "secret")), errors.RegistryError)
        write_htpasswd(self.path, {"alice": "secret"})
        self.clock.advance(CHECK_INTERVAL)
        self.successResultOf(self.authorize(basic("alice", "secret")))

    def test_longPassword(self):
        """
        A password longer than bcrypt's 72 bytes is refused, not cut.
        """
        long = "x" * 80
        with open(self.path, "w") as f:
            f.write("long:" + bcrypt.hashpw(long[:72].encode(), bcrypt.gensalt(4)).decode())
        self.clock.advance(CHECK_INTERVAL)
        self.assertChallenged(basic("long", long))


class ProvisionTests(SynchronousTestCase):
    """
    A missing htpasswd file is created as Distribution creates it.
    """

    def test_created(self):
        """
        The file gets the user C{docker} with a random password, written
        beside it, both readable by the owner only.
        """
        path = os.path.join(temporary_directory(self), "auth", "htpasswd")
        password_file = provision(path)
        self.assertEqual(password_file, path + ".password")
        with open(password_file, "rb") as f:
            password = f.read().strip()
        self.assertGreaterEqual(len(password), 40)
        entries = parse_htpasswd(open(path, "rb").read())
        self.assertEqual(list(entries), ["docker"])
        self.assertTrue(bcrypt.checkpw(password, entries["docker"]))
        for created in (path, password_file):
            self.assertEqual(stat.S_IMODE(os.stat(created).st_mode), 0o600)

    def test_existing(self):
        """
        An existing file is left alone.
        """
        path = write_htpasswd(os.path.join(temporary_directory(self), "htpasswd"), {"a": "b"})
        before = open(path, "rb").read()
        self.assertIsNone(provision(path))
        self.assertEqual(open(path, "rb").read(), before)
