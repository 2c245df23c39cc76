"""Custodian tokens expire and say when they were last used (issue 27): a token lives
REGISTERS_TOKEN_EXPIRY_DAYS unless --expires says otherwise ('never' only when asked for); an
expired token gets 401 saying it expired; a write records the token's last use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, update

from registers import service
from registers.core.errors import RegisterError
from registers.service.tokens import expiry
from registers.store.engine import writer
from registers.store.schema import token
from tests.integration.helpers import app_client, load

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_when_a_token_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    assert expiry(None, NOW) == "2027-03-07T12:00:00Z"  # 90 days, the default
    monkeypatch.setenv("REGISTERS_TOKEN_EXPIRY_DAYS", "7")
    assert expiry(None, NOW) == "2026-12-14T12:00:00Z"
    assert expiry("30d", NOW) == "2027-01-06T12:00:00Z"
    assert expiry("2027-03-31", NOW) == "2027-03-31T00:00:00Z"
    assert expiry("never", NOW) is None
    for bad in ("90", "0d", "soon", "2026-12-01", "2027-02-30", "-1d"):
        with pytest.raises(RegisterError, match="--expires"):
            expiry(bad, NOW)


def test_an_expired_token_gets_401_saying_so_and_a_live_one_records_its_use(engine: Engine, db_url: str) -> None:
    load(engine, "country-small.rsf", "country")
    live = service.issue_token(engine, "country", "team-a")
    gone = service.issue_token(engine, "country", "team-b", "1d")
    forever = service.issue_token(engine, "country", "team-c", "never")
    assert live.expires is not None and forever.expires is None
    past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with writer(engine).begin() as conn:  # a day has passed, for this token
        conn.execute(update(token).where(token.c.id == gone.id).values(expires=past))
    change = {"action": "amend", "key": "GB", "fields": {"official-name": "The UK"}, "reason": "shorter"}
    with app_client(db_url) as client:
        refused = client.post("/country/changes", json=change, headers={"Authorization": f"Bearer {gone.secret}"})
        assert refused.status_code == 401 and "expired" in refused.get_json()["detail"]
        assert "team-b" not in refused.get_data(as_text=True)
        done = client.post("/country/changes", json=change, headers={"Authorization": f"Bearer {live.secret}"})
        assert done.status_code == 200, done.get_data(as_text=True)
    listed = {t.label: t for t in service.list_tokens(engine, "country")}
    assert listed["team-a"].last_used is not None and listed["team-b"].last_used is None
    assert listed["team-b"].expires == past and listed["team-c"].expires is None
    assert service.show_record(engine, "country", "GB", history=True)[-1].change.by == "team-a"
