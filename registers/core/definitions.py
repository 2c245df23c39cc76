"""Register definitions: the fields a register's items may have, as data.

A definition is what GOV.UK kept in a register's system log: a ``register:<id>`` entry (ordered
field names, registry, text, phase) and one ``field:<name>`` entry per field (datatype,
cardinality, the register it links to, text). ``schemas/<register>.json`` holds the same items.
"""

from __future__ import annotations

import difflib
import json
from collections import Counter
from collections.abc import Callable, Container, Mapping
from dataclasses import dataclass, field
from typing import Any

from .datatypes import CHECKERS, check_name
from .errors import RegisterError


class InvalidDefinition(RegisterError):
    """A register definition that cannot be used (unknown datatype, missing field, ...)."""


CARDINALITIES = ("1", "n")  # one value, or a list of values
PHASES = ("discovery", "alpha", "beta", "live")  # v1's phases (any string is kept; others are warned of)


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
        if self.cardinality not in CARDINALITIES:
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
    """Parse a definition file (``schemas/<register>.json``), or refuse it with its first
    problem as ``check_definition_file`` names it (``register.fields[2]: 'colour' is listed but
    no field defines it``), saying how many more there are."""
    checked = check_definition_file(text)
    if checked.definition is None:
        first, more = checked.problems[0], len(checked.problems) - 1
        also = f" (and {more} more: 'registers schema check FILE' lists every one)" if more else ""
        raise InvalidDefinition(f"{first}{also}")
    return checked.definition


# A definition file: what ``registers create --schema FILE`` reads and ``registers schema check``
# checks (docs/definitions.md). It holds the items of the definition's system entries (one
# ``register`` object, a ``field`` object per field) and is held to the rules of
# ``definition_problem`` above, every problem named with where it is; ``check_definition_file``
# finishes by running ``definition_problem`` itself on the entries the file makes, so a file
# it passes is one those rules pass, bar links to registers the database does not have.

TOP = "(top level)"
_DOCUMENT_MEMBERS = ({"register", "fields"}, {"$schema", "register", "fields", "register-name"})
_NAME_RULE = "(a letter, then letters, digits or -)"
_HINTS = {  # what a missing member holds
    (TOP, "register"): "the register's id and its field names, in order",
    (TOP, "fields"): "the list of field definitions",
    ("register", "register"): "the register's id, e.g. 'country'",
    ("register", "fields"): "the register's field names, in order",
    ("field", "field"): "the field's name",
    ("field", "datatype"): "one of: " + ", ".join(CHECKERS),
    ("field", "cardinality"): "'1' or 'n'",
}


@dataclass(frozen=True)
class DefinitionProblem:
    """One problem of a definition file: where it is (``fields[1].datatype``,
    ``register.fields[2]``, ``(top level)``, or ``line 3, column 5`` in JSON that does not
    parse) and what is wrong with it, in plain words."""

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass(frozen=True)
class DefinitionCheck:
    """What ``check_definition_file`` found: the problems that refuse the file, warnings that
    do not (a field left out of ``register.fields``, no key field, a phase v1 did not have),
    and the definition when there is no problem."""

    problems: tuple[DefinitionProblem, ...]
    warnings: tuple[DefinitionProblem, ...]
    definition: Definition | None


class _Object(dict[str, Any]):
    """A JSON object as parsed, remembering the members given more than once (JSON readers
    keep one of them, which one depends on the reader)."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        counts = Counter(name for name, _value in pairs)
        obj.repeated = tuple(sorted(name for name, count in counts.items() if count > 1))
    return obj


def check_definition_file(text: str) -> DefinitionCheck:
    """Every problem of a definition file's text (its JSON, then ``check_definition``)."""
    try:
        doc = json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as exc:
        return DefinitionCheck((DefinitionProblem(f"line {exc.lineno}, column {exc.colno}",
                                                  f"not valid JSON: {exc.msg}"),), (), None)
    except RecursionError:
        return DefinitionCheck((DefinitionProblem(TOP, "not a definition: nested too deeply"),), (), None)
    return check_definition(doc)


