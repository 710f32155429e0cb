"""
The grammar of repository names, tags and digests.

Names follow Distribution's route grammar (the OCI path grammar with an
optional domain-like first component that may hold upper case), tags the OCI
tag grammar, digests the OCI digest grammar with the algorithms this registry
can compute.
"""

import hashlib
import re

import attrs

from txregistry.registry import errors

MAX_NAME_LENGTH = 255

_PATH_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = rf"{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*"
# No ":port" in the domain: the storage path grammar cannot hold a colon.
_NAME_RE = re.compile(
    rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*\Z"
)
_TAG_RE = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}\Z")
_DIGEST_RE = re.compile(r"([a-z0-9]+(?:[.+_-][a-z0-9]+)*):([a-zA-Z0-9=_-]+)\Z")

#: Algorithms we can compute, with the exact length of their hex encoding.
ALGORITHMS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX_RE = re.compile(r"[0-9a-f]+\Z")


def validate_name(name: str) -> str:
    """
    Check a repository name.

    @return: C{name} unchanged.
    @raise errors.RegistryError: C{NAME_INVALID}.
    """
    if len(name) > MAX_NAME_LENGTH or not _NAME_RE.match(name):
        raise errors.RegistryError(errors.NAME_INVALID, detail={"name": name})
    return name


def is_tag(reference: str) -> bool:
    """
    Whether C{reference} is a well-formed tag.
    """
    return _TAG_RE.match(reference) is not None


def validate_tag(tag: str) -> str:
    """
    Check a tag.

    @raise errors.RegistryError: C{TAG_INVALID}, the spec's code for a tag the
        registry refuses.
    """
    if not is_tag(tag):
        raise errors.RegistryError(
            errors.TAG_INVALID, detail={"tag": tag}, status=400
        )
    return tag


# The hash is cached: garbage collection keeps sets of tens of thousands.
@attrs.frozen(order=True, cache_hash=True)
class Digest:
    """
    A content digest such as C{sha256:<64 hex>}.

    @ivar algorithm: one of L{ALGORITHMS}.
    @ivar encoded: the lowercase hex encoding.
    """

    algorithm: str
    encoded: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    @classmethod
    def parse(cls, text: str) -> "Digest":
        """
        Parse and check a digest string.

        @raise errors.RegistryError: C{DIGEST_INVALID} if C{text} is not a
            digest of a supported algorithm with an encoding of the right
            length.
        """
        match = _DIGEST_RE.match(text) if isinstance(text, str) else None
        if match is None:
            raise errors.RegistryError(
                errors.DIGEST_INVALID, detail=f"invalid digest {text!r}"
            )
        algorithm, encoded = match.groups()
        length = ALGORITHMS.get(algorithm)
        if length is None:
            raise errors.RegistryError(
                errors.DIGEST_INVALID,
                detail=f"unsupported digest algorithm {algorithm!r}",
            )
        if len(encoded) != length or not _HEX_RE.match(encoded):
            raise errors.RegistryError(
                errors.DIGEST_INVALID,
                detail=f"invalid {algorithm} encoding in {text!r}",
            )
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> "Digest":
        """
        The digest of C{data}.
        """
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    def hasher(self):
        """
        A new hashlib object for this digest's algorithm.
        """
        return hashlib.new(self.algorithm)


def is_digest(reference: str) -> bool:
    """
    Whether C{reference} parses as a supported digest (the rule Distribution
    uses to tell a digest reference from a tag).
    """
    try:
        Digest.parse(reference)
    except errors.RegistryError:
        return False
    return True


#: The digest of zero bytes.
EMPTY_SHA256 = Digest.of(b"")
