"""Shared fixtures: the real data in ../shared, and fresh databases per test.

A database is a new SQLite file by default. With REGISTERS_TEST_DATABASE_URL set to a
PostgreSQL URL, each one is a schema of its own on that server (dropped afterwards), so the
same tests run unchanged against the real PostgreSQL.
"""

from __future__ import annotations

import json
import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import Engine, create_engine, text

from registers.service.keys import generate_key
from registers.store.engine import database_url, open_engine

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
RSF = SHARED / "data" / "rsf"
VECTORS = SHARED / "vectors"
TEST_URL_ENV = "REGISTERS_TEST_DATABASE_URL"
# the web app refuses to start without it: one for the session, inherited by the servers tests start
os.environ.setdefault("REGISTERS_SECRET_KEY", secrets.token_hex(32))


def vector(name: str) -> dict:  # type: ignore[type-arg]
    """A golden vector file from ../shared/vectors."""
    return json.loads((VECTORS / name).read_text())


def on_postgresql() -> bool:
    """True when the suite runs against PostgreSQL."""
    return bool(os.environ.get(TEST_URL_ENV))


@contextmanager
def fresh_database(tmp_path: Path, name: str) -> Iterator[str]:
    """The URL of a new, empty database that nothing else uses."""
    base = os.environ.get(TEST_URL_ENV)
    if not base:
        yield f"sqlite:///{tmp_path / name}.db"
        return
    base = database_url(base)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(autouse=True)
def author(monkeypatch: pytest.MonkeyPatch) -> str:
    """Who the suite's local changes are made by: a team's name, as REGISTERS_AS (a change with
    no author is refused, and the login name is never used: tests/e2e/test_authorship.py)."""
    monkeypatch.setenv("REGISTERS_AS", "test-suite")
    return "test-suite"


@pytest.fixture(autouse=True)
def key_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test signs with keys of its own, kept in its own directory (and saves audited
    checkpoints in a trust store of its own)."""
    directory = tmp_path / "keys"
    monkeypatch.setenv("REGISTERS_KEY_DIR", str(directory))
    monkeypatch.setenv("REGISTERS_TRUST_DIR", str(tmp_path / "trust"))
    return directory


@pytest.fixture
def db_url(tmp_path: Path) -> Iterator[str]:
    """The URL of the test's own empty database."""
    with fresh_database(tmp_path, "registers") as url:
        yield url


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    """An engine on the test's own empty database, tables created, and a signing key made on
    purpose (as 'registers keys generate' makes it) in the test's key directory."""
    eng = open_engine(db_url)
    generate_key(eng)
    yield eng
    eng.dispose()


@pytest.fixture
def other_engine(tmp_path: Path) -> Iterator[Engine]:
    """A second, independent empty database of the same kind (with a signing key of its own)."""
    with fresh_database(tmp_path, "other") as url:
        eng = open_engine(url)
        generate_key(eng)
        yield eng
        eng.dispose()
