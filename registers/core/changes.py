"""A change to one record, as data: what a custodian, a remote client or a proposal asks for.

A ``RecordChange`` is an action (``add``, ``amend`` or ``end``), a key, and the fields it sets:
``{name: value}`` where a value is a string (a cardinality-1 field), a list of strings (a
cardinality-n field) or None (remove the field). An end is ``{"end-date": DATE}`` and nothing
else. Every entry point builds this one object: HTTP JSON maps onto it as sent, the command
line parses ``field=value`` into it with the register's definition (``parse_assignments``),
and a proposal stores it. ``new_item`` applies it to a record's current item; the item it
gives is then checked by the register's item rules (``core.validation``) inside the append,
so a change is checked once, by the rules every item meets, and stored exactly as asked or
refused saying why — never re-shaped.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .definitions import Definition
from .errors import InvalidEntry
from .validation import unknown_field

FieldValue = str | list[str] | None
ACTIONS = ("add", "amend", "end")
END_DATE = "end-date"


def field_value_problem(name: Any, value: Any) -> str | None:
    """Why ``value`` cannot be the value a change gives field ``name`` (None when it can): a
    change's values are strings, lists of strings, or None."""
    if not isinstance(name, str) or not name:
        return f"field name {name!r} is not a non-empty string"
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, list):
        for member in value:
            if not isinstance(member, str):
                return f"field '{name}': list member {_shown(member)} is not a string"
        return None
    return f"field '{name}': {_shown(value)} is not a string, a list of strings, or null (to remove the field)"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class RecordChange:
    """Add, amend or end record ``key`` with ``fields`` (see the module docstring). Made only
    with well-typed values: InvalidEntry names the field otherwise."""

    action: str
    key: str
    fields: Mapping[str, FieldValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise InvalidEntry(f"'{self.action}' is not a change (add, amend or end)")
        if not isinstance(self.key, str) or not self.key:
            raise InvalidEntry("a change needs a key (a non-empty string)")
        if not isinstance(self.fields, Mapping):
            raise InvalidEntry("a change's fields are an object of field: value")
        for name, value in self.fields.items():
            problem = field_value_problem(name, value)
            if problem:
                raise InvalidEntry(problem)
        if self.action == "end":
            date = self.fields.get(END_DATE)
            if set(self.fields) != {END_DATE} or not isinstance(date, str) or not date:
                raise InvalidEntry("an end gives the end-date (YYYY-MM-DD) and nothing else")
        object.__setattr__(self, "fields", {name: _copy(value) for name, value in self.fields.items()})

    @classmethod
    def end(cls, key: str, date: str) -> RecordChange:
        """The end of record ``key`` on ``date``."""
        return cls("end", key, {END_DATE: date})

    def as_json(self) -> dict[str, Any]:
        """``{"action", "key", "fields"}``: how a change is stored and sent."""
        return {"action": self.action, "key": self.key, "fields": {k: _copy(v) for k, v in self.fields.items()}}


def _copy(value: FieldValue) -> FieldValue:
    return list(value) if isinstance(value, list) else value


def new_item(change: RecordChange, definition: Definition, current: Mapping[str, Any] | None) -> dict[str, Any]:
    """The item record ``change.key`` gets when ``change`` is applied to its ``current`` item
    (None: no record yet). An add fills in the key field; an amend changes only the named
    fields (None removes one); an end sets the end-date. InvalidEntry when the action cannot
    apply to the record as it is, or a field to remove is not a field of the register. The
    item's values are checked afterwards, by the register's item rules."""
    key, action = change.key, change.action
    if action == "add":
        if current is not None:
            raise InvalidEntry(f"record '{key}' already exists: amend it instead")
        item: dict[str, Any] = {}
    elif current is None:
        raise InvalidEntry(f"record '{key}' does not exist" + (": add it instead" if action == "amend" else ""))
    else:
        item = dict(current)
    if action == "end":
        if END_DATE not in definition.by_name:
            raise InvalidEntry(f"register '{definition.register}' has no end-date field")
        if END_DATE in item:
            raise InvalidEntry(f"record '{key}' already ended on {item[END_DATE]}")
    for name, value in change.fields.items():
        if value is None:
            if name == definition.key_field:
                raise InvalidEntry(f"field '{name}' holds the record's key: it cannot be removed")
            if name not in definition.by_name and name not in item:
                raise InvalidEntry(unknown_field(name, definition).message)
            item.pop(name, None)
        else:
            item[name] = _copy(value)
    if action == "add" and definition.key_field:
        item.setdefault(definition.key_field, key)
    return item


def parse_assignments(definition: Definition, assignments: list[str]) -> dict[str, FieldValue]:
    """Command-line ``FIELD=VALUE`` arguments as a change's fields: ``FIELD=`` with nothing
    after it removes the field, a cardinality-n field's value is split on ``;`` (as in a CSV
    cell), anything else is the string as typed. A field named twice, or an argument without
    ``=``, is refused; an unknown field is kept as typed, for the item rules to name."""
    out: dict[str, FieldValue] = {}
    for text in assignments:
        name, sep, value = text.partition("=")
        if not sep or not name:
            raise InvalidEntry(f"'{text}' is not FIELD=VALUE")
        if name in out:
            raise InvalidEntry(f"field '{name}' is given twice")
        known = definition.by_name.get(name)
        if value == "":
            out[name] = None
        elif known is not None and known.cardinality == "n":
            out[name] = value.split(";")
        else:
            out[name] = value
    return out


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Each field whose value differs between two items, as ``[before, after]`` (None where
    absent), by field name."""
    return {f: [before.get(f), after.get(f)] for f in sorted(set(before) | set(after)) if before.get(f) != after.get(f)}
