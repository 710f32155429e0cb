"""
What does access control cost per request?

Starts txregistry (twistd, in-memory storage, access log off, plain HTTP so
that only access control differs) once per mode, pushes one small image,
then sends C{HEAD /v2/<name>/manifests/<tag>} over one keep-alive
connection for C{--seconds}, as a client checking tags does:

 - C{none}: no access control;
 - C{htpasswd}: Basic credentials on every request, against a bcrypt hash of
   cost C{--cost} (10 is htpasswd's and Distribution's default); the first
   request pays bcrypt, later ones hit the server's cache of verified
   credentials;
 - C{token}: a Bearer token (RS256, naming its key by C{x5c}) from the
   built-in token server on every request.

Reported per mode: requests per second, the mean and 99th percentile
latency, and the latency of the first request carrying the credentials.
The client runs on the same machine: compare the modes with each other,
not with other machines.
"""

import argparse
import base64
import hashlib
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import bcrypt

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from tests.integration.processes import RegistryProcess, base_config, free_port  # noqa: E402
from tests.pki import certificate_pem, key_pem, self_signed, write_file  # noqa: E402

NAME, TAG = "bench/app", "v1"
PASSWORD = "benchmark password"
MODES = ("none", "htpasswd", "token")


def configure(mode: str, directory: str, cost: int, port: int) -> dict:
    """
    The configuration of a server for C{mode}.
    """
    config = base_config(os.path.join(directory, "root"), storage={"inmemory": None})
    config["http"] = {"addr": f"127.0.0.1:{port}"}
    if mode == "none":
        return config
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(cost))
    users = write_file(directory, "htpasswd", b"bench:" + hashed + b"\n")
    if mode == "htpasswd":
        config["auth"] = {"htpasswd": {"realm": "bench", "path": users}}
        return config
    signer = self_signed()
    config["auth"] = {"token": {
        "realm": f"http://127.0.0.1:{port}/auth/token", "service": "bench",
        "issuer": "bench", "rootcertbundle": write_file(directory, "token.crt",
                                                   certificate_pem(signer.certificate)),
        "server": {"key": write_file(directory, "token.key", key_pem(signer.key)),
                   "htpasswd": users, "expiration": 3600,
                   "acl": write_file(directory, "acl.yml",
                                b'- {account: "*", name: "*", actions: ["*"]}\n')},
    }}
    return config


def call(connection, method: str, path: str, headers: dict, body: bytes = b"") -> tuple:
    """
    One request on a keep-alive connection: status, headers and body.
    """
    connection.request(method, path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.getheaders(), response.read()


def credentials(mode: str, connection) -> dict:
    """
    The C{Authorization} header for C{mode}.
    """
    basic = "Basic " + base64.b64encode(f"bench:{PASSWORD}".encode()).decode()
    if mode == "none":
        return {}
    if mode == "htpasswd":
        return {"Authorization": basic}
    status, _, body = call(connection, "GET", f"/auth/token?service=bench&scope=repository:"
                           f"{NAME}:pull,push", {"Authorization": basic})
    assert status == 200, body
    return {"Authorization": "Bearer " + json.loads(body)["token"]}


def push_image(connection, headers: dict) -> None:
    """
    Push a one-layer image tagged L{TAG}, in single-request uploads.
    """
    descriptors = []
    for content in (b"{}", b"layer"):
        digest = "sha256:" + hashlib.sha256(content).hexdigest()
        status, _, body = call(connection, "POST", f"/v2/{NAME}/blobs/uploads/?digest={digest}",
                               headers, content)
        assert status == 201, body
        descriptors.append({"mediaType": "application/octet-stream", "digest": digest,
                            "size": len(content)})
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": dict(descriptors[0],
                               mediaType="application/vnd.oci.image.config.v1+json"),
                "layers": descriptors[1:]}
    status, _, body = call(connection, "PUT", f"/v2/{NAME}/manifests/{TAG}", dict(
        headers, **{"Content-Type": manifest["mediaType"]}), json.dumps(manifest).encode())
    assert status == 201, body


def measure(mode: str, seconds: float, cost: int) -> dict:
    """
    Run one server in C{mode} and time manifest HEADs against it.
    """
    directory = tempfile.mkdtemp(prefix="txregistry-bench-")
    port = free_port()
    registry = RegistryProcess(configure(mode, directory, cost, port), directory).start()
    try:
        connection = http.client.HTTPConnection("127.0.0.1", registry.port, timeout=30)
        headers = credentials(mode, connection)
        began = time.perf_counter()
        push_image(connection, headers)
        first = time.perf_counter() - began
        latencies = []
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            status, _, _ = call(connection, "HEAD", f"/v2/{NAME}/manifests/{TAG}", headers)
            latencies.append(time.perf_counter() - start)
            assert status == 200, status
        latencies.sort()
        return {
            "mode": mode,
            "requests": len(latencies),
            "requests_per_second": len(latencies) / sum(latencies),
            "mean_ms": statistics.mean(latencies) * 1000,
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000,
            "first_push_ms": first * 1000,
        }
    finally:
        registry.stop()
        shutil.rmtree(directory, ignore_errors=True)


def main(argv=None) -> int:
    """
    Measure the modes asked for and print a table.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="per mode (default 5)")
    parser.add_argument("--cost", type=int, default=10, help="bcrypt cost (default 10)")
    parser.add_argument("--mode", choices=MODES + ("all",), default="all")
    parser.add_argument("--json", help="also write the results to this file")
    arguments = parser.parse_args(argv)
    modes = MODES if arguments.mode == "all" else (arguments.mode,)
    results = [measure(mode, arguments.seconds, arguments.cost) for mode in modes]
    print(f"{'mode':10} {'requests':>9} {'req/s':>8} {'mean ms':>8} {'p99 ms':>8} "
          f"{'first push ms':>14}")
    for r in results:
        print(f"{r['mode']:10} {r['requests']:9d} {r['requests_per_second']:8.0f} "
              f"{r['mean_ms']:8.2f} {r['p99_ms']:8.2f} {r['first_push_ms']:14.1f}")
    if arguments.json:
        with open(arguments.json, "w") as f:
            json.dump({"cost": arguments.cost, "seconds": arguments.seconds,
                       "results": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
