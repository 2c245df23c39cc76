"""The v1 datatypes: what makes a string a valid value of each.

Every value in an item is a string; a datatype narrows which strings are valid. Each checker
returns None for a valid value and otherwise the reason, phrased to follow "value 'x' ...".
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from urllib.parse import urlsplit

Checker = Callable[[str], "str | None"]

_INTEGER = re.compile(r"0|-?[1-9][0-9]*")
_DATETIME_FORMATS = {
    4: "%Y",
    7: "%Y-%m",
    10: "%Y-%m-%d",
    14: "%Y-%m-%dT%HZ",
    17: "%Y-%m-%dT%H:%MZ",
    20: "%Y-%m-%dT%H:%M:%SZ",
}
_DATETIME = re.compile(r"[0-9]{4}(-[0-9]{2}(-[0-9]{2}(T[0-9]{2}(:[0-9]{2}(:[0-9]{2})?)?Z)?)?)?")
_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
_DURATION = re.compile(
    r"P(?:([0-9]+)Y)?(?:([0-9]+)M)?(?:([0-9]+)D)?(?:T(?:([0-9]+)H)?(?:([0-9]+)M)?(?:([0-9]+)S)?)?"
)
_CURIE = re.compile(r"([a-z][a-z0-9_-]*):([A-Za-z0-9\-._~!$&'()*+,;=:@%]*)")
_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_HASH = re.compile(r"sha-256:[0-9a-f]{64}")
_POINT = re.compile(r"\[ *(-?[0-9]+(?:\.[0-9]+)?) *, *(-?[0-9]+(?:\.[0-9]+)?) *\]")


# NUL ends a C string: PostgreSQL's text cannot hold it, and a CSV, a terminal or a search index
# would cut the value short there
NUL_REASON = "holds a NUL character (U+0000), which no value may hold"


def check_string(value: str) -> str | None:
    """Any non-empty string without NUL."""
    if "\x00" in value:
        return NUL_REASON
    return None if value else "is empty"


def check_text(value: str) -> str | None:
    """A non-empty string of CommonMark (shown escaped, never as raw HTML), without NUL."""
    if "\x00" in value:
        return NUL_REASON
    return None if value.strip() else "is empty"


def check_integer(value: str) -> str | None:
    """``0`` or ``-?[1-9][0-9]*``."""
    return None if _INTEGER.fullmatch(value) else "is not a valid integer"


def parse_datetime(value: str) -> datetime | None:
    """The moment a v1 datetime names (its start), or None if it is not one."""
    if not _DATETIME.fullmatch(value):
        return None
    try:
        return datetime.strptime(value, _DATETIME_FORMATS[len(value)])
    except ValueError:
        return None


def check_datetime(value: str) -> str | None:
    """YYYY, YYYY-MM, YYYY-MM-DD, or with THHZ, THH:MMZ, THH:MM:SSZ; a real date and time."""
    return None if parse_datetime(value) else "is not a valid datetime"


def check_timestamp(value: str) -> str | None:
    """Exactly YYYY-MM-DDThh:mm:ssZ, a real date and time."""
    if _TIMESTAMP.fullmatch(value) and parse_datetime(value):
        return None
    return "is not a valid timestamp"


def _duration_ok(value: str) -> bool:
    match = _DURATION.fullmatch(value)
    if not match or value == "P" or value.endswith("T"):
        return False
    return any(part is not None for part in match.groups())


def check_period(value: str) -> str | None:
    """ISO 8601 start/end, start/duration, duration/end or duration; start before end."""
    bad = "is not a valid period"
    parts = value.split("/")
    if len(parts) == 1:
        return None if _duration_ok(value) else bad
    if len(parts) != 2:
        return bad
    first, second = parts
    start, end = parse_datetime(first), parse_datetime(second)
    if start and end:
        return None if start < end else f"{bad} (its start is not before its end)"
    if start and _duration_ok(second) or end and _duration_ok(first):
        return None
    return bad


def check_url(value: str) -> str | None:
    """An absolute http or https URL with a host name."""
    try:
        parts = urlsplit(value)
    except ValueError:
        return "is not a valid url"
    if parts.scheme in ("http", "https") and parts.hostname and " " not in value:
        return None
    return "is not a valid url (http or https, with a host name)"


def parse_curie(value: str) -> tuple[str, str] | None:
    """``(prefix, reference)`` of a CURIE, or None if ``value`` is not one."""
    match = _CURIE.fullmatch(value)
    if not match or _PERCENT.search(match.group(2)):
        return None
    return match.group(1), match.group(2)


def check_curie(value: str) -> str | None:
    """``prefix:reference``: prefix ``[a-z][a-z0-9_-]*``, reference a URL path segment."""
    return None if parse_curie(value) else "is not a valid curie (prefix:reference)"


def check_name(value: str) -> str | None:
    """A letter, then letters, digits or hyphens."""
    return None if _NAME.fullmatch(value) else "is not a valid name"


def check_hash(value: str) -> str | None:
    """``sha-256:`` and 64 lower-case hex digits."""
    return None if _HASH.fullmatch(value) else "is not a valid hash"


def check_point(value: str) -> str | None:
    """``[lon, lat]`` with decimal degrees: longitude within ±180, latitude within ±90."""
    match = _POINT.fullmatch(value)
    if not match:
        return "is not a valid point ([longitude, latitude])"
    lon, lat = float(match.group(1)), float(match.group(2))
    if -180 <= lon <= 180 and -90 <= lat <= 90:
        return None
    return "is not a valid point (longitude within ±180, latitude within ±90)"


CHECKERS: dict[str, Checker] = {
    "string": check_string,
    "text": check_text,
    "integer": check_integer,
    "datetime": check_datetime,
    "timestamp": check_timestamp,
    "period": check_period,
    "url": check_url,
    "curie": check_curie,
    "name": check_name,
    "hash": check_hash,
    "point": check_point,
}
