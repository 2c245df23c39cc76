"""PostgreSQL (psycopg 3): row locks, REPEATABLE READ snapshots, no JIT, planner statistics
refreshed after large loads, and bulk rows sent as binary arrays for ``unnest`` or by
``COPY … (FORMAT BINARY)``; a small write is sent in one pipeline.

psycopg is never imported here: SQLAlchemy loads it when a PostgreSQL engine is made."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import URL, Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ColumnElement

from ...core.field_values import FieldRow
from ..schema import register
from .base import EntryRow, Execute, KeyRow, SearchRow, TileRow, Write, dbapi_connection, nothing, run_writes

_SCHEMA_LOCK = 0x5245_4749  # the advisory lock taken while the tables are created
# A data-modifying WITH: items (those the register lacks, or all), their ids returned; then their
# digests go to item_hash or to the stage (%b: sent binary, as arrays are)
_ITEMS = (
    "WITH new AS (INSERT INTO item (register_id, hash, content) "
    "SELECT %b, h, c FROM unnest(%b::bytea[], %b::bytea[]) WITH ORDINALITY AS t(h, c, o) "
    "{} ORDER BY o RETURNING hash, id) "
)
_NEW_ITEMS = _ITEMS.format("WHERE NOT EXISTS (SELECT 1 FROM item_hash x WHERE x.register_id = %b AND x.hash = t.h)")
_ALL_ITEMS = _ITEMS.format("")
_ITEM_HASHES = "INSERT INTO item_hash (register_id, hash, item_id) SELECT %b, hash, id FROM new ORDER BY hash"
_ITEM_STAGE = "INSERT INTO item_stage (hash, item_id) SELECT hash, id FROM new"
# A plain append under the register's lock has nothing to merge: COPY, but for a small chunk (an
# amend, a change entry), whose rows are inserted from arrays: a COPY costs two round trips where
# a statement costs one, and a small write is all round trips.
SMALL_CHUNK = 100
_COPY_ENTRIES = "COPY entry (register_id, log, number, key, timestamp, item_hashes) FROM STDIN (FORMAT BINARY)"
_ENTRY_TYPES = ("int4", "int2", "int8", "text", "varchar", "bytea")
_SMALL_ENTRIES = (
    "INSERT INTO entry (register_id, log, number, key, timestamp, item_hashes) SELECT %s, l, n, k, t, h "
    "FROM unnest(%s::smallint[], %s::bigint[], %s::text[], %s::varchar[], %s::bytea[]) AS u(l, n, k, t, h)"
)
_COPY_ENTRY_KEYS = "COPY entry_key (register_id, log, key, number) FROM STDIN (FORMAT BINARY)"
_ENTRY_KEY_TYPES = ("int4", "int2", "text", "int8")
_SMALL_ENTRY_KEYS = (
    "INSERT INTO entry_key (register_id, log, key, number) SELECT %s, l, k, n "
    "FROM unnest(%s::smallint[], %s::text[], %s::bigint[]) AS u(l, k, n)"
)
_COPY_FIELD_VALUES = "COPY field_value (register_id, field, value_hash, entry_number) FROM STDIN (FORMAT BINARY)"
_FIELD_VALUE_TYPES = ("int4", "varchar", "int8", "int8")
_SMALL_FIELD_VALUES = (
    "INSERT INTO field_value (register_id, field, value_hash, entry_number) SELECT %s, f, v, n "
    "FROM unnest(%s::varchar[], %s::bigint[], %s::bigint[]) AS u(f, v, n)"
)
_RECORDS = (
    "INSERT INTO record (register_id, log, key, entry_number) "
    "SELECT %b, l, k, n FROM unnest(%b::smallint[], %b::text[], %b::bigint[]) AS u(l, k, n) "
    "ON CONFLICT (register_id, log, key) DO UPDATE SET entry_number = excluded.entry_number"
)
_TILES = (  # a chunk's tiles are distinct, so one statement may upsert them all
    "INSERT INTO merkle_tile (register_id, log, level, idx, hashes) SELECT %s, l, v, i, h "
    "FROM unnest(%s::smallint[], %s::smallint[], %s::bigint[], %s::bytea[]) AS u(l, v, i, h) "
    "ON CONFLICT (register_id, log, level, idx) DO UPDATE SET hashes = excluded.hashes"
)
# Search (store/search.py): a tsvector of exactly the words store/search.py made (array_to_tsvector:
# no parser, configuration or locale touches them) under a GIN index, and a query of 'word':*
# prefixes. The DDL is in store/schema.py (and migration 0008).
_SEARCH_INSERT = (  # the words are split at every run of ASCII characters other than letters and digits
    "INSERT INTO search_text (register_id, rank, words) SELECT %s, r, array_to_tsvector(a) FROM (SELECT r, "
    "array_remove(regexp_split_to_array(w, '[\\x01-\\x2f\\x3a-\\x60\\x7b-\\x7f]+'), '') AS a "
    "FROM unnest(%s::bigint[], %s::text[]) AS u(r, w)) AS s WHERE cardinality(a) > 0"
)
_SEARCH_DELETE = "DELETE FROM search_text WHERE register_id = %s AND rank = ANY(%s::bigint[])"
# GIN gives matches in no order: the planner either walks the rank index from the cursor testing
# each row's words (common words: about a page of rows, more where matches thin out) or reads every
# match through GIN and keeps the highest (rare words). Its estimates need a GIN index whose
# pending list (rows not yet merged in, scanned whole by every search) stays short: see
# refresh_statistics and the index's gin_pending_list_limit (store/schema.py).
_SEARCH = text(
    "SELECT rank FROM search_text WHERE register_id = :register AND words @@ CAST(:query AS tsquery) "
    "AND rank < :before ORDER BY rank DESC LIMIT :limit"
)
_SEARCH_AFTER = text(  # the same, upwards from a rank (a page's Previous)
    "SELECT rank FROM search_text WHERE register_id = :register AND words @@ CAST(:query AS tsquery) "
    "AND rank > :after AND rank < :before ORDER BY rank ASC LIMIT :limit"
)
_COPY_TYPES = {"int16": "int2", "int64": "int8", "text": "text", "bytes": "bytea"}


@dataclass(frozen=True)
class _Copy:
    """Rows sent by ``COPY … FROM STDIN (FORMAT BINARY)`` as the given column types."""

    sql: str
    types: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def __call__(self, cursor: Any) -> None:
        with cursor.copy(self.sql) as copy:
            copy.set_types(list(self.types))
            for row in self.rows:
                copy.write_row(row)


def _columns(rows: Sequence[tuple[Any, ...]], width: int) -> list[list[Any]]:
    """``rows`` as ``width`` column lists (arrays for ``unnest``)."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _append(copy: str, types: tuple[str, ...], small: str, register_id: int, rows: Sequence[tuple[Any, ...]]) -> Write:
    """``rows`` of a table that is only appended to: COPY, or for a few rows ``small`` (unnest)."""
    if len(rows) <= SMALL_CHUNK:
        return Execute(small, (register_id, *_columns(rows, len(types) - 1)))
    return _Copy(copy, types, [(register_id, *row) for row in rows])


