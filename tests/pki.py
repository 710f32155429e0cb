"""
Certificates and keys made at test time: a CA, server and client
certificates it signs, token signing keys, and htpasswd files.
"""

import datetime
import ipaddress
import os

import attrs
import bcrypt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

#: bcrypt's lowest cost: tests need hashes, not slow ones.
BCRYPT_TEST_COST = 4


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def key_pem(key) -> bytes:
    """
    A private key in unencrypted PKCS#8 PEM.
    """
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def certificate_pem(certificate: x509.Certificate) -> bytes:
    """
    A certificate in PEM.
    """
    return certificate.public_bytes(serialization.Encoding.PEM)


@attrs.frozen
class Issued:
    """
    A key and its certificate.
    """

    key: object
    certificate: x509.Certificate

    def write(self, directory: str, stem: str, key_suffix: str = ".key",
              cert_suffix: str = ".crt") -> tuple[str, str]:
        """
        Write the certificate and key as PEM files.

        @return: their paths (certificate, key).
        """
        certificate_path = os.path.join(directory, stem + cert_suffix)
        key_path = os.path.join(directory, stem + key_suffix)
        with open(certificate_path, "wb") as f:
            f.write(certificate_pem(self.certificate))
        with open(key_path, "wb") as f:
            f.write(key_pem(self.key))
        return certificate_path, key_path


def _certificate(subject: str, public_key, issuer_name: x509.Name, signing_key, *,
                 ca: bool, usage=None, names=(), days: int = 30,
                 not_before: datetime.datetime | None = None) -> x509.Certificate:
    start = not_before or datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    digest = None if isinstance(signing_key, (ed25519.Ed25519PrivateKey,)) else hashes.SHA256()
    return builder.sign(signing_key, digest)


class CertificateAuthority:
    """
    A CA that signs server and client certificates.
    """

    def __init__(self, name: str = "txregistry test CA"):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(name)
        self.certificate = _certificate(name, self.key.public_key(), self.name, self.key,
                                        ca=True)

    def write(self, path: str) -> str:
        """
        Write the CA certificate as PEM to C{path}.
        """
        with open(path, "wb") as f:
            f.write(certificate_pem(self.certificate))
        return path

    def server(self, host: str = "127.0.0.1") -> Issued:
        """
        A certificate for a server at C{host} (and C{localhost}).
        """
        key = ec.generate_private_key(ec.SECP256R1())
        names = [x509.IPAddress(ipaddress.ip_address(host)), x509.DNSName("localhost")]
        return Issued(key, _certificate(host, key.public_key(), self.name, self.key, ca=False,
                                        usage=ExtendedKeyUsageOID.SERVER_AUTH, names=names))

    def client(self, name: str = "client") -> Issued:
        """
        A client certificate.
        """
        key = ec.generate_private_key(ec.SECP256R1())
        return Issued(key, _certificate(name, key.public_key(), self.name, self.key, ca=False,
                                        usage=ExtendedKeyUsageOID.CLIENT_AUTH))


def self_signed(key=None, name: str = "token signer", **options) -> Issued:
    """
    A self-signed certificate (of a new RSA key by default), as token
    servers use for C{rootcertbundle}.
    """
    key = key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Issued(key, _certificate(name, key.public_key(), _name(name), key, ca=True,
                                    **options))


def write_file(directory: str, name: str, content: bytes) -> str:
    """
    Write a file; return its path.
    """
    path = os.path.join(directory, name)
    with open(path, "wb") as f:
        f.write(content)
    return path


def htpasswd_line(user: str, password: str) -> str:
    """
    One htpasswd entry with a (cheap) bcrypt hash.
    """
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_TEST_COST)).decode()
    return f"{user}:{hashed}\n"


def write_htpasswd(path: str, users: dict[str, str]) -> str:
    """
    Write an htpasswd file for C{users} (name to password).
    """
    with open(path, "w") as f:
        f.writelines(htpasswd_line(user, password) for user, password in users.items())
    return path
