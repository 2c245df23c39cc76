"""What the drivers share: the option that marks a write transaction, and the steps a bulk write
is made of (a driver returns them; ``Dialect.run`` runs them on the connection's DBAPI cursor)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

# The execution option that marks a write transaction (``engine.writer``): where the database can,
# it takes its write lock at BEGIN, before anything is read.
WRITE_OPTION = "registers_write"

Write = Callable[[Any], None]
"""One step of a bulk write, given a DBAPI cursor: it sends its statement (or statements)."""

EntryRow = tuple[int, int, str, str, bytes]  # log, number, key, timestamp, packed item digests
KeyRow = tuple[int, str, int]  # log, key, entry number (of entry_key and of record)
TileRow = tuple[int, int, int, bytes]  # log, level, index, hashes
# rank (store/search.py), the record's words in normal form, separated by ASCII characters other
# than letters and digits (each database splits them there; a row of no words is not stored)
SearchRow = tuple[int, str]


def nothing(_cursor: Any) -> None:
    """A write with no rows: sends nothing."""


@dataclass(frozen=True)
class Execute:
    """A statement with its parameters."""

    sql: str
    params: Sequence[Any] = ()

    def __call__(self, cursor: Any) -> None:
        cursor.execute(self.sql, self.params)


@dataclass(frozen=True)
class ExecuteMany:
    """A statement run once per row of parameters."""

    sql: str
    rows: Sequence[Sequence[Any]]

    def __call__(self, cursor: Any) -> None:
        cursor.executemany(self.sql, self.rows)


def dbapi_connection(conn: Connection) -> Any:
    """The DBAPI connection under ``conn``."""
    return conn.connection.dbapi_connection


def run_writes(conn: Connection, writes: Sequence[Write]) -> None:
    """Run ``writes`` in order on one cursor of ``conn``'s DBAPI connection."""
    cursor = dbapi_connection(conn).cursor()
    try:
        for write in writes:
            write(cursor)
    finally:
        cursor.close()


def violates_integrity(exc: BaseException) -> bool:
    """Whether ``exc`` is a database's refusal of a row that breaks a key or constraint: the
    DB-API ``IntegrityError`` of any driver (raised by raw cursors), or SQLAlchemy's wrapping
    of it. (Every driver names the class so, as PEP 249 asks; they share no base class.)"""
    return any(kind.__name__ == "IntegrityError" and not kind.__module__.startswith("registers.")
               for kind in type(exc).__mro__)
