"""Items: canonical JSON bytes and the v1 item hash.

An item is a JSON object whose values are strings, or lists of strings for fields of
cardinality ``n``. Its identity is ``sha-256:`` + the hex SHA-256 of its canonical JSON:
keys sorted, no whitespace, raw UTF-8, ``/`` unescaped, control characters as the short
escapes or ``\\u00XX`` with upper-case hex.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any, cast

import orjson

HASH_PREFIX = "sha-256:"
_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
# Either an escaped backslash (kept) or a \u00xx escape (hex upper-cased); matching escaped
# backslashes first stops a literal "\\u00ab" in a value from being mistaken for an escape.
_ESCAPE = re.compile(r"\\\\|\\u00[0-9a-f]{2}")
_ESCAPE_BYTES = re.compile(rb"\\\\|\\u00[0-9a-f]{2}")

Item = Mapping[str, "str | list[str]"]
_STRINGS = {str}


class InvalidItem(ValueError):
    """Bytes or a value that is not a v1 item; the message says why."""


def _upper_escape(match: re.Match[str]) -> str:
    text = match.group(0)
    return text if text == "\\\\" else "\\u00" + text[4:].upper()


def _upper_escape_bytes(match: re.Match[bytes]) -> bytes:
    text = match.group(0)
    return text if text == b"\\\\" else b"\\u00" + text[4:].upper()


def canonical_json(item: Item) -> bytes:
    """The canonical JSON bytes of ``item`` (the bytes that are hashed and stored).

    Raises InvalidItem if ``item`` is not an object of strings and lists of strings.
    orjson writes the same bytes as ``canonical_json_reference`` (keys sorted by code point,
    compact, raw UTF-8, short escapes) but for the case of ``\\u00XX`` hex, fixed here; the
    tests hold the two to the same output. It is used because it is about seven times faster.
    """
    check_item_shape(item)
    try:
        blob = orjson.dumps(item, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError as exc:  # lone surrogates cannot be written as UTF-8
        raise InvalidItem(f"item holds a character that is not valid Unicode ({exc})") from None
    if b"\\" in blob:
        blob = _ESCAPE_BYTES.sub(_upper_escape_bytes, blob)
    return blob


def canonical_json_reference(item: Item) -> bytes:
    """The canonical bytes by the standard library alone (the definition the tests check against)."""
    check_item_shape(item)
    text = _ENCODER.encode(item)
    if "\\" in text:
        text = _ESCAPE.sub(_upper_escape, text)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidItem(f"item holds a character that is not valid Unicode: {exc.reason}") from None


def check_item_shape(item: Any) -> None:
    """Raise InvalidItem unless ``item`` is a JSON object of strings or lists of strings."""
    if type(item) is dict and set(map(type, item.values())) <= _STRINGS:
        return  # the common shape (every value a string), checked without a Python loop
    if not isinstance(item, dict):
        raise InvalidItem("an item must be a JSON object")
    for name, value in item.items():
        if type(value) is str or isinstance(value, str):
            continue
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            continue
        raise InvalidItem(f"field '{name}' must be a string or a list of strings")


def parse_canonical(blob: bytes) -> dict[str, Any]:
    """Parse item bytes, insisting that they are already canonical.

    Returns the item; raises InvalidItem naming the problem (bad UTF-8, bad JSON, wrong
    shape, or bytes that differ from the canonical form).
    """
    try:
        item = orjson.loads(blob)
    except orjson.JSONDecodeError:
        try:
            text = blob.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidItem(f"item is not valid UTF-8 (byte {exc.start})") from None
        try:
            json.loads(text)  # for its message (bytes would have their encoding guessed)
        except (json.JSONDecodeError, RecursionError) as exc:
            raise InvalidItem(f"item is not valid JSON: {getattr(exc, 'msg', 'too deeply nested')}") from None
        raise InvalidItem("item is not valid JSON") from None
    if canonical_json(item) != blob:
        raise InvalidItem("item JSON is not canonical (keys sorted, no spaces, raw UTF-8)")
    return cast(dict[str, Any], item)


def item_digest(blob: bytes) -> bytes:
    """The raw 32-byte SHA-256 of canonical item bytes."""
    return hashlib.sha256(blob).digest()


def hash_text(digest: bytes) -> str:
    """``sha-256:<hex>`` for a raw 32-byte digest."""
    return HASH_PREFIX + digest.hex()


def parse_hash(text: str) -> bytes:
    """The raw digest of a ``sha-256:<64 lower-case hex>`` string; ValueError otherwise."""
    if len(text) == 72 and text.startswith(HASH_PREFIX):
        try:
            digest = bytes.fromhex(text[8:])
        except ValueError:
            pass
        else:
            if len(digest) == 32 and digest.hex() == text[8:]:  # lower case, no spaces
                return digest
    raise ValueError(f"'{text}' is not a sha-256 hash (sha-256: and 64 lower-case hex digits)")


def item_hash(item: Item) -> str:
    """The v1 item hash, ``sha-256:<hex>``, of an item given as a mapping."""
    return hash_text(item_digest(canonical_json(item)))
