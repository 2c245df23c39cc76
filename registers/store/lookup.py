"""The hot read: one record by key in one SQL statement on a connection kept by each thread.

A record GET is the API's most frequent request. Going through SQLAlchemy's statement building,
pool checkout and transaction bracketing costs ~1 ms; this path sends one prepared statement on
a DBAPI connection the thread keeps, in autocommit (a single statement always reads one
committed state, on SQLite in WAL mode and on PostgreSQL alike), so it costs tens of µs.
The items' bytes are re-hashed against the entry's digests as they are read (about a
microsecond): a record whose stored item was changed raises StoredItemCorrupt rather than
being served. Everything else reads through ``reads`` and ``records``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.exc import OperationalError

from ..core.entries import Log
from ..core.errors import StoredItemCorrupt
from . import reads
from .dialects import dialect_for

_RECORD = """
SELECT e.number, e.timestamp, e.item_hashes, i.content
FROM record r
JOIN entry e ON e.register_id = r.register_id AND e.log = r.log AND e.number = r.entry_number
LEFT JOIN item_hash h ON h.register_id = r.register_id AND h.hash = substr(e.item_hashes, 1, 32)
LEFT JOIN item i ON i.id = h.item_id
WHERE r.register_id = {p} AND r.log = {user} AND r.key = {p}
"""
_ITEMS = (
    "SELECT h.hash, i.content FROM item_hash h JOIN item i ON i.id = h.item_id "
    "WHERE h.register_id = {p} AND h.hash = {p}"
)
_NAME = "SELECT name FROM register WHERE id = {p}"


@dataclass(frozen=True)
class StoredRecord:
    """A record as stored: its latest entry's number, timestamp and digests, and the items'
    canonical bytes in the entry's order (an item missing from the store is left out)."""

    number: int
    timestamp: str
    digests: tuple[bytes, ...]
    contents: tuple[bytes, ...]


class RecordLookup:
    """Finds current records by key, thread-safely, on one DBAPI connection per thread."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = dialect_for(engine)
        p = self.dialect.placeholder
        self._record_sql = _RECORD.format(p=p, user=int(Log.USER))
        self._items_sql = _ITEMS.format(p=p)
        self._name_sql = _NAME.format(p=p)
        self._local = threading.local()
        self._opened: list[Any] = []  # every thread's connection, closed when the engine is disposed
        self._lock = threading.Lock()
        event.listen(engine, "engine_disposed", lambda _engine: self.close())

    def close(self) -> None:
        """Close every thread's connection (the next read on a thread opens a new one)."""
        with self._lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            _close(connection)
        self._local = threading.local()

    def record(self, reg_id: int, key: str) -> StoredRecord | None:
        """The current record of ``key`` in register ``reg_id``, or None if it has none;
        StoredItemCorrupt if an item's stored bytes do not hash to the entry's digest.

        A broken connection is replaced and the read tried once more; a second failure raises
        SQLAlchemy's ``OperationalError``.
        """
        for attempt in (1, 2):
            try:
                return self._record(reg_id, key)
            except self.engine.dialect.loaded_dbapi.Error as exc:
                self._drop()
                if attempt == 2 or not isinstance(exc, self.engine.dialect.loaded_dbapi.OperationalError):
                    raise OperationalError(self._record_sql, (reg_id, key), exc) from exc
        raise AssertionError("unreachable")

    def _record(self, reg_id: int, key: str) -> StoredRecord | None:
        cursor = self._cursor()
        cursor.execute(self._record_sql, (reg_id, key))
        row = cursor.fetchone()
        if row is None:
            return None
        number, timestamp, packed, content = row
        packed = bytes(packed)
        digests = tuple(packed[i : i + 32] for i in range(0, len(packed), 32))
        held = [] if content is None else [(digests[0], reads.stored_bytes(content))]
        for digest in digests[1:]:  # rare: entries of several items
            cursor.execute(self._items_sql, (reg_id, digest))
            more = cursor.fetchone()
            if more is not None:
                held.append((digest, reads.stored_bytes(more[1])))
        bad = reads.first_corrupt(held)
        if bad is not None:
            cursor.execute(self._name_sql, (reg_id,))
            raise StoredItemCorrupt(cursor.fetchone()[0], bad)
        return StoredRecord(int(number), timestamp, digests, tuple(blob for _digest, blob in held))

    def _cursor(self) -> Any:
        cursor = getattr(self._local, "cursor", None)
        if cursor is None:
            fairy = self.engine.raw_connection()
            fairy.detach()  # this thread's own connection from now on, outside the pool
            dbapi = fairy.dbapi_connection
            self.dialect.autocommit(dbapi)
            self._local.connection = fairy
            with self._lock:
                self._opened.append(fairy)
            cursor = self._local.cursor = dbapi.cursor()  # type: ignore[union-attr]
        return cursor

    def _drop(self) -> None:
        connection = getattr(self._local, "connection", None)
        self._local.cursor = self._local.connection = None
        if connection is not None:
            with self._lock:
                if connection in self._opened:
                    self._opened.remove(connection)
            _close(connection)


def _close(connection: Any) -> None:
    try:
        connection.close()
    except Exception:  # noqa: BLE001 - it is being thrown away
        pass
