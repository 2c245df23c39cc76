"""A change is data from end to end: what a client sends is stored exactly, or refused naming
the field, and never re-shaped on the way (no FIELD=VALUE text round trip). A proposal is what
it shows: its diff, the entry its approval appends and the receipt it returns all come from the
one change it stores."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from cli import main
from registers import service
from registers.core.definitions import Definition, FieldDef
from registers.core.errors import InvalidEntry
from registers.core.notes import VerifierKey
from registers.core.receipts import verify_receipt
from tests.integration.helpers import app_client, load, snapshot

THING = Definition("thing", (FieldDef("thing"), FieldDef("name"), FieldDef("tags", cardinality="n"),
                             FieldDef("start-date", "datetime"), FieldDef("end-date", "datetime")))


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[FlaskClient]:
    load(engine, "country-small.rsf", "country")
    service.create_register(engine, "thing", THING)
    service.add_record(engine, "thing", "T1", {"name": "First", "tags": ["a", "b"]}, by="test")
    with app_client(db_url, PROPOSAL_RATE=100_000) as made:
        yield made


def _auth(engine: Engine, register: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {service.issue_token(engine, register).secret}"}


def _item(engine: Engine, register: str, key: str) -> dict[str, Any]:
    return service.show_record(engine, register, key)[0].record.item


@pytest.mark.parametrize(("body", "status", "detail"), [
    # a list given to a cardinality-1 field used to be signed as "A;B"
    ({"action": "amend", "key": "GB", "fields": {"official-name": ["A", "B"]}}, 422,
     "field 'official-name' holds one value (cardinality 1); give a string"),
    ({"action": "amend", "key": "GB", "fields": {"name": 5}}, 422,
     "field 'name': must be a string, a list of strings, or null"),
    ({"action": "amend", "key": "GB", "fields": {"name": ["A", 5]}}, 422, "field 'name': must be a string"),
    ({"action": "amend", "key": "GB", "fields": {"name": ""}}, 422, "field 'name': value '' is empty"),
    ({"action": "amend", "key": "GB", "fields": {"colour": None}}, 422,
     "field 'colour' is not a field of register 'country'"),
    ({"action": "amend", "key": "GB", "fields": {"name=Evil Corp": "x"}}, 422,
     "field 'name=Evil Corp' is not a field of register 'country'"),
    ({"action": "amend", "key": "GB", "feilds": {"name": "x"}}, 422, "'feilds': unknown field"),
    ({"action": "delete", "key": "GB"}, 422, "'action': must be one of: add, amend, end"),
    ({"action": "amend", "fields": {"name": "x"}}, 422, "'key': missing data for required field"),
    ({"action": "end", "key": "GB"}, 422, "'date': an end needs a date"),
    ({"action": "amend", "key": "GB", "date": "2020-01-01"}, 422, "'date': only an end takes a date"),
    ({"action": "end", "key": "GB", "date": "2020-01-01", "fields": {"name": "x"}}, 422, "an end takes its date once"),
])
def test_a_change_that_does_not_fit_is_refused_naming_the_field(client: FlaskClient, engine: Engine,
                                                                 body: dict[str, Any], status: int,
                                                                 detail: str) -> None:
    headers = _auth(engine, "country")
    before = snapshot(engine)
    answer = client.post("/country/changes", headers=headers, json=body)
    assert answer.status_code == status and detail in answer.json["detail"], answer.json
    assert answer.content_type == "application/problem+json"
    assert snapshot(engine) == before


def test_a_list_member_holding_the_csv_separator_is_refused(client: FlaskClient, engine: Engine) -> None:
    headers = _auth(engine, "thing")
    before = snapshot(engine)
    for fields, detail in (({"tags": ["a", "b;c"]}, "field 'tags': value 'b;c' holds ';'"),
                           ({"tags": "a"}, "field 'tags' holds a list of values (cardinality n); give a list"),
                           ({"tags": []}, "field 'tags' is an empty list")):
        answer = client.post("/thing/changes", headers=headers, json={"action": "amend", "key": "T1", "fields": fields})
        assert answer.status_code == 422 and detail in answer.json["detail"], answer.json
    assert snapshot(engine) == before


def test_a_key_given_twice_in_the_body_is_refused(client: FlaskClient, engine: Engine) -> None:
    headers = {**_auth(engine, "country"), "Content-Type": "application/json"}
    before = snapshot(engine)
    answer = client.post("/country/changes", headers=headers,
                         data=b'{"action":"amend","key":"GB","fields":{"name":"A","name":"B"}}')
    assert answer.status_code == 400 and "gives 'name' twice" in answer.json["detail"], answer.json
    assert snapshot(engine) == before


def test_values_are_stored_exactly_as_sent(client: FlaskClient, engine: Engine) -> None:
    headers = _auth(engine, "thing")
    tricky = ["x=y", "<b>bold</b>", "ünïcödé", "  spaced  ", "line\nbreak"]
    answer = client.post("/thing/changes", headers=headers, json={
        "action": "add", "key": "T2", "fields": {"name": "a;b=c", "tags": tricky}})
    assert answer.status_code == 200, answer.json
    assert _item(engine, "thing", "T2") == {"thing": "T2", "name": "a;b=c", "tags": tricky}
    receipt = answer.json["receipt"]["user"]["entries"][0]["item"][0]
    assert receipt == {"thing": "T2", "name": "a;b=c", "tags": tricky}
    removed = client.post("/thing/changes", headers=headers, json={
        "action": "amend", "key": "T2", "fields": {"tags": None}})
    assert removed.status_code == 200, removed.json
    assert _item(engine, "thing", "T2") == {"thing": "T2", "name": "a;b=c"}
    ended = client.post("/thing/changes", headers=headers, json={
        "action": "end", "key": "T2", "fields": {"end-date": "2024-02-29"}})
    assert ended.status_code == 200, ended.json
    assert _item(engine, "thing", "T2")["end-date"] == "2024-02-29"


def test_a_proposal_field_name_holding_equals_is_refused(client: FlaskClient, engine: Engine) -> None:
    before = snapshot(engine)
    answer = client.post("/country/proposals", json={
        "key": "GB", "fields": {"official-name=Evil Corp": "x"}, "reason": "r"})
    assert answer.status_code == 422, answer.json
    assert "field 'official-name=Evil Corp' is not a field of register 'country'" in answer.json["detail"]
    listed = client.post("/country/proposals", json={"key": "GB", "fields": {"official-name": ["A", "B"]},
                                                      "reason": "r"})
    assert listed.status_code == 422 and "holds one value (cardinality 1)" in listed.json["detail"], listed.json
    after = snapshot(engine)
    assert after.pop("rate_window") and not before.pop("rate_window")  # only the requests were counted
    assert after == before


def test_the_command_line_parses_field_values_by_the_definition(client: FlaskClient, engine: Engine,
                                                                db_url: str) -> None:
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(main, ["--db", db_url, *args])

    assert run("add", "thing", "T3", "name=a;b", "tags=x;y=z", "--as", "t").exit_code == 0
    assert _item(engine, "thing", "T3") == {"thing": "T3", "name": "a;b", "tags": ["x", "y=z"]}
    assert run("amend", "thing", "T3", "tags=", "--as", "t").exit_code == 0
    assert _item(engine, "thing", "T3") == {"thing": "T3", "name": "a;b"}
    twice = run("amend", "thing", "T3", "name=x", "name=y")
    assert twice.exit_code == 1 and "field 'name' is given twice" in twice.output
    unknown = run("amend", "thing", "T3", "colour=red")
    assert unknown.exit_code == 1 and "field 'colour' is not a field of register 'thing'" in unknown.output
    proposed = run("propose", "thing", "T3", "tags=p;q", "--reason", "r")
    assert proposed.exit_code == 0, proposed.output
    assert service.get_proposal(engine, "thing", 1).fields == {"tags": ["p", "q"]}


def test_the_key_field_cannot_be_removed_by_an_add_or_an_amend(client: FlaskClient, engine: Engine) -> None:
    headers = _auth(engine, "thing")
    before = snapshot(engine)
    for action, key in (("add", "T7"), ("amend", "T1")):
        answer = client.post("/thing/changes", headers=headers, json={
            "action": action, "key": key, "fields": {"thing": None, "name": "x"}})
        assert answer.status_code == 422, answer.json
        assert "field 'thing' holds the record's key: it cannot be removed" in answer.json["detail"]
    assert snapshot(engine) == before


def test_a_proposal_page_shows_a_list_as_a_list(client: FlaskClient) -> None:
    made = client.post("/thing/proposals", json={"key": "T1", "fields": {"tags": ["p", "q"], "name": "p; q"},
                                                   "reason": "r"})
    assert made.status_code == 201, made.json
    page = client.get(f"/thing/proposals/{made.json['id']}", headers={"Accept": "text/html"}).get_data(as_text=True)
    assert '<ul class="govuk-list govuk-!-margin-0"><li>p</li><li>q</li></ul>' in page  # the list, member by member
    assert re.search(r"<td[^>]*>\s*p; q\s*</td>", page)  # the one-value field, as it is
    assert "[&#39;p&#39;" not in page and "['p'" not in page  # never Python's repr


def test_the_service_takes_only_typed_values(engine: Engine) -> None:
    service.create_register(engine, "thing", THING)
    for fields, detail in (({"name": 5}, "field 'name': 5 is not a string"),
                           ({"tags": ["a", None]}, "field 'tags': list member None is not a string"),
                           ({1: "x"}, "field name 1 is not a non-empty string")):
        with pytest.raises(InvalidEntry, match=detail):
            service.add_record(engine, "thing", "T9", fields)  # type: ignore[arg-type]
    with pytest.raises(InvalidEntry, match="an end gives the end-date"):
        service.RecordChange("end", "T9", {"end-date": "2020", "name": "x"})


NAMES = ["name", "tags", "start-date", "end-date", "thing", "name=Evil Corp", "tags;x", "<b>name</b>", "", "na me"]
TEXT = st.one_of(st.sampled_from(["x", "a;b", "x=y", "<script>1</script>", "", " ", "2020-01-01", "T1", "ü"]),
                 st.text(max_size=8))
VALUE = st.one_of(st.none(), TEXT, st.lists(TEXT, max_size=3))
WORDS = st.text(st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters=";"), min_size=1, max_size=8)
FITTING = st.fixed_dictionaries({}, optional={  # changes the register's rules allow, hostile text included
    "name": st.one_of(st.none(), WORDS, st.sampled_from(["a;b", "x=y", "<script>1</script>", "name=Evil"])),
    "tags": st.one_of(st.none(), st.lists(WORDS, min_size=1, max_size=3)),
    "start-date": st.sampled_from(["2020", "2020-02-29", "1999-12-31T23:59:59Z"]),
})
HOSTILE = st.dictionaries(st.one_of(st.sampled_from(NAMES), st.text(max_size=6)), VALUE, max_size=4)
CHANGES = st.fixed_dictionaries({
    "key": st.sampled_from(["T1", "T1", "N1", "N2"]),
    "fields": st.one_of(FITTING, FITTING, FITTING, HOSTILE),
    "action": st.sampled_from([None, None, None, "add", "amend", "end"]),
})


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(proposed=CHANGES)
@example(proposed={"key": "T1", "fields": {"name=Evil Corp": "x"}, "action": None})  # showed one diff, appended another
@example(proposed={"key": "T1", "fields": {"tags": ["p;q"]}, "action": None})
def test_a_proposal_shows_appends_and_receipts_the_same_change(client: FlaskClient, engine: Engine,
                                                               proposed: dict[str, Any]) -> None:
    headers = _auth(engine, "thing")
    key = proposed["key"]
    before = service.show_record(engine, "thing", key)[0].record.item if _exists(engine, key) else {}
    head = service.head(engine, "thing")
    body = {"key": key, "fields": proposed["fields"], "reason": "hypothesis",
            **({"action": proposed["action"]} if proposed["action"] else {})}
    made = client.post("/thing/proposals", json=body)
    event("approved" if made.status_code == 201 else "refused")
    if made.status_code != 201:  # refused by the rules (422), or as text no field may hold (a NUL: 400)
        assert made.status_code == 422 or (made.status_code == 400 and "NUL" in made.json["detail"]), made.json
        assert service.head(engine, "thing") == head  # nothing appended
        return
    shown = made.json["diff"]
    approved = client.post(f"/thing/proposals/{made.json['id']}/approve", headers=headers, json={"reason": "ok"})
    assert approved.status_code == 200, approved.json
    after = _item(engine, "thing", key)
    assert {f: v for f, v in {**before, **{f: new for f, (_old, new) in shown.items()}}.items()
            if v is not None} == after  # the diff shown, applied to the record, is what was appended
    assert all(before.get(f) == old for f, (old, _new) in shown.items())
    receipt = approved.json["receipt"]
    verify_receipt(receipt, [VerifierKey.parse(k) for k in service.public_keys(engine)])
    assert receipt["user"]["entries"][-1]["item"] == [after]  # the receipt holds the same item
    for name, value in proposed["fields"].items():  # exactly what was sent, never re-shaped
        assert after.get(name) == value
    assert approved.json["diff"] == shown


def _exists(engine: Engine, key: str) -> bool:
    try:
        service.show_record(engine, "thing", key)
    except service.RecordNotFound:
        return False
    return True