def check_definition(doc: Any) -> DefinitionCheck:
    """Every problem of a parsed definition file ``doc``, in order: the top level, the
    ``register`` object, then each field; and the warnings. Links are checked by name only
    (whether the linked register exists is for ``registers create`` to find out)."""
    found = _Found()
    if not isinstance(doc, Mapping):
        found.problem(TOP, f"a definition is a JSON object with 'register' and 'fields', not {_kind(doc)}")
        return found.result(None)
    found.members(TOP, doc, _DOCUMENT_MEMBERS, "a definition", TOP)
    found.string(doc, "register-name", "register-name")
    fields = doc.get("fields")
    items = fields if isinstance(fields, list) else []
    defined: dict[str, int] = {}  # field name -> where it is first defined
    for i, item in enumerate(items):
        name = item.get("field") if isinstance(item, Mapping) else None
        if isinstance(name, str):
            defined.setdefault(name, i)
    listed = None
    if "register" in doc:
        listed = found.register(doc["register"], defined if isinstance(fields, list) else None)
    if "fields" in doc and not isinstance(fields, list):
        found.problem("fields", f"must be a list of field definitions, not {_kind(fields)}")
    for i, item in enumerate(items):
        found.field(i, item, defined)
    if listed is not None and isinstance(fields, list):
        found.unlisted_and_key(doc["register"].get("register"), listed, items, defined)
    if found.problems:
        return found.result(None)
    try:
        definition = Definition.from_json(doc)
    except InvalidDefinition as exc:  # not expected: each rule it holds is checked above
        found.problem(TOP, str(exc))
        return found.result(None)
    found.system_rules(definition, defined)
    return found.result(None if found.problems else definition)


