"""The values a field index holds: each an indexed field's value as a 64-bit hash.

An indexed field (``postcode`` of ``address``, say) gets a ``field_value`` row per value an
entry's item gives it (one per member of a list): the field, the value's hash and the entry's
number. Hashes keep every row small whatever the value; a reader compares the field itself,
so a collision costs a row read, never a wrong answer. Pure: the append, the checker process
and the index back-fill (``store.fields``) make the same rows from the same item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from typing import Any

FieldRow = tuple[str, int, int]  # field, value hash, entry number


def value_hash(value: str) -> int:
    """The signed 64-bit hash under which ``value`` is indexed (the first 8 bytes of its SHA-256)."""
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:8], "big", signed=True)


def rows_for(fields: Iterable[str], value: dict[str, Any], number: int) -> Iterator[FieldRow]:
    """The ``field_value`` rows of entry ``number``'s item ``value``: each string (or list
    member, once) an indexed field of ``fields`` holds."""
    for name in fields:
        held = value.get(name)
        members = held if isinstance(held, list) else [held]
        for member in dict.fromkeys(m for m in members if isinstance(m, str)):
            yield name, value_hash(member), number
