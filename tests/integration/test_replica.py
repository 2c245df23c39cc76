"""Reads from a separate read-only database URL, writes to the primary: on PostgreSQL a
read-only role on the same server stands in for a replica; on SQLite a read-only connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from registers import service
from registers.store.engine import database_url
from registers.web import create_app
from registers.web.state import state
from tests.conftest import RSF
from tests.integration.helpers import load


@pytest.fixture
def read_only_url(engine: Engine, db_url: str) -> Iterator[str]:
    """A URL for the same database that can only read."""
    if not db_url.startswith("postgresql"):
        path = db_url.removeprefix("sqlite:///")
        yield f"sqlite:///file:{path}?mode=ro&uri=true"
        return
    role = f"reader_{uuid.uuid4().hex[:8]}"
    with engine.begin() as conn:
        schema = conn.execute(text("SELECT current_schema()")).scalar_one()
        conn.execute(text(f"CREATE ROLE {role} LOGIN"))
        conn.execute(text(f"GRANT USAGE ON SCHEMA {schema} TO {role}"))
        conn.execute(text(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}"))
    base = database_url(db_url)
    yield base.replace("://postgres@", f"://{role}@", 1)
    with engine.begin() as conn:
        conn.execute(text(f"DROP OWNED BY {role}"))
        conn.execute(text(f"DROP ROLE {role}"))


@pytest.fixture
def client(engine: Engine, db_url: str, read_only_url: str) -> Iterator[FlaskClient]:
    load(engine, "country-small.rsf", "country")
    app = create_app({"DATABASE_URL": db_url, "READ_DATABASE_URL": read_only_url, "TESTING": True})
    yield app.test_client()
    state(app).close()


def test_reads_come_from_the_read_only_url_and_writes_go_to_the_primary(
    client: FlaskClient, engine: Engine, read_only_url: str
) -> None:
    reader = create_engine(read_only_url)
    with pytest.raises(DBAPIError), reader.begin() as conn:  # the read URL really cannot write
        conn.execute(text("DELETE FROM entry"))
    reader.dispose()
    assert client.get("/country/records/GB").json["GB"]["key"] == "GB"
    assert client.get("/country/register").json["total-entries"] == 7
    assert client.get("/readyz").status_code == 200
    secret = service.issue_token(engine, "country").secret
    patch = (RSF / "country-small-update.rsf").read_bytes()
    loaded = client.post("/country/load-rsf", headers={"Authorization": f"Bearer {secret}"}, data=patch)
    assert loaded.status_code == 200, loaded.json
    assert client.get("/country/register").json["total-entries"] == loaded.json["total-entries"] > 7
    assert client.get("/country/records/BS").status_code == 200
