"""Database drivers: what SQLite and PostgreSQL each do their own way, one module per database.

The rest of the store never asks which database it is on. ``engine.open_engine`` picks the
driver once, from the URL (``driver_for_url``), and the driver makes the engine; after that
``dialect_for(engine or connection)`` finds the same driver again by SQLAlchemy's name for the
engine's database (a dict lookup). Only this package and the migrations (store/migrations, whose
revisions keep their own per-database steps) know the names.

As with Tessera's storage drivers, one small interface is all a backend implements: a third
database is a module here with a class that satisfies ``Dialect``, and a line in ``DRIVERS``.
SQL that every database reads alike stays with its module, written once; where such SQL goes
to a DBAPI cursor by hand, its parameters are marked with the driver's ``placeholder``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.sql import ColumnElement

from ...core.errors import RegisterError
from ...core.field_values import FieldRow
from .base import WRITE_OPTION, EntryRow, KeyRow, SearchRow, TileRow, Write
from .postgresql import PostgreSQL
from .sqlite import SQLite

__all__ = ["DRIVERS", "WRITE_OPTION", "Dialect", "Write", "dialect_for", "driver_for_url"]


class Dialect(Protocol):
    """Everything one database does differently, as the store needs it.

    Text search: ``item_contains`` is a prefilter of records by a field's value that reads
    every record; word search (store/search.py) is each database's own full-text index, SQLite's
    FTS5 and PostgreSQL's ``tsvector`` under GIN (``search_ranks``, ``insert_search``,
    ``delete_search``; the table is made by store/schema.py and migration 0008).
    """

    @property
    def name(self) -> str:
        """SQLAlchemy's name for the database (``engine.dialect.name``): the key in ``DRIVERS``."""
        ...

    @property
    def placeholder(self) -> str:
        """The DBAPI's positional parameter marker, for SQL the store sends on a raw cursor."""
        ...

    @property
    def column_types(self) -> Mapping[str, str]:
        """The database's type for each kind of column a temporary table of the store has:
        ``int16``, ``int64``, ``text`` and ``bytes``."""
        ...

    # -- connections and transactions ----------------------------------------------------

    def create_engine(self, url: str, page_cache_mib: Callable[[], int]) -> Engine:
        """An engine for ``url`` whose connections are set up on connect (session settings)
        and whose write transactions (``WRITE_OPTION``) take the database's write lock at BEGIN
        where the database locks nothing smaller. ``page_cache_mib`` is asked for only by a
        database that keeps a page cache per connection."""
        ...

    def snapshot(self, conn: Connection) -> Connection:
        """``conn`` set so that a transaction begun on it reads one committed state throughout."""
        ...

    def lock_schema(self, conn: Connection) -> None:
        """In a write transaction: wait until no other process is creating the tables."""
        ...

    def lock_register(self, conn: Connection, where: ColumnElement[bool]) -> int | None:
        """The id of the ``register`` row ``where`` selects (None if none), with that register
        locked against every other writer until the transaction ends."""
        ...

    def refresh_statistics(self, engine: Engine) -> None:
        """Bring the planner's statistics of the log's tables up to date where the database keeps
        them, outside any transaction of ours; nothing where it may not (a read-only replica, a
        role that does not own the tables)."""
        ...

    def database_file(self, url: URL) -> Path | None:
        """The file the database is, as ``url`` names it; None for a server or memory."""
        ...

    def autocommit(self, dbapi_connection: Any) -> None:
        """Set a DBAPI connection of this engine's (taken out of its pool) to run each statement
        in a transaction of its own."""
        ...

    def stream_cursor(self, dbapi_connection: Any) -> Any:
        """A cursor whose rows arrive as they are fetched, not all at once when executed."""
        ...

    # -- text search -----------------------------------------------------------------------

    def item_contains(self, content: ColumnElement[Any], needle: bytes) -> ColumnElement[bool]:
        """Whether an item's canonical bytes (``content``, valid UTF-8) contain ``needle``."""
        ...

    def search_ranks(
        self, conn: Connection, register_id: int, words: Sequence[str], before: int, limit: int,
        after: int | None = None,
    ) -> list[int]:
        """The ranks (store/search.py) below ``before`` of up to ``limit`` rows of the register
        whose words hold a word beginning with each of ``words`` (in normal form), highest
        first: the index read from ``before`` down (where it gives matches in rank order).
        With ``after``, those above it instead, lowest first: the index read from ``after`` up."""
        ...

    def insert_search(self, register_id: int, rows: list[SearchRow]) -> Write:
        """Add search rows ``(rank, words separated by single spaces)`` (given in rank order)."""
        ...

    def delete_search(self, register_id: int, rows: list[SearchRow]) -> Write:
        """Remove the search rows of those ranks, each given with exactly the words it holds."""
        ...

    # -- bulk writes: one statement per table per chunk (store/bulk.py) ----------------------

    def insert_items(
        self, register_id: int, digests: list[bytes], contents: list[bytes], *, probe: bool, staged: bool
    ) -> Write:
        """Store the items (``contents[i]`` hashes to ``digests[i]``) in the order given: with
        ``probe`` only those ``item_hash`` lacks, else all. Then their digests and new ids go
        into ``item_hash``, or into the ``item_stage`` table when ``staged``."""
        ...

    def insert_entries(self, register_id: int, rows: list[EntryRow]) -> Write:
        """Append ``rows`` to ``entry``."""
        ...

    def insert_entry_keys(self, register_id: int, rows: list[KeyRow]) -> Write:
        """Append ``rows`` to ``entry_key``, in the order given."""
        ...

    def upsert_records(self, register_id: int, rows: list[KeyRow]) -> Write:
        """Point each key's ``record`` at the entry number given (rows of distinct keys)."""
        ...

    def upsert_tiles(self, register_id: int, rows: list[TileRow]) -> Write:
        """Store each ``merkle_tile`` given, in place of any stored one (rows of distinct tiles)."""
        ...

    def insert_field_values(self, register_id: int, rows: list[FieldRow]) -> Write:
        """Add ``rows`` to ``field_value``; a row it already holds, or holds twice, is kept once."""
        ...

    def insert_staged(self, table: str, columns: Sequence[tuple[str, str]], rows: list[Any]) -> Write:
        """Append ``rows`` to the temporary table ``table`` of ``columns`` (name, kind)."""
        ...

    def merging(self, conn: Connection) -> AbstractContextManager[None]:
        """A context for merging staged rows into their tables: large sorts, then index-ordered
        reads. It keeps the connection's memory flat while they run and restores its settings."""
        ...

    def run(self, conn: Connection, writes: Sequence[Write]) -> None:
        """Run ``writes`` in order on ``conn``'s DBAPI connection, inside its transaction (the
        driver may send them in fewer round trips; any error is raised)."""
        ...


DRIVERS: dict[str, Dialect] = {driver.name: driver for driver in (SQLite(), PostgreSQL())}


def driver_for_url(url: str) -> Dialect:
    """The driver of the database ``url`` names; RegisterError (one line) for one without."""
    try:
        name = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):  # ValueError: a port that is not a number
        shown = re.sub(r"(://[^/:@]*:)[^/@]*@", r"\1***@", url)  # never a password
        raise RegisterError(f"'{shown}' is not a database URL (REGISTERS_DATABASE_URL, or --db): "
                            "sqlite:///FILE or postgresql://USER@HOST/DATABASE") from None
    driver = DRIVERS.get(name)
    if driver is None:
        raise RegisterError(f"registers has no driver for '{name}' databases (it has: {', '.join(sorted(DRIVERS))})")
    return driver


def dialect_for(bind: Engine | Connection) -> Dialect:
    """The driver of the database ``bind`` is connected to (chosen when its engine was opened)."""
    return DRIVERS[bind.dialect.name]
