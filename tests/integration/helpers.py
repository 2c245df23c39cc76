"""Small helpers for store and web tests: loading shared dumps, snapshotting a database, a
test client of the web app."""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager

from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select

from registers import service
from registers.store import schema
from registers.store.append import AppendResult
from registers.web import create_app
from registers.web.state import state
from tests.conftest import RSF


@contextmanager
def app_client(db_url: str, **config: object) -> Iterator[FlaskClient]:
    """A test client of the web app serving ``db_url`` (TESTING, and ``config`` by setting
    name, e.g. ``PROPOSAL_RATE=100``); the app's engines are closed when the block ends."""
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, **config})
    try:
        yield app.test_client()
    finally:
        state(app).close()


def load(engine: Engine, name: str, register: str | None = None) -> AppendResult:
    """Load ../shared/data/rsf/<name> into ``register`` (default: the dump's own name)."""
    return service.load_rsf(engine, str(RSF / name), register)


def export(engine: Engine, register: str, start: int = 0, end: int | None = None) -> bytes:
    """The RSF export of a register as bytes."""
    out = io.BytesIO()
    service.export_rsf(engine, register, out, start, end)
    return out.getvalue()


def row_counts(engine: Engine) -> dict[str, int]:
    """How many rows each table holds (to show a refused load left nothing behind)."""
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one() for t in schema.metadata.sorted_tables}


def snapshot(engine: Engine) -> dict[str, list]:
    """Every row of every table, in a stable order."""
    with engine.connect() as conn:
        return {
            t.name: sorted(tuple(map(repr, row)) for row in conn.execute(select(t)))
            for t in schema.metadata.sorted_tables
        }
