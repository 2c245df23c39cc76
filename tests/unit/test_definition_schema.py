"""Definition files: the JSON Schema shipped beside the code, and ``check_definition_file``,
the checker ``registers schema check`` and ``registers create`` share (docs/definitions.md).

No JSON Schema library is a dependency, so the schema is held to the code's rules by its
structure (the same datatypes, cardinalities, members and name rule) and applied by a small
validator of the few keywords it uses (the test fails if it uses another). Every shipped file
passes both; every broken file the schema can describe fails both; files with many problems
have each one named, with where it is.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from registers.core import datatypes, definitions
from registers.core.definitions import (
    CARDINALITIES,
    InvalidDefinition,
    check_definition,
    check_definition_file,
    definition_problem,
    load_definition,
)
from tests.conftest import ROOT

SCHEMA_FILE = ROOT / "registers" / "core" / "definition.schema.json"
SCHEMA = json.loads(SCHEMA_FILE.read_text())
SHIPPED = sorted((ROOT / "schemas").glob("*.json"))
COUNTRY = json.loads((ROOT / "schemas" / "country.json").read_text())


# A validator of the JSON Schema keywords the shipped schema uses (draft 2020-12 semantics).

KEYWORDS = {"$schema", "title", "description", "type", "required", "properties", "additionalProperties", "$defs",
            "$ref", "pattern", "items", "uniqueItems", "enum", "const", "anyOf"}
TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict), "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
}


def _subschemas(schema: Any) -> Iterator[dict[str, Any]]:
    if isinstance(schema, dict):
        yield schema
        for key, value in schema.items():
            if key in ("properties", "$defs"):
                for sub in value.values():
                    yield from _subschemas(sub)
            elif key in ("items", "additionalProperties"):
                yield from _subschemas(value)
            elif key == "anyOf":
                for sub in value:
                    yield from _subschemas(sub)


def errors(value: Any, schema: dict[str, Any] = SCHEMA, where: str = "$") -> list[str]:
    """Where ``value`` breaks ``schema`` (empty: it is valid)."""
    if "$ref" in schema:
        target: Any = SCHEMA
        for part in schema["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        found = errors(value, target, where)
    else:
        found = []
    if "type" in schema and not TYPES[schema["type"]](value):
        return found + [f"{where}: not {schema['type']}"]
    if "enum" in schema and value not in schema["enum"]:
        found.append(f"{where}: not one of {schema['enum']}")
    if "const" in schema and value != schema["const"]:
        found.append(f"{where}: not {schema['const']!r}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        found.append(f"{where}: does not match {schema['pattern']}")
    if "anyOf" in schema and all(errors(value, sub, where) for sub in schema["anyOf"]):
        found.append(f"{where}: matches none of anyOf")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        found += [f"{where}: no {name}" for name in schema.get("required", []) if name not in value]
        for name, member in value.items():
            if name in properties:
                found += errors(member, properties[name], f"{where}.{name}")
            elif schema.get("additionalProperties") is False:
                found.append(f"{where}: {name} not allowed")
    if isinstance(value, list):
        if "items" in schema:
            for i, member in enumerate(value):
                found += errors(member, schema["items"], f"{where}[{i}]")
        if schema.get("uniqueItems") and len({json.dumps(v, sort_keys=True) for v in value}) != len(value):
            found.append(f"{where}: items not unique")
    return found


def test_the_schema_uses_only_the_keywords_the_validator_knows() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    used = {key for sub in _subschemas(SCHEMA) for key in sub}
    assert used <= KEYWORDS, used - KEYWORDS
    types = {sub["type"] for sub in _subschemas(SCHEMA) if "type" in sub}
    assert types <= set(TYPES)


def test_the_schema_says_what_the_code_says() -> None:
    """The same datatypes (in order), cardinalities, members and name rule as the checker."""
    field, register = SCHEMA["$defs"]["field"], SCHEMA["$defs"]["register"]
    assert field["properties"]["datatype"]["enum"] == list(datatypes.CHECKERS)
    assert field["properties"]["cardinality"]["enum"] == list(CARDINALITIES)
    assert (set(field["required"]), set(field["properties"])) == definitions._FIELD_MEMBERS
    assert (set(register["required"]), set(register["properties"])) == definitions._REGISTER_MEMBERS
    assert (set(SCHEMA["required"]), set(SCHEMA["properties"])) == definitions._DOCUMENT_MEMBERS
    assert field["additionalProperties"] is register["additionalProperties"] is SCHEMA["additionalProperties"] is False
    assert SCHEMA["$defs"]["name"]["pattern"] == f"^{datatypes._NAME.pattern}$"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_every_shipped_file_passes_the_schema_and_the_checker(path: Path) -> None:
    doc = json.loads(path.read_text())
    assert errors(doc) == []
    checked = check_definition_file(path.read_text())
    assert (checked.problems, checked.warnings) == ((), ())
    assert checked.definition == load_definition(path.read_text())
    assert checked.definition is not None and checked.definition.register == path.stem
    # what load_definition gave before it was checked: valid files read exactly as they did
    assert checked.definition == definitions.Definition.from_json(doc)


def _field(doc: dict[str, Any], i: int = 1) -> dict[str, Any]:
    return doc["fields"][i]  # type: ignore[no-any-return]


# Broken files the JSON Schema can describe: each fails the schema and the checker.
MUTATIONS: dict[str, Callable[[dict[str, Any]], None]] = {
    "no register": lambda d: d.pop("register"),
    "no fields": lambda d: d.pop("fields"),
    "unknown top-level member": lambda d: d.update(colour="red"),
    "register-name a number": lambda d: d.update({"register-name": 3}),
    "register a list": lambda d: d.update(register=[]),
    "fields an object": lambda d: d.update(fields={}),
    "no register id": lambda d: d["register"].pop("register"),
    "bad register id": lambda d: d["register"].update(register="my register"),
    "no register.fields": lambda d: d["register"].pop("fields"),
    "register.fields a string": lambda d: d["register"].update(fields="country"),
    "register.fields twice": lambda d: d["register"]["fields"].append(d["register"]["fields"][0]),
    "register.fields a number": lambda d: d["register"]["fields"].append(7),
    "unknown register member": lambda d: d["register"].update(registy="x"),
    "register text a list": lambda d: d["register"].update(text=["a"]),
    "field a string": lambda d: d["fields"].append("colour"),
    "no field name": lambda d: _field(d).pop("field"),
    "bad field name": lambda d: _field(d).update(field="1st"),
    "no datatype": lambda d: _field(d).pop("datatype"),
    "unknown datatype": lambda d: _field(d).update(datatype="strin"),
    "no cardinality": lambda d: _field(d).pop("cardinality"),
    "cardinality 2": lambda d: _field(d).update(cardinality="2"),
    "cardinality a number": lambda d: _field(d).update(cardinality=1),
    "bad link": lambda d: _field(d).update(register="No Such"),
    "link a number": lambda d: _field(d).update(register=1),
    "phase a number": lambda d: _field(d).update(phase=1),
    "unknown field member": lambda d: _field(d).update(datatyp="string"),
    "text null": lambda d: _field(d).update(text=None),
}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
@pytest.mark.parametrize("mutation", MUTATIONS, ids=str)
def test_what_the_schema_refuses_the_checker_refuses(path: Path, mutation: str) -> None:
    doc = json.loads(path.read_text())
    MUTATIONS[mutation](doc)
    assert errors(doc), mutation
    checked = check_definition(doc)
    assert checked.problems and checked.definition is None, mutation
    with pytest.raises(InvalidDefinition, match=re.escape(str(checked.problems[0]))):
        load_definition(json.dumps(doc))


def _broken(change: Callable[[dict[str, Any]], None]) -> str:
    doc = copy.deepcopy(COUNTRY)
    change(doc)
    return json.dumps(doc)


@pytest.mark.parametrize(("change", "expected"), [
    (lambda d: d["register"]["fields"].append("colour"),
     "register.fields[6]: 'colour' is listed but no field defines it (add it to 'fields')"),
    (lambda d: d["register"]["fields"].append("name"),
     "register.fields[6]: 'name' is listed twice (first at register.fields[1])"),
    (lambda d: d["fields"].append(dict(d["fields"][1])), "fields[6]: field 'name' is defined twice (first at fields[1])"),
    (lambda d: _field(d).update(datatype="strin"),
     "fields[1].datatype: 'strin' is not a datatype (one of: string, text, integer, datetime, timestamp, period, "
     "url, curie, name, hash, point); did you mean 'string'?"),
    (lambda d: _field(d, 0).update(cardinality="2"), "fields[0].cardinality: '2' must be '1' or 'n'"),
    (lambda d: _field(d, 0).update(cardinality=1), "fields[0].cardinality: must be the string '1' or 'n', not 1"),
    (lambda d: _field(d).pop("datatype"),
     "fields[1]: field 'name' has no 'datatype' (one of: string, text, integer, datetime, timestamp, period, url, "
     "curie, name, hash, point)"),
    (lambda d: _field(d).pop("field"), ["register.fields[1]: 'name' is listed but no field defines it (add it to "
                                        "'fields')", "fields[1]: the field has no 'field' (the field's name)"]),
    (lambda d: _field(d).update(datatyp="url"),
     "fields[1]: 'datatyp' is not a member of field 'name' (members: cardinality, datatype, field, phase, register, "
     "text); did you mean 'datatype'?"),
    (lambda d: _field(d).update(field="1st"), ["register.fields[1]: 'name' is listed but no field defines it (add it "
                                               "to 'fields')", "fields[1].field: '1st' is not a field name (a letter, "
                                               "then letters, digits or -)"]),
    (lambda d: _field(d).update(text=["a"]), 'fields[1].text: must be a string, not ["a"]'),
    (lambda d: _field(d).update(register="a b"), "fields[1].register: 'a b' is not a register id (a letter, then "
     "letters, digits or -): give the id of the register the field links to, or '' for no link"),
    (lambda d: d["register"].update(register="1st"), "register.register: '1st' is not a register id (a letter, then "
     "letters, digits or -)"),
    (lambda d: d["register"].pop("fields"), "register: the register has no 'fields' (the register's field names, "
     "in order)"),
    (lambda d: d["register"].update(fields="country"), 'register.fields: must be a list of field names, not "country"'),
    (lambda d: d.pop("register"), "(top level): a definition has no 'register' (the register's id and its field "
     "names, in order)"),
    (lambda d: d.update(fields=None), "fields: must be a list of field definitions, not null"),
    (lambda d: d.update({"register-name": 1}), "register-name: must be a string, not 1"),
])
def test_each_problem_is_named_with_where_it_is(change: Callable[[dict[str, Any]], None],
                                                expected: str | list[str]) -> None:
    text = _broken(change)
    named = expected if isinstance(expected, list) else [expected]
    assert [str(p) for p in check_definition_file(text).problems] == named
    with pytest.raises(InvalidDefinition) as refused:
        load_definition(text)
    more = f" (and {len(named) - 1} more: 'registers schema check FILE' lists every one)" if len(named) > 1 else ""
    assert str(refused.value) == named[0] + more  # the first problem, as 'registers create' gives it


def test_json_that_does_not_parse_is_named_by_line_and_column() -> None:
    problems = check_definition_file('{\n  "register": {"register": "x" "fields": []},\n  "fields": []\n}\n').problems
    assert [str(p) for p in problems] == ["line 2, column 32: not valid JSON: Expecting ',' delimiter"]
    assert [str(p) for p in check_definition_file("[]").problems] == [
        "(top level): a definition is a JSON object with 'register' and 'fields', not []"]
    assert [str(p) for p in check_definition_file("[" * 100_000).problems] == [
        "(top level): not a definition: nested too deeply"]


def test_a_member_given_twice_is_a_problem() -> None:
    text = ('{"register": {"register": "x", "fields": ["x"]}, "fields": '
            '[{"field": "x", "datatype": "string", "datatype": "url", "cardinality": "1"}]}')
    assert [str(p) for p in check_definition_file(text).problems] == ["fields[0]: 'datatype' is given more than once"]


SEVERAL = {
    "register": {"register": "paint", "fields": ["paint", "name", "colour", "name"], "registy": "example-shop"},
    "fields": [
        {"field": "paint", "datatype": "string", "cardinality": "2"},
        {"field": "name", "datatype": "strin", "cardinality": "1"},
        {"field": "shade", "datatype": "string", "cardinality": 1},
        {"field": "name", "datatype": "text", "cardinality": "1"},
        {"field": "tone", "cardinality": "1", "phase": "bta"},
    ],
}


def test_a_file_with_several_problems_has_each_one_named() -> None:
    checked = check_definition(SEVERAL)
    assert [str(p) for p in checked.problems] == [
        "register: 'registy' is not a member of the register (members: fields, phase, register, registry, text); "
        "did you mean 'registry'?",
        "register.fields[2]: 'colour' is listed but no field defines it (add it to 'fields')",
        "register.fields[3]: 'name' is listed twice (first at register.fields[1])",
        "fields[0].cardinality: '2' must be '1' or 'n'",
        "fields[1].datatype: 'strin' is not a datatype (one of: string, text, integer, datetime, timestamp, period, "
        "url, curie, name, hash, point); did you mean 'string'?",
        "fields[2].cardinality: must be the string '1' or 'n', not 1",
        "fields[3]: field 'name' is defined twice (first at fields[1])",
        "fields[4]: field 'tone' has no 'datatype' (one of: string, text, integer, datetime, timestamp, period, url, "
        "curie, name, hash, point)",
    ]
    assert [str(w) for w in checked.warnings] == [
        "fields[4].phase: 'bta' is not one of v1's phases (discovery, alpha, beta, live)",
        "fields[2]: field 'shade' is defined but not listed in register.fields, so the register does not have it",
        "fields[4]: field 'tone' is defined but not listed in register.fields, so the register does not have it",
    ]
    assert checked.definition is None
    with pytest.raises(InvalidDefinition) as refused:
        load_definition(json.dumps(SEVERAL))
    assert str(refused.value) == (f"{checked.problems[0]} (and 7 more: 'registers schema check FILE' lists every one)")


def test_warnings_do_not_refuse_a_file() -> None:
    doc = {"register": {"register": "kn", "fields": ["kn", "name"], "phase": "gamma"},
           "fields": [{"field": "kn", "datatype": "string", "cardinality": "n"},
                      {"field": "name", "datatype": "string", "cardinality": "1"},
                      {"field": "spare", "datatype": "string", "cardinality": "1"}]}
    checked = check_definition(doc)
    assert checked.problems == ()
    assert [str(w) for w in checked.warnings] == [
        "register.phase: 'gamma' is not one of v1's phases (discovery, alpha, beta, live)",
        "fields[2]: field 'spare' is defined but not listed in register.fields, so the register does not have it",
        "fields[0].cardinality: the key field 'kn' holds a list (cardinality n), which can never equal a record's "
        "key: no record could be added",
    ]
    assert checked.definition is not None and checked.definition.field_names == ["kn", "name"]
    assert load_definition(json.dumps(doc)) == checked.definition
    doc["register"]["fields"] = ["name"]
    assert "no field is named 'kn' after the register" in str(check_definition(doc).warnings[-1])


def test_optional_members_and_empty_strings_are_left_out_as_before() -> None:
    doc = {"$schema": "./definition.schema.json", "register-name": "",
           "register": {"register": "r", "fields": ["r"], "registry": "", "text": ""},
           "fields": [{"field": "r", "datatype": "name", "cardinality": "1", "register": "", "text": ""}]}
    assert errors(doc) == []
    definition = load_definition(json.dumps(doc))
    assert definition.system_items() == [
        ("name", {"name": "r"}),
        ("field:r", {"cardinality": "1", "datatype": "name", "field": "r", "phase": "beta"}),
        ("register:r", {"fields": ["r"], "phase": "beta", "register": "r"}),
    ]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_what_the_checker_passes_the_rules_of_system_entries_pass(path: Path) -> None:
    """The file's checks end with ``definition_problem``: a file that passes makes system
    entries that pass it (links aside), and one that would not is refused, located."""
    definition = load_definition(path.read_text())
    seen: set[str] = set()
    for key, item in definition.system_items("A Custodian"):
        assert definition_problem(key, item, seen, lambda _name: True) is None
        seen.add(key)


def test_a_system_entry_rule_the_file_checks_miss_is_still_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(definitions, "definition_problem",
                        lambda key, item, defined, exists: "refused" if key == "field:name" else None)
    assert [str(p) for p in check_definition(COUNTRY).problems] == ["fields[1]: refused"]