class PostgreSQL:
    """The driver of PostgreSQL servers (psycopg 3)."""

    name = "postgresql"
    placeholder = "%s"
    column_types = {"int16": "smallint", "int64": "bigint", "text": "text", "bytes": "bytea"}

    def create_engine(self, url: str, page_cache_mib: Callable[[], int]) -> Engine:
        engine = create_engine(url, pool_pre_ping=True, pool_use_lifo=True)  # the server keeps the cache

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # No JIT compilation: every query here reads a page of rows through indexes, but a
            # list walking the log with a filter is costed as a long scan, and compiling it took
            # ~50 ms of a 5 ms query (measured at 300k records).
            cursor = dbapi_connection.cursor()
            cursor.execute("SET jit = off")
            cursor.close()
            dbapi_connection.commit()  # a SET in a transaction later rolled back would be undone

        return engine

    def snapshot(self, conn: Connection) -> Connection:
        return conn.execution_options(isolation_level="REPEATABLE READ")

    def lock_schema(self, conn: Connection) -> None:
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _SCHEMA_LOCK})

    def lock_register(self, conn: Connection, where: ColumnElement[bool]) -> int | None:
        return conn.execute(select(register.c.id).where(where).with_for_update()).scalar()

    def refresh_statistics(self, engine: Engine) -> None:
        # Autovacuum would, later; until then the planner takes grown tables for empty ones.
        # Sampled: well under a second a table whatever its size.
        try:
            with engine.connect() as conn:
                autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
                autocommit.exec_driver_sql(
                    "ANALYZE item, item_hash, entry, entry_key, record, merkle_tile, field_value, search_text"
                )
                # the words a load added to the search index's pending list, merged into it now (every
                # search would otherwise read them all; autovacuum would, later)
                autocommit.exec_driver_sql("SELECT gin_clean_pending_list('search_text_words'::regclass)")
        except DBAPIError:
            pass  # not allowed here (a read-only replica, a role that does not own the tables)

    def database_file(self, url: URL) -> Path | None:
        return None

    def autocommit(self, dbapi_connection: Any) -> None:
        dbapi_connection.autocommit = True

    def stream_cursor(self, dbapi_connection: Any) -> Any:
        return dbapi_connection.cursor(name="registers_stream")  # server-side: rows come as fetched

    def item_contains(self, content: ColumnElement[Any], needle: bytes) -> ColumnElement[bool]:
        # stored items are UTF-8 (checked when added)
        return func.strpos(func.convert_from(content, "UTF8"), needle.decode()) > 0

    def search_ranks(
        self, conn: Connection, register_id: int, words: Sequence[str], before: int, limit: int,
        after: int | None = None,
    ) -> list[int]:
        query = " & ".join(f"'{word}':*" for word in words)  # words are letters and digits: nothing to escape
        params = {"register": register_id, "query": query, "before": before, "limit": limit}
        if after is not None:
            return [int(rank) for rank in conn.execute(_SEARCH_AFTER, {**params, "after": after}).scalars()]
        return [int(rank) for rank in conn.execute(_SEARCH, params).scalars()]

    def insert_search(self, register_id: int, rows: list[SearchRow]) -> Write:
        return Execute(_SEARCH_INSERT, (register_id, *_columns(rows, 2))) if rows else nothing

    def delete_search(self, register_id: int, rows: list[SearchRow]) -> Write:
        return Execute(_SEARCH_DELETE, (register_id, [rank for rank, _words in rows])) if rows else nothing

    def insert_items(
        self, register_id: int, digests: list[bytes], contents: list[bytes], *, probe: bool, staged: bool
    ) -> Write:
        then, more = (_ITEM_STAGE, ()) if staged else (_ITEM_HASHES, (register_id,))
        if probe:
            return Execute(_NEW_ITEMS + then, (register_id, digests, contents, register_id, *more))
        return Execute(_ALL_ITEMS + then, (register_id, digests, contents, *more))

    def insert_entries(self, register_id: int, rows: list[EntryRow]) -> Write:
        return _append(_COPY_ENTRIES, _ENTRY_TYPES, _SMALL_ENTRIES, register_id, rows)

    def insert_entry_keys(self, register_id: int, rows: list[KeyRow]) -> Write:
        return _append(_COPY_ENTRY_KEYS, _ENTRY_KEY_TYPES, _SMALL_ENTRY_KEYS, register_id, rows)

    def upsert_records(self, register_id: int, rows: list[KeyRow]) -> Write:
        return Execute(_RECORDS, (register_id, *_columns(rows, 3)))

    def upsert_tiles(self, register_id: int, rows: list[TileRow]) -> Write:
        return Execute(_TILES, (register_id, *_columns(rows, 4)))

    def insert_field_values(self, register_id: int, rows: list[FieldRow]) -> Write:
        distinct = list(dict.fromkeys(rows))  # 64-bit hashes may collide
        return _append(_COPY_FIELD_VALUES, _FIELD_VALUE_TYPES, _SMALL_FIELD_VALUES, register_id, distinct)

    def insert_staged(self, table: str, columns: Sequence[tuple[str, str]], rows: list[Any]) -> Write:
        names = ", ".join(name for name, _kind in columns)
        types = tuple(_COPY_TYPES[kind] for _name, kind in columns)
        return _Copy(f"COPY {table} ({names}) FROM STDIN (FORMAT BINARY)", types, rows)

    def merging(self, conn: Connection) -> AbstractContextManager[None]:
        return nullcontext()  # sort memory is the server's work_mem, per sort: nothing grows here

    def run(self, conn: Connection, writes: Sequence[Write]) -> None:
        if any(isinstance(write, _Copy) for write in writes):
            run_writes(conn, writes)
        else:  # a small write: every statement sent at once, the answers awaited together
            with dbapi_connection(conn).pipeline():
                run_writes(conn, writes)
