"""Opening the database: which URL, engine settings per dialect, and creating the tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import Connection

from ..core.errors import RegisterError
from .schema import metadata

DEFAULT_URL = "sqlite:///registers.db"
ENV_URL = "REGISTERS_DATABASE_URL"
WRITE = {"registers_write": True}
ENV_SQLITE_CACHE = "REGISTERS_SQLITE_CACHE_MIB"
DEFAULT_SQLITE_CACHE_MIB = 16
_PG_SCHEMA_LOCK = 0x5245_4749  # pg advisory lock id taken while creating tables


def database_url(explicit: str | None = None) -> str:
    """The database to use: ``explicit``, else $REGISTERS_DATABASE_URL, else ./registers.db.

    A bare ``postgresql://`` URL is given the psycopg (v3) driver.
    """
    url = explicit or os.environ.get(ENV_URL) or DEFAULT_URL
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def open_engine(url: str | None = None, *, create_tables: bool = True) -> Engine:
    """An engine for ``url`` (see ``database_url``) with the tables created if missing.

    SQLite gets WAL, a busy timeout and ``BEGIN IMMEDIATE`` for write transactions (so the
    register write lock is taken before anything is read); PostgreSQL uses psycopg.
    """
    url = database_url(url)
    if url.startswith("sqlite"):
        # check_same_thread off: the append transaction hands its connection to one writer thread
        # at a time (store/bulk.py), never to two at once. LIFO: a process reuses its most recent
        # connection, so one thread keeps one page cache warm instead of filling five in turn.
        engine = create_engine(
            url, connect_args={"timeout": 60, "check_same_thread": False}, pool_use_lifo=True
        )
        _sqlite_setup(engine)
    else:
        engine = create_engine(url, pool_pre_ping=True, pool_use_lifo=True)
        _pg_setup(engine)
    if create_tables:
        try:
            _create_tables(engine)
        except BaseException:
            engine.dispose()  # a refused database leaves no connection open
            raise
    return engine


def sqlite_cache_mib() -> int:
    """SQLite's page cache per connection in MiB: ``$REGISTERS_SQLITE_CACHE_MIB``, else 16 (the
    most a connection holds in memory of the database; the OS caches the rest of the file)."""
    text = os.environ.get(ENV_SQLITE_CACHE, "")
    if not text:
        return DEFAULT_SQLITE_CACHE_MIB
    if not text.isdigit() or int(text) < 1:
        raise RegisterError(f"{ENV_SQLITE_CACHE}='{text}' must be a whole number of MiB, at least 1")
    return int(text)


def _sqlite_setup(engine: Engine) -> None:
    cache_kib = sqlite_cache_mib() * 1024

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
        write = connection.get_execution_options().get("registers_write")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _pg_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # No JIT compilation: every query here reads a page of rows through indexes, but a list
        # walking the log with a filter is costed as a long scan, and compiling it took ~50 ms
        # of a 5 ms query (measured at 300k records).
        cursor = dbapi_connection.cursor()
        cursor.execute("SET jit = off")
        cursor.close()
        dbapi_connection.commit()  # a SET in a transaction later rolled back would be undone


class SchemaOutdated(RegisterError):
    """A database made by an older version: ``registers migrate`` brings it up to date."""


def _create_tables(engine: Engine) -> None:
    """Create the tables of an empty database (at the newest schema revision); refuse a
    database made by an older version. When the schema is current (the usual case) no lock is
    taken, so a reader never waits for a writer."""
    from . import migrations

    with engine.connect() as conn:
        existing = set(inspect(conn).get_table_names())
        if "register" in existing:
            revision = migrations.schema_revision(conn, existing)
            if revision != migrations.HEAD:
                raise SchemaOutdated(
                    f"the database's schema is at revision {revision}, this version needs {migrations.HEAD}: "
                    "run 'registers migrate' (back it up first)"
                )
            return
    with engine.execution_options(**WRITE).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _PG_SCHEMA_LOCK})
        if "register" in set(inspect(conn).get_table_names()):  # another process made them meanwhile
            return
        metadata.create_all(conn)
        migrations.stamp(conn, migrations.HEAD)


@contextmanager
def snapshot(engine: Engine) -> Iterator[Connection]:
    """A read transaction that sees one committed state throughout (REPEATABLE READ on
    PostgreSQL; a deferred transaction in WAL mode is already a snapshot on SQLite). After an
    unforeseen error (not a RegisterError) its connection is discarded, not pooled again."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        try:
            with conn.begin():
                yield conn
        except RegisterError:
            raise
        except Exception:
            # A fault nobody foresaw may have left a statement half read, which on SQLite keeps
            # its snapshot open after the rollback: this connection is never handed out again.
            conn.invalidate()
            raise


def writer(engine: Engine) -> Engine:
    """The same engine, marked so that its transactions take the write lock at BEGIN."""
    return engine.execution_options(**WRITE)


def analyze(engine: Engine) -> bool:
    """Refresh PostgreSQL's statistics of the log's tables (autovacuum would, later; until then
    the planner takes grown tables for empty ones). Sampled: well under a second a table
    whatever its size; run outside any transaction of ours. False where it is not allowed (a
    read-only replica, a role that does not own the tables)."""
    from sqlalchemy.exc import DBAPIError

    try:
        with engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
                "ANALYZE item, item_hash, entry, entry_key, record, merkle_tile, field_value"
            )
        return True
    except DBAPIError:
        return False
