"""Retention (issue 27): proposers' contacts are deleted a set time after their proposal is
decided, and rate-limit counts once their window has passed, by ``registers proposals purge``;
nothing else is touched. A new SQLite database and its key directory are its owner's alone."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, insert, select, update

from registers import service
from registers.store.engine import open_engine, writer
from registers.store.schema import proposal, rate_window
from tests.e2e.test_cli import ok
from tests.integration.helpers import load, snapshot

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def _proposal(engine: Engine, key: str, contact: str | None, decided: str | None) -> int:
    made = service.propose(engine, "country", key, {"official-name": f"The {key}"}, "a test", contact=contact)
    if decided is not None:
        with writer(engine).begin() as conn:
            conn.execute(update(proposal).where(proposal.c.id == made.id)
                         .values(status="rejected", decided=decided, decided_by="test", decision_reason="no"))
    return made.id


def test_purge_removes_contacts_past_retention_and_nothing_else(engine: Engine) -> None:
    load(engine, "country-small.rsf", "country")
    old = _proposal(engine, "GB", "old@example.org", "2026-09-01T10:00:00Z")  # 97 days before NOW
    recent = _proposal(engine, "FR", "recent@example.org", "2026-11-20T10:00:00Z")
    still_open = _proposal(engine, "DE", "open@example.org", None)
    bare = _proposal(engine, "IT", None, "2026-01-01T10:00:00Z")
    window = 60
    current = int(NOW.timestamp() // window)
    with writer(engine).begin() as conn:
        conn.execute(insert(rate_window), [
            {"client_mac": "a", "scope": f"propose/{window}", "bucket": current - 5, "hits": 3},
            {"client_mac": "b", "scope": f"propose/{window}", "bucket": current, "hits": 1}])
    before = snapshot(engine)
    done = service.purge(engine, 90, NOW)
    assert (done.contacts, done.rate_rows, done.before) == (1, 1, "2026-09-08T12:00:00Z")
    contacts = {i: service.contact_of(engine, "country", i) for i in (old, recent, still_open, bare)}
    assert contacts == {old: None, recent: "recent@example.org", still_open: "open@example.org", bare: None}
    after = snapshot(engine)
    assert {k: v for k, v in after.items() if k not in ("proposal", "rate_window")} == \
        {k: v for k, v in before.items() if k not in ("proposal", "rate_window")}
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(select(rate_window.c.client_mac, rate_window.c.bucket))]
        assert rows == [("b", current)]
        kept = {r.id: r for r in conn.execute(select(proposal))}
    assert all(kept[i].status == ("open" if i == still_open else "rejected") for i in kept)
    assert service.purge(engine, 90, NOW).contacts == 0  # again: nothing left to do


def test_the_command_purges_every_register(engine: Engine, db_url: str) -> None:
    load(engine, "country-small.rsf", "country")
    _proposal(engine, "GB", "old@example.org", "2020-01-01T10:00:00Z")
    out = ok(db_url, "proposals", "purge")
    assert out.startswith("purged 1 contact of proposals decided before ") and "0 rate-limit counts" in out


def test_a_new_sqlite_database_and_its_keys_are_the_owners_alone(tmp_path: Path) -> None:
    # a SQLite file on either suite's run (PostgreSQL's files are its server's, in its own directory)
    url = f"sqlite:///{tmp_path / 'new.db'}"
    engine = open_engine(url)
    service.generate_key(engine)
    engine.dispose()
    assert stat.S_IMODE((tmp_path / "new.db").stat().st_mode) == 0o600
    keys = tmp_path / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert all(stat.S_IMODE(f.stat().st_mode) == 0o600 for f in keys.iterdir())
