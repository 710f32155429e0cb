# -*- test-case-name: tests.test_tls -*-
"""
The listener's TLS (C{http.tls}), with pyOpenSSL: a certificate chain and
key, client certificates checked against C{clientcas} (mutual TLS), TLS 1.2
or newer only, Go's cipher suite names, and HTTP/1.1 as the only ALPN
protocol.
"""

from cryptography import x509
from OpenSSL import SSL
from twisted.internet.interfaces import IOpenSSLServerConnectionCreator
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer

from txregistry.config import ConfigError

#: Go's names of the TLS 1.2 cipher suites (those OpenSSL still has), in
#: OpenSSL's terms.
GO_CIPHER_SUITES = {
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256": "ECDHE-ECDSA-AES128-GCM-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384": "ECDHE-ECDSA-AES256-GCM-SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256": "ECDHE-RSA-AES128-GCM-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384": "ECDHE-RSA-AES256-GCM-SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-ECDSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256": "ECDHE-RSA-CHACHA20-POLY1305",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256": "ECDHE-ECDSA-AES128-SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256": "ECDHE-RSA-AES128-SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA": "ECDHE-ECDSA-AES128-SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA": "ECDHE-ECDSA-AES256-SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA": "ECDHE-RSA-AES128-SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA": "ECDHE-RSA-AES256-SHA",
    "TLS_RSA_WITH_AES_128_GCM_SHA256": "AES128-GCM-SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384": "AES256-GCM-SHA384",
    "TLS_RSA_WITH_AES_128_CBC_SHA256": "AES128-SHA256",
    "TLS_RSA_WITH_AES_128_CBC_SHA": "AES128-SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA": "AES256-SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "ECDHE-RSA-DES-CBC3-SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA": "DES-CBC3-SHA",
}
#: TLS 1.3's suites: accepted and, as in Go, not configurable (all are used).
TLS13_SUITES = frozenset(("TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                          "TLS_CHACHA20_POLY1305_SHA256"))
#: Distribution's default TLS 1.2 suites.
DEFAULT_CIPHER_SUITES = (
    "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
    "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
)
_MINIMUM = {"tls1.2": SSL.TLS1_2_VERSION, "tls1.3": SSL.TLS1_3_VERSION}
_CLIENT_AUTH = {
    # mode, whether OpenSSL's verdict on the chain counts
    "require-and-verify-client-cert": (SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, True),
    "verify-client-cert-if-given": (SSL.VERIFY_PEER, True),
    "require-any-client-cert": (SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT, False),
    "request-client-cert": (SSL.VERIFY_PEER, False),
}


def cipher_list(names, minimum: str) -> str:
    """
    The OpenSSL cipher list for Go's suite names (default: Distribution's).

    @raise ConfigError: for an unknown name, or no TLS 1.2 suite while TLS
        1.2 is allowed.
    """
    chosen = []
    for index, name in enumerate(names or DEFAULT_CIPHER_SUITES):
        if name in TLS13_SUITES:
            continue
        if name not in GO_CIPHER_SUITES:
            raise ConfigError(f"http.tls.ciphersuites[{index}]", f"unknown cipher suite {name}")
        if GO_CIPHER_SUITES[name] not in chosen:
            chosen.append(GO_CIPHER_SUITES[name])
    if not chosen and minimum == "tls1.2":
        raise ConfigError("http.tls.ciphersuites",
                          "no TLS 1.2 suite listed: list one or set minimumtls: tls1.3")
    return ":".join(chosen)


def _accept_any(connection, certificate, error, depth, ok) -> bool:
    return True


def _verdict(connection, certificate, error, depth, ok) -> bool:
    return bool(ok)


def _http11(connection, offered):
    return b"http/1.1" if b"http/1.1" in offered else SSL.NO_OVERLAPPING_PROTOCOLS


def _openssl_call(key: str, what: str, call, *args) -> None:
    try:
        call(*args)
    except SSL.Error as e:
        reasons = "; ".join(str(r[2]) for r in e.args[0] if len(r) > 2) or str(e)
        if "key values mismatch" in reasons:
            raise ConfigError(key, "does not match http.tls.certificate") from None
        raise ConfigError(key, f"{what}: {reasons}") from None


@implementer(IOpenSSLServerConnectionCreator)
class ServerTLS:
    """
    The server side of C{http.tls}: one L{SSL.Context} for every
    connection, built and checked at once.
    """

    def __init__(self, tls):
        """
        @param tls: the L{TLSConfig}, with a certificate and key.
        @raise ConfigError: naming what cannot be used.
        """
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.set_min_proto_version(_MINIMUM[tls.minimumtls])
        context.set_options(SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE
                            | SSL.OP_NO_RENEGOTIATION)
        _openssl_call("http.tls.certificate", f"cannot use {tls.certificate}",
                      context.use_certificate_chain_file, tls.certificate)
        _openssl_call("http.tls.key", f"cannot use {tls.key}",
                      context.use_privatekey_file, tls.key)
        _openssl_call("http.tls.ciphersuites", "no usable cipher suite",
                      context.set_cipher_list,
                      cipher_list(tls.ciphersuites, tls.minimumtls).encode("ascii"))
        context.set_session_id(b"txregistry")
        context.set_alpn_select_callback(_http11)
        if tls.clientcas:
            self._client_cas(context, tls.clientcas, tls.clientauth)
        self._context = context

    @staticmethod
    def _client_cas(context, paths, clientauth: str) -> None:
        for index, path in enumerate(paths):
            key = f"http.tls.clientcas[{index}]"
            try:
                with open(path, "rb") as f:
                    authorities = x509.load_pem_x509_certificates(f.read())
            except OSError as e:
                raise ConfigError(key, f"cannot read {path}: {e.strerror}") from None
            except ValueError as e:
                raise ConfigError(key, f"{path}: no certificate: {e}") from None
            _openssl_call(key, f"cannot use {path}", context.load_verify_locations, path)
            for authority in authorities:
                context.add_client_ca(authority)
        mode, verified = _CLIENT_AUTH[clientauth]
        context.set_verify(mode, _verdict if verified else _accept_any)

    def serverConnectionForTLS(self, protocol) -> SSL.Connection:
        """
        A connection for a new client.
        """
        return SSL.Connection(self._context, None)


def tls_factory(tls, factory):
    """
    C{factory} behind TLS if C{http.tls} asks for it.

    @param tls: the L{TLSConfig}.
    @raise ConfigError: see L{ServerTLS}.
    """
    if not tls.certificate:
        return factory
    wrapped = TLSMemoryBIOFactory(ServerTLS(tls), False, factory)
    wrapped.noisy = False
    return wrapped
