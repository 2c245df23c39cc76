"""Remote writes: custodian tokens per register, stored hashed; without the right token
nothing is stored; refused changes say why; every accepted change answers with its receipt."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from registers import service
from registers.core.notes import VerifierKey
from registers.core.receipts import verify_receipt
from registers.web import create_app
from registers.web.state import state
from tests.conftest import ROOT, RSF
from tests.integration.helpers import load, snapshot


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[FlaskClient]:
    load(engine, "country-small.rsf", "country")
    load(engine, "country-small.rsf", "other")
    service.create_register(engine, "territory", service.read_schema(str(ROOT / "schemas" / "territory.json")))
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "MAX_UPLOAD": 200_000})
    yield app.test_client()
    state(app).close()


def _auth(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_a_custodian_token_loads_a_patch_and_answers_with_a_receipt(client: FlaskClient, engine: Engine) -> None:
    issued = service.issue_token(engine, "country", "Jane Doe, FCDO")
    patch = (RSF / "country-small-update.rsf").read_bytes()
    answer = client.post("/country/load-rsf?reason=2016%20update", data=patch, headers=_auth(issued.secret))
    assert answer.status_code == 200, answer.json
    assert answer.json["total-entries"] == service.head(engine, "country").user_size > 7
    keys = [VerifierKey.parse(k) for k in service.public_keys(engine)]
    proven = verify_receipt(answer.json["receipt"], keys)
    assert proven[0].checkpoint.size == answer.json["total-entries"]
    history = service.show_record(engine, "country", "BS", history=True)
    assert history[-1].change is not None
    assert (history[-1].change.by, history[-1].change.reason) == ("Jane Doe, FCDO", "2016 update")
    with engine.connect() as conn:  # only the hash is kept
        stored = conn.execute(text("SELECT hash, label FROM token")).all()
    assert [row.label for row in stored] == ["Jane Doe, FCDO"]
    assert issued.secret.encode() not in b"".join(bytes(row.hash) for row in stored)


def test_changes_over_json_add_amend_and_end(client: FlaskClient, engine: Engine) -> None:
    secret = service.issue_token(engine, "territory").secret
    added = client.post("/territory/changes", headers=_auth(secret),
                        json={"action": "add", "key": "XQ", "fields": {"name": "Atlantis"}, "reason": "found"})
    assert added.status_code == 200, added.json
    assert service.show_record(engine, "territory", "XQ")[0].record.item["name"] == "Atlantis"
    amended = client.post("/territory/changes", headers=_auth(secret),
                          json={"action": "amend", "key": "XQ", "fields": {"official-name": "Lost Atlantis"}})
    assert amended.status_code == 200
    ended = client.post("/territory/changes", headers=_auth(secret),
                        json={"action": "end", "key": "XQ", "date": "2024-01-01", "reason": "sank"})
    assert ended.status_code == 200 and ended.json["user-entries-added"] == 1
    record = service.show_record(engine, "territory", "XQ")[0].record.item
    assert record == {"territory": "XQ", "name": "Atlantis", "official-name": "Lost Atlantis", "end-date": "2024-01-01"}


@pytest.mark.parametrize("who", ["none", "garbage", "revoked", "other-register", "not-bearer"])
def test_without_the_right_token_nothing_is_stored(client: FlaskClient, engine: Engine, who: str) -> None:
    own = service.issue_token(engine, "country")
    other = service.issue_token(engine, "other")
    if who == "revoked":
        service.revoke_token(engine, "country", own.id)
    headers = {
        "none": {}, "garbage": _auth("rgt_not-a-token"), "revoked": _auth(own.secret),
        "other-register": _auth(other.secret), "not-bearer": {"Authorization": f"Basic {own.secret}"},
    }[who]
    before = snapshot(engine)
    for path, kwargs in (("/country/load-rsf", {"data": (RSF / "country-small-update.rsf").read_bytes()}),
                         ("/country/changes", {"json": {"action": "add", "key": "XX", "fields": {"name": "X"}}})):
        answer = client.post(path, headers=headers, **kwargs)
        assert answer.status_code == (403 if who == "other-register" else 401), answer.json
        assert answer.content_type == "application/problem+json"
        assert own.secret not in answer.get_data(as_text=True) and other.secret not in answer.get_data(as_text=True)
        if answer.status_code == 401:
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert snapshot(engine) == before


@pytest.mark.parametrize(("path", "body", "status", "reason"), [
    ("/territory/changes", {"action": "add", "key": "XQ", "fields": {"colour": "blue"}}, 422,
     "field 'colour' is not a field of register 'territory'"),
    ("/territory/changes", {"action": "add", "key": "XQ", "fields": {"start-date": "yesterday"}}, 422, "start-date"),
    ("/territory/changes", {"action": "amend", "key": "NOPE", "fields": {"name": "x"}}, 422, "does not exist"),
    ("/territory/changes", {"action": "delete", "key": "XQ"}, 422, "'action': must be one of: add, amend, end"),
    ("/territory/changes", [1, 2], 400, "JSON object"),
    ("/territory/changes", {"action": "add", "key": "XQ", "fields": {"name": 5}}, 422, "field 'name': must be a string"),
])
def test_refused_changes_say_why_and_store_nothing(client: FlaskClient, engine: Engine, path: str, body: object,
                                                  status: int, reason: str) -> None:
    secret = service.issue_token(engine, "territory").secret
    before = snapshot(engine)
    answer = client.post(path, headers=_auth(secret), json=body)
    assert answer.status_code == status and reason in answer.json["detail"], answer.json
    assert snapshot(engine) == before


def test_a_bad_rsf_body_is_refused_naming_the_line_and_a_huge_one_with_413(client: FlaskClient,
                                                                           engine: Engine) -> None:
    secret = service.issue_token(engine, "country").secret
    before = snapshot(engine)
    bad = client.post("/country/load-rsf", headers=_auth(secret), data=b"assert-root-hash\tsha-256:00\n")
    assert bad.status_code == 422 and bad.json["detail"].startswith("request body:1: ")
    huge = client.post("/country/load-rsf", headers=_auth(secret), data=b"add-item\t{}\n" * 30_000)
    assert huge.status_code == 413 and huge.content_type == "application/problem+json"
    assert snapshot(engine) == before
