"""
Distribution's storage tree: where each piece of registry state lives, as
driver paths.  Both Distribution 2.x and 3.x use exactly this layout, so a
root written by one can be served by the other.
"""

from txregistry.registry.reference import Digest

ROOT = "/docker/registry/v2"
BLOBS = f"{ROOT}/blobs"
REPOSITORIES = f"{ROOT}/repositories"


def _digest_path(digest: Digest) -> str:
    # Distribution turns "+", "." and ";" in the algorithm into directories.
    algorithm = digest.algorithm
    for separator in "+.;":
        algorithm = algorithm.replace(separator, "/")
    return f"{algorithm}/{digest.encoded}"


def blob_dir(digest: Digest) -> str:
    """
    The directory holding one blob (deleted as a unit by GC).
    """
    algorithm, encoded = _digest_path(digest).rsplit("/", 1)
    return f"{BLOBS}/{algorithm}/{encoded[:2]}/{encoded}"


def blob_data(digest: Digest) -> str:
    """
    The bytes of a blob (layer, config or manifest).
    """
    return f"{blob_dir(digest)}/data"


def repository(name: str) -> str:
    """
    The directory of one repository.
    """
    return f"{REPOSITORIES}/{name}"


def layer_link(name: str, digest: Digest) -> str:
    """
    The link that makes a blob part of a repository.
    """
    return f"{repository(name)}/_layers/{_digest_path(digest)}/link"


def layers_dir(name: str) -> str:
    """
    The directory of a repository's blob links.
    """
    return f"{repository(name)}/_layers"


def manifests_dir(name: str) -> str:
    """
    The directory whose presence makes a directory a repository.
    """
    return f"{repository(name)}/_manifests"


def revisions_dir(name: str) -> str:
    """
    The directory of a repository's manifest revision links.
    """
    return f"{manifests_dir(name)}/revisions"


def revision_link(name: str, digest: Digest) -> str:
    """
    The link that makes a manifest part of a repository.
    """
    return f"{revisions_dir(name)}/{_digest_path(digest)}/link"


def revision_dir(name: str, digest: Digest) -> str:
    """
    The directory of one manifest revision.
    """
    return f"{revisions_dir(name)}/{_digest_path(digest)}"


def tags_dir(name: str) -> str:
    """
    The directory holding one subdirectory per tag.
    """
    return f"{manifests_dir(name)}/tags"


def tag_dir(name: str, tag: str) -> str:
    """
    One tag's directory (deleted as a unit when the tag is deleted).
    """
    return f"{tags_dir(name)}/{tag}"


def tag_current_link(name: str, tag: str) -> str:
    """
    The link holding the digest a tag points to now.
    """
    return f"{tag_dir(name, tag)}/current/link"


def tag_index_link(name: str, tag: str, digest: Digest) -> str:
    """
    The history entry recording that a tag once pointed to C{digest}.
    """
    return f"{tag_dir(name, tag)}/index/{_digest_path(digest)}/link"


def tag_index_dir(name: str, tag: str, digest: Digest) -> str:
    """
    The directory of one tag history entry.
    """
    return f"{tag_dir(name, tag)}/index/{_digest_path(digest)}"


def uploads_dir(name: str) -> str:
    """
    The directory of a repository's upload sessions.
    """
    return f"{repository(name)}/_uploads"


def upload_dir(name: str, upload_id: str) -> str:
    """
    One upload session's directory.
    """
    return f"{uploads_dir(name)}/{upload_id}"


def upload_data(name: str, upload_id: str) -> str:
    """
    The bytes received so far by an upload session.
    """
    return f"{upload_dir(name, upload_id)}/data"


def upload_started_at(name: str, upload_id: str) -> str:
    """
    The RFC 3339 start time of an upload; its existence means the upload exists.
    """
    return f"{upload_dir(name, upload_id)}/startedat"


def referrers_dir(name: str, subject: Digest) -> str:
    """
    txregistry's referrers index for one subject: a directory of links, one
    per manifest whose C{subject} is C{subject}.  It lives under a
    C{_}-prefixed directory, which Distribution ignores.
    """
    return f"{repository(name)}/_referrers/{_digest_path(subject)}"


def referrer_link(name: str, subject: Digest, referrer: Digest) -> str:
    """
    The link recording that manifest C{referrer} refers to C{subject}.
    """
    return f"{referrers_dir(name, subject)}/{_digest_path(referrer)}/link"
