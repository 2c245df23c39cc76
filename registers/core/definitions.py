"""Register definitions: the fields a register's items may have, as data.

A definition is what GOV.UK kept in a register's system log: a ``register:<id>`` entry (ordered
field names, registry, text, phase) and one ``field:<name>`` entry per field (datatype,
cardinality, the register it links to, text). ``schemas/<register>.json`` holds the same items.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .datatypes import CHECKERS
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


def load_definition(text: str) -> Definition:
    """Parse a ``schemas/<register>.json`` document."""
    try:
        return Definition.from_json(json.loads(text))
    except (ValueError, TypeError) as exc:
        raise InvalidDefinition(f"schema is not valid: {exc}") from None

