"""Proposed changes: anyone proposes, only the custodian's approval appends; rejections never do;
stale proposals must be re-checked; impossible ones are refused up front; floods, oversized
bodies and contact details are handled as a public endpoint must."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine

from cli import main
from registers import service
from registers.core.notes import VerifierKey
from registers.core.receipts import verify_receipt
from registers.web import create_app
from registers.web.state import state
from tests.conftest import ROOT
from tests.integration.helpers import load, snapshot

CONTACT = "proposer-7f3a@example.org"


@pytest.fixture
def app_for(engine: Engine, db_url: str) -> Iterator:  # type: ignore[type-arg]
    load(engine, "country-208.rsf", "country")
    load(engine, "industrial-classification.rsf")
    apps = []

    def make(**config: object):  # type: ignore[no-untyped-def]
        app = create_app({"DATABASE_URL": db_url, "TESTING": True, **config})
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        state(app).close()


@pytest.fixture
def client(app_for) -> FlaskClient:  # type: ignore[no-untyped-def]
    return app_for()


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def _propose(client: FlaskClient, **body: object) -> object:
    return client.post("/country/proposals", json=body)


def test_an_anonymous_proposal_becomes_an_entry_only_when_approved(client: FlaskClient, engine: Engine) -> None:
    before = service.head(engine, "country")
    made = _propose(client, key="GB", fields={"official-name": "The United Kingdom"}, reason="the short form",
                    contact=CONTACT)
    assert made.status_code == 201, made.json
    ident = made.json["id"]
    assert made.headers["Location"] == f"/country/proposals/{ident}"
    assert made.json["diff"] == {"official-name": ["The United Kingdom of Great Britain and Northern Ireland",
                                                   "The United Kingdom"]}
    assert service.head(engine, "country") == before  # not authoritative: nothing appended
    token = service.issue_token(engine, "country", "Jane Doe, FCDO").secret
    other = service.issue_token(engine, "industrial-classification").secret
    approve = f"/country/proposals/{ident}/approve"
    assert client.post(approve, json={"reason": "ok"}).status_code == 401
    assert client.post(approve, json={"reason": "ok"}, headers=_auth(other)).status_code == 403
    assert client.post(approve, json={}, headers=_auth(token)).status_code == 400  # a reason is required
    assert service.head(engine, "country") == before
    done = client.post(approve, json={"reason": "confirmed with FCDO"}, headers=_auth(token))
    assert done.status_code == 200, done.json
    after = service.head(engine, "country")
    assert after.user_size == before.user_size + 1
    assert done.json["status"] == "approved" and done.json["entry-number"] == after.user_size
    assert done.json["decided-by"] == "Jane Doe, FCDO" and done.json["decision-reason"] == "confirmed with FCDO"
    keys = [VerifierKey.parse(k) for k in service.public_keys(engine)]
    assert verify_receipt(done.json["receipt"], keys)[0].checkpoint.size == after.user_size
    assert service.receipt_of(engine, "country", ident) == done.json["receipt"]
    line = service.show_record(engine, "country", "GB", history=True)[-1]
    assert line.record.item["official-name"] == "The United Kingdom"
    assert line.change is not None
    assert (line.change.by, line.change.reason) == ("Jane Doe, FCDO", f"confirmed with FCDO (proposal {ident})")
    seen = client.get(f"/country/proposals/{ident}.json").json  # what the proposer sees
    assert seen["status"] == "approved" and seen["diff"] == made.json["diff"]
    assert seen["receipt"] == done.json["receipt"] and seen["entry-number"] == after.user_size
    assert client.post(approve, json={"reason": "again"}, headers=_auth(token)).status_code == 409
    assert service.head(engine, "country") == after


def test_a_rejected_proposal_never_becomes_an_entry(client: FlaskClient, engine: Engine) -> None:
    ident = _propose(client, key="FR", fields={"name": "Frankreich"}, reason="German name").json["id"]
    token = service.issue_token(engine, "country").secret
    stored = snapshot(engine)
    rejected = client.post(f"/country/proposals/{ident}/reject", json={"reason": "names are in English"},
                           headers=_auth(token))
    assert rejected.status_code == 200
    seen = client.get(f"/country/proposals/{ident}").json
    assert (seen["status"], seen["decision-reason"]) == ("rejected", "names are in English")
    assert client.post(f"/country/proposals/{ident}/approve", json={"reason": "changed my mind"},
                       headers=_auth(token)).status_code == 409
    after = snapshot(engine)
    assert {t: rows for t, rows in after.items() if t not in ("proposal", "token")} == \
        {t: rows for t, rows in stored.items() if t not in ("proposal", "token")}  # the proposal's status moved
    assert service.list_tokens(engine, "country")[0].last_used is not None  # and the token's last use
    assert service.show_record(engine, "country", "FR")[0].record.item["name"] == "France"


def test_a_stale_proposal_is_flagged_and_must_be_rechecked(client: FlaskClient, engine: Engine) -> None:
    ident = _propose(client, key="DE", fields={"name": "Deutschland"}, reason="endonym").json["id"]
    assert client.get(f"/country/proposals/{ident}").json["stale"] is False
    service.amend_record(engine, "country", "DE", {"official-name": "Bundesrepublik Deutschland"}, by="custodian")
    assert client.get(f"/country/proposals/{ident}").json["stale"] is True
    assert [p.stale for p in service.list_proposals(engine, "country")] == [True]
    with pytest.raises(service.ProposalConflict, match="stale.*re-check"):
        service.approve(engine, "country", ident, by="custodian", reason="ok")
    before = service.head(engine, "country")
    token = service.issue_token(engine, "country").secret
    assert client.post(f"/country/proposals/{ident}/approve", json={"reason": "ok"},
                       headers=_auth(token)).status_code == 409
    assert service.head(engine, "country") == before
    rechecked = client.post(f"/country/proposals/{ident}/recheck", json={}, headers=_auth(token))
    assert rechecked.status_code == 200 and rechecked.json["stale"] is False
    service.approve(engine, "country", ident, by="custodian", reason="ok")
    item = service.show_record(engine, "country", "DE")[0].record.item
    assert (item["name"], item["official-name"]) == ("Deutschland", "Bundesrepublik Deutschland")


@pytest.mark.parametrize(("body", "reason"), [
    ({"key": "GB", "fields": {"start-date": "last year"}, "reason": "r"}, "field 'start-date': value 'last year'"),
    ({"key": "GB", "fields": {"colour": "red"}, "reason": "r"}, "field 'colour' is not a field"),
    ({"key": "ZZ", "action": "end", "fields": {"end-date": "2020-01-01"}, "reason": "r"}, "record 'ZZ' does not exist"),
    ({"key": "GB", "action": "add", "fields": {"name": "Britain"}, "reason": "r"}, "record 'GB' already exists"),
    ({"key": "GB", "fields": {"name": "United Kingdom"}, "reason": "r"}, "already has these values"),
    ({"key": "GB", "fields": {"name": ["a", "b"]}, "reason": "r"}, "field 'name'"),
    ({"key": "GB", "fields": {"name": "Britain"}, "reason": "  "}, "reason"),
    ({"key": "GB", "action": "delete", "fields": {}, "reason": "r"}, "'action': must be one of: add, amend, end"),
])
def test_an_impossible_proposal_is_refused_up_front_with_the_reason(
    client: FlaskClient, engine: Engine, body: dict, reason: str  # type: ignore[type-arg]
) -> None:
    answer = _propose(client, **body)
    assert answer.status_code in (400, 422), answer.json
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert reason in answer.json["detail"]
    assert service.list_proposals(engine, "country", None) == []


def test_a_link_to_nothing_is_refused_up_front(client: FlaskClient, engine: Engine) -> None:
    for name in ("local-authority-type", "local-authority-eng"):
        service.create_register(engine, name, service.read_schema(str(ROOT / "schemas" / f"{name}.json")))
    service.add_record(engine, "local-authority-type", "UA", {"name": "Unitary authority"})
    service.add_record(engine, "local-authority-eng", "BAS", {"name": "Bath", "local-authority-type": "UA"})
    answer = client.post("/local-authority-eng/proposals",
                         json={"key": "BAS", "fields": {"local-authority-type": "XYZ"}, "reason": "reorganised"})
    assert answer.status_code == 422
    assert "'XYZ' is not a key of register 'local-authority-type'" in answer.json["detail"]
    assert service.list_proposals(engine, "local-authority-eng", None) == []


def test_floods_oversized_bodies_and_contact_details(app_for, engine: Engine) -> None:  # type: ignore[no-untyped-def]
    day = 86_400  # a window this long has no boundary to cross during the test (except at midnight UTC)
    client = app_for(PROPOSAL_RATE=3, PROPOSAL_RATE_WINDOW=day, PROPOSAL_MAX_BYTES=2000)
    huge = {"key": "GB", "fields": {"name": "x" * 3000}, "reason": "big"}
    assert client.post("/country/proposals", json=huge).status_code == 413
    for n in range(3):
        assert _propose(client, key="FR", fields={"name": f"France {n}"}, reason="r", contact=CONTACT).status_code == 201
    flooded = _propose(client, key="FR", fields={"name": "France 4"}, reason="r")
    assert flooded.status_code == 429 and 0 < int(flooded.headers["Retry-After"]) <= day
    # the count is kept in the database: another server process sees the same flood ...
    assert app_for(PROPOSAL_RATE=3, PROPOSAL_RATE_WINDOW=day).post("/country/proposals", json={"key": "FR", "fields": {"name": "F"},
                                                                      "reason": "r"}).status_code == 429
    # ... while another client is not held back
    other = client.post("/country/proposals", json={"key": "FR", "fields": {"name": "Francia"}, "reason": "r"},
                        environ_base={"REMOTE_ADDR": "192.0.2.9"})
    assert other.status_code == 201
    assert len(service.list_proposals(engine, "country")) == 4
    served = b"".join(client.get(path, headers=headers).data for path in (
        "/country/proposals", "/country/proposals.json", "/country/proposals?status=all", "/country/proposals/1",
        "/country/proposals/1.json") for headers in ({}, {"Accept": "text/html"}))
    assert b"Proposal 1" in served and CONTACT.encode() not in served
    assert service.contact_of(engine, "country", 1) == CONTACT  # kept for the custodian only


def test_the_review_commands(engine: Engine, db_url: str, client: FlaskClient) -> None:
    runner = CliRunner()

    def run(*args: str) -> str:
        done = runner.invoke(main, ["--db", db_url, *args])
        assert done.exit_code == 0, done.output
        return done.output

    assert "proposal 1: amend country IT" in run("propose", "country", "IT", "name=Italia", "--reason", "endonym",
                                                   "--contact", CONTACT)
    assert "name: Spain -> España" in run("propose", "country", "ES", "name=España", "--reason", "endonym")
    listed = run("proposals", "country")
    assert "amend IT" in listed and "endonym" in listed and CONTACT not in listed
    assert json.loads(run("proposals", "show", "country", "1"))["contact"] == CONTACT
    assert "approved: entry 209" in run("proposals", "approve", "country", "1", "--reason", "agreed", "--as", "J")
    assert service.show_record(engine, "country", "IT")[0].record.item["name"] == "Italia"
    assert "rejected" in run("proposals", "reject", "country", "2", "--reason", "no")
    assert "no open proposals for 'country'" in run("proposals", "country", "--status", "open")
    assert "approved" in run("proposals", "country", "--status", "all")
    refused = runner.invoke(main, ["--db", db_url, "proposals", "approve", "country", "2", "--reason", "x"])
    assert refused.exit_code != 0 and "already rejected" in refused.output
