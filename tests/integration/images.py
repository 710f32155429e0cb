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

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


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


def _start_layout(path: str) -> None:
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)


def _tag_layout(path: str, media_type: str, body: bytes, tag: str) -> str:
    """
    Store C{body} as a blob and name it C{tag} in the layout's C{index.json}.

    @return: its digest.
    """
    digest = _blob(path, body)
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({
            "schemaVersion": 2,
            "manifests": [{
                "mediaType": media_type, "digest": digest, "size": len(body),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }],
        }, f)
    return digest


def _image(path: str, layers: list[dict], architecture: str) -> tuple[dict, dict]:
    """
    Store the layers and config of a linux image in the layout at C{path}.

    @return: its manifest and its blobs (digest -> size).
    """
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
        "architecture": architecture, "os": "linux",
        "config": {"Cmd": ["/bin/true"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created_by": "txregistry test"} for _ in layers],
    }).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": _blob(path, config), "size": len(config)},
        "layers": descriptors,
    }
    blobs = {manifest["config"]["digest"]: len(config)}
    blobs.update({d["digest"]: d["size"] for d in descriptors})
    return manifest, blobs


def make_oci_layout(path: str, layers: list[dict], tag: str = "latest") -> dict:
    """
    Write an OCI image layout at C{path} holding one linux/amd64 image whose
    layers contain the given files (name -> bytes), tagged C{tag}.

    @return: the manifest as a dict, plus C{"_digest"}: its digest, and
        C{"_blobs"}: every blob digest with its size.
    """
    _start_layout(path)
    manifest, blobs = _image(path, layers, "amd64")
    digest = _tag_layout(path, OCI_MANIFEST, json.dumps(manifest).encode(), tag)
    return dict(manifest, _digest=digest, _blobs=blobs)


def make_oci_index_layout(path: str, images: dict[str, list[dict]], tag: str) -> dict:
    """
    Write an OCI image layout at C{path} holding a multi-platform image:
    an image index, tagged C{tag}, of one linux image per architecture
    (architecture -> layers as for L{make_oci_layout}).

    @return: the index as a dict, plus C{"_digest"}: its digest, and
        C{"_blobs"}: the digest and size of every blob below it (manifests,
        configs, layers).
    """
    _start_layout(path)
    descriptors, blobs = [], {}
    for architecture, layers in images.items():
        manifest, image_blobs = _image(path, layers, architecture)
        body = json.dumps(manifest).encode()
        descriptors.append({
            "mediaType": OCI_MANIFEST, "digest": _blob(path, body), "size": len(body),
            "platform": {"architecture": architecture, "os": "linux"},
        })
        blobs.update(image_blobs)
        blobs[descriptors[-1]["digest"]] = len(body)
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": descriptors}
    digest = _tag_layout(path, OCI_INDEX, json.dumps(index).encode(), tag)
    return dict(index, _digest=digest, _blobs=blobs)


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


def sample_index(path: str, tag: str = "v1") -> dict:
    """
    A two-platform image (linux/amd64 and linux/arm64, sharing a layer) at
    C{path}, tagged C{tag}; see L{make_oci_index_layout}.
    """
    shared = random_files("shared", 1, 300_000)
    return make_oci_index_layout(path, {
        "amd64": [shared, random_files("amd64", 2, 200_000)],
        "arm64": [shared, random_files("arm64", 1, 250_000)],
    }, tag)


def read_oci_layout(path: str, tag: str) -> dict:
    """
    Read the image or image index tagged C{tag} from the OCI image layout
    at C{path}, checking every blob file there: its sha256 must be its name.

    @return: like L{make_oci_layout} or L{make_oci_index_layout}: the
        manifest or index, C{"_digest"} and C{"_blobs"} (every blob below
        it, with its size).
    @raise AssertionError: a blob's content does not match its name, or a
        blob named below the tag is missing or has another size.
    """
    blobs_dir = os.path.join(path, "blobs", "sha256")
    stored = {}
    for name in os.listdir(blobs_dir):
        with open(os.path.join(blobs_dir, name), "rb") as f:
            data = f.read()
        actual = hashlib.sha256(data).hexdigest()
        if actual != name:
            raise AssertionError(f"blob {name} in {path} holds content with digest {actual}")
        stored["sha256:" + name] = data

    def below(document: dict) -> dict:
        if "manifests" in document:
            named = document["manifests"]
        else:
            named = [document["config"]] + document["layers"]
        blobs = {}
        for descriptor in named:
            data = stored.get(descriptor["digest"])
            if data is None or len(data) != descriptor["size"]:
                raise AssertionError(f"{path}: blob {descriptor['digest']} of "
                                     f"{descriptor['size']} bytes missing or wrong size")
            blobs[descriptor["digest"]] = descriptor["size"]
            if descriptor["mediaType"] in (OCI_MANIFEST, OCI_INDEX):
                blobs.update(below(json.loads(data)))
        return blobs

    with open(os.path.join(path, "index.json")) as f:
        index = json.load(f)
    [descriptor] = [
        m for m in index["manifests"]
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag
    ]
    document = json.loads(stored[descriptor["digest"]])
    return dict(document, _digest=descriptor["digest"], _blobs=below(document))
