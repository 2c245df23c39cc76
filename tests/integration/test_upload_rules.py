"""A custodian's RSF upload over HTTP cannot forge history: it may not add a ``change`` system
entry (who and why are the token's label and the request's reason, recorded by the platform) or
a system key the platform does not know, and its new definition entries are held to the rules of
``registers create``. A refusal is a 422 naming the line, and stores nothing. The same files
load locally as published (``registers load`` is faithful), and the register's own export
uploads as 0 new entries."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from registers import service
from registers.core.definitions import Definition, FieldDef
from registers.core.entries import Log
from registers.core.errors import InvalidEntry
from registers.core.items import canonical_json, item_digest
from registers.core.rsf import AddItem, AppendEntry, AssertRootHash
from tests.conftest import ROOT, RSF
from tests.integration.helpers import app_client, export, load, snapshot

STAMP = "2024-01-01T00:00:00Z"
COLOUR = {"cardinality": "1", "datatype": "string", "field": "colour", "phase": "beta", "text": "A colour."}


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[FlaskClient]:
    load(engine, "country-small.rsf", "country")
    with app_client(db_url) as made:
        yield made


def _auth(engine: Engine, label: str = "Jane Doe, FCDO") -> dict[str, str]:
    return {"Authorization": f"Bearer {service.issue_token(engine, 'country', label).secret}"}


def _patch(engine: Engine, *entries: tuple[Log, str, dict[str, Any]]) -> bytes:
    """RSF continuing from the head of ``country``: an add-item and an append-entry for each
    ``(log, key, item)``."""
    lines = [AssertRootHash(service.head(engine, "country").user_root).to_line()]
    for log, key, item in entries:
        blob = canonical_json(item)
        digest = item_digest(blob)
        lines += [AddItem(blob, digest).to_line(), AppendEntry(log, key, STAMP, (digest,)).to_line()]
    return b"".join(line + b"\n" for line in lines)


def _state(engine: Engine) -> tuple[object, bytes]:
    """The head of both logs of ``country`` and its whole system log as RSF."""
    return service.head(engine, "country"), b"".join(service.system_patch(engine, "country", 0))


def _refused(client: FlaskClient, engine: Engine, body: bytes, line: int, reason: str) -> None:
    auth = _auth(engine)
    before, state = snapshot(engine), _state(engine)
    answer = client.post("/country/load-rsf?reason=update", data=body, headers=auth)
    assert answer.status_code == 422, answer.json
    assert answer.content_type == "application/problem+json"
    assert answer.json["detail"].startswith(f"request body:{line}: "), answer.json
    assert reason in answer.json["detail"], answer.json
    assert _state(engine) == state
    assert snapshot(engine) == before


def test_a_change_entry_sent_over_http_is_refused_naming_its_line(
    client: FlaskClient, engine: Engine, tmp_path: Path
) -> None:
    number = service.head(engine, "country").user_size + 1
    kosovo = (Log.USER, "XK", {"country": "XK", "name": "Kosovo"})
    forged = _patch(engine, kosovo, (Log.SYSTEM, "change", {
        "by": "The Foreign Secretary", "reason": "recognised", "user-entries": f"{number}-{number}",
    }))
    _refused(client, engine, forged, 5, "a 'change' system entry cannot be sent")
    # without it the same entry is accepted, and the platform records who and why itself
    answer = client.post("/country/load-rsf?reason=recognised", data=_patch(engine, kosovo), headers=_auth(engine))
    assert answer.status_code == 200, answer.json
    assert (answer.json["user-entries-added"], answer.json["system-entries-added"]) == (1, 1)
    made = service.show_record(engine, "country", "XK")[0].change
    assert made is not None and (made.by, made.reason) == ("Jane Doe, FCDO", "recognised")
    # the register's export, with the change entry the platform wrote, uploads as nothing new
    auth = _auth(engine)
    before = snapshot(engine)
    again = client.post("/country/load-rsf", data=client.get("/country/download-rsf").data, headers=auth)
    assert again.status_code == 200, again.json
    assert (again.json["user-entries-added"], again.json["system-entries-added"]) == (0, 0)
    after = snapshot(engine)
    assert {k: v for k, v in after.items() if k != "token"} == {k: v for k, v in before.items() if k != "token"}
    assert any(t.last_used for t in service.list_tokens(engine, "country"))  # only its use was recorded


def test_a_published_file_with_change_entries_still_loads_locally_as_published(engine: Engine, tmp_path: Path) -> None:
    load(engine, "country-small.rsf", "country")
    number = service.head(engine, "country").user_size + 1
    path = tmp_path / "published.rsf"
    path.write_bytes(_patch(engine, (Log.USER, "XK", {"country": "XK", "name": "Kosovo"}), (Log.SYSTEM, "change", {
        "by": "The Foreign Secretary", "reason": "recognised", "user-entries": f"{number}-{number}",
    })))
    result = service.load_rsf(engine, str(path), "country")
    assert (result.added_user, result.added_system) == (1, 1)
    made = service.show_record(engine, "country", "XK")[0].change
    assert made is not None and (made.by, made.reason) == ("The Foreign Secretary", "recognised")


def test_the_registers_own_export_uploaded_over_http_adds_nothing(client: FlaskClient, engine: Engine) -> None:
    service.load_rsf(engine, str(RSF / "country-small-update.rsf"), "country", by="Jane", reason="2016 update")
    dump = client.get("/country/download-rsf").data
    assert dump == export(engine, "country") and b"\tsystem\tchange\t" in dump  # change entries and all
    auth = _auth(engine)
    before = snapshot(engine)
    answer = client.post("/country/load-rsf?reason=again", data=dump, headers=auth)
    assert answer.status_code == 200, answer.json
    assert (answer.json["user-entries-added"], answer.json["system-entries-added"]) == (0, 0)
    after = snapshot(engine)  # nothing appended; the token's last use is recorded, no more
    assert {k: v for k, v in after.items() if k != "token"} == {k: v for k, v in before.items() if k != "token"}
    assert [t.last_used is not None for t in service.list_tokens(engine, "country")] == [True]


BAD_DEFINITIONS = [
    pytest.param("field:<script>x</script>", {**COLOUR, "field": "<script>x</script>"},
                 "'<script>x</script>' is not a field name", id="markup-field-name"),
    pytest.param("field:colour", {**COLOUR, "field": "<b>colour</b>"}, "defines field '<b>colour</b>', not 'colour'",
                 id="key-and-field-differ"),
    pytest.param("field:colour", {**COLOUR, "datatype": "colour"}, "unknown datatype 'colour'", id="datatype"),
    pytest.param("field:colour", {**COLOUR, "cardinality": "many"}, "cardinality must be '1' or 'n'",
                 id="cardinality"),
    pytest.param("field:colour", {**COLOUR, "register": "paint"}, "links to register 'paint', which does not exist",
                 id="unknown-linked-register"),
    pytest.param("register:<b>country</b>", {"fields": ["country"], "phase": "beta", "register": "<b>country</b>"},
                 "'<b>country</b>' is not a register id", id="markup-register-id"),
    pytest.param("register:country", {"fields": ["country", "name"], "phase": "beta", "register": "country",
                                      "text": ["not", "text"]}, "'text' must be a string", id="register-text"),
    pytest.param("copyright", {"copyright": "© Crown copyright"}, "system key 'copyright' is not one of",
                 id="unknown-key"),
    # nothing filled in by default or dropped: what is signed is what the definition shows
    pytest.param("field:colour", {k: v for k, v in COLOUR.items() if k != "cardinality"},
                 "system entry 'field:colour' has no 'cardinality'", id="no-cardinality"),
    pytest.param("field:colour", {k: v for k, v in COLOUR.items() if k != "datatype"},
                 "system entry 'field:colour' has no 'datatype'", id="no-datatype"),
    pytest.param("field:colour", {**COLOUR, "evil": "y"}, "'evil' is not a member of a field entry",
                 id="extra-member"),
    pytest.param("register:country", {"fields": ["country"], "register": "country", "evil": "y"},
                 "'evil' is not a member of a register entry", id="register-extra-member"),
    pytest.param("custodian", {"custodian": "Jane", "evil": "y"}, "'evil' is not a member of a custodian entry",
                 id="custodian-extra-member"),
    pytest.param("register-name", {"register-name": ""}, "'register-name' must be a non-empty string",
                 id="empty-register-name"),
]


@pytest.mark.parametrize(("key", "item", "reason"), BAD_DEFINITIONS)
def test_a_bad_definition_entry_over_http_is_refused_and_loads_locally_as_published(
    client: FlaskClient, engine: Engine, tmp_path: Path, key: str, item: dict[str, Any], reason: str
) -> None:
    body = _patch(engine, (Log.SYSTEM, key, item))
    _refused(client, engine, body, 3, reason)
    path = tmp_path / "published.rsf"
    path.write_bytes(body)
    result = service.load_rsf(engine, str(path), "country")
    assert (result.added_user, result.added_system) == (0, 1)
    assert service.verify(engine, "country").head == service.head(engine, "country")


@pytest.mark.parametrize(("item", "reason"), [
    ({"country": "XL", "name": ["A", "B"]}, "field 'name' holds one value (cardinality 1); give a string"),
    ({"country": "XL", "name": "A", "colour": "red"}, "field 'colour' is not a field of register 'country'"),
    ({"country": "XM", "name": "A"}, "field 'country': value 'XM' is not the entry's key 'XL'"),
    ({"country": "XL", "name": ""}, "field 'name': value '' is empty"),
])
def test_user_entries_uploaded_over_http_are_held_to_the_rules_of_new_data(
    client: FlaskClient, engine: Engine, tmp_path: Path, item: dict[str, Any], reason: str
) -> None:
    body = _patch(engine, (Log.USER, "XL", item))
    _refused(client, engine, body, 3, reason)
    path = tmp_path / "published.rsf"  # a published file loaded locally is reported, not refused
    path.write_bytes(body)
    assert service.load_rsf(engine, str(path), "country").findings.count >= 1


def test_a_register_entry_naming_an_undefined_field_is_refused_over_http(client: FlaskClient, engine: Engine) -> None:
    body = _patch(engine, (Log.SYSTEM, "register:country", {"fields": ["country", "colour"], "register": "country"}))
    _refused(client, engine, body, 3, "names field 'colour' before any 'field:colour' entry defines it")


def test_valid_definition_entries_over_http_are_stored(client: FlaskClient, engine: Engine) -> None:
    body = _patch(
        engine,
        (Log.SYSTEM, "field:colour", {**COLOUR, "register": "country"}),  # a register of this database
        (Log.SYSTEM, "register:country", {"fields": ["country", "name", "colour"], "phase": "beta",
                                          "register": "country"}),
        (Log.SYSTEM, "custodian", {"custodian": "Jane Doe"}),
    )
    answer = client.post("/country/load-rsf?reason=a%20colour", data=body, headers=_auth(engine))
    assert answer.status_code == 200, answer.json
    assert answer.json["system-entries-added"] == 4  # and the platform's change entry
    assert client.get("/country/register").json["register-record"]["fields"] == ["country", "name", "colour"]


def test_registers_create_holds_a_definition_to_the_same_rules(engine: Engine) -> None:
    eng = service.read_schema(str(ROOT / "schemas" / "local-authority-eng.json"))
    with pytest.raises(InvalidEntry, match="'field:local-authority-type' links to register 'local-authority-type', "
                                           "which does not exist"):
        service.create_register(engine, "local-authority-eng", eng)
    assert service.list_registers(engine) == []  # nothing stored, not even the register
    marked = Definition("colours", (FieldDef("colours"), FieldDef("<script>x</script>")))
    with pytest.raises(InvalidEntry, match="'<script>x</script>' is not a field name"):
        service.create_register(engine, "colours", marked)
    service.create_register(engine, "local-authority-type",
                            service.read_schema(str(ROOT / "schemas" / "local-authority-type.json")))
    assert service.create_register(engine, "local-authority-eng", eng).added_system > 0
