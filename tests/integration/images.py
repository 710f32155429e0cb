"""
Building real OCI images on disk (an OCI image layout) for clients to push.
"""

import gzip
import hashlib
import io
import json
import os
import random
import tarfile


def _blob(layout: str, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(layout, "blobs", "sha256", digest)
    with open(path, "wb") as f:
        f.write(data)
    return "sha256:" + digest


def _layer(files: dict) -> tuple[bytes, str]:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content in sorted(files.items()):
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mtime = 0
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(content))
    uncompressed = raw.getvalue()
    diff_id = "sha256:" + hashlib.sha256(uncompressed).hexdigest()
    return gzip.compress(uncompressed, compresslevel=1, mtime=0), diff_id


def make_oci_layout(path: str, layers: list[dict], tag: str = "latest") -> dict:
    """
    Write an OCI image layout at C{path} holding one linux/amd64 image whose
    layers contain the given files (name -> bytes), tagged C{tag}.

    @return: the manifest as a dict, plus C{"_digest"}: its digest, and
        C{"_blobs"}: every blob digest with its size.
    """
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    descriptors, diff_ids = [], []
    for files in layers:
        compressed, diff_id = _layer(files)
        descriptors.append({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": _blob(path, compressed),
            "size": len(compressed),
        })
        diff_ids.append(diff_id)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "txregistry test"} for _ in layers],
    }).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _blob(path, config), "size": len(config)},
        "layers": descriptors,
    }
    body = json.dumps(manifest).encode()
    digest = _blob(path, body)
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": manifest["mediaType"], "digest": digest, "size": len(body),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }],
        }, f)
    blobs = {manifest["config"]["digest"]: len(config)}
    blobs.update({d["digest"]: d["size"] for d in descriptors})
    return dict(manifest, _digest=digest, _blobs=blobs)


def random_files(seed: str, count: int, size: int) -> dict:
    """
    C{count} files of C{size} incompressible bytes, derived from C{seed}.
    """
    generator = random.Random(seed)
    return {f"data/{seed}-{i}.bin": generator.randbytes(size) for i in range(count)}


def sample_image(path: str, tag: str = "v1") -> dict:
    """
    A three-layer image of about 3 MB of incompressible data at C{path},
    tagged C{tag}; see L{make_oci_layout}.
    """
    return make_oci_layout(path, [
        random_files("first", 2, 600_000),
        random_files("second", 1, 1_200_000),
        random_files("third", 4, 150_000),
    ], tag)


def read_oci_layout(path: str, tag: str) -> dict:
    """
    Read the image tagged C{tag} from the OCI image layout at C{path},
    checking every blob file there: its sha256 must be its name.

    @return: like L{make_oci_layout}: the manifest, C{"_digest"} and
        C{"_blobs"} (the config and layers it names, with their sizes).
    @raise AssertionError: a blob's content does not match its name, or a
        blob the manifest names is missing or has another size.
    """
    blobs_dir = os.path.join(path, "blobs", "sha256")
    stored = {}
    for name in os.listdir(blobs_dir):
        with open(os.path.join(blobs_dir, name), "rb") as f:
            data = f.read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != name:
            raise AssertionError(f"blob {name} in {path} holds content with digest {actual}")
        stored["sha256:" + name] = len(data)
    with open(os.path.join(path, "index.json")) as f:
        index = json.load(f)
    [descriptor] = [
        m for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    ]
    with open(os.path.join(blobs_dir, descriptor["digest"].split(":", 1)[1]), "rb") as f:
        manifest = json.load(f)
    named = [manifest["config"]] + manifest["layers"]
    blobs = {d["digest"]: d["size"] for d in named}
    for digest, size in blobs.items():
        if stored.get(digest) != size:
            raise AssertionError(f"{path}: blob {digest} of {size} bytes missing or wrong size")
    return dict(manifest, _digest=descriptor["digest"], _blobs=blobs)
