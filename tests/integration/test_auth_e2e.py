"""
Access control and TLS end to end: twistd txregistry over HTTPS with a CA
made at test time; skopeo and podman push and pull with htpasswd
credentials and through the built-in token server; mutual TLS; TLS 1.1
refused; credentials and tokens kept out of the log.
"""

import hashlib
import os
import socket
import ssl
import subprocess
import warnings

import requests
from twisted.trial.unittest import SynchronousTestCase

from tests.integration.clients import Podman, Skopeo, run
from tests.integration.images import make_oci_layout, random_files, read_oci_layout
from tests.integration.processes import (
    RegistryProcess,
    base_config,
    free_port,
    require_tool,
    temporary_directory,
)
from tests.pki import (
    CertificateAuthority,
    certificate_pem,
    key_pem,
    self_signed,
    write_file,
    write_htpasswd,
)
from tests.test_auth_acl import EXAMPLE

PASSWORD = "correct horse battery staple"


def tree(root: str) -> dict:
    """
    Every file under C{root} with the sha256 of its content.
    """
    found = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = hashlib.sha256(f.read()).hexdigest()
    return found


class _HTTPS:
    """
    A test CA, a server certificate for 127.0.0.1, and a directory of
    client trust (C{ca.crt}) as containers/image reads it.
    """

    def make_pki(self) -> None:
        """
        Write the CA and the server's certificate and key to a scratch
        directory.
        """
        self.scratch = temporary_directory(self)
        self.ca = CertificateAuthority()
        self.certs = os.path.join(self.scratch, "certs")
        os.mkdir(self.certs)
        self.ca_path = self.ca.write(os.path.join(self.certs, "ca.crt"))
        self.server_cert, self.server_key = self.ca.server().write(self.scratch, "server")

    def start(self, tls: dict | None = None, port: int = 0, access_log: bool = False,
              **sections) -> RegistryProcess:
        """
        Start txregistry over HTTPS on the loopback interface.
        """
        config = base_config(os.path.join(self.scratch, "root"), **sections)
        config["http"] = {"addr": f"127.0.0.1:{port}", "tls": dict(
            {"certificate": self.server_cert, "key": self.server_key}, **(tls or {}))}
        config["log"]["accesslog"]["disabled"] = not access_log
        self.registry = RegistryProcess.started(self, config)
        self.url = f"https://{self.registry.address}"
        return self.registry

    def image(self, name: str = "layout") -> tuple[str, dict]:
        """
        A small two-layer OCI layout; its path and manifest.
        """
        path = os.path.join(self.scratch, name)
        return path, make_oci_layout(path, [random_files(name, 2, 50_000),
                                            random_files(name + "2", 1, 20_000)], "v1")

    def skopeo(self, *arguments: str, check: bool = True) -> subprocess.CompletedProcess:
        """
        skopeo with its own signature policy.
        """
        return run([self.skopeo_tool.path, "--policy", self.skopeo_tool.policy, *arguments],
                   check=check)

    def assertLogClean(self, *secrets: str) -> None:
        """
        None of C{secrets} is in the registry's log.
        """
        log = self.registry.log()
        for secret in secrets:
            self.assertNotIn(secret, log)


class HtpasswdTests(_HTTPS, SynchronousTestCase):
    """
    htpasswd over HTTPS, with skopeo.
    """

    def setUp(self):
        self.skopeo_tool = Skopeo(self)
        self.make_pki()
        htpasswd = write_htpasswd(os.path.join(self.scratch, "htpasswd"), {"alice": PASSWORD})
        self.start(auth={"htpasswd": {"realm": "e2e", "path": htpasswd}}, access_log=True)

    def test_push_pull(self):
        """
        skopeo pushes and pulls with C{--creds}, trusting the test CA; the
        image comes back the same; the password is not logged.
        """
        layout, image = self.image()
        destination = f"docker://{self.registry.address}/alice/image:v1"
        self.skopeo("copy", "--dest-cert-dir", self.certs, "--dest-creds", f"alice:{PASSWORD}",
                    f"oci:{layout}:v1", destination)
        pulled = os.path.join(self.scratch, "pulled")
        self.skopeo("copy", "--src-cert-dir", self.certs, "--src-creds", f"alice:{PASSWORD}",
                    destination, f"oci:{pulled}:v1")
        self.assertEqual(read_oci_layout(pulled, "v1")["_digest"], image["_digest"])
        self.assertIn(" - alice [", self.registry.log())
        self.assertLogClean(PASSWORD)

    def test_refused(self):
        """
        Without credentials or with a wrong password, skopeo cannot push,
        and nothing is stored.
        """
        layout, _ = self.image()
        root = os.path.join(self.scratch, "root")
        before = tree(root)
        for credentials in ([], ["--dest-creds", "alice:wrong"]):
            result = self.skopeo("copy", "--dest-cert-dir", self.certs, *credentials,
                                 f"oci:{layout}:v1",
                                 f"docker://{self.registry.address}/alice/image:v1", check=False)
            self.assertNotEqual(result.returncode, 0)
            self.assertIn("unauthorized", result.stderr)
        self.assertEqual(tree(root), before)

    def test_refused_upload_body(self):
        """
        Over a real socket, a chunk sent without credentials is answered
        with the challenge and the spec's error, and nothing is written.
        """
        started = requests.post(f"{self.url}/v2/alice/chunked/blobs/uploads/",
                                auth=("alice", PASSWORD), verify=self.ca_path, timeout=30)
        self.assertEqual(started.status_code, 202)
        root = os.path.join(self.scratch, "root")
        before = tree(root)
        session = started.headers["Location"].split(self.registry.address)[-1]
        refused = requests.patch(f"{self.url}{session}",
                                 data=b"x" * 3_000_000, verify=self.ca_path, timeout=30,
                                 headers={"Content-Type": "application/octet-stream"})
        self.assertEqual(refused.status_code, 401)
        self.assertEqual(refused.headers["WWW-Authenticate"], 'Basic realm="e2e"')
        self.assertEqual(refused.json()["errors"][0]["code"], "UNAUTHORIZED")
        self.assertEqual(tree(root), before)


