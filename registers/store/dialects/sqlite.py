"""SQLite: a file (WAL, a busy timeout), the write lock taken by ``BEGIN IMMEDIATE``, and bulk
rows sent as a few large parameters that ``json_each`` expands (no Python runs per row)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event, func, select, text
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.sql import ColumnElement

from ...core.errors import RegisterError
from ...core.field_values import FieldRow
from ..schema import register
from .base import (
    WRITE_OPTION,
    EntryRow,
    Execute,
    ExecuteMany,
    KeyRow,
    SearchRow,
    TileRow,
    Write,
    dbapi_connection,
    nothing,
    run_writes,
)

# A staged batch past the entries the register already holds mostly adds items it lacks: it stores
# them all, unprobed, and the merge keeps the first copy of any it had (store/bulk.py).
_ALL_ITEMS = (  # items in the order given (their ids are their places)
    "INSERT INTO item (register_id, hash, content) "
    "SELECT ?1, substr(?2, j.key * 32 + 1, 32), "
    "substr(?3, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]')) "
    "FROM json_each(?4) AS j"
)
_NEW_ITEMS = (  # ... only those the register lacks
    _ALL_ITEMS + " WHERE NOT EXISTS "
    "(SELECT 1 FROM item_hash h WHERE h.register_id = ?1 AND h.hash = substr(?2, j.key * 32 + 1, 32))"
)
_ITEM_HASHES = (  # ... and their digests (? = the last item id before them)
    "INSERT INTO item_hash (register_id, hash, item_id) SELECT register_id, hash, id FROM item WHERE id > ? "
    "ORDER BY hash"
)
_ITEM_STAGE = "INSERT INTO item_stage (hash, item_id) SELECT hash, id FROM item WHERE id > ?"
_ENTRIES = (
    "INSERT INTO entry (register_id, log, number, key, timestamp, item_hashes) "
    "SELECT ?1, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]'), "
    "json_extract(j.value, '$[3]'), substr(?2, json_extract(j.value, '$[4]'), json_extract(j.value, '$[5]')) "
    "FROM json_each(?3) AS j"
)
_ENTRY_KEYS = (
    "INSERT INTO entry_key (register_id, log, key, number) "
    "SELECT ?1, j.value ->> 0, j.value ->> 1, j.value ->> 2 FROM json_each(?2) AS j"
)
_RECORDS = (
    "INSERT INTO record (register_id, log, key, entry_number) "
    "SELECT ?1, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]') "
    "FROM json_each(?2) AS j WHERE true "
    "ON CONFLICT (register_id, log, key) DO UPDATE SET entry_number = excluded.entry_number"
)
_TILE = (
    "INSERT INTO merkle_tile (register_id, log, level, idx, hashes) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT (register_id, log, level, idx) DO UPDATE SET hashes = excluded.hashes"
)
_FIELD_VALUES = (
    "INSERT INTO field_value (register_id, field, value_hash, entry_number) "
    "SELECT ?1, json_extract(j.value, '$[0]'), json_extract(j.value, '$[1]'), json_extract(j.value, '$[2]') "
    "FROM json_each(?2) AS j WHERE true ON CONFLICT DO NOTHING"
)
# Search (store/search.py): one FTS5 table for every register, contentless (it keeps the index, not
# the words) and without positions (a query is words, never a phrase); prefix indexes make a one-
# to three-letter word a lookup rather than a merge of every term it begins. A row's rowid is its
# register's id times SEARCH_SPAN plus its rank, so a register's rows are one rowid range, read
# from the cursor down. The DDL is in store/schema.py (and migration 0008).
SEARCH_SPAN = 1 << 41  # above every rank
_SEARCH_ROWS = f"SELECT ?1 * {SEARCH_SPAN} + (j.value ->> 0), j.value ->> 1 FROM json_each(?2) AS j"
_SEARCH_INSERT = "INSERT INTO search_text (rowid, words) " + _SEARCH_ROWS
# a contentless row is deleted by giving the words it was given
_SEARCH_DELETE = "INSERT INTO search_text (search_text, rowid, words) SELECT 'delete', * FROM (" + _SEARCH_ROWS + ")"
_SEARCH = text(
    "SELECT rowid - :low FROM search_text WHERE search_text MATCH :query AND rowid >= :low AND rowid < :high "
    "ORDER BY rowid DESC LIMIT :limit"
)
_SEARCH_AFTER = text(  # the same, upwards from a rank (a page's Previous)
    "SELECT rowid - :low FROM search_text WHERE search_text MATCH :query AND rowid > :from AND rowid < :high "
    "ORDER BY rowid ASC LIMIT :limit"
)
MERGE_CACHE = -16384  # KiB: the page cache, and so the sort memory, while staged rows are merged


def _json(rows: Sequence[Any]) -> str:
    return orjson.dumps(rows).decode()


def _search_register(register_id: int) -> int:
    """``register_id``, if its search rows' rowids fit in 64 bits (ids below 2**22)."""
    if not 0 < register_id < (1 << 63) // SEARCH_SPAN:
        raise ValueError(f"register id {register_id} is beyond the search index's rowids")
    return register_id


