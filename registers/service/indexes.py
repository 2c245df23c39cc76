"""Field indexes a custodian chooses: lookups by value (``records/postcode/SW1A 1AA``) that stay
fast at tens of millions of records, and the fields word search reads beside the key and
``name``. See ``store.fields`` and ``store.search`` for how they are kept."""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from ..core.errors import RegisterError
from ..store import fields, search
from ..store.dialects import dialect_for
from ..store.engine import snapshot, writer
from ..store.schema import register
from .records import definition_of
from .registers import register_id_of


def indexed_fields(engine: Engine, name: str) -> tuple[str, ...]:
    """The fields of register ``name`` that are indexed."""
    with snapshot(engine) as conn:
        return fields.indexed_fields(conn, register_id_of(conn, name))


def index_field(engine: Engine, name: str, field: str) -> int:
    """Index ``field`` of register ``name`` (a field its definition has); the rows written for
    its current records (0 if it was indexed already). Holds the register's write lock, so no
    change is appended meanwhile; every later change keeps the index."""
    with writer(engine).begin() as conn:
        reg_id = _locked(conn, name)
        _defined(conn, reg_id, name, field)
        return fields.add_index(conn, reg_id, field)


def drop_field_index(engine: Engine, name: str, field: str) -> bool:
    """Stop indexing ``field`` of register ``name`` (lookups fall back to a scan); True if it was."""
    with writer(engine).begin() as conn:
        return fields.drop_index(conn, _locked(conn, name), field)


def searched_fields(engine: Engine, name: str) -> tuple[str, ...]:
    """The fields a word search of register ``name`` reads beside the key: ``name`` and those
    its custodian marked."""
    with snapshot(engine) as conn:
        return search.searched_fields(conn, register_id_of(conn, name))


def search_field(engine: Engine, name: str, field: str) -> int:
    """Mark ``field`` of register ``name`` (a field its definition has) for word search: the
    words of its current records are rewritten now, under the register's write lock, and every
    later change carries them. The records whose words changed (0 if it was searched already)."""
    with writer(engine).begin() as conn:
        reg_id = _locked(conn, name)
        _defined(conn, reg_id, name, field)
        return search.mark(conn, reg_id, field)


def drop_search_field(engine: Engine, name: str, field: str) -> int | None:
    """Stop searching ``field`` of register ``name`` (``name`` itself is always searched); the
    records whose words changed, None if it was not marked."""
    if field in search.SEARCHED:
        raise RegisterError(f"'{field}' is searched in every register; only fields marked with --search can be dropped")
    with writer(engine).begin() as conn:
        return search.unmark(conn, _locked(conn, name), field)


def _locked(conn, name: str) -> int:  # type: ignore[no-untyped-def]
    reg_id = register_id_of(conn, name)
    dialect_for(conn).lock_register(conn, register.c.id == reg_id)
    return reg_id


def _defined(conn: Connection, reg_id: int, name: str, field: str) -> None:
    """RegisterError, naming its fields, unless register ``name``'s definition has ``field``."""
    definition = definition_of(conn, reg_id, name)
    if field not in definition.by_name:
        fields_listed = ", ".join(definition.field_names)
        raise RegisterError(f"register '{name}' has no field '{field}' (its fields: {fields_listed})")
