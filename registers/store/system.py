"""A register's system records: its name, custodian, and the definitions of its fields.

They are read from the system log's current records, like any other records, and are small
(metadata only). A read at a known state is remembered by the system log's root: the root
fixes every system entry and item, so the records it gives are the same in any database that
has that root, and a definition read for a request or an append at that state is not read again.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..core.entries import Log
from . import reads
from .schema import entry, record

SystemRecords = dict[str, dict[str, Any]]  # system key -> its item

_SYSTEM_BY_ROOT: dict[bytes, SystemRecords] = {}
_SYSTEM_REMEMBERED = 256


def system_records(conn: Connection, reg_id: int, system_root: bytes | None = None) -> SystemRecords:
    """A register's current system records as ``key -> item``, as a new dict the caller may
    change. ``system_root``, the root of the system log in the state ``conn`` reads (its latest
    checkpoint: never while a batch has appended system entries), lets the records read earlier
    for that root answer without reading them again."""
    if system_root is not None:
        known = _SYSTEM_BY_ROOT.get(system_root)
        if known is None:
            known = _read_system_records(conn, reg_id)
            if len(_SYSTEM_BY_ROOT) >= _SYSTEM_REMEMBERED:
                _SYSTEM_BY_ROOT.clear()
            _SYSTEM_BY_ROOT[system_root] = known
        return dict(known)
    return _read_system_records(conn, reg_id)


def _read_system_records(conn: Connection, reg_id: int) -> SystemRecords:
    r, e = record.c, entry.c
    rows = conn.execute(
        select(r.key, e.item_hashes)
        .join_from(record, entry, (e.register_id == r.register_id) & (e.log == r.log) & (e.number == r.entry_number))
        .where(r.register_id == reg_id, r.log == int(Log.SYSTEM))
    ).all()
    digests = {row.key: bytes(row.item_hashes)[:32] for row in rows}
    blobs = reads.item_contents(conn, reg_id, list(digests.values()))
    return {key: json.loads(blobs[d]) for key, d in digests.items() if d in blobs}
