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

# A staged batch past the entries the register already holds mostly adds items it lacks: it stores
# them all, unprobed, and the merge keeps the first copy of any it had (see _DROP_SECOND_COPIES).
_SQLITE_ALL_ITEMS = (  # items in the order given (their ids are their places)
    "INSERT INTO item (register_id, hash, content) "
    "SELECT ?1, substr(?2, j.key * 32 + 1, 32), "
    "substr(?3, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]')) "
    "FROM json_each(?4) AS j"
)
_SQLITE_ITEMS = (  # ... only those the register lacks
    _SQLITE_ALL_ITEMS + " WHERE NOT EXISTS "
    "(SELECT 1 FROM item_hash h WHERE h.register_id = ?1 AND h.hash = substr(?2, j.key * 32 + 1, 32))"
)
_SQLITE_ITEM_HASHES = (  # ... and their digests (? = the last item id before them)
    "INSERT INTO item_hash (register_id, hash, item_id) SELECT register_id, hash, id FROM item WHERE id > ? "
    "ORDER BY hash"
)
_SQLITE_ENTRIES = (
    "INSERT INTO entry (register_id, log, number, key, timestamp, item_hashes) "
    "SELECT ?1, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]'), "
    "json_extract(j.value, '$[3]'), substr(?2, json_extract(j.value, '$[4]'), json_extract(j.value, '$[5]')) "
    "FROM json_each(?3) AS j"
)
_SQLITE_ENTRY_KEYS = (
    "INSERT INTO entry_key (register_id, log, key, number) "
    "SELECT ?1, j.value ->> 0, j.value ->> 1, j.value ->> 2 FROM json_each(?2) AS j"
)
_SQLITE_RECORDS = (
    "INSERT INTO record (register_id, log, key, entry_number) "
    "SELECT ?1, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]') "
    "FROM json_each(?2) AS j WHERE true "
    "ON CONFLICT (register_id, log, key) DO UPDATE SET entry_number = excluded.entry_number"
)
_PG_ITEMS = (  # a data-modifying WITH: items (those the register lacks, or all), their ids returned
    "WITH new AS (INSERT INTO item (register_id, hash, content) "
    "SELECT %b, h, c FROM unnest(%b::bytea[], %b::bytea[]) WITH ORDINALITY AS t(h, c, o) "
    "{} ORDER BY o RETURNING hash, id) "
)
_PG_NEW_ITEMS = _PG_ITEMS.format(
    "WHERE NOT EXISTS (SELECT 1 FROM item_hash x WHERE x.register_id = %b AND x.hash = t.h)"
)
_PG_ALL_ITEMS = _PG_ITEMS.format("")
_PG_ITEM_HASHES = "INSERT INTO item_hash (register_id, hash, item_id) SELECT %b, hash, id FROM new ORDER BY hash"
_PG_ITEM_STAGE = "INSERT INTO item_stage (hash, item_id) SELECT hash, id FROM new"
_PG_ENTRIES = (  # a plain append under the register's lock: nothing to merge, so COPY
    "COPY entry (register_id, log, number, key, timestamp, item_hashes) FROM STDIN (FORMAT BINARY)",
    ("int4", "int2", "int8", "text", "varchar", "bytea"),
)
_PG_ENTRY_KEYS = (
    "COPY entry_key (register_id, log, key, number) FROM STDIN (FORMAT BINARY)",
    ("int4", "int2", "text", "int8"),
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
# A small PostgreSQL chunk (an amend, a change entry) inserts its rows from arrays: a COPY costs
# two round trips where a statement costs one, and a small write is all round trips.
SMALL_CHUNK = 100
_PG_SMALL_ENTRIES = (
    "INSERT INTO entry (register_id, log, number, key, timestamp, item_hashes) SELECT %s, l, n, k, t, h "
    "FROM unnest(%s::smallint[], %s::bigint[], %s::text[], %s::varchar[], %s::bytea[]) AS u(l, n, k, t, h)"
)
_PG_SMALL_ENTRY_KEYS = (
    "INSERT INTO entry_key (register_id, log, key, number) SELECT %s, l, k, n "
    "FROM unnest(%s::smallint[], %s::text[], %s::bigint[]) AS u(l, k, n)"
)
_PG_SMALL_FIELDS = (
    "INSERT INTO field_value (register_id, field, value_hash, entry_number) SELECT %s, f, v, n "
    "FROM unnest(%s::varchar[], %s::bigint[], %s::bigint[]) AS u(f, v, n)"
)
_PG_TILES = (  # a chunk's tiles are distinct, so one statement may upsert them all
    "INSERT INTO merkle_tile (register_id, log, level, idx, hashes) SELECT %s, l, v, i, h "
    "FROM unnest(%s::smallint[], %s::smallint[], %s::bigint[], %s::bytea[]) AS u(l, v, i, h) "
    "ON CONFLICT (register_id, log, level, idx) DO UPDATE SET hashes = excluded.hashes"
)
# A large batch (a streamed file) stages the rows of its random-order indexes (item digests,
# entry keys, the record index, indexed field values) in temporary tables and merges them at
# the end in index order: each leaf page of those indexes is then written once per batch, not
# once per row (at ten million entries nearly every row's page had fallen out of the cache
# since the last write to it, and was written to the WAL again and again).
SORT_CACHE = -16384  # KiB: SQLite's page cache and sort memory while staged rows are merged
_STAGE_TABLES = {
    "entry_stage": ("log", "key", "number"),
    "field_stage": ("field", "value_hash", "entry_number"),
    "item_stage": ("hash", "item_id"),
}
_SQLITE_STAGE = {
    "entry_stage": "CREATE TEMP TABLE IF NOT EXISTS entry_stage (log INTEGER, key TEXT, number INTEGER)",
    "field_stage": "CREATE TEMP TABLE IF NOT EXISTS field_stage (field TEXT, value_hash INTEGER, entry_number INTEGER)",
    "item_stage": "CREATE TEMP TABLE IF NOT EXISTS item_stage (hash BLOB, item_id INTEGER)",
}
_PG_STAGE = {
    "entry_stage": "CREATE TEMP TABLE IF NOT EXISTS entry_stage (log smallint, key text, number bigint)",
    "field_stage": "CREATE TEMP TABLE IF NOT EXISTS field_stage (field text, value_hash bigint, entry_number bigint)",
    "item_stage": "CREATE TEMP TABLE IF NOT EXISTS item_stage (hash bytea, item_id bigint)",
}
_PG_STAGE_TYPES = {"entry_stage": ("int2", "text", "int8"), "field_stage": ("text", "int8", "int8")}
# Keys of the user log (0) that the record index lacks: counted after the stage is indexed and
# before the record merge, walking the stage and the record index in the same (key) order. A
# scalar subquery, so a planner with stale statistics probes the index rather than hashing it.
_NEW_USER_KEYS = (
    "SELECT count(*) FROM (SELECT DISTINCT key FROM entry_stage WHERE log = 0) AS s "
    "WHERE (SELECT r.entry_number FROM record r WHERE r.register_id = ? AND r.log = 0 AND r.key = s.key) IS NULL"
)
_MERGE = {  # ? is the register id (%s on PostgreSQL); each table's statements in order
    "entry_stage": (  # one sort (the index) serves both statements, which then read it in order
        "CREATE INDEX entry_stage_order ON entry_stage (log, key, number)",
        "INSERT INTO entry_key (register_id, log, key, number) "
        "SELECT ?, log, key, number FROM entry_stage ORDER BY log, key, number",
        _NEW_USER_KEYS,
        "INSERT INTO record (register_id, log, key, entry_number) "
        "SELECT ?, log, key, max(number) FROM entry_stage WHERE true GROUP BY log, key ORDER BY log, key "
        "ON CONFLICT (register_id, log, key) DO UPDATE SET entry_number = excluded.entry_number",
    ),
    "field_stage": (  # rows are distinct but for 64-bit hash collisions, which the conflict drops
        "INSERT INTO field_value (register_id, field, value_hash, entry_number) "
        "SELECT ?, field, value_hash, entry_number FROM field_stage WHERE true "
        "ORDER BY 2, 3, 4 ON CONFLICT DO NOTHING",
    ),
    "item_stage": (  # the first of an item added twice in the batch wins (the order first added)
        "INSERT INTO item_hash (register_id, hash, item_id) "
        "SELECT ?, hash, item_id FROM item_stage WHERE true ORDER BY hash, item_id ON CONFLICT DO NOTHING",
    ),
}
# An item the batch added twice (in chunks apart) was stored twice: the later copies go.
_DROP_SECOND_COPIES = (
    "DELETE FROM item WHERE id IN (SELECT s.item_id FROM item_stage s WHERE NOT EXISTS "
    "(SELECT 1 FROM item_hash h WHERE h.register_id = ? AND h.hash = s.hash AND h.item_id = s.item_id))"
)
_STAGED_CONTENTS = (
    "SELECT s.hash, i.content FROM item_stage s JOIN item i ON i.id = s.item_id WHERE s.hash IN ({})"
)
_UPSERT_TILE = (
    "INSERT INTO merkle_tile (register_id, log, level, idx, hashes) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (register_id, log, level, idx) DO UPDATE SET hashes = excluded.hashes"
)


@dataclass(frozen=True)
class _Copy:
    """Rows for a PostgreSQL ``COPY … FROM STDIN (FORMAT BINARY)`` of the given column types."""

    types: tuple[str, ...]
    rows: list[tuple[Any, ...]]


@dataclass(frozen=True)
class _NewItems:
    """Items to store unless the register holds them, then their digests to index or stage."""

    digests: list[bytes]
    contents: list[bytes]
    staged: bool
    probe: bool  # store only those item_hash lacks (else all: staged only, the merge drops copies)


@dataclass
class Chunk:
    """The rows one write adds: items, entries, record index updates, changed tiles and
    indexed field values."""

    items: list[tuple[bytes, bytes]] = field(default_factory=list)  # (digest, canonical bytes)
    entries: list[tuple[int, int, str, str, bytes]] = field(default_factory=list)  # log, number, key, ts, hashes
    records: list[tuple[int, str, int]] = field(default_factory=list)  # log, key, entry number
    tiles: list[tuple[int, int, int, bytes]] = field(default_factory=list)  # log, level, index, hashes
    fields: list[tuple[str, int, int]] = field(default_factory=list)  # indexed field, value hash, entry number
    # whether the items may be ones the register holds (False lets a staged batch skip the probe)
    probe_items: bool = True


Statement = tuple[str, Any]


def _columns(rows: list[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """``rows`` as ``width`` column lists (arrays for ``unnest``)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


class BulkWriter:
    """Writes chunks of one register on one connection, inline or on a worker thread."""

    def __init__(self, conn: Connection, register_id: int, background: bool = False, staged: bool = False) -> None:
        self.conn = conn
        self.register_id = register_id
        self.postgresql = conn.dialect.name == "postgresql"
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="registers-write") if background else None
        self._inflight: Future[None] | None = None
        self.staged = staged  # index rows wait in temporary tables until merge_staged
        self._stages: set[str] = set()  # the temporary tables made so far
        self._stage_indexed = False  # item_stage has an index on its digests (made when first needed)
        self._keys: list[tuple[int, str, int]] = []  # the chunk being submitted: (log, key, number), sorted

    def merge_staged(self) -> int | None:
        """Write the staged index rows into their tables, in index order, and drop the
        temporary tables (a rollback drops them too). Call it before anything reads those
        tables; the batch then goes on writing directly. Returns how many of the staged user
        keys the record index did not hold before (None when no entries were staged)."""
        new_keys = None
        self.wait()
        cursor = self._cursor()
        cache = None
        try:
            if not self.postgresql and self._stages:
                # SQLite sorts in memory up to the page cache's size before it spills to temporary
                # files; the merge reads its index in order and needs little cache, so both are
                # held to SORT_CACHE while it runs (the load's peak memory stays flat).
                cache = cursor.execute("PRAGMA cache_size").fetchone()[0]
                cursor.execute(f"PRAGMA cache_size = {SORT_CACHE}")
            for table in sorted(self._stages):
                for merge in _MERGE[table]:
                    cursor.execute(self._sql(merge), (self.register_id,) * merge.count("?"))  # every ? is the register
                    if merge is _NEW_USER_KEYS:
                        new_keys = int(cursor.fetchone()[0])
                if table == "item_stage":
                    merged = cursor.rowcount
                    cursor.execute("SELECT count(*) FROM item_stage")
                    if cursor.fetchone()[0] != merged:  # rare: a file that adds an item twice, far apart
                        cursor.execute(self._sql(_DROP_SECOND_COPIES), (self.register_id,))
                cursor.execute(f"DROP TABLE {table}")
        finally:
            if cache is not None:
                cursor.execute(f"PRAGMA cache_size = {int(cache)}")
            cursor.close()
        self._stages.clear()
        self._stage_indexed = False
        self.staged = False
        return new_keys

    def staged_contents(self, digests: list[bytes]) -> dict[bytes, bytes]:
        """The bytes of those of ``digests`` this batch has staged (added in an earlier chunk and
        not yet in ``item_hash``). The first call indexes the staged digests (one sort); a file
        whose entries use only items added just before them never needs it."""
        if "item_stage" not in self._stages or not digests:
            return {}
        self.wait()
        cursor = self._cursor()
        found: dict[bytes, bytes] = {}
        try:
            if not self._stage_indexed:
                cursor.execute("CREATE INDEX item_stage_by_hash ON item_stage (hash)")
                self._stage_indexed = True
            for start in range(0, len(digests), 500):
                chunk = digests[start : start + 500]
                cursor.execute(self._sql(_STAGED_CONTENTS.format(", ".join("?" * len(chunk)))), chunk)
                found.update((bytes(digest), bytes(content)) for digest, content in cursor.fetchall())
        finally:
            cursor.close()
        return found

    def submit(self, chunk: Chunk) -> None:
        """Write ``chunk``: now, or in the background once the previous chunk is written.

        Rows written straight into a random-order index go in that index's order, so a chunk
        walks each B-tree page by page (unless staged, where the merge orders them)."""
        self.wait()
        self._keys = [(log, key, number) for log, number, key, _t, _d in chunk.entries]
        if not self.staged:  # staged rows are put in order by the merge
            chunk.records.sort()
            chunk.fields.sort()
            self._keys.sort()  # entry_key order
        statements = self._pg_statements(chunk) if self.postgresql else self._sqlite_statements(chunk)
        if not statements:
            return
        if self._executor is None:
            self._run(statements)
        else:
            self._inflight = self._executor.submit(self._run, statements)

    def _sqlite_statements(self, chunk: Chunk) -> list[Statement]:
        reg = self.register_id
        out: list[Statement] = []
        if chunk.items:
            out += self._stage_created("item_stage")
            out.append(("", self._items(chunk)))
        if chunk.entries:
            rows, start = [], 1
            for log, number, key, timestamp, digests in chunk.entries:
                rows.append((log, number, key, timestamp, start, len(digests)))
                start += len(digests)
            packed = b"".join(e[4] for e in chunk.entries)
            out.append((_SQLITE_ENTRIES, (reg, packed, orjson.dumps(rows).decode())))
            if self.staged:
                out += self._stage("entry_stage", self._keys)
            else:
                out.append((_SQLITE_ENTRY_KEYS, (reg, orjson.dumps(self._keys).decode())))
        if chunk.records and not self.staged:  # staged: the merge finds them in entry_stage
            out.append((_SQLITE_RECORDS, (reg, orjson.dumps(chunk.records).decode())))
        if chunk.tiles:
            out.append((_UPSERT_TILE, [(reg, *tile) for tile in chunk.tiles]))
        if chunk.fields and self.staged:
            out += self._stage("field_stage", chunk.fields)
        elif chunk.fields:
            out.append((_SQLITE_FIELDS, (reg, orjson.dumps(chunk.fields).decode())))
        return out

    def _stage_created(self, table: str) -> list[Statement]:
        """The statement that makes the temporary table, if the batch is staged and has not yet."""
        if not self.staged or table in self._stages:
            return []
        self._stages.add(table)
        return [((_PG_STAGE if self.postgresql else _SQLITE_STAGE)[table], ())]

    def _stage(self, table: str, rows: list[Any]) -> list[Statement]:
        """The statements that add ``rows`` to the temporary table (made on first use)."""
        out = self._stage_created(table)
        a, b, c = _STAGE_TABLES[table]
        if self.postgresql:
            copy = f"COPY {table} ({a}, {b}, {c}) FROM STDIN (FORMAT BINARY)"
            out.append((copy, _Copy(_PG_STAGE_TYPES[table], rows)))
        else:
            insert = f"INSERT INTO {table} ({a}, {b}, {c}) SELECT j.value ->> 0, j.value ->> 1, j.value ->> 2 "
            out.append((insert + "FROM json_each(?) AS j", (orjson.dumps(rows).decode(),)))
        return out

    def _pg_statements(self, chunk: Chunk) -> list[Statement]:
        reg = self.register_id
        out: list[Statement] = []
        if chunk.items:
            out += self._stage_created("item_stage")
            out.append(("", self._items(chunk)))
        small = len(chunk.entries) <= SMALL_CHUNK
        if chunk.entries:
            if small:
                out.append((_PG_SMALL_ENTRIES, (reg, *_columns(chunk.entries, 5))))
            else:
                out.append((_PG_ENTRIES[0], _Copy(_PG_ENTRIES[1], [(reg, *row) for row in chunk.entries])))
            if self.staged:
                out += self._stage("entry_stage", self._keys)
            elif small:
                out.append((_PG_SMALL_ENTRY_KEYS, (reg, *_columns(self._keys, 3))))
            else:
                out.append((_PG_ENTRY_KEYS[0], _Copy(_PG_ENTRY_KEYS[1], [(reg, *row) for row in self._keys])))
        if chunk.records and not self.staged:
            out.append((_PG_RECORDS, (reg, *_columns(chunk.records, 3))))
        if chunk.tiles:
            out.append((_PG_TILES, (reg, *_columns(chunk.tiles, 4))))
        if chunk.fields and self.staged:
            out += self._stage("field_stage", chunk.fields)
        elif chunk.fields:
            rows = list(dict.fromkeys(chunk.fields))  # 64-bit hashes may collide
            if len(rows) <= SMALL_CHUNK:
                out.append((_PG_SMALL_FIELDS, (reg, *_columns(rows, 3))))
            else:
                out.append((_PG_FIELDS[0], _Copy(_PG_FIELDS[1], [(reg, *row) for row in rows])))
        return out

    def _items(self, chunk: Chunk) -> _NewItems:
        digests, contents = [d for d, _ in chunk.items], [b for _, b in chunk.items]
        return _NewItems(digests, contents, self.staged, chunk.probe_items or not self.staged)

    def _new_items(self, cursor: Any, items: _NewItems) -> None:
        """Store the items the register lacks (or, unprobed, all), in the order given, and index
        (or stage) their digests."""
        reg = self.register_id
        if self.postgresql:
            then = (_PG_ITEM_STAGE, ()) if items.staged else (_PG_ITEM_HASHES, (reg,))
            if items.probe:
                cursor.execute(_PG_NEW_ITEMS + then[0], (reg, items.digests, items.contents, reg, *then[1]))
            else:
                cursor.execute(_PG_ALL_ITEMS + then[0], (reg, items.digests, items.contents, *then[1]))
            return
        offsets, start = [], 1
        for blob in items.contents:
            offsets.append((start, len(blob)))
            start += len(blob)
        before = cursor.execute("SELECT coalesce(max(id), 0) FROM item").fetchone()[0]
        params = (reg, b"".join(items.digests), b"".join(items.contents), orjson.dumps(offsets).decode())
        cursor.execute(_SQLITE_ITEMS if items.probe else _SQLITE_ALL_ITEMS, params)
        if items.staged:
            cursor.execute("INSERT INTO item_stage (hash, item_id) SELECT hash, id FROM item WHERE id > ?", (before,))
        else:
            cursor.execute(_SQLITE_ITEM_HASHES, (before,))

    def _sql(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.postgresql else sql

    def _cursor(self) -> Any:
        return self.conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]

    def _run(self, statements: list[Statement]) -> None:
        if self.postgresql and not any(isinstance(params, _Copy) for _sql, params in statements):
            # a small write: every statement sent at once, the answers awaited together
            with self.conn.connection.dbapi_connection.pipeline():  # type: ignore[union-attr]
                self._execute(statements)
        else:
            self._execute(statements)

    def _execute(self, statements: list[Statement]) -> None:
        cursor = self._cursor()
        try:
            for sql, params in statements:
                if isinstance(params, _NewItems):
                    self._new_items(cursor, params)
                elif isinstance(params, _Copy):
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
