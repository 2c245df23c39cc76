"""Opening the database: which URL, its driver (store/dialects), and creating the tables."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError

from ..core.errors import RegisterError
from ..settings import current
from .dialects import WRITE_OPTION, Dialect, dialect_for, driver_for_url
from .schema import metadata

WRITE = {WRITE_OPTION: True}


def database_url(explicit: str | None = None) -> str:
    """The database to use: ``explicit``, else $REGISTERS_DATABASE_URL, else ./registers.db.

    A bare ``postgresql://`` URL is given the psycopg (v3) driver.
    """
    url = explicit or current().database_url
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def open_engine(url: str | None = None, *, create_tables: bool = True, existing: bool = False) -> Engine:
    """An engine for ``url`` (see ``database_url``) with the tables created if missing, made by
    the database's driver (store/dialects): SQLite gets WAL, a busy timeout and ``BEGIN
    IMMEDIATE`` for write transactions (so the register write lock is taken before anything is
    read); PostgreSQL uses psycopg.

    With ``existing`` a SQLite file that is not there is refused (DatabaseMissing) and nothing
    is created: a command that only reads never leaves an empty database behind. A URL no
    driver can use, a file that is not a database or a server that cannot be reached is
    refused in one line naming the database (DatabaseUnusable), never a traceback.
    """
    url = database_url(url)
    driver = driver_for_url(url)
    _require_psycopg(url)
    where = _where(driver, url)
    if existing:
        _require_file(driver, url, where)
    else:
        _create_private(driver, url)
    try:
        engine = driver.create_engine(url, sqlite_cache_mib)
    except (ArgumentError, ImportError, TypeError, ValueError) as exc:  # a dialect, option or part it cannot use
        raise DatabaseUnusable(f"cannot open the database {where}: {_first_line(exc)}") from None
    if create_tables:
        try:
            _create_tables(engine)
        except DBAPIError as exc:  # not a database file, an unreachable server, a refused login
            engine.dispose()
            raise DatabaseUnusable(f"cannot open the database {where}: {_first_line(exc.orig)}") from None
        except BaseException:
            engine.dispose()  # a refused database leaves no connection open
            raise
    return engine


class DatabaseUnusable(RegisterError):
    """A database that cannot be opened: the message names it (never its password) and the reason."""


class DatabaseMissing(DatabaseUnusable):
    """No SQLite file where a command that only reads looks for one."""


def _first_line(exc: BaseException | None) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _where(driver: Dialect, url: str) -> str:
    """The database as a user named it: a SQLite file's path (``./registers.db``), else the URL
    with any password hidden."""
    parsed = make_url(url)
    file = driver.database_file(parsed)
    if file is None:
        return parsed.render_as_string(hide_password=True)
    return str(file) if file.is_absolute() or file.parent != Path(".") else f"./{file}"


def _create_private(driver: Dialect, url: str) -> None:
    """Make a new SQLite database file readable and writable by its owner only (mode 0600;
    SQLite gives its -wal and -shm files the same mode): it holds proposers' contacts. An
    existing file is left as it is."""
    parsed = make_url(url)
    file = driver.database_file(parsed)
    if file is None or parsed.query.get("uri") or file.exists() or not file.parent.is_dir():
        return
    try:
        os.close(os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:  # another process made it meanwhile
        pass


def _require_file(driver: Dialect, url: str, where: str) -> None:
    parsed = make_url(url)
    file = driver.database_file(parsed)
    if file is not None and not parsed.query.get("uri") and not file.exists():
        raise DatabaseMissing(f"no database at {where}")


class DriverMissing(RegisterError):
    """A PostgreSQL URL where the psycopg driver (the ``registers[postgresql]`` extra) is not installed."""


def _require_psycopg(url: str) -> None:
    """Refuse in one line, naming the extra to install, a psycopg URL that psycopg cannot serve."""
    if make_url(url).get_driver_name() != "psycopg":
        return
    try:
        import psycopg  # noqa: F401  (SQLAlchemy imports it too; this only names what is missing)
    except ImportError as exc:
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise DriverMissing(
            f"PostgreSQL needs the psycopg driver ({reason}): pip install 'registers[postgresql]'"
        ) from None


def sqlite_cache_mib() -> int:
    """SQLite's page cache per connection in MiB: ``$REGISTERS_SQLITE_CACHE_MIB``, else 16 (the
    most a connection holds in memory of the database; the OS caches the rest of the file)."""
    return current().sqlite_cache_mib


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
        dialect_for(conn).lock_schema(conn)
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
        conn = dialect_for(conn).snapshot(conn)
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
