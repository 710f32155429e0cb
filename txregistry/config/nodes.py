"""
The vocabulary the configuration schema is written in.

A schema is a tree of nodes.  Every node knows two things: how to turn the
plain value that YAML gave into a checked Python value (L{Node.validate}), and
how Distribution's C{REGISTRY_*} environment overrides walk through it
(L{Node.locate}, L{Node.from_env}).  Fixed-key sections are attrs classes whose
fields are declared with L{setting}; L{Section} reads a class's settings and
becomes the node for it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import attrs
import yaml

from txregistry.config.duration import parse_duration
from txregistry.config.errors import ConfigError

Warnings = list[str]
"""Where validation puts its warnings: one line of text each."""


def join(key: str, name: object) -> str:
    """
    The dotted key of C{name} inside C{key}.
    """
    return f"{key}.{name}" if key else str(name)


def _kind(value: object) -> str:
    """
    A few words saying what sort of value C{value} is, for error messages.
    """
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, int):
        return f"an integer ({value})"
    if isinstance(value, float):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__} ({value})"


def expected(key: str, what: str, value: object) -> ConfigError:
    """
    The error for a value of the wrong sort.
    """
    return ConfigError(key, f"expected {what}, got {_kind(value)}")


def yaml_value(payload: str, name: str) -> object:
    """
    Parse an environment variable's value as YAML, as Distribution does.

    @param name: the variable's name, for the error.
    """
    try:
        return yaml.safe_load(payload)
    except yaml.YAMLError as error:
        raise ConfigError(name, f"invalid YAML value {payload!r}: {error}") from None


def map_key(segment: str, mapping: dict, last: bool) -> object:
    """
    Where an environment override goes in a map whose keys are free.

    Distribution descends into an existing key whose upper-case form is
    C{segment} (unless its value is null); otherwise, and always for the last
    segment, it (re)creates the key in lower case.

    @return: the key; a key that is to be created has been set to C{None} so
        that the walk creates a fresh container there.
    """
    if not last:
        for key, value in mapping.items():
            if isinstance(key, str) and key.upper() == segment:
                if value is not None:
                    return key
                break
    key = segment.lower()
    if not last:
        mapping[key] = None
    return key


class Node:
    """
    One place in the configuration tree.

    @cvar container: C{dict} or C{list} for nodes that hold other nodes (the
        empty container an override creates on its way down), C{None} for
        leaves.
    """

    container: type | None = None

    def validate(self, value: object, key: str, warnings: Warnings) -> Any:
        """
        Check a plain value and return its Python form.

        @param value: what YAML gave; C{None} when the key is absent or null.
        @param key: the dotted key of the value, for errors and warnings.
        @param warnings: where to add a line for each thing ignored.
        @raise ConfigError: naming the key at fault.
        """
        raise NotImplementedError()

    def locate(self, segment: str, container: object, last: bool) -> tuple[object, Node] | None:
        """
        Find where one segment of an override's name leads.

        @param segment: the segment, as written in the variable's name.
        @param container: the current value of this node (a C{dict} or a
            C{list} for nodes that have a container).
        @param last: whether this is the variable's last segment.
        @return: the key or index in C{container} and the node found there,
            or C{None} when the segment names nothing here.
        """
        return None

    def adopt(self, value: object) -> object:
        """
        The form of an existing value that an override can descend into.
        """
        return value

    def from_env(self, payload: str, name: str) -> object:
        """
        The plain value an override sets here: its text read as YAML.
        """
        return yaml_value(payload, name)


class Leaf(Node):
    """
    A scalar setting; C{None} (an empty value) is refused.
    """

    def validate(self, value: object, key: str, warnings: Warnings) -> Any:
        if value is None:
            raise ConfigError(key, "a value is required")
        return self.check(value, key)

    def check(self, value: object, key: str) -> Any:
        """
        Check a value that is not C{None}.
        """
        raise NotImplementedError()


class Text(Leaf):
    """
    A string.  Numbers are taken as their text, as Go's YAML reader does for
    string fields.
    """

    def check(self, value: object, key: str) -> Any:
        if isinstance(value, bool):
            raise ConfigError(
                key, f"expected a string, got {_kind(value)}; quote it to use it as text"
            )
        if isinstance(value, (int, float)):
            return str(value)
        if not isinstance(value, str):
            raise expected(key, "a string", value)
        return value

    def from_env(self, payload: str, name: str) -> object:
        value = yaml_value(payload, name)
        if value is None or isinstance(value, (str, dict, list)):
            return value
        # Go's YAML reader keeps the text of any scalar bound for a string.
        return payload


@attrs.frozen
class Choice(Text):
    """
    One of a fixed set of words.

    @ivar choices: the words, in the order the error lists them.
    @ivar fold: whether the words are case-insensitive (the value is then
        returned in lower case).
    """

    choices: tuple[str, ...]
    fold: bool = False

    def check(self, value: object, key: str) -> Any:
        word = super().check(value, key)
        if self.fold:
            word = word.lower()
        if word not in self.choices:
            raise ConfigError(
                key, f"expected one of {', '.join(self.choices)}, got {word!r}"
            )
        return word


@attrs.frozen
class URL(Text):
    """
    An absolute URL.

    @ivar origin: whether only a scheme, host and port are allowed (no path
        other than C{/}, no query or fragment).
    @ivar any_scheme: whether schemes other than http and https are taken
        (for the caller to check).
    """

    origin: bool = False
    any_scheme: bool = False

    def check(self, value: object, key: str) -> Any:
        text = super().check(value, key)
        try:
            parts = urlsplit(text)
            parts.port  # noqa: B018 - reading the port checks it
        except ValueError as error:
            raise ConfigError(key, f"invalid URL {text!r}: {error}") from None
        if self.any_scheme and parts.scheme not in ("", "http", "https") and parts.netloc:
            return text
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(
                key, f"expected an absolute http or https URL, got {text!r}"
            )
        if self.origin and (parts.path not in ("", "/") or parts.query or parts.fragment):
            raise ConfigError(
                key,
                f"expected only a scheme, host and port (such as "
                f"https://registry.example.com:5000), got {text!r}",
            )
        return text.rstrip("/") if self.origin else text


class Pattern(Text):
    """
    A regular expression, returned compiled.
    """

    def check(self, value: object, key: str) -> Any:
        text = super().check(value, key)
        try:
            return re.compile(text)
        except re.error as error:
            raise ConfigError(key, f"invalid regular expression {text!r}: {error}") from None


class Flag(Leaf):
    """
    A boolean.
    """

    def check(self, value: object, key: str) -> Any:
        if not isinstance(value, bool):
            raise expected(key, "true or false", value)
        return value


@attrs.frozen
class Integer(Leaf):
    """
    An integer.

    @ivar minimum: the smallest value allowed, or C{None}.
    """

    minimum: int | None = None

    def check(self, value: object, key: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise expected(key, "an integer", value)
        if self.minimum is not None and value < self.minimum:
            raise ConfigError(key, f"must be at least {self.minimum}, got {value}")
        return value


@attrs.frozen
class Duration(Leaf):
    """
    A Go duration (see L{parse_duration}), returned in seconds; never negative.

    @ivar positive: whether zero is refused too.
    """

    positive: bool = False

    def check(self, value: object, key: str) -> Any:
        seconds = parse_duration(value, key)
        if seconds < 0 or (self.positive and seconds == 0):
            raise ConfigError(
                key, f"must be {'positive' if self.positive else 'zero or more'}, got {value!r}"
            )
        return seconds


class Anything(Node):
    """
    A value whose shape is checked elsewhere (driver parameters, middleware
    options), kept as plain data.  Overrides walk into it as Distribution
    walks into an untyped value: maps by key, lists by index.
    """

    container = dict

    def validate(self, value: object, key: str, warnings: Warnings) -> Any:
        return plain(value)

    def locate(self, segment: str, container: object, last: bool) -> tuple[object, Node] | None:
        if isinstance(container, dict):
            return map_key(segment, container, last), self
        if isinstance(container, list):
            return list_index(segment, container), self
        return None


def plain(value: object) -> object:
    """
    A deep copy of plain data, so that the checked configuration shares
    nothing with the document it came from.
    """
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value


class BadIndex(Exception):
    """
    An override names a list entry that cannot be reached.
    """


def list_index(segment: str, container: list) -> int:
    """
    The index an override names in a list; the index just past the end
    appends an empty entry.

    @raise BadIndex: for a segment that is not an index in or just past the
        list, as Distribution refuses it.
    """
    if re.fullmatch(r"[+-]?\d+", segment) is None:
        raise BadIndex(f"non-numeric list index {segment!r}")
    index = int(segment)
    if not 0 <= index <= len(container):
        raise BadIndex(f"undefined list index {index}: the list has {len(container)} entries")
    if index == len(container):
        container.append(None)
    return index


@attrs.frozen
class ListOf(Node):
    """
    A list.

    @ivar item: the node for each entry.
    @ivar lone: whether a single scalar stands for a list of one.
    """

    item: Node
    lone: bool = False
    container = list

    def validate(self, value: object, key: str, warnings: Warnings) -> Any:
        if value is None:
            return []
        if self.lone and not isinstance(value, (dict, list)):
            value = [value]
        if not isinstance(value, list):
            raise expected(key, "a list", value)
        return [
            self.item.validate(entry, f"{key}[{index}]", warnings)
            for index, entry in enumerate(value)
        ]

    def locate(self, segment: str, container: object, last: bool) -> tuple[object, Node] | None:
        if not isinstance(container, list):
            return None
        return list_index(segment, container), self.item


@attrs.frozen
class MapOf(Node):
    """
    A mapping whose keys are free (strings) and whose values are all alike.

    @ivar value: the node for each value.
    """

    value: Node
    container = dict

    def validate(self, value: object, key: str, warnings: Warnings) -> Any:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise expected(key, "a mapping", value)
        checked = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise ConfigError(join(key, name), f"keys must be strings, got {_kind(name)}")
            checked[name] = self.value.validate(item, join(key, name), warnings)
        return checked

    def locate(self, segment: str, container: object, last: bool) -> tuple[object, Node] | None:
        if not isinstance(container, dict):
            return None
        return map_key(segment, container, last), self.value


_SETTING = "txregistry.config.setting"


@attrs.frozen
class _Setting:
    node: Node
    key: str | None
    go: str | None


def setting(
    node: Node,
    *,
    key: str | None = None,
    go: str | None = None,
    default: object = attrs.NOTHING,
    factory: Callable[[], object] | None = None,
) -> Any:
    """
    Declare a field of a section class as a configuration setting.

    A field with neither C{default} nor C{factory} is required, unless its
    node is a L{Section}: an absent section is read as an empty one.

    @param node: the node that checks the value.
    @param key: the setting's dotted key relative to the section (default: the
        field's name); C{accesslog.disabled} reads a key of a nested mapping
        into this flat field.
    @param go: the dotted Go field names that environment overrides match,
        segment for segment, where they differ from C{key} (Distribution
        matches Go names, not YAML keys).
    """
    metadata = {_SETTING: _Setting(node, key, go)}
    if factory is not None:
        return attrs.field(factory=factory, metadata=metadata)
    return attrs.field(default=default, metadata=metadata)


@attrs.frozen
class _Entry:
    """
    One key of a L{Group}.

    @ivar go: the upper-case Go field name an override segment must equal.
    @ivar target: the name the checked value is stored under (a field name or
        an extra's dotted key); C{None} when C{node} is a nested L{Group}
        whose entries store their own values.
    """

    go: str
    node: Node
    target: str | None


class Group(Node):
    """
    A mapping with fixed keys whose values are collected into a flat
    dictionary: a L{Section}, or a mapping nested inside one by dotted
    setting keys.  Unknown keys are warned about and ignored.

    A nested group has no value of its own: its section collects it
    (L{collect}) rather than validating it.
    """

    container = dict

    def __init__(self) -> None:
        self.entries: dict[str, _Entry] = {}

    def add(self, key: str, go: str, node: Node, target: str) -> None:
        """
        Declare a setting at the dotted C{key} (Go names C{go}).
        """
        head, _, rest = key.partition(".")
        go_head, _, go_rest = go.partition(".")
        if not rest:
            self.entries[head] = _Entry(go_head.upper(), node, target)
            return
        if head not in self.entries:
            self.entries[head] = _Entry(go_head.upper(), Group(), None)
        self.entries[head].node.add(rest, go_rest or rest, node, target)

    def collect(self, mapping: object, key: str, warnings: Warnings, values: dict) -> None:
        """
        Check the keys present in C{mapping} into C{values}; null values count
        as absent.
        """
        if not isinstance(mapping, dict):
            raise expected(key, "a mapping", mapping)
        for name, value in mapping.items():
            entry = self.entries.get(name) if isinstance(name, str) else None
            if entry is None:
                self.other(name, value, join(key, name), warnings, values)
            elif value is None:
                continue
            elif entry.target is None:
                entry.node.collect(value, join(key, name), warnings, values)
            else:
                values[entry.target] = entry.node.validate(value, join(key, name), warnings)

    def other(
        self, name: object, value: object, key: str, warnings: Warnings, values: dict
    ) -> None:
        """
        Deal with an undeclared key: warn and ignore it.
        """
        warnings.append(f"unknown key {key} ignored")

    def locate(self, segment: str, container: object, last: bool) -> tuple[object, Node] | None:
        if not isinstance(container, dict):
            return None
        for name, entry in self.entries.items():
            if entry.go == segment:
                return name, entry.node
        return None


Finish = Callable[[dict, dict, str, Warnings], None]
"""
A section's last step: C{finish(values, mapping, key, warnings)} may check and
change C{values} (field name to value, defaults filled in, extras under their
dotted keys, to be removed) before the class is built from it; C{mapping} is the
section as written.
"""


class Section(Group):
    """
    The node for an attrs class whose fields are declared with L{setting}.

    Fields that are not settings are filled by C{finish} or take their attrs
    default.
    """

    def __init__(
        self,
        cls: type,
        *,
        finish: Finish | None = None,
        extras: Mapping[str, Node] | None = None,
        others: tuple[str, Node] | None = None,
    ) -> None:
        """
        @param cls: the attrs class.
        @param finish: the section's cross-field checks and defaults.
        @param extras: settings read from the document that are not fields
            (deprecated spellings), by dotted key; their values reach
            C{finish} under that key.
        @param others: for a section whose undeclared keys are data (storage
            driver names): the name under which C{finish} receives them as a
            dictionary, and the node checking each value.  Overrides treat
            such keys as Distribution treats map keys.
        """
        super().__init__()
        self.cls = cls
        self.finish = finish
        self.others = others
        self.fields = []
        for field in attrs.fields(cls):
            declared = field.metadata.get(_SETTING)
            if declared is not None:
                key = declared.key or field.name
                self.add(key, declared.go or key, declared.node, field.name)
                self.fields.append((field, key, declared.node))
        for key, node in (extras or {}).items():
            self.add(key, key, node, key)

    def other(
        self, name: object, value: object, key: str, warnings: Warnings, values: dict
    ) -> None:
        if self.others is None:
            super().other(name, value, key, warnings, values)
            return
        target, node = self.others
        values.setdefault(target, {})[name] = node.validate(value, key, warnings)

    def locate(self, segment: str, container: object, last: bool) -> tuple[object, Node] | None:
        found = super().locate(segment, container, last)
        if found is None and self.others is not None and isinstance(container, dict):
            return map_key(segment, container, last), self.others[1]
        return found

    def validate(self, value: object, key: str, warnings: Warnings) -> Any:
        mapping = {} if value is None else value
        values: dict = {}
        self.collect(mapping, key, warnings, values)
        for field, name, node in self.fields:
            if field.name in values:
                continue
            if isinstance(field.default, attrs.Factory):
                values[field.name] = field.default.factory()
            elif field.default is not attrs.NOTHING:
                values[field.name] = field.default
            elif isinstance(node, Section):
                values[field.name] = node.validate(None, join(key, name), warnings)
            else:
                raise ConfigError(join(key, name), "a value is required")
        if self.finish is not None:
            self.finish(values, mapping, key, warnings)
        return self.cls(**values)
