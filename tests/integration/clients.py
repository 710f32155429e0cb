"""
Real registry clients: skopeo, podman and curl run as child processes, each
isolated in a temporary directory and bounded in time; oras-py; and a few
plain HTTP requests.
"""

import hashlib
import json
import os
import subprocess
from urllib.parse import urljoin

import requests
from twisted.trial.unittest import SkipTest

from tests.integration.images import OCI_INDEX, OCI_MANIFEST
from tests.integration.processes import read_bytes, require_tool, temporary_directory

#: The longest any single client command may take, in seconds.
COMMAND_TIMEOUT = 120

_ACCEPT_ANYTHING = {"default": [{"type": "insecureAcceptAnything"}]}


def run(argv: list[str], timeout: float = COMMAND_TIMEOUT, check: bool = True,
        **kwargs) -> subprocess.CompletedProcess:
    """
    Run a command to completion, output captured as text.

    @param check: fail unless it exits with status 0.
    @raise AssertionError: C{check} and it failed, with its output.
    @raise subprocess.TimeoutExpired: it ran longer than C{timeout} seconds
        (it is killed).
    """
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL, check=False, **kwargs,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{argv} exited with {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result


def sha256_digest(data: bytes) -> str:
    """
    C{sha256:<hex>} of C{data}.
    """
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fetch_blob(registry_url: str, name: str, digest: str) -> bytes:
    """
    GET a blob over HTTP and check its content has the digest asked for.
    """
    response = requests.get(f"{registry_url}/v2/{name}/blobs/{digest}", timeout=30)
    response.raise_for_status()
    if sha256_digest(response.content) != digest:
        raise AssertionError(f"{name}: blob {digest} served with another content")
    return response.content


def fetch_manifest(registry_url: str, name: str, reference: str) -> tuple[str, dict]:
    """
    GET an OCI or Docker image manifest.

    @return: its digest (checked against C{Docker-Content-Digest}) and the
        manifest.
    """
    response = requests.get(
        f"{registry_url}/v2/{name}/manifests/{reference}",
        headers={"Accept": "application/vnd.oci.image.manifest.v1+json, "
                           "application/vnd.docker.distribution.manifest.v2+json"},
        timeout=30,
    )
    response.raise_for_status()
    digest = sha256_digest(response.content)
    if response.headers["Docker-Content-Digest"] != digest:
        raise AssertionError(f"{name}:{reference}: Docker-Content-Digest is not {digest}")
    return digest, response.json()


def _write_policy(directory: str) -> str:
    path = os.path.join(directory, "policy.json")
    with open(path, "w") as f:
        json.dump(_ACCEPT_ANYTHING, f)
    return path


class Skopeo:
    """
    skopeo, with a signature policy of its own that accepts anything and
    TLS verification off (the test registries speak plain HTTP).

    @raise SkipTest: skopeo is not installed.
    """

    def __init__(self, case):
        self.path = require_tool("skopeo")
        self.policy = _write_policy(temporary_directory(case, "skopeo-"))

    def copy(self, source: str, destination: str, *options: str) -> subprocess.CompletedProcess:
        """
        C{skopeo copy} from one image reference to another.
        """
        return run([
            self.path, "--policy", self.policy, "copy",
            "--src-tls-verify=false", "--dest-tls-verify=false",
            *options, source, destination,
        ])

    def inspect(self, reference: str) -> dict:
        """
        C{skopeo inspect} of a C{docker://} reference, as parsed JSON.
        """
        result = run([self.path, "--policy", self.policy, "inspect", "--tls-verify=false",
                      reference])
        return json.loads(result.stdout)


class Podman:
    """
    podman with storage, run state and configuration of its own in a
    temporary directory, so it needs no system setup: vfs storage, cgroupfs,
    events in a file.

    @raise SkipTest: podman is not installed.
    """

    def __init__(self, case):
        path = require_tool("podman")
        home = temporary_directory(case, "podman-")
        self.policy = _write_policy(home)
        containers_conf = os.path.join(home, "containers.conf")
        registries_conf = os.path.join(home, "registries.conf")
        for empty in (containers_conf, registries_conf):
            open(empty, "w").close()
        self.env = dict(os.environ, CONTAINERS_CONF=containers_conf,
                        CONTAINERS_REGISTRIES_CONF=registries_conf)
        self.base = [
            path,
            "--root", os.path.join(home, "root"),
            "--runroot", os.path.join(home, "run"),
            "--tmpdir", os.path.join(home, "tmp"),
            "--storage-driver", "vfs",
            "--cgroup-manager", "cgroupfs",
            "--events-backend", "file",
        ]
        case.addCleanup(self.run, "rmi", "--all", "--force")

    def run(self, *arguments: str, cwd: str | None = None) -> subprocess.CompletedProcess:
        """
        One podman command.
        """
        return run(self.base + list(arguments), env=self.env, cwd=cwd)

    def pull(self, reference: str, cwd: str | None = None) -> str:
        """
        Pull an image (TLS verification off); return its id.
        """
        result = self.run("pull", "--quiet", "--tls-verify=false",
                          "--signature-policy", self.policy, reference, cwd=cwd)
        return result.stdout.strip().splitlines()[-1]

    def pull_layout(self, layout: str, tag: str) -> str:
        """
        Pull the image tagged C{tag} from an OCI image layout; return its id.

        podman names the image after the layout's path, which must then be a
        valid image name: a temporary directory's often is not (C{_} at the
        end of a component), so the layout is named relative to its parent.
        """
        parent, name = os.path.split(os.path.abspath(layout))
        return self.pull(f"oci:{name}:{tag}", cwd=parent)

    def push(self, image: str, destination: str, digest_file: str) -> str:
        """
        Push an image (TLS verification off); return the manifest digest
        podman reports.
        """
        self.run("push", "--quiet", "--tls-verify=false", "--signature-policy", self.policy,
                 "--digestfile", digest_file, image, destination)
        with open(digest_file) as f:
            return f.read().strip()

    def inspect(self, image: str) -> dict:
        """
        C{podman image inspect}, parsed.
        """
        [details] = json.loads(self.run("image", "inspect", image).stdout)
        return details


class CurlResponse:
    """
    What curl received: the status, the headers (names lowercased; the last
    value of each) and the body.
    """

    def __init__(self, status: int, headers: dict, body: bytes):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        """
        The body, parsed as JSON.
        """
        return json.loads(self.body)


class Curl:
    """
    The curl command line tool: plain HTTP, no client library.

    @raise SkipTest: curl is not installed.
    """

    def __init__(self, case):
        self.path = require_tool("curl")
        self.workdir = temporary_directory(case, "curl-")
        self._count = 0

    def __call__(self, method: str, url: str, *options: str, data: bytes | None = None,
                 headers: dict | None = None) -> CurlResponse:
        """
        One request.

        @param options: more curl options (C{--range 0-9}, say).
        @param data: the request body, sent from a file as is.
        """
        self._count += 1
        body_path = os.path.join(self.workdir, f"body-{self._count}")
        argv = [self.path, "--silent", "--show-error", "--max-time", "30",
                *(["--head"] if method == "HEAD" else ["--request", method]),
                "--dump-header", "-", "--output", body_path, "--header", "Expect:"]
        for name, value in (headers or {}).items():
            argv += ["--header", f"{name}: {value}"]
        if data is not None:
            upload_path = os.path.join(self.workdir, f"upload-{self._count}")
            with open(upload_path, "wb") as f:
                f.write(data)
            argv += ["--data-binary", "@" + upload_path]
        result = run(argv + list(options) + [url], timeout=60)
        blocks = [b for b in result.stdout.replace("\r\n", "\n").split("\n\n") if b.strip()]
        status_line, *lines = blocks[-1].splitlines()
        headers = {}
        for line in lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        return CurlResponse(int(status_line.split()[1]), headers, read_bytes(body_path))


def push_blob(registry_url: str, name: str, data: bytes) -> str:
    """
    Upload a blob over HTTP in one POST and one PUT; return its digest.
    """
    digest = sha256_digest(data)
    started = requests.post(f"{registry_url}/v2/{name}/blobs/uploads/", timeout=30)
    if started.status_code != 202:
        raise AssertionError(f"upload start: {started.status_code} {started.text}")
    done = requests.put(urljoin(registry_url, started.headers["Location"]),
                        params={"digest": digest}, data=data, timeout=30)
    if done.status_code != 201:
        raise AssertionError(f"upload end: {done.status_code} {done.text}")
    return digest


def patch_chunk(upload_url: str, offset: int, chunk: bytes) -> requests.Response:
    """
    PATCH one chunk at C{offset} of an upload session, with Content-Range.

    @return: the response (202 expected).
    """
    return requests.patch(upload_url, data=chunk, timeout=30, headers={
        "Content-Type": "application/octet-stream",
        "Content-Range": f"{offset}-{offset + len(chunk) - 1}",
    })


class Oras:
    """
    oras-py, the ORAS Python SDK, pushing one-file artifacts over plain
    HTTP.

    @raise SkipTest: oras-py is not installed.
    """

    def __init__(self, case):
        try:
            import oras.client
            import oras.oci
        except ImportError:
            raise SkipTest("oras-py is not installed") from None
        self._oras = oras
        self._scratch = temporary_directory(case, "oras-")
        self._clients = {}

    def push(self, address: str, reference: str, content: bytes,
             artifact_type: str | None = None, subject=None) -> requests.Response:
        """
        Push a one-file artifact to C{address/reference} (C{name:tag}).

        @param artifact_type: the config media type (how oras-py marks an
            artifact's type), if not its default.
        @param subject: from L{subject}.
        @return: the manifest PUT's response.
        """
        path = os.path.join(self._scratch, "file.txt")
        with open(path, "wb") as f:
            f.write(content)
        config = None
        if artifact_type is not None:
            config = os.path.join(self._scratch, "no-config") + ":" + artifact_type
        client = self._clients.get(address)
        if client is None:
            client = self._clients[address] = self._oras.client.OrasClient(
                hostname=address, insecure=True)
        return client.push(
            target=f"{address}/{reference}", files=[path], manifest_config=config,
            subject=subject, disable_path_validation=True, quiet=True,
        )

    def subject(self, registry_url: str, name: str, reference: str):
        """
        The L{oras.oci.Subject} for an OCI image manifest in a registry.
        """
        digest, _ = fetch_manifest(registry_url, name, reference)
        size = len(requests.get(f"{registry_url}/v2/{name}/manifests/{digest}",
                                headers={"Accept": OCI_MANIFEST}, timeout=30).content)
        return self._oras.oci.Subject(OCI_MANIFEST, digest, size)


def list_referrers(registry_url: str, name: str, digest: str,
                   artifact_type: str | None = None) -> requests.Response:
    """
    GET the referrers of C{digest} in C{name}, optionally filtered; fail
    unless the answer is a 200 with an image index.
    """
    params = {"artifactType": artifact_type} if artifact_type else None
    response = requests.get(f"{registry_url}/v2/{name}/referrers/{digest}", params=params,
                            timeout=30)
    if response.status_code != 200 or response.headers["Content-Type"] != OCI_INDEX:
        raise AssertionError(f"referrers of {digest}: {response.status_code} {response.text}")
    return response
