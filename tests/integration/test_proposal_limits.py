"""Limits that work (issue 24): the proposal rate counts the visitor's address as the configured
trusted proxies saw it, never a header anyone can send; a register's open proposals are capped;
addresses are kept only as an HMAC under the server secret, without which the app will not
start; proposals are JSON only, and a cross-site form may POST one after a CORS preflight."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, select, text

from registers import service
from registers.settings import BadSetting
from registers.store import migrations
from registers.store.engine import open_engine
from registers.store.schema import proposal, rate_window
from registers.web import create_app
from registers.web.state import state
from tests.integration.helpers import load

FOREVER = 10**9  # a rate window with no boundary to cross during a test
SECRET = "a-secret-of-the-test-" + "0" * 43
BODY = {"key": "FR", "fields": {"name": "Francia"}, "reason": "its Spanish name"}


@pytest.fixture
def app_for(engine: Engine, db_url: str) -> Iterator[Any]:
    """Test clients of apps over one database holding 'country', each with settings of its own."""
    load(engine, "country-208.rsf", "country")
    apps = []

    def make(**config: object) -> FlaskClient:
        app = create_app({"DATABASE_URL": db_url, "TESTING": True, "PROPOSAL_RATE_WINDOW": FOREVER, **config})
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        state(app).close()


def _post(client: FlaskClient, socket: str, forwarded: str | None = None, **body: object) -> Any:
    headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
    return client.post("/country/proposals", json={**BODY, **body}, headers=headers,
                       environ_base={"REMOTE_ADDR": socket})


def _clients(engine: Engine) -> list[str | None]:
    with engine.connect() as conn:
        return list(conn.execute(select(proposal.c.client_mac).order_by(proposal.c.id)).scalars())


def _mac(address: str, secret: str) -> str:
    return hmac.new(secret.encode(), address.encode(), hashlib.sha256).hexdigest()


def test_behind_a_trusted_proxy_each_forwarded_client_is_limited_by_its_own_address(
        app_for: Any, engine: Engine) -> None:
    client = app_for(TRUSTED_PROXIES=1, PROPOSAL_RATE=2, SECRET_KEY=SECRET)
    proxy = "10.0.0.7"  # every request arrives from the load balancer's socket
    assert [_post(client, proxy, "203.0.113.1").status_code for _ in range(2)] == [201, 201]
    limited = _post(client, proxy, "203.0.113.1")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
    # what the visitor put in front of the proxy's own entry is not its address
    assert _post(client, proxy, "198.51.100.66, 203.0.113.1").status_code == 429
    assert _post(client, proxy, "203.0.113.2").status_code == 201  # another visitor is not held back
    assert _clients(engine) == [_mac("203.0.113.1", SECRET)] * 2 + [_mac("203.0.113.2", SECRET)]


def test_without_a_trusted_proxy_a_forwarded_header_does_not_move_the_limit(app_for: Any, engine: Engine) -> None:
    client = app_for(PROPOSAL_RATE=2, SECRET_KEY=SECRET)  # REGISTERS_TRUSTED_PROXIES: 0, the default
    codes = [_post(client, "192.0.2.1", f"203.0.113.{n}").status_code for n in range(4)]
    assert codes == [201, 201, 429, 429]
    assert _clients(engine) == [_mac("192.0.2.1", SECRET)] * 2  # the socket's address, never the header's


def test_a_register_full_of_open_proposals_answers_503_with_retry_after(app_for: Any, engine: Engine) -> None:
    client = app_for(PROPOSALS_OPEN_MAX=2, PROPOSAL_RATE=100)
    made = [_post(client, f"192.0.2.{n}").json["id"] for n in range(2)]
    full = _post(client, "192.0.2.9")
    assert full.status_code == 503 and full.mimetype == "application/problem+json"
    assert int(full.headers["Retry-After"]) > 0 and full.headers["Cache-Control"] == "no-store"
    assert full.json["title"] == "Too many open proposals" and "2 open proposals" in full.json["detail"]
    assert len(service.list_proposals(engine, "country")) == 2
    service.reject(engine, "country", made[0], by="custodian", reason="not its English name")
    assert _post(client, "192.0.2.9").status_code == 201  # a decision makes room
    assert _post(client, "192.0.2.10").status_code == 503


def test_a_client_address_is_kept_only_as_an_hmac_under_the_secret(app_for: Any, engine: Engine) -> None:
    address = "192.0.2.44"
    for secret in (SECRET, SECRET.upper()):
        assert _post(app_for(SECRET_KEY=secret), address).status_code == 201
    first, second = _clients(engine)
    assert first == _mac(address, SECRET) and second == _mac(address, SECRET.upper()) and first != second
    assert hashlib.sha256(address.encode()).hexdigest() not in (first, second)
    with engine.connect() as conn:
        counted = set(conn.execute(select(rate_window.c.client_mac)).scalars())
    assert counted == {first, second}  # and the rate is counted under the same HMAC
    assert service.client_hash(address, SECRET) == first


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          None])
def test_a_proposal_not_sent_as_json_is_refused_415(app_for: Any, engine: Engine, content_type: str | None) -> None:
    client = app_for()
    headers = {"Content-Type": content_type} if content_type else {}
    refused = client.post("/country/proposals", data=json.dumps(BODY), headers=headers)
    assert refused.status_code == 415 and refused.mimetype == "application/problem+json"
    assert "application/json" in refused.json["detail"]
    assert refused.headers["Access-Control-Allow-Origin"] == "*"
    assert service.list_proposals(engine, "country", None) == []
    with engine.connect() as conn:
        assert conn.execute(select(rate_window)).all() == []  # refused before it was counted
    sent = client.post("/country/proposals", data=json.dumps(BODY),
                       headers={"Content-Type": "application/json; charset=utf-8"})
    assert sent.status_code == 201


def test_a_cors_preflight_allows_a_json_post_from_anywhere_without_credentials(app_for: Any) -> None:
    client = app_for()
    asked = client.options("/country/proposals", headers={
        "Origin": "https://forms.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert asked.status_code in (200, 204)
    assert asked.headers["Access-Control-Allow-Origin"] == "*"
    assert asked.headers["Access-Control-Allow-Methods"] == "POST"
    assert asked.headers["Access-Control-Allow-Headers"] == "Content-Type"
    assert "Access-Control-Allow-Credentials" not in asked.headers
    made = client.post("/country/proposals", json=BODY, headers={"Origin": "https://forms.example"})
    assert made.status_code == 201 and made.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in made.headers


def test_the_web_app_refuses_to_start_without_a_secret_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REGISTERS_SECRET_KEY", raising=False)
    database = tmp_path / "never.db"
    said = r'^REGISTERS_SECRET_KEY is not set: .*HMAC.*python -c "import secrets; print\(secrets.token_hex\(32\)\)"$'
    with pytest.raises(BadSetting, match=said):
        create_app({"DATABASE_URL": f"sqlite:///{database}"})
    with pytest.raises(BadSetting, match=said):
        create_app({"DATABASE_URL": f"sqlite:///{database}", "SECRET_KEY": ""})
    assert not database.exists()  # refused before anything was opened


def test_the_migration_drops_the_plain_address_hashes(engine: Engine, db_url: str) -> None:
    """0010: a bare SHA-256 cannot become an HMAC, so the stored hashes are dropped: proposals
    keep no client, and the rate counts start again."""
    load(engine, "country-small.rsf", "country")
    for n in range(2):
        service.propose(engine, "country", "FR", {"name": f"France {n}"}, "r", client=_mac("192.0.2.1", SECRET))
    migrations.downgrade(engine, "0009")
    plain = hashlib.sha256(b"192.0.2.1").hexdigest()
    with engine.begin() as conn:
        conn.execute(text("UPDATE proposal SET client = :plain"), {"plain": plain})
        conn.execute(text("INSERT INTO rate_window (client, scope, bucket, hits) VALUES (:plain, 'propose/60', 1, 9)"),
                     {"plain": plain})
    engine.dispose()
    assert service.migrate(db_url) == ("0009", migrations.HEAD)
    migrated = open_engine(db_url)
    try:
        assert _clients(migrated) == [None, None]
        assert [p.fields for p in service.list_proposals(migrated, "country")] == [{"name": "France 1"},
                                                                                   {"name": "France 0"}]
        with migrated.connect() as conn:
            assert conn.execute(select(rate_window)).all() == []
            # a database that lost its record of the revision is told apart from 0009 by its columns
            assert migrations.schema_revision(conn, {"checkpoint", "quality_report"}) == migrations.HEAD
    finally:
        migrated.dispose()


def test_an_ipv6_client_counts_as_its_64_network_however_it_is_spelt(app_for: Any, engine: Engine) -> None:
    """One host is given a /64: its 2**64 addresses are one client, and one address spelt three
    ways is one too (each counted apart, 5 posts from a /64 passed a limit of 3)."""
    client = app_for(TRUSTED_PROXIES=1, PROPOSAL_RATE=3, SECRET_KEY=SECRET)
    codes = [_post(client, "10.0.0.7", f"2001:db8:1:1::{n}").status_code for n in range(1, 5)]
    assert codes == [201, 201, 201, 429]
    assert _post(client, "10.0.0.7", "2001:db8:1:2::1").status_code == 201  # another /64, another client
    assert service.client_hash("::1", SECRET) == service.client_hash("0:0:0::1", SECRET) \
        == service.client_hash("[::1]", SECRET) == service.client_hash("::2", SECRET)
    assert service.client_hash("::ffff:192.0.2.1", SECRET) == service.client_hash("192.0.2.1", SECRET)
    assert service.client_hash("192.0.2.1", SECRET) != service.client_hash("192.0.2.2", SECRET)


def test_a_short_secret_is_refused_in_one_line(engine: Engine, db_url: str) -> None:
    with pytest.raises(BadSetting, match="REGISTERS_SECRET_KEY is 1 characters long: a secret needs at least 16"):
        create_app({"DATABASE_URL": db_url, "SECRET_KEY": "x"})


def test_a_method_a_route_does_not_answer_is_405_naming_those_it_does(app_for: Any) -> None:
    answer = app_for(SECRET_KEY=SECRET).put("/country/records/GB")
    assert answer.status_code == 405 and answer.mimetype == "application/problem+json"
    assert {m.strip() for m in answer.headers["Allow"].split(",")} >= {"GET", "HEAD"}


def test_a_script_on_another_site_may_read_where_a_proposal_went_and_when_to_retry(app_for: Any) -> None:
    client = app_for(PROPOSAL_RATE=1, SECRET_KEY=SECRET)
    made = _post(client, "192.0.2.1")
    assert made.status_code == 201 and "Location" in made.headers["Access-Control-Expose-Headers"]
    limited = _post(client, "192.0.2.1")
    assert limited.status_code == 429 and "Retry-After" in limited.headers["Access-Control-Expose-Headers"]
