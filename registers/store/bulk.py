"""Bulk writes for the append transaction: one set-based statement per table per chunk.

A chunk's rows travel as a few large parameters (concatenated bytes, a JSON array of the small
columns on SQLite; arrays for ``unnest`` on PostgreSQL) and the database expands them, so no
Python runs per row and the whole statement executes with the GIL released. With
``background`` the statements run on a worker thread while the next chunk is read and checked,
using the second core. At most one chunk is in flight; ``wait`` must be called before anything
else touches the connection, and it re-raises whatever the write raised.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.engine import Connection

_SQLITE_ITEMS = (
    "INSERT INTO item (register_id, hash, content) "
    "SELECT ?1, substr(?2, j.key * 32 + 1, 32), "
    "substr(?3, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]')) "
    "FROM json_each(?4) AS j WHERE true ON CONFLICT DO NOTHING"
)
_SQLITE_ENTRIES = (
    "INSERT INTO entry (register_id, log, number, key, timestamp, item_hashes) "
    "SELECT ?1, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]'), "
    "json_extract(j.value, '$[3]'), substr(?2, json_extract(j.value, '$[4]'), json_extract(j.value, '$[5]')) "
    "FROM json_each(?3) AS j"
)
_SQLITE_RECORDS = (
    "INSERT INTO record (register_id, log, key, entry_number) "
    "SELECT ?1, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]') "
    "FROM json_each(?2) AS j WHERE true "
    "ON CONFLICT (register_id, log, key) DO UPDATE SET entry_number = excluded.entry_number"
)
_PG_ITEMS = (
    "INSERT INTO item (register_id, hash, content) "
    "SELECT %b, h, c FROM unnest(%b::bytea[], %b::bytea[]) WITH ORDINALITY AS t(h, c, o) ORDER BY o "
    "ON CONFLICT DO NOTHING"
)
_PG_ENTRIES = (  # a plain append under the register's lock: nothing to merge, so COPY
    "COPY entry (register_id, log, number, key, timestamp, item_hashes) FROM STDIN (FORMAT BINARY)",
    ("int4", "int2", "int8", "text", "varchar", "bytea"),
)
_PG_RECORDS = (
    "INSERT INTO record (register_id, log, key, entry_number) "
    "SELECT %b, l, k, n FROM unnest(%b::smallint[], %b::text[], %b::bigint[]) AS u(l, k, n) "
    "ON CONFLICT (register_id, log, key) DO UPDATE SET entry_number = excluded.entry_number"
)
_SQLITE_FIELDS = (
    "INSERT INTO field_value (register_id, field, value_hash, entry_number) "
    "SELECT ?1, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]') "
    "FROM json_each(?2) AS j WHERE true ON CONFLICT DO NOTHING"
)
_PG_FIELDS = (  # new entries' values only (one row per distinct value hash of an entry): COPY
    "COPY field_value (register_id, field, value_hash, entry_number) FROM STDIN (FORMAT BINARY)",
    ("int4", "varchar", "int8", "int8"),
)
# A large batch (a streamed file) stages its record index updates and indexed field values in
# temporary tables and merges them at the end in index order: each leaf page of those two
# random-key indexes is then written once per batch, not once per row (at ten million records
# nearly every row's page had fallen out of the cache since the last write to it).
SORT_CACHE = -16384  # KiB: SQLite's page cache and sort memory while staged rows are merged
_STAGE_TABLES = {
    "record_stage": ("log", "key", "entry_number"),
    "field_stage": ("field", "value_hash", "entry_number"),
}
_SQLITE_STAGE = {
    "record_stage": "CREATE TEMP TABLE IF NOT EXISTS record_stage (log INTEGER, key TEXT, entry_number INTEGER)",
    "field_stage": "CREATE TEMP TABLE IF NOT EXISTS field_stage (field TEXT, value_hash INTEGER, entry_number INTEGER)",
}
_PG_STAGE = {
    "record_stage": "CREATE TEMP TABLE IF NOT EXISTS record_stage (log smallint, key text, entry_number bigint)",
    "field_stage": "CREATE TEMP TABLE IF NOT EXISTS field_stage (field text, value_hash bigint, entry_number bigint)",
}
_PG_STAGE_TYPES = {"record_stage": ("int2", "text", "int8"), "field_stage": ("text", "int8", "int8")}
_MERGE = {  # ? is the register id (%s on PostgreSQL)
    "record_stage": (
        "INSERT INTO record (register_id, log, key, entry_number) "
        "SELECT ?, log, key, max(entry_number) FROM record_stage WHERE true GROUP BY log, key ORDER BY log, key "
        "ON CONFLICT (register_id, log, key) DO UPDATE SET entry_number = excluded.entry_number"
    ),
    "field_stage": (
        "INSERT INTO field_value (register_id, field, value_hash, entry_number) "
        "SELECT DISTINCT ?, field, value_hash, entry_number FROM field_stage WHERE true "
        "ORDER BY 2, 3, 4 ON CONFLICT DO NOTHING"
    ),
}
_UPSERT_TILE = (
    "INSERT INTO merkle_tile (register_id, log, level, idx, hashes) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (register_id, log, level, idx) DO UPDATE SET hashes = excluded.hashes"
)


def _by_key(row: tuple[int, int, str, str, bytes]) -> tuple[int, str]:
    return row[0], row[2]  # log, key


@dataclass(frozen=True)
class _Copy:
    """Rows for a PostgreSQL ``COPY … FROM STDIN (FORMAT BINARY)`` of the given column types."""

    types: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass
class Chunk:
    """The rows one write adds: items, entries, record index updates, changed tiles and
    indexed field values."""

    items: list[tuple[bytes, bytes]] = field(default_factory=list)  # (digest, canonical bytes)
    entries: list[tuple[int, int, str, str, bytes]] = field(default_factory=list)  # log, number, key, ts, hashes
    records: list[tuple[int, str, int]] = field(default_factory=list)  # log, key, entry number
    tiles: list[tuple[int, int, int, bytes]] = field(default_factory=list)  # log, level, index, hashes
    fields: list[tuple[str, int, int]] = field(default_factory=list)  # indexed field, value hash, entry number


class BulkWriter:
    """Writes chunks of one register on one connection, inline or on a worker thread."""

    def __init__(self, conn: Connection, register_id: int, background: bool = False, staged: bool = False) -> None:
        self.conn = conn
        self.register_id = register_id
        self.postgresql = conn.dialect.name == "postgresql"
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="registers-write") if background else None
        self._inflight: Future[None] | None = None
        self.staged = staged  # records and field values wait in temporary tables until merge_staged
        self._stages: set[str] = set()  # the temporary tables made so far

    def merge_staged(self) -> None:
        """Write the staged record index updates and field values into their tables, in index
        order, and drop the temporary tables (a rollback drops them too). Call it before
        anything reads those tables; the batch then goes on writing directly."""
        self.wait()
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        cache = None
        try:
            if not self.postgresql and self._stages:
                # SQLite sorts in memory up to the page cache's size before it spills to temporary
                # files; the merge reads its index in order and needs little cache, so both are
                # held to SORT_CACHE while it runs (the load's peak memory stays flat).
                cache = cursor.execute("PRAGMA cache_size").fetchone()[0]
                cursor.execute(f"PRAGMA cache_size = {SORT_CACHE}")
            for table in sorted(self._stages, reverse=True):  # record_stage first
                merge = _MERGE[table]
                cursor.execute(merge.replace("?", "%s") if self.postgresql else merge, (self.register_id,))
                cursor.execute(f"DROP TABLE {table}")
        finally:
            if cache is not None:
                cursor.execute(f"PRAGMA cache_size = {int(cache)}")
            cursor.close()
        self._stages.clear()
        self.staged = False

    def submit(self, chunk: Chunk) -> None:
        """Write ``chunk``: now, or in the background once the previous chunk is written.

        Rows written straight into a random-key index go in that index's order, so a chunk
        walks each B-tree page by page (entries by key for ``entry_by_key``; records by key and
        field values by hash unless staged, where the merge orders them)."""
        self.wait()
        chunk.entries.sort(key=_by_key)
        if not self.staged:
            chunk.records.sort()
            chunk.fields.sort()
        statements = self._pg_statements(chunk) if self.postgresql else self._sqlite_statements(chunk)
        if not statements:
            return
        if self._executor is None:
            self._run(statements)
        else:
            self._inflight = self._executor.submit(self._run, statements)

    def _sqlite_statements(self, chunk: Chunk) -> list[tuple[str, Any]]:
        reg = self.register_id
        out: list[tuple[str, Any]] = []
        if chunk.items:
            offsets, start = [], 1
            for _digest, blob in chunk.items:
                offsets.append((start, len(blob)))
                start += len(blob)
            hashes = b"".join(d for d, _ in chunk.items)
            contents = b"".join(b for _, b in chunk.items)
            out.append((_SQLITE_ITEMS, (reg, hashes, contents, orjson.dumps(offsets).decode())))
        if chunk.entries:
            rows, start = [], 1
            for log, number, key, timestamp, digests in chunk.entries:
                rows.append((log, number, key, timestamp, start, len(digests)))
                start += len(digests)
            packed = b"".join(e[4] for e in chunk.entries)
            out.append((_SQLITE_ENTRIES, (reg, packed, orjson.dumps(rows).decode())))
        if chunk.records and self.staged:
            out += self._stage("record_stage", chunk.records)
        elif chunk.records:
            out.append((_SQLITE_RECORDS, (reg, orjson.dumps(chunk.records).decode())))
        if chunk.tiles:
            out.append((_UPSERT_TILE, [(reg, *tile) for tile in chunk.tiles]))
        if chunk.fields and self.staged:
            out += self._stage("field_stage", chunk.fields)
        elif chunk.fields:
            out.append((_SQLITE_FIELDS, (reg, orjson.dumps(chunk.fields).decode())))
        return out

    def _stage(self, table: str, rows: list[Any]) -> list[tuple[str, Any]]:
        """The statements that add ``rows`` to the temporary table (made on first use)."""
        out: list[tuple[str, Any]] = []
        if table not in self._stages:
            self._stages.add(table)
            out.append(((_PG_STAGE if self.postgresql else _SQLITE_STAGE)[table], ()))
        a, b, c = _STAGE_TABLES[table]
        if self.postgresql:
            copy = f"COPY {table} ({a}, {b}, {c}) FROM STDIN (FORMAT BINARY)"
            out.append((copy, _Copy(_PG_STAGE_TYPES[table], rows)))
        else:
            insert = f"INSERT INTO {table} ({a}, {b}, {c}) SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2 "
            out.append((insert + "FROM json_each(?) AS j", (orjson.dumps(rows).decode(),)))
        return out

    def _pg_statements(self, chunk: Chunk) -> list[tuple[str, Any]]:
        reg = self.register_id
        out: list[tuple[str, Any]] = []
        if chunk.items:
            out.append((_PG_ITEMS, (reg, [d for d, _ in chunk.items], [b for _, b in chunk.items])))
        if chunk.entries:
            out.append((_PG_ENTRIES[0], _Copy(_PG_ENTRIES[1], [(reg, *row) for row in chunk.entries])))
        if chunk.records and self.staged:
            out += self._stage("record_stage", chunk.records)
        elif chunk.records:
            logs, keys, numbers = (list(column) for column in zip(*chunk.records, strict=True))
            out.append((_PG_RECORDS, (reg, logs, keys, numbers)))
        if chunk.tiles:
            out.append((_UPSERT_TILE.replace("?", "%s"), [(reg, *tile) for tile in chunk.tiles]))
        if chunk.fields and self.staged:
            out += self._stage("field_stage", chunk.fields)
        elif chunk.fields:
            rows = list(dict.fromkeys((reg, *row) for row in chunk.fields))  # 64-bit hashes may collide
            out.append((_PG_FIELDS[0], _Copy(_PG_FIELDS[1], rows)))
        return out

    def _run(self, statements: list[tuple[str, Any]]) -> None:
        cursor = self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        try:
            for sql, params in statements:
                if isinstance(params, _Copy):
                    with cursor.copy(sql) as copy:
                        copy.set_types(list(params.types))
                        for row in params.rows:
                            copy.write_row(row)
                elif isinstance(params, list):
                    cursor.executemany(sql, params)
                else:
                    cursor.execute(sql, params)
        finally:
            cursor.close()

    def wait(self) -> None:
        """Block until the chunk in flight is written; re-raise its error."""
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            inflight.result()

    def close(self, failed: bool = False) -> None:
        """Finish the chunk in flight (its error is dropped when the batch has ``failed``)."""
        try:
            self.wait()
        except Exception:
            if not failed:
                raise
        finally:
            if self._executor is not None:
                self._executor.shutdown(wait=True)