class TokenServerTests(_HTTPS, SynchronousTestCase):
    """
    The built-in token server, driven by skopeo and podman after C{login}.
    """

    def setUp(self):
        self.skopeo_tool = Skopeo(self)
        self.make_pki()
        signer = self_signed()
        files = {name: write_file(self.scratch, name, content) for name, content in (
            ("token.key", key_pem(signer.key)),
            ("token.crt", certificate_pem(signer.certificate)),
            ("acl.yml", EXAMPLE))}
        htpasswd = write_htpasswd(os.path.join(self.scratch, "users"),
                                  {"alice": PASSWORD, "bob": "builder-pw"})
        port = free_port()
        self.start(port=port, access_log=True, auth={"token": {
            "realm": f"https://127.0.0.1:{port}/auth/token",
            "service": "txregistry", "issuer": "txregistry-token-server",
            "rootcertbundle": files["token.crt"],
            "server": {"key": files["token.key"], "htpasswd": htpasswd, "acl": files["acl.yml"],
                       "expiration": 300},
        }})
        self.authfile = os.path.join(self.scratch, "auth.json")

    def test_skopeo(self):
        """
        skopeo logs in, pushes to alice's namespace and pulls back (Bearer
        tokens fetched from the token server); it cannot push where the ACL
        says no; nothing secret is logged.
        """
        self.skopeo("login", "--cert-dir", self.certs, "--authfile", self.authfile,
                    "--username", "alice", "--password", PASSWORD, self.registry.address)
        layout, image = self.image()
        destination = f"docker://{self.registry.address}/alice/image:v1"
        self.skopeo("copy", "--dest-cert-dir", self.certs, "--authfile", self.authfile,
                    f"oci:{layout}:v1", destination)
        pulled = os.path.join(self.scratch, "pulled")
        self.skopeo("copy", "--src-cert-dir", self.certs, "--authfile", self.authfile,
                    destination, f"oci:{pulled}:v1")
        self.assertEqual(read_oci_layout(pulled, "v1")["_digest"], image["_digest"])
        refused = self.skopeo("copy", "--dest-cert-dir", self.certs, "--authfile", self.authfile,
                              f"oci:{layout}:v1",
                              f"docker://{self.registry.address}/bob/image:v1", check=False)
        self.assertNotEqual(refused.returncode, 0)
        log = self.registry.log()
        self.assertIn("GET /auth/token?", log)
        self.assertIn(" - alice [", log)
        self.assertLogClean(PASSWORD, "eyJ")

    def test_podman(self):
        """
        podman logs in and pushes through the token server; the image is
        served to an anonymous client only where the ACL allows it.
        """
        podman = Podman(self)
        layout, image = self.image()
        image_id = podman.pull_layout(layout, "v1")
        podman.run("login", "--cert-dir", self.certs, "--authfile", self.authfile,
                   "--username", "alice", "--password", PASSWORD, self.registry.address)
        podman.run("push", "--cert-dir", self.certs, "--authfile", self.authfile,
                   "--signature-policy", podman.policy, "--format", "oci", image_id,
                   f"docker://{self.registry.address}/team/app:v1")
        token = requests.get(f"{self.url}/auth/token", verify=self.ca_path, timeout=30,
                             params={"service": "txregistry", "scope": "repository:team/app:pull"},
                             auth=("alice", PASSWORD)).json()["token"]
        served = requests.get(f"{self.url}/v2/team/app/tags/list", verify=self.ca_path,
                              timeout=30, headers={"Authorization": f"Bearer {token}"})
        self.assertEqual(served.json(), {"name": "team/app", "tags": ["v1"]})
        anonymous = requests.get(f"{self.url}/auth/token", verify=self.ca_path, timeout=30,
                                 params={"service": "txregistry",
                                         "scope": "repository:team/app:pull"}).json()["token"]
        refused = requests.get(f"{self.url}/v2/team/app/tags/list", verify=self.ca_path,
                               timeout=30, headers={"Authorization": f"Bearer {anonymous}"})
        self.assertEqual(refused.status_code, 401)
        self.assertIn('error="insufficient_scope"', refused.headers["WWW-Authenticate"])
        self.assertLogClean(PASSWORD, token, anonymous)

    def test_oauth_post(self):
        """
        The OAuth2 password and refresh grants over HTTPS.
        """
        form = {"grant_type": "password", "service": "txregistry", "client_id": "e2e",
                "username": "alice", "password": PASSWORD, "access_type": "offline",
                "scope": "repository:alice/x:pull,push"}
        reply = requests.post(f"{self.url}/auth/token", data=form, verify=self.ca_path,
                              timeout=30)
        self.assertEqual(reply.status_code, 200, reply.text)
        self.assertEqual(reply.json()["scope"], "repository:alice/x:pull,push")
        refreshed = requests.post(f"{self.url}/auth/token", verify=self.ca_path, timeout=30, data={
            "grant_type": "refresh_token", "service": "txregistry", "client_id": "e2e",
            "refresh_token": reply.json()["refresh_token"]})
        self.assertEqual(refreshed.status_code, 200, refreshed.text)
        self.assertLogClean(PASSWORD, reply.json()["refresh_token"],
                            reply.json()["access_token"])


