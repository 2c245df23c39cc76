"""Ended records still named by live records, here or in other registers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ...core.definitions import Definition
from ...core.validation import link_targets, linking_fields
from ...store import fields, reads, records
from ...store.system import system_records
from ..reading import is_current
from ..scratch import Scratch
from . import survey
from .findings import QualityFinding


def ended_but_linked(conn: Any, name: str, scratch: Scratch, today: str) -> Iterator[QualityFinding]:
    """Live records of any register (this one included) naming a record of ``name`` that has
    ended (the ended keys wait in the scratch file). Where every field that can name ``name``
    is indexed, each ended key is looked up; otherwise the linking register is read through."""
    for other in reads.register_names(conn):
        other_id = reads.register_id(conn, other)
        system = system_records(conn, other_id) if other_id is not None else {}
        other_definition = Definition.from_system(other, system)
        if other_id is None or other_definition is None:
            continue  # a register without a definition links nowhere
        itself = other_definition.register  # its own name in its definition, whatever it is loaded as

        def loaded(register: str, other: str = other, itself: str = itself) -> str:
            return other if register == itself else register

        linking = tuple(f for f in linking_fields(other_definition) if f.name != other_definition.key_field
                        and (f.datatype == "curie" or loaded(f.register or "") == name))
        if not linking:
            continue
        indexed = set(fields.indexed_fields(conn, other_id))
        if all(f.name in indexed for f in linking):
            prefixes = {p for p in (name, itself) if loaded(p) == name}  # of a CURIE naming it
            yield from _ended_looked_up(conn, scratch, name, other, other_id, linking, prefixes, today)
            continue
        waiting: list[tuple[str, str, str]] = []
        for rec in records.iter_records(conn, other_id):
            if is_current(rec.item, today):
                waiting += ((rec.entry.key, f, target) for f, register, target
                            in link_targets(other_definition, rec.item, linking) if loaded(register) == name)
            if len(waiting) >= survey.LINK_BATCH:
                yield from _ended_links(scratch, name, other, waiting)
                waiting = []
        yield from _ended_links(scratch, name, other, waiting)


def _ended_looked_up(conn: Any, scratch: Scratch, name: str, other: str, other_id: int, linking: tuple[Any, ...],
                     prefixes: set[str], today: str) -> Iterator[QualityFinding]:
    """``_ended_but_linked`` through the field indexes of ``other``: its live records holding
    each ended key of ``name`` (as ``prefix:key`` in a CURIE field)."""
    for key, end_date in scratch.execute("SELECT key, end_date FROM ended ORDER BY key"):
        for f in linking:
            values = [f"{prefix}:{key}" for prefix in sorted(prefixes)] if f.datatype == "curie" else [key]
            for value in values:
                for rec in records.iter_records_with_value(conn, other_id, f.name, value):
                    if is_current(rec.item, today):
                        yield _ended_finding(name, other, rec.entry.key, f.name, key, end_date)


def _ended_links(
    scratch: Scratch, name: str, other: str, waiting: list[tuple[str, str, str]]
) -> Iterator[QualityFinding]:
    ends = dict(scratch.lookup("SELECT key, end_date FROM ended WHERE key IN ({})", sorted({t for *_, t in waiting})))
    for key, f, target in waiting:
        if target in ends:
            yield _ended_finding(name, other, key, f, target, ends[target])


def _ended_finding(name: str, other: str, key: str, f: str, target: str, end_date: str) -> QualityFinding:
    return QualityFinding("ended-but-linked", other, key, f,
                   f"record '{key}' of '{other}' (live) names record '{target}' of '{name}', which ended on {end_date}")
