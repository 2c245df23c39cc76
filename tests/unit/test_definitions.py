"""The rules of definitions made here (``registers create``, uploads over HTTP): every shipped
schema and every definition entry of the real dumps passes them; names with markup, unknown
datatypes, bad cardinalities and links to missing registers do not."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from registers.core.definitions import definition_problem, load_definition
from registers.core.entries import Log
from registers.core.rsf import AddItem, AppendEntry, read_rsf
from tests.conftest import ROOT, RSF

FIELD = {"cardinality": "1", "datatype": "string", "field": "colour", "phase": "beta"}


def _everything(_name: str) -> bool:
    return True


def _definition_entries(path: Path) -> list[tuple[str, dict[str, Any]]]:
    items: dict[bytes, dict[str, Any]] = {}
    found = []
    with path.open("rb") as stream:
        for command in read_rsf(stream):
            if isinstance(command, AddItem):
                items[command.digest] = json.loads(command.blob)
            elif isinstance(command, AppendEntry) and command.log is Log.SYSTEM:
                found.append((command.key, items[command.digests[0]]))
    return found


@pytest.mark.parametrize("path", sorted(RSF.glob("*.rsf")), ids=lambda p: p.name)
def test_every_definition_entry_of_the_real_dumps_passes(path: Path) -> None:
    defined: set[str] = set()
    for key, item in _definition_entries(path):
        assert definition_problem(key, item, defined, _everything) is None, (key, item)
        defined.add(key)


@pytest.mark.parametrize("path", sorted((ROOT / "schemas").glob("*.json")), ids=lambda p: p.name)
def test_every_shipped_schema_passes(path: Path) -> None:
    definition = load_definition(path.read_text())
    defined: set[str] = set()
    for key, item in definition.system_items("A Custodian"):
        assert definition_problem(key, item, defined, _everything) is None, (key, item)
        defined.add(key)


@pytest.mark.parametrize(("key", "item", "reason"), [
    ("field:<b>x</b>", {**FIELD, "field": "<b>x</b>"}, "is not a field name"),
    ("field:1st", {**FIELD, "field": "1st"}, "is not a field name"),
    ("field:a b", {**FIELD, "field": "a b"}, "is not a field name"),
    ("field:colour", {**FIELD, "field": "color"}, "defines field 'color', not 'colour'"),
    ("field:colour", {k: v for k, v in FIELD.items() if k != "field"}, "defines field none, not 'colour'"),
    ("field:colour", {**FIELD, "datatype": "colour"}, "unknown datatype 'colour'"),
    ("field:colour", {**FIELD, "cardinality": "2"}, "cardinality must be '1' or 'n'"),
    ("field:colour", {**FIELD, "register": "paint"}, "links to register 'paint', which does not exist"),
    ("field:colour", {**FIELD, "text": ["a", "b"]}, "'text' must be a string"),
    ("register:<i>r</i>", {"fields": [], "register": "<i>r</i>"}, "is not a register id"),
    ("register:r", {"fields": [], "register": "s"}, "defines register 's', not 'r'"),
    ("register:r", {"fields": ["colour", "colour"], "register": "r"}, "names a field twice"),
    ("register:r", {"fields": ["shape"], "register": "r"}, "names field 'shape' before any 'field:shape'"),
    ("register:r", {"fields": "colour", "register": "r"}, "'fields' must be a list of field names"),
    ("name", {"name": "<script>"}, "is not a register name"),
])
def test_bad_definition_entries_are_refused(key: str, item: dict[str, Any], reason: str) -> None:
    problem = definition_problem(key, item, {"field:colour"}, lambda name: name == "country")
    assert problem is not None and reason in problem


def test_free_text_and_links_to_existing_registers_pass() -> None:
    exists = {"country"}.__contains__
    assert definition_problem("field:colour", {**FIELD, "register": "country"}, set(), exists) is None
    assert definition_problem("field:colour", {**FIELD, "register": ""}, set(), exists) is None  # no link
    assert definition_problem("register-name", {"register-name": "<b>Colours</b>"}, set(), exists) is None
    assert definition_problem("custodian", {"custodian": "Jane <jane@example.org>"}, set(), exists) is None