class HandshakeTests(_HTTPS, SynchronousTestCase):
    """
    What the TLS listener accepts: client certificates from C{clientcas},
    TLS 1.2 and newer.
    """

    def setUp(self):
        self.make_pki()

    def connect(self, context: ssl.SSLContext) -> bytes:
        """
        Connect, send C{GET /v2/} and return the response's first line.
        """
        with socket.create_connection(("127.0.0.1", self.registry.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                tls.sendall(b"GET /v2/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
                return tls.recv(4096).split(b"\r\n")[0]

    def client_context(self, certificate=None) -> ssl.SSLContext:
        """
        A client trusting the test CA, with C{certificate} (an L{Issued}).
        """
        context = ssl.create_default_context(cafile=self.ca_path)
        if certificate is not None:
            context.load_cert_chain(*certificate.write(self.scratch, "client"))
        return context

    def test_mutual_tls(self):
        """
        With C{clientcas}, a client without a certificate, or with one from
        another CA, cannot complete the handshake; with one from the listed
        CA it is served.  skopeo too, given its certificate.
        """
        client_ca = CertificateAuthority("client CA")
        self.start(tls={"clientcas": [client_ca.write(os.path.join(self.scratch, "clients.crt"))]})
        for certificate in (None, CertificateAuthority("stranger").client()):
            with self.assertRaises((ssl.SSLError, ConnectionError)):
                self.connect(self.client_context(certificate))
        self.assertEqual(self.connect(self.client_context(client_ca.client())),
                         b"HTTP/1.1 200 OK")
        skopeo = Skopeo(self)
        client_ca.client().write(self.certs, "client", key_suffix=".key", cert_suffix=".cert")
        result = run([skopeo.path, "inspect", "--cert-dir", self.certs,
                      f"docker://{self.registry.address}/nothing:here"], check=False)
        self.assertIn("manifest unknown", result.stderr.lower())

    def test_tls11_refused(self):
        """
        A client offering only TLS 1.1 gets the server's protocol_version
        alert (and openssl s_client fails the same way); TLS 1.2 works.
        """
        self.start()
        old = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        old.check_hostname, old.verify_mode = False, ssl.CERT_NONE
        old.set_ciphers("DEFAULT:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # that is the point
            old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
        with self.assertRaises(ssl.SSLError) as caught:
            self.connect(old)
        self.assertIn("ALERT_PROTOCOL_VERSION", str(caught.exception))
        result = run([require_tool("openssl"), "s_client", "-tls1_1", "-cipher",
                      "DEFAULT:@SECLEVEL=0", "-connect", self.registry.address], check=False)
        self.assertNotEqual(result.returncode, 0)
        self.assertIn("alert protocol version", result.stdout + result.stderr)
        modern = self.client_context()
        modern.maximum_version = ssl.TLSVersion.TLSv1_2
        self.assertEqual(self.connect(modern), b"HTTP/1.1 200 OK")

    def test_http11_only(self):
        """
        A client offering h2 is answered in HTTP/1.1 (ALPN).
        """
        self.start()
        context = self.client_context()
        context.set_alpn_protocols(["h2", "http/1.1"])
        with socket.create_connection(("127.0.0.1", self.registry.port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                self.assertEqual(tls.selected_alpn_protocol(), "http/1.1")
