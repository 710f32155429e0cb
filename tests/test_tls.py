"""
Tests for L{txregistry.web.tls}: the listener's TLS settings are checked
at start (handshakes are tested end to end in
L{tests.integration.test_auth_e2e}).
"""

import os

import attrs
from twisted.trial.unittest import SynchronousTestCase

from tests.configdocs import document, parse
from tests.integration.processes import temporary_directory
from tests.pki import CertificateAuthority
from txregistry.config import ConfigError
from txregistry.web.tls import ServerTLS, cipher_list


class CipherTests(SynchronousTestCase):
    """
    Go's cipher suite names.
    """

    def test_default(self):
        """
        Distribution's default suites: ECDHE with AES-GCM or ChaCha20.
        """
        self.assertEqual(cipher_list([], "tls1.2"), ":".join([
            "ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-CHACHA20-POLY1305", "ECDHE-RSA-CHACHA20-POLY1305"]))

    def test_named(self):
        """
        Listed suites in their order; TLS 1.3 suites are accepted and left
        to OpenSSL, as Go leaves them.
        """
        self.assertEqual(
            cipher_list(["TLS_AES_128_GCM_SHA256", "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
                         "TLS_RSA_WITH_AES_128_GCM_SHA256"], "tls1.2"),
            "ECDHE-RSA-AES256-GCM-SHA384:AES128-GCM-SHA256")

    def test_unknown(self):
        """
        An unknown (or removed, like RC4) suite is named.
        """
        error = self.assertRaises(ConfigError, cipher_list,
                                  ["TLS_AES_128_GCM_SHA256", "TLS_RSA_WITH_RC4_128_SHA"], "tls1.2")
        self.assertEqual(error.key, "http.tls.ciphersuites[1]")

    def test_onlyTLS13(self):
        """
        Only TLS 1.3 suites: fine with a TLS 1.3 minimum, refused with 1.2.
        """
        self.assertEqual(cipher_list(["TLS_AES_256_GCM_SHA384"], "tls1.3"), "")
        self.assertRaises(ConfigError, cipher_list, ["TLS_AES_256_GCM_SHA384"], "tls1.2")


class ServerTLSTests(SynchronousTestCase):
    """
    Certificates, keys and client CAs that cannot be used are named.
    """

    def setUp(self):
        self.directory = temporary_directory(self)
        self.ca = CertificateAuthority()
        certificate, key = self.ca.server().write(self.directory, "server")
        self.tls = parse(document(http={"tls": {"certificate": certificate, "key": key}})).http.tls

    def assertRefused(self, named, **changes):
        """
        L{ServerTLS} refuses the settings, naming the key C{named}.
        """
        error = self.assertRaises(ConfigError, ServerTLS, attrs.evolve(self.tls, **changes))
        self.assertEqual(error.key, named, str(error))
        return error

    def test_valid(self):
        """
        A certificate with its key, and client CAs, are taken.
        """
        ServerTLS(self.tls)
        ServerTLS(attrs.evolve(self.tls, clientcas=[self.ca.write(
            os.path.join(self.directory, "ca.crt"))], minimumtls="tls1.3"))

    def test_keyMismatch(self):
        """
        A key that is not the certificate's.
        """
        _, other = self.ca.server().write(self.directory, "other")
        error = self.assertRefused("http.tls.key", key=other)
        self.assertEqual(error.message, "does not match http.tls.certificate")

    def test_missingFiles(self):
        """
        Missing certificate, key or client CA files.
        """
        self.assertRefused("http.tls.certificate", certificate="/nonexistent.crt")
        self.assertRefused("http.tls.key", key="/nonexistent.key")
        self.assertRefused("http.tls.clientcas[0]", clientcas=["/nonexistent.crt"])

    def test_notPEM(self):
        """
        Files that hold no certificate or key.
        """
        junk = os.path.join(self.directory, "junk")
        with open(junk, "w") as f:
            f.write("junk\n")
        self.assertRefused("http.tls.certificate", certificate=junk)
        self.assertRefused("http.tls.key", key=junk)
        self.assertRefused("http.tls.clientcas[0]", clientcas=[junk])
