"""Register definitions: the fields a register's items may have, as data.

A definition is what GOV.UK kept in a register's system log: a ``register:<id>`` entry (ordered
field names, registry, text, phase) and one ``field:<name>`` entry per field (datatype,
cardinality, the register it links to, text). ``schemas/<register>.json`` holds the same items.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from typing import Any

from .datatypes import CHECKERS, check_name
from .errors import RegisterError


class InvalidDefinition(RegisterError):
    """A register definition that cannot be used (unknown datatype, missing field, ...)."""


@dataclass(frozen=True)
class FieldDef:
    """One field: its datatype, cardinality (``1`` or ``n``) and the register it links to."""

    name: str
    datatype: str = "string"
    cardinality: str = "1"
    register: str | None = None  # the linked register, if any
    text: str = ""
    phase: str = "beta"

    def __post_init__(self) -> None:
        if self.datatype not in CHECKERS:
            raise InvalidDefinition(f"field '{self.name}': unknown datatype '{self.datatype}'")
        if self.cardinality not in ("1", "n"):
            raise InvalidDefinition(f"field '{self.name}': cardinality must be '1' or 'n', not '{self.cardinality}'")

    def item(self) -> dict[str, str]:
        """The ``field:<name>`` system item, as GOV.UK wrote it (no ``register`` when unlinked)."""
        out = {"cardinality": self.cardinality, "datatype": self.datatype, "field": self.name, "phase": self.phase}
        if self.register:
            out["register"] = self.register
        if self.text:
            out["text"] = self.text
        return out

    @classmethod
    def from_item(cls, item: Mapping[str, Any]) -> FieldDef:
        """A field from its system item (``register: ''`` means no link)."""
        return cls(
            name=str(item["field"]),
            datatype=str(item.get("datatype", "string")),
            cardinality=str(item.get("cardinality", "1")),
            register=str(item.get("register") or "") or None,
            text=str(item.get("text", "")),
            phase=str(item.get("phase", "beta")),
        )


@dataclass(frozen=True)
class Definition:
    """A register's definition: its ordered fields and what it is."""

    register: str
    fields: tuple[FieldDef, ...]
    registry: str = ""
    text: str = ""
    phase: str = "beta"
    title: str = ""  # the register-name, e.g. "Local authorities in England"
    by_name: dict[str, FieldDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name: f for f in self.fields})
        if len(self.by_name) != len(self.fields):
            raise InvalidDefinition(f"register '{self.register}' names a field twice")

    @property
    def field_names(self) -> list[str]:
        """The field names in register order (the CSV column order)."""
        return [f.name for f in self.fields]

    @property
    def key_field(self) -> str | None:
        """The field whose value is each record's key (the one named after the register)."""
        return self.register if self.register in self.by_name else None

    def register_item(self) -> dict[str, Any]:
        """The ``register:<id>`` system item."""
        out: dict[str, Any] = {"fields": self.field_names, "phase": self.phase, "register": self.register}
        if self.registry:
            out["registry"] = self.registry
        if self.text:
            out["text"] = self.text
        return out

    def system_items(self, custodian: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """``(key, item)`` of every system entry that declares this register, in GOV.UK order."""
        items: list[tuple[str, dict[str, Any]]] = [("name", {"name": self.register})]
        if self.title:
            items.append(("register-name", {"register-name": self.title}))
        if custodian:
            items.append(("custodian", {"custodian": custodian}))
        items += [(f"field:{f.name}", f.item()) for f in self.fields]
        items.append((f"register:{self.register}", self.register_item()))
        return items

    def to_json(self) -> dict[str, Any]:
        """The ``schemas/<register>.json`` document."""
        doc: dict[str, Any] = {"register": self.register_item(), "fields": [f.item() for f in self.fields]}
        if self.title:
            doc["register-name"] = self.title
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Definition:
        """A definition from a ``schemas/<register>.json`` document."""
        try:
            reg = doc["register"]
            fields = {f["field"]: FieldDef.from_item(f) for f in doc["fields"]}
            ordered = tuple(fields[name] for name in reg["fields"])
        except KeyError as exc:
            raise InvalidDefinition(f"schema is missing {exc}") from None
        return cls(
            reg["register"], ordered, reg.get("registry", ""), reg.get("text", ""), reg.get("phase", "beta"),
            str(doc.get("register-name", "")),
        )

    @classmethod
    def from_system(cls, register: str, records: Mapping[str, Mapping[str, Any]]) -> Definition | None:
        """The definition held by a register's system records (``key -> item``), if any.

        A dump loaded under another name keeps its definition under the name its ``name``
        entry gives; that one is used when there is none under ``register``.
        """
        reg = records.get(f"register:{register}")
        if reg is None:
            named = records.get("name", {}).get("name")
            reg = records.get(f"register:{named}") if isinstance(named, str) else None
            if reg is None:
                return None
            register = str(named)
        fields = []
        for name in reg.get("fields", []):
            item = records.get(f"field:{name}")
            fields.append(FieldDef.from_item(item) if item else FieldDef(name))
        title = records.get("register-name", {}).get("register-name", "")
        return cls(
            register, tuple(fields), reg.get("registry", ""), reg.get("text", ""), reg.get("phase", "beta"), str(title)
        )


def undefined_field_problem(key: str, item: Mapping[str, Any], defined: Container[str]) -> str | None:
    """Why the ``register:<id>`` entry (``key``, ``item``) may not be taken in: it names a
    field no ``field:<name>`` key of ``defined`` defines yet; or None. Every batch is held to
    this, published or not."""
    for name in item.get("fields", []):
        if f"field:{name}" not in defined:
            return f"system entry '{key}' names field '{name}' before any 'field:{name}' entry defines it"
    return None


def definition_problem(
    key: str, item: Mapping[str, Any], defined: Container[str], register_exists: Callable[[str], bool]
) -> str | None:
    """Why a new system entry (``key``, ``item``) may not be written as a definition made
    here (``registers create``, a custodian's RSF upload over HTTP), or None: the one rule set
    of both. Published dumps are loaded as published, without these rules.

    - ``field:<name>``: ``<name>`` is a field name by the v1 ``name`` datatype (a letter, then
      letters, digits or ``-``) and the item's ``field``; every value is a string; the datatype
      is a v1 datatype, the cardinality ``1`` or ``n``; a linked ``register`` (when not empty)
      is one for which ``register_exists`` is true (a register of this database).
    - ``register:<id>``: ``<id>`` follows the same rule and is the item's ``register``;
      ``fields`` is a list of field names, none twice, each already defined by a ``field:``
      key of ``defined``; its other values are strings.
    - ``name``: the item's ``name`` follows the same rule.
    - Each item has the members ``registers create`` writes and no others (a field's ``field``,
      ``datatype`` and ``cardinality``, and ``phase``, ``register`` (``""``: no link, as in v1),
      ``text`` if given; a register's ``register`` and ``fields``, and ``phase``, ``registry``,
      ``text``; ``name``, ``register-name`` and ``custodian`` their one non-empty string), so
      what is signed is what the definition shows: nothing is filled in by default or dropped.

    ``register-name`` and ``custodian`` are free text (served escaped); any other key is not a
    definition and is left to the caller (``change`` and unknown keys).
    """
    if not isinstance(item, Mapping):
        return f"system entry '{key}': the item is not an object"
    if key.startswith("field:"):
        return _field_problem(key, key.removeprefix("field:"), item, register_exists)
    if key.startswith("register:"):
        return _register_problem(key, key.removeprefix("register:"), item, defined)
    if key in _ONE_MEMBER:
        members = _members_problem(key, item, {key}, {key})
        if members:
            return members
        if not isinstance(item[key], str) or not item[key]:
            return f"system entry '{key}': '{key}' must be a non-empty string"
    if key == "name":
        name = item.get("name")
        if not isinstance(name, str) or check_name(name):
            return f"system entry 'name': {_shown(name)} is not a register name (a letter, then letters, digits or -)"
    return None


# The members a definition made here may have, and must (as ``FieldDef.item`` and
# ``Definition.register_item`` write them): nothing is filled in or dropped on the way.
_FIELD_MEMBERS = ({"field", "datatype", "cardinality"},
                  {"field", "datatype", "cardinality", "phase", "register", "text"})
_REGISTER_MEMBERS = ({"register", "fields"}, {"register", "fields", "phase", "registry", "text"})
_ONE_MEMBER = {"name", "register-name", "custodian"}


def _members_problem(key: str, item: Mapping[str, Any], required: set[str], allowed: set[str]) -> str | None:
    missing = sorted(required - set(item))
    if missing:
        return f"system entry '{key}' has no '{missing[0]}'"
    extra = sorted(set(item) - allowed)
    if extra:
        return f"system entry '{key}': '{extra[0][:100]}' is not a member of a {key.split(':')[0]} entry"
    return None


def _named_problem(key: str, name: str, item: Mapping[str, Any], what: str, members: tuple[set[str], set[str]],
                   label: str) -> str | None:
    """Why an entry defining ``what`` (``field`` or ``register``) named ``name`` by its key is
    not one: a v1 name, the item's own ``what`` member naming it, the members such an entry has."""
    if check_name(name):
        return f"system entry '{key}': '{name}' is not a {label} (a letter, then letters, digits or -)"
    if item.get(what) != name:
        return f"system entry '{key}' defines {what} {_shown(item.get(what))}, not '{name}'"
    return _members_problem(key, item, *members)


def _field_problem(key: str, name: str, item: Mapping[str, Any], register_exists: Callable[[str], bool]) -> str | None:
    named = _named_problem(key, name, item, "field", _FIELD_MEMBERS, "field name")
    if named:
        return named
    for member, value in item.items():
        if not isinstance(value, str):
            return f"system entry '{key}': '{member}' must be a string"
    try:
        linked = FieldDef.from_item(item).register
    except InvalidDefinition as exc:
        return f"system entry '{key}': {exc}"
    if linked and not register_exists(linked):
        return f"system entry '{key}' links to register '{linked}', which does not exist here: create '{linked}' first"
    return None


def _register_problem(key: str, name: str, item: Mapping[str, Any], defined: Container[str]) -> str | None:
    named = _named_problem(key, name, item, "register", _REGISTER_MEMBERS, "register id")
    if named:
        return named
    fields = item.get("fields", [])
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        return f"system entry '{key}': 'fields' must be a list of field names"
    if len(set(fields)) != len(fields):
        return f"system entry '{key}' names a field twice"
    missing = undefined_field_problem(key, item, defined)
    if missing is not None:
        return missing
    for member, value in item.items():
        if member != "fields" and not isinstance(value, str):
            return f"system entry '{key}': '{member}' must be a string"
    return None


def _shown(value: Any) -> str:
    return f"'{value}'" if isinstance(value, str) else "none" if value is None else json.dumps(value)


def load_definition(text: str) -> Definition:
    """Parse a ``schemas/<register>.json`` document."""
    try:
        return Definition.from_json(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise InvalidDefinition(f"schema is not valid: {exc}") from None

