"""Checking items against a register's definition.

marshmallow holds the rules (``item_schema``); ``compile_checks`` turns the same definition
into plain Python checks for bulk loads, and the tests hold the two to the same answers.
Problems are ``ValueFinding``s that read ``field 'x': value 'y' is not a valid datetime``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from marshmallow import Schema, ValidationError, fields, validate

from .datatypes import CHECKERS, parse_curie
from .definitions import Definition, FieldDef
from .entries import Log, key_problem


@dataclass(frozen=True, order=True)
class ValueFinding:
    """One problem with one value of an item (``field`` is empty for problems with the key)."""

    field: str
    message: str

    def __str__(self) -> str:
        return self.message


def _value_message(name: str, value: str, reason: str) -> str:
    shown = value.replace("\x00", "\\u0000")  # a NUL shown, not written (it would cut the line short)
    return f"field '{name}': value '{shown}' {reason}"


def unknown_field(name: str, definition: Definition) -> ValueFinding:
    """The finding for a field ``name`` that ``definition`` does not have."""
    return ValueFinding(name, f"field '{name}' is not a field of register '{definition.register}'")


LIST_SEPARATOR = ";"  # CSV joins a cardinality-n field's values with it


def _separator_message(name: str, value: str) -> str:
    return _value_message(
        name, value, f"holds '{LIST_SEPARATOR}', which joins a list's values in CSV (give each value as its own member)"
    )


def _not_list(name: str) -> ValueFinding:
    return ValueFinding(name, f"field '{name}' holds a list of values (cardinality n); give a list")


def _not_string(name: str) -> ValueFinding:
    return ValueFinding(name, f"field '{name}' holds one value (cardinality 1); give a string")


def _datatype_validator(f: FieldDef) -> Callable[[str], None]:
    check = CHECKERS[f.datatype]
    member = f.cardinality == "n"

    def run(value: str) -> None:
        reason = check(value)
        if reason:
            raise ValidationError(_value_message(f.name, value, reason))
        if member and LIST_SEPARATOR in value:
            raise ValidationError(_separator_message(f.name, value))

    return run


@functools.lru_cache(maxsize=64)
def item_schema(definition: Definition) -> Schema:
    """A marshmallow schema holding the rules of ``definition`` (unknown fields refused)."""
    declared: dict[str, fields.Field[Any]] = {}
    for f in definition.fields:
        value = fields.String(validate=_datatype_validator(f), error_messages={"invalid": f"not-string:{f.name}"})
        if f.cardinality == "n":
            declared[f.name] = fields.List(
                value, validate=validate.Length(min=1), error_messages={"invalid": f"not-list:{f.name}"}
            )
        else:
            declared[f.name] = value
    return Schema.from_dict(declared, name=f"Item_{definition.register}")()


def _schema_findings(
    errors: Mapping[str, Any], definition: Definition, item: Mapping[str, Any]
) -> Iterator[ValueFinding]:
    for name, messages in errors.items():
        for message in _flatten(messages):
            if message == "Unknown field.":
                yield unknown_field(name, definition)
            elif message.startswith("not-list:"):
                yield _not_list(name)
            elif message.startswith("not-string:"):
                yield _not_string(name)
            elif message.startswith("Shorter than minimum length"):
                yield ValueFinding(name, f"field '{name}' is an empty list")
            else:
                yield ValueFinding(name, message)


def _flatten(messages: Any) -> Iterator[str]:
    if isinstance(messages, str):
        yield messages
    elif isinstance(messages, dict):
        for value in messages.values():
            yield from _flatten(value)
    else:
        for value in messages:
            yield from _flatten(value)


def _key_findings(definition: Definition, key: str, item: Mapping[str, Any]) -> list[ValueFinding]:
    problem = key_problem(Log.USER, key)
    if problem:
        return [ValueFinding("", problem)]
    key_field = definition.key_field
    if key_field is None:
        return []
    value = item.get(key_field)
    if value is None:
        return [ValueFinding(key_field, f"field '{key_field}' is required: it holds the key")]
    if value != key:
        return [ValueFinding(key_field, f"field '{key_field}': value '{value}' is not the entry's key '{key}'")]
    return []


def validate_item(definition: Definition, key: str, item: Mapping[str, Any]) -> list[ValueFinding]:
    """Every problem of ``item`` under ``key`` (sorted by field), checked by marshmallow."""
    schema = item_schema(definition)
    try:
        schema.load(dict(item))
        found: list[ValueFinding] = []
    except ValidationError as exc:
        found = list(_schema_findings(exc.messages_dict, definition, item))
    return sorted(set(found + _key_findings(definition, key, item)))


ItemCheck = Callable[[str, Mapping[str, Any]], list[ValueFinding]]


def compile_checks(definition: Definition) -> ItemCheck:
    """The rules of ``item_schema`` as plain Python, for bulk loads (same findings).

    Checks of datatypes whose values repeat across records and cost a parse (dates, CURIEs)
    remember their answers for the batch (bounded), so each distinct value is parsed once."""
    rules = {
        f.name: (f.cardinality == "n", _remembered(f.datatype) if f.datatype in _REPEATING else CHECKERS[f.datatype])
        for f in definition.fields
    }

    def check(key: str, item: Mapping[str, Any]) -> list[ValueFinding]:
        found = _key_findings(definition, key, item)
        for name, value in item.items():
            rule = rules.get(name)
            if rule is None:
                found.append(unknown_field(name, definition))
                continue
            many, checker = rule
            if many:
                if not isinstance(value, list):
                    found.append(_not_list(name))
                    continue
                if not value:
                    found.append(ValueFinding(name, f"field '{name}' is an empty list"))
                values = value
            else:
                if not isinstance(value, str):
                    found.append(_not_string(name))
                    continue
                values = [value]
            for v in values:
                if not isinstance(v, str):
                    found.append(_not_string(name))
                    continue
                reason = checker(v)
                if reason:
                    found.append(ValueFinding(name, _value_message(name, v, reason)))
                elif many and LIST_SEPARATOR in v:
                    found.append(ValueFinding(name, _separator_message(name, v)))
        return sorted(set(found)) if found else found

    return check


_REPEATING = frozenset({"datetime", "timestamp", "period", "curie"})


def _remembered(datatype: str) -> Callable[[str], str | None]:
    return functools.lru_cache(maxsize=1 << 16)(CHECKERS[datatype])


def linking_fields(definition: Definition) -> tuple[FieldDef, ...]:
    """The fields of ``definition`` whose values can name records (CURIEs and linked fields)."""
    return tuple(f for f in definition.fields if f.datatype == "curie" or f.register)


def link_targets(
    definition: Definition, item: Mapping[str, Any], linking: tuple[FieldDef, ...] | None = None
) -> Iterator[tuple[str, str, str]]:
    """``(field, register, key)`` for every value of ``item`` that names a record elsewhere.

    A linked field's values are keys of its register; a CURIE ``prefix:key`` names a key of
    register ``prefix`` (``prefix:`` alone names the register itself and yields key '').
    ``linking``, when given, is ``linking_fields(definition)`` worked out once for many items.
    """
    for f in linking_fields(definition) if linking is None else linking:
        value = item.get(f.name)
        if value is None:
            continue
        for v in value if isinstance(value, list) else [value]:
            if f.datatype == "curie":
                parsed = parse_curie(v)
                if parsed:
                    yield f.name, parsed[0], parsed[1]
            elif f.register:
                yield f.name, f.register, v
