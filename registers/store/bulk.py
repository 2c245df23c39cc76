"""Bulk writes for the append transaction: one set-based statement per table per chunk.

A chunk's rows travel as a few large parameters that the database expands (how is its driver's:
store/dialects), so no Python runs per row and the whole statement executes with the GIL
released. With ``background`` the statements run on a worker thread while the next chunk is read
and checked, using the second core. At most one chunk is in flight; ``wait`` must be called
before anything else touches the connection, and it re-raises whatever the write raised.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from ..core.field_values import FieldRow
from .dialects import Write, dialect_for
from .dialects.base import EntryRow, Execute, KeyRow, SearchRow, TileRow

# A large batch (a streamed file) stages the rows of its random-order indexes (item digests,
# entry keys, the record index, indexed field values) in temporary tables and merges them at
# the end in index order: each leaf page of those indexes is then written once per batch, not
# once per row (at ten million entries nearly every row's page had fallen out of the cache
# since the last write to it, and was written to the WAL again and again). A staged batch past
# the entries the register already holds stores its items unprobed (they are new but for a few):
# the merge keeps the first copy of any it had (see _DROP_SECOND_COPIES).
_STAGES = {  # each temporary table's columns: (name, kind), kinds as in Dialect.column_types
    "entry_stage": (("log", "int16"), ("key", "text"), ("number", "int64")),
    "field_stage": (("field", "text"), ("value_hash", "int64"), ("entry_number", "int64")),
    "item_stage": (("hash", "bytes"), ("item_id", "int64")),
}
# Keys of the user log (0) that the record index lacks: counted after the stage is indexed and
# before the record merge, walking the stage and the record index in the same (key) order. A
# scalar subquery, so a planner with stale statistics probes the index rather than hashing it.
_NEW_USER_KEYS = text(
    "SELECT count(*) FROM (SELECT DISTINCT key FROM entry_stage WHERE log = 0) AS s WHERE (SELECT r.entry_number "
    "FROM record r WHERE r.register_id = :register AND r.log = 0 AND r.key = s.key) IS NULL"
)
# The as-of index rows of the staged user entries, before the record merge: each entry supersedes
# the key's entry before it in the batch (the stage is in key order), or for the batch's first
# entry of a key, the entry the record index points at still (a probe in key order).
_SUPERSEDE_STAGED = text(
    "INSERT INTO superseded (register_id, number, by_number) SELECT :register, prev, number FROM ("
    "SELECT s.number, coalesce(lag(s.number) OVER (PARTITION BY s.key ORDER BY s.number), (SELECT r.entry_number "
    "FROM record r WHERE r.register_id = :register AND r.log = 0 AND r.key = s.key)) AS prev "
    "FROM entry_stage s WHERE s.log = 0) AS t WHERE prev IS NOT NULL ORDER BY prev"
)
# The same for a batch written directly: each of its user entries past ``after`` supersedes the
# key's entry before it (a probe of the key index per entry: such batches are small).
_SUPERSEDE_WRITTEN = text(
    "INSERT INTO superseded (register_id, number, by_number) SELECT :register, prev, number FROM ("
    "SELECT e.number, (SELECT max(k.number) FROM entry_key k WHERE k.register_id = :register AND k.log = 0 "
    "AND k.key = e.key AND k.number < e.number) AS prev FROM entry e "
    "WHERE e.register_id = :register AND e.log = 0 AND e.number > :after) AS t WHERE prev IS NOT NULL ORDER BY prev"
)
_MERGE = {  # each table's statements in order, the same SQL on every database
    "entry_stage": (  # one sort (the index) serves both statements, which then read it in order
        text("CREATE INDEX entry_stage_order ON entry_stage (log, key, number)"),
        text(
            "INSERT INTO entry_key (register_id, log, key, number) "
            "SELECT :register, log, key, number FROM entry_stage ORDER BY log, key, number"
        ),
        _NEW_USER_KEYS,
        _SUPERSEDE_STAGED,
        text(
            "INSERT INTO record (register_id, log, key, entry_number) "
            "SELECT :register, log, key, max(number) FROM entry_stage WHERE true GROUP BY log, key ORDER BY log, key "
            "ON CONFLICT (register_id, log, key) DO UPDATE SET entry_number = excluded.entry_number"
        ),
    ),
    "field_stage": (  # rows are distinct but for 64-bit hash collisions, which the conflict drops
        text(
            "INSERT INTO field_value (register_id, field, value_hash, entry_number) "
            "SELECT :register, field, value_hash, entry_number FROM field_stage WHERE true "
            "ORDER BY 2, 3, 4 ON CONFLICT DO NOTHING"
        ),
    ),
    "item_stage": (  # the first of an item added twice in the batch wins (the order first added)
        text(
            "INSERT INTO item_hash (register_id, hash, item_id) SELECT :register, hash, item_id FROM item_stage "
            "WHERE true ORDER BY hash, item_id ON CONFLICT DO NOTHING"
        ),
    ),
}
# An item the batch added twice (in chunks apart) was stored twice: the later copies go.
_DROP_SECOND_COPIES = text(
    "DELETE FROM item WHERE id IN (SELECT s.item_id FROM item_stage s WHERE NOT EXISTS "
    "(SELECT 1 FROM item_hash h WHERE h.register_id = :register AND h.hash = s.hash AND h.item_id = s.item_id))"
)
_STAGED_CONTENTS = text(
    "SELECT s.hash, i.content FROM item_stage s JOIN item i ON i.id = s.item_id WHERE s.hash IN :digests"
).bindparams(bindparam("digests", expanding=True))


@dataclass
class Chunk:
    """The rows one write adds: items, entries, record index updates, changed tiles and
    indexed field values."""

    items: list[tuple[bytes, bytes]] = field(default_factory=list)  # (digest, canonical bytes)
    entries: list[EntryRow] = field(default_factory=list)  # log, number, key, timestamp, packed digests
    records: list[KeyRow] = field(default_factory=list)  # log, key, entry number
    tiles: list[TileRow] = field(default_factory=list)  # log, level, index, hashes
    fields: list[FieldRow] = field(default_factory=list)  # indexed field, value hash, entry number
    # the user entries' words (store/search.py), in rank order: written directly even when the
    # batch is staged (FTS5 and GIN each buffer and merge their own writes)
    search: list[SearchRow] = field(default_factory=list)
    # whether the items may be ones the register holds (False lets a staged batch skip the probe)
    probe_items: bool = True


class BulkWriter:
    """Writes chunks of one register on one connection, inline or on a worker thread."""

    def __init__(self, conn: Connection, register_id: int, background: bool = False, staged: bool = False) -> None:
        self.conn = conn
        self.register_id = register_id
        self.dialect = dialect_for(conn)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="registers-write") if background else None
        self._inflight: Future[None] | None = None
        self.staged = staged  # index rows wait in temporary tables until merge_staged
        self._stages: set[str] = set()  # the temporary tables made so far
        self._stage_indexed = False  # item_stage has an index on its digests (made when first needed)
        self._keys: list[KeyRow] = []  # the chunk being submitted: (log, key, number), sorted

    def merge_staged(self) -> int | None:
        """Write the staged index rows into their tables, in index order, and drop the
        temporary tables (a rollback drops them too). Call it before anything reads those
        tables; the batch then goes on writing directly. Returns how many of the staged user
        keys the record index did not hold before (None when no entries were staged)."""
        new_keys = None
        self.wait()
        if self._stages:
            register = {"register": self.register_id}
            with self.dialect.merging(self.conn):
                for table in sorted(self._stages):
                    for merge in _MERGE[table]:
                        result = self.conn.execute(merge, register)
                        if merge is _NEW_USER_KEYS:
                            new_keys = int(result.scalar_one())
                    if table == "item_stage":  # result: the rows the item_hash merge added
                        staged = self.conn.execute(text("SELECT count(*) FROM item_stage")).scalar_one()
                        if staged != result.rowcount:  # rare: a file that adds an item twice, far apart
                            self.conn.execute(_DROP_SECOND_COPIES, register)
                    self.conn.execute(text(f"DROP TABLE {table}"))
        self._stages.clear()
        self._stage_indexed = False
        self.staged = False
        return new_keys

    def supersede_written(self, after: int) -> None:
        """Write the as-of index rows of the user entries past ``after`` that were written
        directly (not staged: the merge writes those). Call it once every entry is written."""
        self.wait()
        self.conn.execute(_SUPERSEDE_WRITTEN, {"register": self.register_id, "after": after})

    def staged_contents(self, digests: list[bytes]) -> dict[bytes, bytes]:
        """The bytes of those of ``digests`` this batch has staged (added in an earlier chunk and
        not yet in ``item_hash``). The first call indexes the staged digests (one sort); a file
        whose entries use only items added just before them never needs it."""
        if "item_stage" not in self._stages or not digests:
            return {}
        self.wait()
        if not self._stage_indexed:
            self.conn.execute(text("CREATE INDEX item_stage_by_hash ON item_stage (hash)"))
            self._stage_indexed = True
        found: dict[bytes, bytes] = {}
        for start in range(0, len(digests), 500):
            rows = self.conn.execute(_STAGED_CONTENTS, {"digests": digests[start : start + 500]})
            found.update((bytes(digest), bytes(content)) for digest, content in rows)
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
        writes = self._writes(chunk)
        if not writes:
            return
        if self._executor is None:
            self._run(writes)
        else:
            self._inflight = self._executor.submit(self._run, writes)

    def _writes(self, chunk: Chunk) -> list[Write]:
        """The driver's writes of ``chunk``: a statement per table, or rows for its stage."""
        dialect, reg, staged = self.dialect, self.register_id, self.staged
        out: list[Write] = []
        if chunk.items:
            out += self._stage_created("item_stage")
            digests, contents = [d for d, _ in chunk.items], [b for _, b in chunk.items]
            probe = chunk.probe_items or not staged
            out.append(dialect.insert_items(reg, digests, contents, probe=probe, staged=staged))
        if chunk.entries:
            out.append(dialect.insert_entries(reg, chunk.entries))
            if staged:
                out += self._stage("entry_stage", self._keys)
            else:
                out.append(dialect.insert_entry_keys(reg, self._keys))
        if chunk.records and not staged:  # staged: the merge finds them in entry_stage
            out.append(dialect.upsert_records(reg, chunk.records))
        if chunk.tiles:
            out.append(dialect.upsert_tiles(reg, chunk.tiles))
        if chunk.fields and staged:
            out += self._stage("field_stage", chunk.fields)
        elif chunk.fields:
            out.append(dialect.insert_field_values(reg, chunk.fields))
        if chunk.search:
            out.append(dialect.insert_search(reg, chunk.search))
        return out

    def _stage_created(self, table: str) -> list[Write]:
        """The statement that makes the temporary table, if the batch is staged and has not yet."""
        if not self.staged or table in self._stages:
            return []
        self._stages.add(table)
        types = self.dialect.column_types
        columns = ", ".join(f"{name} {types[kind]}" for name, kind in _STAGES[table])
        return [Execute(f"CREATE TEMP TABLE IF NOT EXISTS {table} ({columns})")]

    def _stage(self, table: str, rows: list[Any]) -> list[Write]:
        """The statements that add ``rows`` to the temporary table (made on first use)."""
        return [*self._stage_created(table), self.dialect.insert_staged(table, _STAGES[table], rows)]

    def _run(self, writes: list[Write]) -> None:
        self.dialect.run(self.conn, writes)

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
