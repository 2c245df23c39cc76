"""Schema migrations (alembic): ``upgrade`` brings an existing database to this code's schema.

New databases are created at the newest revision directly (``engine.open_engine``); a database
made by an older version is refused on open until ``registers migrate`` has run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import Connection

HEAD = "0012"  # the newest revision: keep equal to the last file in versions/
BASELINE = "0001"  # the schema before signed checkpoints (landed with issue 3)


def current_revision(conn: Connection, tables: set[str] | None = None) -> str | None:
    """The revision recorded in the database, or None if it records none (``tables``: its
    table names, when the caller has them already)."""
    if "alembic_version" not in (tables if tables is not None else _tables(conn)):
        return None
    found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if found is None else str(found)


def _config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent))
    config.attributes["connection"] = connection
    return config


def stamp(conn: Connection, revision: str) -> None:
    """Record ``revision`` as the database's schema without running anything."""
    from alembic import command

    command.stamp(_config(conn), revision)


def upgrade(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Run the migrations up to ``revision`` in one transaction; the revisions before and after."""
    from alembic import command

    with engine.execution_options(registers_write=True).begin() as conn:
        before = schema_revision(conn)
        if before is not None and current_revision(conn) is None:
            stamp(conn, before)
        command.upgrade(_config(conn), revision)
        return before, current_revision(conn)


def downgrade(engine: Engine, revision: str) -> None:
    """Undo migrations down to ``revision`` (for tests of upgrades)."""
    from alembic import command

    with engine.execution_options(registers_write=True).begin() as conn:
        command.downgrade(_config(conn), revision)


def schema_revision(conn: Connection, tables: set[str] | None = None) -> str | None:
    """The database's schema revision: the one recorded, else (a database made before
    migrations existed) the one its tables show; None for an empty database."""
    tables = tables if tables is not None else _tables(conn)
    recorded = current_revision(conn, tables)
    if recorded is not None or "checkpoint" not in tables:
        return recorded
    if "quality_report" in tables:
        columns = {c["name"] for c in inspect(conn).get_columns("proposal")}
        if "client_mac" not in columns:
            return "0009"
        indexes = {i["name"] for i in inspect(conn).get_indexes("checkpoint")}
        if "checkpoint_by_user_size" not in indexes:
            return "0010"
        return "0012" if "expires" in {c["name"] for c in inspect(conn).get_columns("token")} else "0011"
    if "search_field" in tables:
        return "0008"
    if "superseded" in tables:
        return "0007"
    if "mirror" in tables:
        return "0006"
    if "item_hash" in tables:
        return "0005"
    if "proposal" in tables:
        return "0004"
    if "field_index" in tables:
        return "0003"
    columns = {c["name"] for c in inspect(conn).get_columns("checkpoint")}
    return "0002" if "user_note" in columns else BASELINE


def _tables(conn: Connection) -> set[str]:
    return set(inspect(conn).get_table_names())


def current_revision_of(engine: Engine) -> str | None:
    """The revision recorded in the database of ``engine``."""
    with engine.connect() as conn:
        return current_revision(conn)


def has_tables(engine: Engine) -> bool:
    """Whether the database holds this platform's tables at all."""
    with engine.connect() as conn:
        return "register" in _tables(conn)
