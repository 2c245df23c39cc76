"""Every current record of a register as a file, made as it is sent: CSV (the v1 records table:
``index-entry-number``, ``entry-number``, ``entry-timestamp``, ``key``, then every field; a list
joined with ``;``) or JSON lines (a v1 record object a line), newest first, in chunks of about
``RECORDS_PER_CHUNK`` records, a page of rows read at a time (flat memory at any size)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import orjson
from sqlalchemy.engine import Connection

from ..core.entries import record_json
from ..store import records

RECORDS_PER_CHUNK = 1000  # records a chunk, and rows a statement


def _pages(conn: Connection, reg_id: int) -> Iterator[list[tuple[int, str, str, bytes, bytes | None]]]:
    before: int | None = None
    while True:
        page = records.record_rows(conn, reg_id, RECORDS_PER_CHUNK, None, before)
        if page:
            yield page
        if len(page) < RECORDS_PER_CHUNK:
            return
        before = page[-1][0]


def _cell(value: Any) -> Any:
    """A field's value as a CSV cell: a list joined with ';' (nothing, None, is written empty)."""
    return ";".join(value) if isinstance(value, list) else value


def records_csv_chunks(conn: Connection, reg_id: int, fields: list[str]) -> Iterator[bytes]:
    """Every current record as CSV (UTF-8, CRLF), its header first, in chunks. Each record's
    (first) item was checked against its digest as it was read (StoredItemCorrupt)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["index-entry-number", "entry-number", "entry-timestamp", "key", *fields])
    for page in _pages(conn, reg_id):
        lines = []
        for number, timestamp, key, _hashes, blob in page:
            item = {} if blob is None else orjson.loads(blob)
            cells = [number, number, timestamp, key, *map(item.get, fields)]
            if blob is not None and b'":[' in blob:  # a list value (or those bytes in a text): join lists
                cells = [_cell(c) for c in cells]
            lines.append(cells)
        writer.writerows(lines)
        yield out.getvalue().encode()
        out.seek(0)
        out.truncate()
    yield out.getvalue().encode()


def records_jsonl_chunks(conn: Connection, reg_id: int) -> Iterator[bytes]:
    """Every current record as a line of JSON (the v1 record object: entry fields and every
    item), in chunks; items checked as they are read (StoredItemCorrupt)."""
    before: int | None = None
    while True:
        page = records.record_page(conn, reg_id, RECORDS_PER_CHUNK, None, before)
        yield b"".join(orjson.dumps(record_json(rec.entry, rec.items)) + b"\n" for rec in page)
        if len(page) < RECORDS_PER_CHUNK:
            return
        before = page[-1].entry.number
