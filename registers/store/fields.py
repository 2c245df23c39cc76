"""Field indexes: finding the current records that hold a value, at any register size.

A custodian chooses which fields of a register are indexed (``postcode`` of ``address``, say).
From then on every user entry the one write path appends adds, for each indexed field, a row of
``field_value``: a 64-bit hash of each value the entry gives the field (one per member of a
list) and the entry's number. Rows are written once, like the log; an amended record's old rows
stay and simply stop matching, because a lookup joins them to ``record`` on the entry number,
which only the key's latest entry has. Hashes keep every row small whatever the values; the
caller checks the field of each record found, so a collision can never give a wrong answer.
The rows an item gives are made by ``core.field_values``; this module stores and reads them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from sqlalchemy import delete, exists, func, insert, select
from sqlalchemy.engine import Connection

from ..core.entries import Log, now_timestamp
from ..core.field_values import FieldRow, rows_for, value_hash
from . import reads
from .dialects import dialect_for
from .schema import entry, field_index, field_value, item, item_hash

BACKFILL_CHUNK = 10_000


def indexed_fields(conn: Connection, reg_id: int) -> tuple[str, ...]:
    """The register's indexed fields, in name order."""
    f = field_index.c
    return tuple(conn.execute(select(f.field).where(f.register_id == reg_id).order_by(f.field)).scalars())


def add_index(conn: Connection, reg_id: int, name: str) -> int:
    """Index field ``name`` of the register (inside the caller's write transaction): rows for
    every current record are written now, later entries add theirs as they are appended.
    Returns the rows written (0 when the field was indexed already)."""
    f = field_index.c
    if conn.execute(select(exists().where(f.register_id == reg_id, f.field == name))).scalar():
        return 0
    conn.execute(insert(field_index).values(register_id=reg_id, field=name, created=now_timestamp()))
    written, rows = 0, list[FieldRow]()
    for number, content in _current_first_items(conn, reg_id):
        rows.extend(rows_for((name,), json.loads(content), number))
        if len(rows) >= BACKFILL_CHUNK:
            written += write_rows(conn, reg_id, rows)
            rows = []
    return written + write_rows(conn, reg_id, rows)


def drop_index(conn: Connection, reg_id: int, name: str) -> bool:
    """Stop indexing field ``name``; True if it was indexed."""
    f, v = field_index.c, field_value.c
    conn.execute(delete(field_value).where(v.register_id == reg_id, v.field == name))
    return bool(conn.execute(delete(field_index).where(f.register_id == reg_id, f.field == name)).rowcount)


def write_rows(conn: Connection, reg_id: int, rows: list[FieldRow]) -> int:
    """Insert ``field_value`` rows (a value repeated within one entry is stored once)."""
    if not rows:
        return 0
    unique = list(dict.fromkeys(rows))
    p = dialect_for(conn).placeholder
    sql = f"INSERT INTO field_value (register_id, field, value_hash, entry_number) VALUES ({p}, {p}, {p}, {p})"
    conn.exec_driver_sql(sql, [(reg_id, *row) for row in unique])
    return len(unique)


def holders(conn: Connection, reg_id: int, name: str, value: str, before: int | None, limit: int) -> list[Any]:
    """Up to ``limit`` current user records whose latest entry indexed ``value`` for field
    ``name``, newest first (entry numbers below ``before``, when given): rows of number,
    timestamp, key, item_hashes and the first item's content."""
    v, e, h, i = field_value.c, entry.c, item_hash.c, item.c
    query = (
        select(e.number, e.timestamp, e.key, e.item_hashes, i.content)
        .join_from(
            field_value,
            entry,
            (e.register_id == v.register_id) & (e.log == int(Log.USER)) & (e.number == v.entry_number),
        )
        .join(item_hash, (h.register_id == e.register_id) & (h.hash == func.substr(e.item_hashes, 1, 32)))
        .join(item, i.id == h.item_id)
        .where(v.register_id == reg_id, v.field == name, v.value_hash == value_hash(value), reads.CURRENT)
        .order_by(v.entry_number.desc())
        .limit(limit)
    )
    if before is not None:
        query = query.where(v.entry_number < before)
    return list(conn.execute(query).all())


def _current_first_items(conn: Connection, reg_id: int) -> Iterator[tuple[int, bytes]]:
    """(entry number, first item's bytes) of every current user record, streamed."""
    sql = (
        "SELECT e.number, i.content FROM entry e "
        "JOIN item_hash h ON h.register_id = e.register_id AND h.hash = substr(e.item_hashes, 1, 32) "
        "JOIN item i ON i.id = h.item_id "
        "WHERE e.register_id = {p} AND e.log = 0 AND e.number = (SELECT r.entry_number FROM record r "
        "WHERE r.register_id = e.register_id AND r.log = e.log AND r.key = e.key) ORDER BY e.number"
    )
    for rows in reads.stream_rows(conn, sql, (reg_id,)):
        for number, content in rows:
            yield int(number), reads.stored_bytes(content)
