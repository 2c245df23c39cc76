"""Checking a run of new entries: what their items break, the links they make, their indexed values.

The append checks every new user entry with the register's item rules (``core.validation``),
notes the first line naming each link target (checked against the store once the batch is
written, so a file may link forward within itself) and makes the ``field_value`` rows of its
indexed fields. ``check_entries`` does all three for a run of entries and is pure, so the
answer is the same in the loading process or in the checker process beside it
(``store.checker``), which imports nothing but this layer.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from .definitions import Definition
from .field_values import FieldRow, rows_for
from .validation import ItemCheck, link_targets, linking_fields

EntryToCheck = tuple[int, str, int, bytes]  # line, key, entry number, canonical item bytes


@dataclass
class Checked:
    """What checking a run of entries found: findings ``(line, message, key)`` in entry
    order, the first ``(line, field, key)`` naming each link target (by register, then
    target key), and the indexed fields' ``field_value`` rows."""

    findings: list[tuple[int, str, str]]
    links: dict[str, dict[str, tuple[int, str, str]]]
    field_rows: list[FieldRow]


def check_entries(
    register: str,
    definition: Definition | None,
    check: ItemCheck | None,
    index_fields: tuple[str, ...],
    entries: Iterable[EntryToCheck],
) -> Checked:
    """Check each ``(line, key, entry number, canonical item bytes)`` of register ``register``
    with ``check`` (the rules of ``definition``; nothing when None) and note its indexed
    field values. Pure: the same answer in this process or in a checker process."""
    found = Checked([], {}, [])
    linking = linking_fields(definition) if definition is not None else ()
    for line, key, number, blob in entries:
        value = orjson.loads(blob)  # stored and batch items are canonical JSON
        if index_fields:
            found.field_rows.extend(rows_for(index_fields, value, number))
        if definition is None or check is None:
            continue
        for finding in check(key, value):
            found.findings.append((line, finding.message, key))
        for field, target_register, target in link_targets(definition, value, linking):
            if field == definition.key_field:
                continue  # a record's own key: it exists once the batch is written
            if target_register == definition.register:  # itself, whatever name it is loaded under
                target_register = register
            found.links.setdefault(target_register, {}).setdefault(target, (line, field, key))
    return found
