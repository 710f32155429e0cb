"""
Decoding manifest bytes into JSON, and typed access to the members of a JSON
object with errors that say which member is wrong.

Two reading modes exist.  I{Strict} is for manifests being pushed: every rule
applies.  I{Lenient} is for bytes already in storage, possibly written by
Distribution: only what Go's C{encoding/json} would also refuse is an error
(wrong JSON types, bad base64, invalid JSON), because Distribution could not
have stored anything else, and the rest is taken as it comes.
"""

import json
import re

import attrs

from txregistry.registry import errors

# Go's int64, the type of every integer field Distribution decodes.
_INT64_MAX = 2**63 - 1
_INT64_MIN = -(2**63)
_SURROGATE_RE = re.compile("[\ud800-\udfff]")


def invalid(detail: str) -> errors.RegistryError:
    """
    The error for a manifest that cannot be accepted.

    @param detail: the reason, for humans.
    """
    return errors.RegistryError(errors.MANIFEST_INVALID, detail=detail)


def is_integer(value: object) -> bool:
    """
    Whether a decoded JSON value is an integer (C{true} is not, C{2.0} is
    not).
    """
    return isinstance(value, int) and not isinstance(value, bool)


class _DuplicateKey(ValueError):
    pass


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _unique_members(pairs: list) -> dict:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(f"duplicate key {key!r}")
            seen.add(key)
    return members


def decode(raw: bytes, strict: bool) -> "JSONObject":
    """
    Decode manifest bytes that must hold one JSON object.

    C{NaN} and C{Infinity} are refused in both modes, as Go refuses them.
    Strict mode also refuses invalid UTF-8 and duplicate keys (parsers
    disagree on which duplicate wins, so such a manifest means different
    things to different clients); lenient mode replaces invalid UTF-8 and
    keeps the last duplicate, as Go does.

    @param raw: the manifest bytes.
    @param strict: the reading mode (see the module docstring).
    @return: the root object, in the mode given.
    @raise errors.RegistryError: C{MANIFEST_INVALID} for anything else than a
        JSON object.
    """
    try:
        text = raw.decode("utf-8") if strict else raw.decode("utf-8", "replace")
    except UnicodeDecodeError as e:
        raise invalid(f"manifest is not UTF-8 text (byte {e.start}: {e.reason})")
    try:
        value = json.loads(
            text,
            parse_constant=_refuse_constant,
            object_pairs_hook=_unique_members if strict else None,
        )
    except RecursionError:
        raise invalid("manifest JSON is nested too deeply")
    except ValueError as e:
        # JSONDecodeError, the duplicate and constant refusals above, and
        # integers too long for int() all land here.
        raise invalid(f"manifest is not valid JSON: {e}")
    if not isinstance(value, dict):
        raise invalid("manifest must be a JSON object")
    return JSONObject(value, strict=strict)


def _is_string_array(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _is_string_map(value: object) -> bool:
    return isinstance(value, dict) and all(isinstance(item, str) for item in value.values())


def _is_object_array(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


@attrs.frozen
class JSONObject:
    """
    One JSON object of a manifest with typed access to its members.

    A member that is absent or C{null} counts as absent, as it does for Go.

    @ivar members: the decoded object.
    @ivar path: where the object is in the manifest, e.g. C{"layers[2]"};
        C{""} for the root.  Error details start with the member's path.
    @ivar strict: the reading mode (see the module docstring).
    """

    members: dict
    path: str = ""
    strict: bool = True

    def where(self, key: str) -> str:
        """
        The path of member C{key}, for error details.
        """
        return f"{self.path}.{key}" if self.path else key

    def invalid(self, key: str, problem: str) -> errors.RegistryError:
        """
        The error for a member that is wrong.

        @param key: the member.
        @param problem: what is wrong, e.g. C{"must be a string"}.
        """
        return invalid(f"{self.where(key)}: {problem}")

    def has(self, key: str) -> bool:
        """
        Whether member C{key} is present (even as C{null}).
        """
        return key in self.members

    def _get(self, key: str, is_kind, kind: str, required: bool):
        value = self.members.get(key)
        if value is None:
            if required:
                raise self.invalid(key, "is required")
            return None
        if not is_kind(value):
            raise self.invalid(key, f"must be {kind}")
        return value

    def _text(self, key: str, value: str) -> str:
        # json accepts escaped lone surrogates, which no UTF-8 encoder will
        # write back out; Go replaces them.
        if _SURROGATE_RE.search(value) is None:
            return value
        if self.strict:
            raise self.invalid(key, "contains an unpaired surrogate")
        return _SURROGATE_RE.sub("\ufffd", value)

    def string(self, key: str, required: bool = False) -> str | None:
        """
        A string member, or C{None} when absent and not C{required}.

        @raise errors.RegistryError: C{MANIFEST_INVALID}.
        """
        value = self._get(key, lambda v: isinstance(v, str), "a string", required)
        return None if value is None else self._text(key, value)

    def integer(self, key: str, required: bool = False) -> int | None:
        """
        An integer member in Go's int64 range, or C{None} when absent and not
        C{required}.

        @raise errors.RegistryError: C{MANIFEST_INVALID}.
        """
        value = self._get(key, is_integer, "an integer", required)
        if value is not None and not _INT64_MIN <= value <= _INT64_MAX:
            raise self.invalid(key, "is out of range")
        return value

    def strings(self, key: str) -> tuple[str, ...] | None:
        """
        An optional array-of-strings member.

        @raise errors.RegistryError: C{MANIFEST_INVALID}.
        """
        value = self._get(key, _is_string_array, "an array of strings", False)
        return None if value is None else tuple(self._text(key, v) for v in value)

    def string_map(self, key: str) -> dict[str, str] | None:
        """
        An optional object member whose values are all strings.

        @raise errors.RegistryError: C{MANIFEST_INVALID}.
        """
        value = self._get(key, _is_string_map, "an object of strings", False)
        if value is None:
            return None
        return {self._text(key, k): self._text(key, v) for k, v in value.items()}

    def object(self, key: str, required: bool = False) -> "JSONObject | None":
        """
        An object member, in the same mode, or C{None} when absent and not
        C{required}.

        @raise errors.RegistryError: C{MANIFEST_INVALID}.
        """
        value = self._get(key, lambda v: isinstance(v, dict), "an object", required)
        return None if value is None else JSONObject(value, self.where(key), self.strict)

    def objects(self, key: str, required: bool = False) -> tuple["JSONObject", ...]:
        """
        The elements of an array-of-objects member, in the same mode; C{()}
        when absent and not C{required}.

        @raise errors.RegistryError: C{MANIFEST_INVALID}.
        """
        value = self._get(key, _is_object_array, "an array of objects", required)
        where = self.where(key)
        return tuple(
            JSONObject(item, f"{where}[{i}]", self.strict) for i, item in enumerate(value or ())
        )