@dataclass(frozen=True)
class _Items:
    """Items sent as their concatenated digests and bytes with a JSON array of (offset, length);
    their new ids are those past the largest id before them."""

    register_id: int
    digests: list[bytes]
    contents: list[bytes]
    probe: bool
    staged: bool

    def __call__(self, cursor: Any) -> None:
        offsets, start = [], 1
        for blob in self.contents:
            offsets.append((start, len(blob)))
            start += len(blob)
        before = cursor.execute("SELECT coalesce(max(id), 0) FROM item").fetchone()[0]
        params = (self.register_id, b"".join(self.digests), b"".join(self.contents), _json(offsets))
        cursor.execute(_NEW_ITEMS if self.probe else _ALL_ITEMS, params)
        cursor.execute(_ITEM_STAGE if self.staged else _ITEM_HASHES, (before,))


class SQLite:
    """The driver of SQLite files (pysqlite)."""

    name = "sqlite"
    placeholder = "?"
    column_types = {"int16": "INTEGER", "int64": "INTEGER", "text": "TEXT", "bytes": "BLOB"}

    def create_engine(self, url: str, page_cache_mib: Callable[[], int]) -> Engine:
        if self.database_file(make_url(url)) is None:
            raise RegisterError(f"'{url}' is a database in memory, gone when it is closed: "
                                "name a file, sqlite:///FILE")
        # check_same_thread off: the append transaction hands its connection to one writer thread
        # at a time (store/bulk.py), never to two at once. LIFO: a process reuses its most recent
        # connection, so one thread keeps one page cache warm instead of filling five in turn.
        engine = create_engine(url, connect_args={"timeout": 60, "check_same_thread": False}, pool_use_lifo=True)
        cache_kib = page_cache_mib() * 1024

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # transactions are begun below, not by pysqlite
            cursor = dbapi_connection.cursor()
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "foreign_keys=ON",
                f"cache_size=-{cache_kib}",
                # Temporary storage on disk (the OS caches it): a bulk statement's statement
                # journal holds every existing page it changes, tens of MB at 10,000 rows into
                # large indexes, which in memory made the load's peak RSS grow with the register.
                "temp_store=FILE",
            ):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Connection) -> None:
            write = connection.get_execution_options().get(WRITE_OPTION)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

        return engine

    def snapshot(self, conn: Connection) -> Connection:
        return conn  # a deferred transaction in WAL mode is a snapshot already

    def lock_schema(self, conn: Connection) -> None:
        pass  # a write transaction holds the database's one write lock from BEGIN IMMEDIATE on

    def lock_register(self, conn: Connection, where: ColumnElement[bool]) -> int | None:
        # BEGIN IMMEDIATE took the database's write lock, which covers every register
        return conn.execute(select(register.c.id).where(where)).scalar()

    def refresh_statistics(self, engine: Engine) -> None:
        pass  # no statistics are kept (ANALYZE is never run): the planner goes by the indexes

    def database_file(self, url: URL) -> Path | None:
        return Path(url.database) if url.database and url.database != ":memory:" else None

    def autocommit(self, dbapi_connection: Any) -> None:
        pass  # every connection is (isolation_level None, set on connect) until it says BEGIN

    def stream_cursor(self, dbapi_connection: Any) -> Any:
        return dbapi_connection.cursor()  # SQLite steps through the rows as they are fetched

    def item_contains(self, content: ColumnElement[Any], needle: bytes) -> ColumnElement[bool]:
        return func.instr(content, needle) > 0

    def search_ranks(
        self, conn: Connection, register_id: int, words: Sequence[str], before: int, limit: int,
        after: int | None = None,
    ) -> list[int]:
        # FTS5 gives a term's rows in rowid order: a page reads its index from the cursor on
        low = _search_register(register_id) * SEARCH_SPAN
        query = " ".join(f'"{word}"*' for word in words)  # words are letters and digits: nothing to escape
        params = {"query": query, "low": low, "high": low + before, "limit": limit}
        if after is not None:
            return [int(rank) for rank in conn.execute(_SEARCH_AFTER, {**params, "from": low + after}).scalars()]
        return [int(rank) for rank in conn.execute(_SEARCH, params).scalars()]

    def insert_search(self, register_id: int, rows: list[SearchRow]) -> Write:
        return Execute(_SEARCH_INSERT, (_search_register(register_id), _json(rows))) if rows else nothing

    def delete_search(self, register_id: int, rows: list[SearchRow]) -> Write:
        return Execute(_SEARCH_DELETE, (_search_register(register_id), _json(rows))) if rows else nothing

    def insert_items(
        self, register_id: int, digests: list[bytes], contents: list[bytes], *, probe: bool, staged: bool
    ) -> Write:
        return _Items(register_id, digests, contents, probe, staged)

    def insert_entries(self, register_id: int, rows: list[EntryRow]) -> Write:
        offsets, start = [], 1
        for log, number, key, timestamp, digests in rows:
            offsets.append((log, number, key, timestamp, start, len(digests)))
            start += len(digests)
        return Execute(_ENTRIES, (register_id, b"".join(row[4] for row in rows), _json(offsets)))

    def insert_entry_keys(self, register_id: int, rows: list[KeyRow]) -> Write:
        return Execute(_ENTRY_KEYS, (register_id, _json(rows)))

    def upsert_records(self, register_id: int, rows: list[KeyRow]) -> Write:
        return Execute(_RECORDS, (register_id, _json(rows)))

    def upsert_tiles(self, register_id: int, rows: list[TileRow]) -> Write:
        return ExecuteMany(_TILE, [(register_id, *row) for row in rows])

    def insert_field_values(self, register_id: int, rows: list[FieldRow]) -> Write:
        return Execute(_FIELD_VALUES, (register_id, _json(rows)))

    def insert_staged(self, table: str, columns: Sequence[tuple[str, str]], rows: list[Any]) -> Write:
        names = ", ".join(name for name, _kind in columns)
        values = ", ".join(f"j.value ->> {i}" for i in range(len(columns)))
        return Execute(f"INSERT INTO {table} ({names}) SELECT {values} FROM json_each(?) AS j", (_json(rows),))

    @contextmanager
    def merging(self, conn: Connection) -> Iterator[None]:
        # SQLite sorts in memory up to the page cache's size before it spills to temporary files;
        # a merge reads its index in order and needs little cache, so both are held to
        # MERGE_CACHE while it runs (the load's peak memory stays flat).
        cursor = dbapi_connection(conn).cursor()
        try:
            cache = int(cursor.execute("PRAGMA cache_size").fetchone()[0])
            cursor.execute(f"PRAGMA cache_size = {MERGE_CACHE}")
            try:
                yield
            finally:
                cursor.execute(f"PRAGMA cache_size = {cache}")
        finally:
            cursor.close()

    def run(self, conn: Connection, writes: Sequence[Write]) -> None:
        run_writes(conn, writes)