class _Found:
    """The problems and warnings of one definition file, as they are found."""

    def __init__(self) -> None:
        self.problems: list[DefinitionProblem] = []
        self.warnings: list[DefinitionProblem] = []

    def result(self, definition: Definition | None) -> DefinitionCheck:
        return DefinitionCheck(tuple(self.problems), tuple(self.warnings), definition)

    def problem(self, where: str, message: str) -> None:
        self.problems.append(DefinitionProblem(where, message))

    def warn(self, where: str, message: str) -> None:
        self.warnings.append(DefinitionProblem(where, message))

    def members(self, where: str, obj: Mapping[str, Any], members: tuple[set[str], set[str]], what: str,
                kind: str) -> None:
        """Members repeated, missing (with what they hold) or not allowed (with the likeliest meant)."""
        required, allowed = members
        for name in getattr(obj, "repeated", ()):
            self.problem(where, f"'{name}' is given more than once")
        for name in sorted(required - set(obj)):
            self.problem(where, f"{what} has no '{name}' ({_HINTS[kind, name]})")
        for name in sorted(set(obj) - allowed):
            self.problem(where, f"'{name[:100]}' is not a member of {what} (members: {', '.join(sorted(allowed))})"
                         + _did_you_mean(name, allowed))

    def string(self, obj: Mapping[str, Any], member: str, where: str) -> bool:
        """True when ``member`` is absent or a string; else a problem."""
        if member in obj and not isinstance(obj[member], str):
            self.problem(where, f"must be a string, not {_kind(obj[member])}")
            return False
        return True

    def register(self, reg: Any, defined: dict[str, int] | None) -> list[str] | None:
        """Check the ``register`` object; the field names it lists (each once), when it lists some."""
        if not isinstance(reg, Mapping):
            self.problem("register", f"must be an object (the register's id and field names), not {_kind(reg)}")
            return None
        self.members("register", reg, _REGISTER_MEMBERS, "the register", "register")
        if self.string(reg, "register", "register.register") and "register" in reg and check_name(reg["register"]):
            self.problem("register.register", f"{_shown(reg['register'])} is not a register id {_NAME_RULE}")
        for member in ("phase", "registry", "text"):
            self.string(reg, member, f"register.{member}")
        self.phase(reg, "register.phase")
        listed = reg.get("fields")
        if "fields" in reg and not isinstance(listed, list):
            self.problem("register.fields", f"must be a list of field names, not {_kind(listed)}")
        first: dict[str, int] = {}
        for i, name in enumerate(listed if isinstance(listed, list) else []):
            where = f"register.fields[{i}]"
            if not isinstance(name, str):
                self.problem(where, f"must be a field name (a string), not {_kind(name)}")
            elif name in first:
                self.problem(where, f"'{name}' is listed twice (first at register.fields[{first[name]}])")
            else:
                first[name] = i
                if defined is not None and name not in defined:
                    self.problem(where, f"'{name}' is listed but no field defines it (add it to 'fields')")
        return list(first) if isinstance(listed, list) else None

    def field(self, i: int, item: Any, defined: dict[str, int]) -> None:
        """Check ``fields[i]``."""
        where = f"fields[{i}]"
        if not isinstance(item, Mapping):
            self.problem(where, f"must be an object (a field definition), not {_kind(item)}")
            return
        name = item.get("field")
        what = f"field '{name}'" if isinstance(name, str) else "the field"
        self.members(where, item, _FIELD_MEMBERS, what, "field")
        strings = {member: self.string(item, member, f"{where}.{member}") if member != "cardinality" else True
                   for member in sorted(_FIELD_MEMBERS[1] & set(item))}
        if isinstance(name, str):
            if check_name(name):
                self.problem(f"{where}.field", f"'{name}' is not a field name {_NAME_RULE}")
            elif defined.get(name, i) != i:
                self.problem(where, f"field '{name}' is defined twice (first at fields[{defined[name]}])")
        datatype = item.get("datatype")
        if strings.get("datatype") and datatype not in CHECKERS:
            self.problem(f"{where}.datatype", f"{_shown(datatype)} is not a datatype (one of: {', '.join(CHECKERS)})"
                         + _did_you_mean(str(datatype), CHECKERS))
        cardinality = item.get("cardinality")
        if "cardinality" in item and cardinality not in CARDINALITIES:
            self.problem(f"{where}.cardinality", f"'{cardinality}' must be '1' or 'n'" if isinstance(cardinality, str)
                         else f"must be the string '1' or 'n', not {_kind(cardinality)}")
        linked = item.get("register")
        if strings.get("register") and linked and check_name(linked):
            self.problem(f"{where}.register", f"'{linked}' is not a register id {_NAME_RULE}: give the id "
                         "of the register the field links to, or '' for no link")
        if strings.get("phase"):
            self.phase(item, f"{where}.phase")

    def phase(self, obj: Mapping[str, Any], where: str) -> None:
        phase = obj.get("phase")
        if isinstance(phase, str) and phase not in PHASES:
            self.warn(where, f"'{phase}' is not one of v1's phases ({', '.join(PHASES)})")

    def unlisted_and_key(self, register: Any, listed: list[str], items: list[Any], defined: dict[str, int]) -> None:
        """Warn of fields left out of ``register.fields`` and of a missing or list-valued key field."""
        for name, i in defined.items():
            if name not in listed:
                self.warn(f"fields[{i}]", f"field '{name}' is defined but not listed in register.fields, "
                          "so the register does not have it")
        if not isinstance(register, str) or check_name(register):
            return  # the register's id is a problem
        if register not in listed:
            self.warn("register.fields", f"no field is named '{register}' after the register, so no field holds "
                      "each record's key")
        elif register in defined and items[defined[register]].get("cardinality") == "n":
            self.warn(f"fields[{defined[register]}].cardinality", f"the key field '{register}' holds a list "
                      "(cardinality n), which can never equal a record's key: no record could be added")

    def system_rules(self, definition: Definition, defined: dict[str, int]) -> None:
        """``definition_problem`` on each system entry the file makes (links taken as existing)."""
        seen: set[str] = set()
        for key, item in definition.system_items():
            problem = definition_problem(key, item, seen, lambda _name: True)
            if problem:
                name = key.partition(":")[2]
                where = (f"fields[{defined[name]}]" if key.startswith("field:") and name in defined
                         else "register.register" if key == "name" else key.partition(":")[0])
                self.problem(where, problem)
            seen.add(key)


def _kind(value: Any) -> str:
    """``value`` as a problem shows it: its JSON, cut short."""
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def _did_you_mean(word: str, choices: Any) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.7)
    return f"; did you mean '{close[0]}'?" if close else ""

