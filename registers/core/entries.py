"""Entries: the v1 entry, its Merkle leaf bytes, and the rules for keys and timestamps."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import IntEnum
from typing import Any

import orjson

from .items import hash_text


class Log(IntEnum):
    """The two logs of a register, numbered independently."""

    USER = 0
    SYSTEM = 1

    @property
    def label(self) -> str:
        """``user`` or ``system``, as written in RSF."""
        return self.name.lower()

    @classmethod
    def from_label(cls, label: str) -> Log:
        """The log named ``user`` or ``system``; ValueError otherwise."""
        try:
            return cls[label.upper()]
        except KeyError:
            raise ValueError(f"'{label}' is not a log (user or system)") from None


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of a log: number (from 1), timestamp, key and the hashes of its items."""

    log: Log
    number: int
    timestamp: str
    key: str
    digests: tuple[bytes, ...]

    @property
    def item_hashes(self) -> list[str]:
        """The item hashes as ``sha-256:<hex>`` strings."""
        return [hash_text(d) for d in self.digests]

    def leaf(self) -> bytes:
        """The v1 Merkle leaf bytes of this entry (member order fixed, numbers as strings)."""
        return leaf_bytes(self.number, self.timestamp, self.key, self.digests)

    def same_content(self, other: Entry) -> bool:
        """True when both entries carry the same timestamp, key and items."""
        return (self.timestamp, self.key, self.digests) == (other.timestamp, other.key, other.digests)


def entry_json(entry: Entry) -> dict[str, Any]:
    """The v1 entry: numbers as strings, item hashes as a list."""
    return {
        "index-entry-number": str(entry.number),
        "entry-number": str(entry.number),
        "entry-timestamp": entry.timestamp,
        "key": entry.key,
        "item-hash": entry.item_hashes,
    }


def record_json(entry: Entry, items: list[dict[str, Any]]) -> dict[str, Any]:
    """The v1 record: the entry's fields with its items in place of their hashes."""
    return {
        "index-entry-number": str(entry.number),
        "entry-number": str(entry.number),
        "entry-timestamp": entry.timestamp,
        "key": entry.key,
        "item": items,
    }


def record_json_bytes(number: int, timestamp: str, key: str, contents: tuple[bytes, ...]) -> bytes:
    """The v1 answer for one record, ``{key: record}``, as bytes, with the items' stored
    canonical bytes placed as they are (the same JSON ``record_json`` gives, without
    parsing the items)."""
    n = str(number)
    fields = orjson.dumps({"index-entry-number": n, "entry-number": n, "entry-timestamp": timestamp, "key": key})
    return b"{" + orjson.dumps(key) + b":" + fields[:-1] + b',"item":[' + b",".join(contents) + b"]}}"


def leaf_bytes(number: int, timestamp: str, key: str, digests: tuple[bytes, ...]) -> bytes:
    """The v1 leaf JSON: index-entry-number, entry-number, entry-timestamp, key, item-hash."""
    if len(digests) == 1:
        hashes = f'"sha-256:{digests[0].hex()}"'
    else:
        hashes = ",".join(f'"sha-256:{d.hex()}"' for d in digests)
    # Valid keys need no JSON escaping; anything else is escaped as JSON would.
    key_json = f'"{key}"' if _PLAIN_KEY.fullmatch(key) else json.dumps(key, ensure_ascii=False)
    return (
        f'{{"index-entry-number":"{number}","entry-number":"{number}","entry-timestamp":"{timestamp}",'
        f'"key":{key_json},"item-hash":[{hashes}]}}'
    ).encode()


REGISTER_NAME = re.compile(r"[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,99}")  # lower-case letters, digits, single hyphens
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_./:-]+")
_USER_KEY = re.compile(r"[A-Za-z0-9]+(?:[-_./][A-Za-z0-9]+)*[-_./]?")
# A well-formed system key: no white space (any Unicode space, line or paragraph separator) and
# no control character (C0, DEL, C1)
_SYSTEM_KEY = re.compile(r"[^\s\x00-\x1f\x7f-\x9f]+")
_KNOWN_SYSTEM_KEY = re.compile(r"name|register-name|custodian|change|register:.+|field:.+")
KNOWN_SYSTEM_KEYS = "name, register-name, custodian, change, register:<id>, field:<name>"
_TIMESTAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z")


def key_problem(log: Log, key: str) -> str | None:
    """Why ``key`` is not a valid key for ``log``, or None when it is.

    A user key follows the v1 key rule. A system key must be well-formed: one or more
    characters, none of them white space (any Unicode space, tab, line or paragraph separator)
    or a control character (U+0000-U+001F, U+007F-U+009F). Such a key cannot split an RSF line
    or its fields, and is written into a leaf as JSON text, so it reads back and hashes the
    same. A well-formed key the platform does not know (``known_system_key``) is still a key:
    GOV.UK's servers accepted them, so a published dump holding one loads as it is (where it
    is reported as a finding: ``store.checks``)."""
    if log is Log.USER:
        if not _USER_KEY.fullmatch(key):
            return (
                f"key '{key}' is not valid (a letter or digit, then letters, digits and "
                "single . _ / -)"
            )
        return None
    if not _SYSTEM_KEY.fullmatch(key):
        return f"system key '{key}' is not well-formed (one or more characters, no white space or control characters)"
    return None


def known_system_key(key: str) -> bool:
    """Whether ``key`` (a well-formed system key) is one the platform reads: ``name``,
    ``register-name``, ``custodian``, ``change``, ``register:<id>`` or ``field:<name>``."""
    return _KNOWN_SYSTEM_KEY.fullmatch(key) is not None


def timestamp_problem(timestamp: str) -> str | None:
    """Why ``timestamp`` is not an entry timestamp (``YYYY-MM-DDThh:mm:ssZ``), or None."""
    match = _TIMESTAMP.fullmatch(timestamp)
    if not match:
        return f"timestamp '{timestamp}' is not YYYY-MM-DDThh:mm:ssZ"
    try:
        year, month, day, hour, minute, second = (int(g) for g in match.groups())
        datetime(year, month, day, hour, minute, second)
    except ValueError:
        return f"timestamp '{timestamp}' is not a real date and time"
    return None


def now_timestamp() -> str:
    """The current UTC time as an entry timestamp."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
