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
