"""Items a batch has added that no entry has used yet (the RSF orphan-item rule).

Kept in memory while few (interleaved files and table loads never hold more than a handful);
once there are many (a dump that lists every item before any entry) they move to a temporary
table of the same transaction, so memory stays flat however large the dump.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import text
from sqlalchemy.engine import Connection

from .dialects import dialect_for

MEMORY_LIMIT = 50_000


class PendingItems:
    """Digests of items added but not yet used, with the line that added each."""

    def __init__(self, conn: Connection, limit: int | None = None, sync: Callable[[], None] = lambda: None) -> None:
        self.conn = conn
        self.sync = sync  # called before the connection is used (a write may be in flight)
        self.limit = MEMORY_LIMIT if limit is None else limit
        self.memory: dict[bytes, int] = {}
        self.spilled = False
        self._used_maybe_spilled: list[tuple[bytes]] = []
        self.dialect = dialect_for(conn)

    def add(self, digest: bytes, line: int) -> None:
        """An item was added on ``line``."""
        self.memory.setdefault(digest, line)
        if len(self.memory) > self.limit:
            self._spill()

    def use(self, digest: bytes) -> bool:
        """An entry uses ``digest``; True if it was waiting in memory."""
        found = self.memory.pop(digest, None) is not None
        if self.spilled:
            self._used_maybe_spilled.append((digest,))
        return found

    def flush(self) -> None:
        """Forget the spilled items used since the last flush."""
        if self._used_maybe_spilled:
            self.sync()
            p = self.dialect.placeholder
            self.conn.exec_driver_sql(f"DELETE FROM pending_item WHERE hash = {p}", self._used_maybe_spilled)
            self._used_maybe_spilled = []

    def unused(self) -> list[tuple[bytes, int]]:
        """Every item still waiting for an entry, earliest line first (after all entries)."""
        self.flush()
        candidates = list(self.memory.items())
        if self.spilled:
            self.sync()
            rows = self.conn.execute(text("SELECT hash, line FROM pending_item"))
            candidates += [(bytes(row[0]), int(row[1])) for row in rows]
        return sorted(candidates, key=lambda pair: pair[1])

    def close(self) -> None:
        """Drop the temporary table (it is transaction-scoped: a rollback removes it too)."""
        if self.spilled:
            self.sync()
            self.conn.execute(text("DROP TABLE pending_item"))
            self.spilled = False

    def _spill(self) -> None:
        self.sync()
        if not self.spilled:
            binary = self.dialect.column_types["bytes"]
            self.conn.execute(text(f"CREATE TEMPORARY TABLE pending_item (hash {binary} PRIMARY KEY, line BIGINT)"))
            self.spilled = True
        self.flush()
        rows = list(self.memory.items())
        p = self.dialect.placeholder
        sql = f"INSERT INTO pending_item (hash, line) VALUES ({p}, {p}) ON CONFLICT DO NOTHING"
        self.conn.exec_driver_sql(sql, rows)
        self.memory = {}
