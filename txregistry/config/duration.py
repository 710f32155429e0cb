"""
Go's duration strings (C{time.ParseDuration}), which Distribution's
configuration uses for every interval and timeout.
"""

import re

from txregistry.config.errors import ConfigError

_UNITS = {
    "ns": 1e-9,
    "us": 1e-6,
    "\N{MICRO SIGN}s": 1e-6,
    "\N{GREEK SMALL LETTER MU}s": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
# Longer units first, so that "ms" is not read as "m" followed by "s".
_UNIT = "|".join(sorted(_UNITS, key=len, reverse=True))
_TERM = rf"(\d+\.?\d*|\.\d+)({_UNIT})"
_DURATION = re.compile(rf"([+-]?)((?:{_TERM})+|0)")
# Go keeps durations in a signed 64-bit count of nanoseconds.
_LONGEST = (2**63 - 1) * 1e-9


def parse_duration(value: object, key: str) -> float:
    """
    Read a duration the way Distribution does.

    @param value: a Go duration string (C{"300ms"}, C{"1h30m"}, C{"1.5h"},
        C{"-2m"}, C{"0"}; units C{ns us µs ms s m h}) or an integer, which
        counts nanoseconds.
    @param key: the dotted key the value was found at, for the error.
    @return: the duration in seconds.
    @raise ConfigError: for anything else.
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value * 1e-9
    if not isinstance(value, str):
        raise ConfigError(
            key, f"expected a duration such as 10s, 1h30m or 300ms, got {value!r}"
        )
    match = _DURATION.fullmatch(value)
    if match is None:
        raise ConfigError(
            key,
            f"invalid duration {value!r}: expected numbers with units "
            "(ns, us, ms, s, m, h), such as 10s, 1h30m or 300ms",
        )
    sign, body = match.group(1), match.group(2)
    seconds = sum(
        float(number) * _UNITS[unit] for number, unit in re.findall(_TERM, body)
    )
    if seconds > _LONGEST:
        raise ConfigError(key, f"duration {value!r} is too long")
    return -seconds if sign == "-" else seconds
