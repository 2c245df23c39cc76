"""The marshmallow rules and the compiled bulk checks give the same findings."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registers.core.definitions import Definition, FieldDef, load_definition
from registers.core.validation import compile_checks, link_targets, validate_item
from tests.conftest import ROOT

EVERY = Definition(
    "thing",
    (
        FieldDef("thing"),
        FieldDef("name"),
        FieldDef("count", "integer"),
        FieldDef("start-date", "datetime"),
        FieldDef("seen", "timestamp"),
        FieldDef("term", "period"),
        FieldDef("website", "url"),
        FieldDef("parent", "curie"),
        FieldDef("kind", "name"),
        FieldDef("digest", "hash"),
        FieldDef("point", "point"),
        FieldDef("notes", "text"),
        FieldDef("tags", cardinality="n"),
        FieldDef("country", register="country"),
    ),
)

VALUES = ["", "x", "0", "01", "2016-04-05", "2016-02-30", "2016-04-05T13:23:05Z", "P1Y", "https://gov.uk/",
          "country:GB", "GB", "a b", "sha-256:" + "0" * 64, "[0, 51]", "[0, 91]", "-1", "a;b"]
values = st.one_of(st.sampled_from(VALUES), st.lists(st.sampled_from(VALUES), max_size=3), st.integers())
items = st.dictionaries(st.sampled_from([f.name for f in EVERY.fields] + ["unknown"]), values, max_size=6)


@settings(max_examples=400)
@given(items, st.sampled_from(["T1", "x", "a b"]))
def test_marshmallow_and_compiled_checks_agree(item: dict, key: str) -> None:
    item = dict(item)
    if key == "T1":
        item["thing"] = "T1"
    assert compile_checks(EVERY)(key, item) == validate_item(EVERY, key, item)


def test_findings_name_field_and_value() -> None:
    found = validate_item(EVERY, "T1", {"thing": "T1", "start-date": "2016-02-30", "extra": "y", "tags": "a"})
    assert [f.message for f in found] == [
        "field 'extra' is not a field of register 'thing'",
        "field 'start-date': value '2016-02-30' is not a valid datetime",
        "field 'tags' holds a list of values (cardinality n); give a list",
    ]


def test_a_list_member_holding_the_csv_separator_is_refused_naming_the_field() -> None:
    found = validate_item(EVERY, "T1", {"thing": "T1", "tags": ["a", "b;c"], "name": "d;e"})
    assert [f.message for f in found] == [
        "field 'tags': value 'b;c' holds ';', which joins a list's values in CSV (give each value as its own member)"
    ]  # a cardinality-1 value may hold ';': CSV quotes it whole
    assert compile_checks(EVERY)("T1", {"thing": "T1", "tags": ["a", "b;c"], "name": "d;e"}) == found


@pytest.mark.parametrize(
    ("key", "item", "message"),
    [
        ("T1", {"name": "x"}, "field 'thing' is required: it holds the key"),
        ("T1", {"thing": "T2"}, "field 'thing': value 'T2' is not the entry's key 'T1'"),
        ("a  b", {"thing": "a  b"}, "key 'a  b' is not valid"),
        ("T1", {"thing": "T1", "name": ""}, "field 'name': value '' is empty"),
    ],
)
def test_key_and_empty_value_rules(key: str, item: dict, message: str) -> None:
    assert message in [f.message for f in validate_item(EVERY, key, item)][0]


def test_links_come_from_linked_fields_and_curies() -> None:
    item = {"thing": "T1", "country": "GB", "parent": "local-authority-eng:BIR"}
    assert sorted(link_targets(EVERY, item)) == [
        ("country", "country", "GB"),
        ("parent", "local-authority-eng", "BIR"),
    ]


def test_every_shipped_schema_loads_and_names_its_key_field() -> None:
    for path in sorted((ROOT / "schemas").glob("*.json")):
        definition = load_definition(path.read_text())
        assert definition.register == path.stem
        assert definition.key_field == path.stem
        assert Definition.from_json(json.loads(json.dumps(definition.to_json()))) == definition
        assert [f["field"] for f in json.loads(path.read_text())["fields"]] == definition.field_names
