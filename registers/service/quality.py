"""Data-quality reports: what in a register looks wrong, record by record, with fixes proposed.

Five kinds of finding, each naming the record (and field) it is about:

- ``duplicate``: live records whose names are the same once case, spacing, punctuation, "&"
  and a leading "The" are set aside (the later one is proposed for ending);
- ``dangling-link``: a link (a linked field, or a CURIE) to a record that does not exist;
- ``invalid-value``: a value that breaks today's datatype rules (legacy data; trimmed spaces and
  unpadded dates are proposed as fixes);
- ``ended-but-linked``: an ended record still named by live records, here or in other registers
  (the finding names the linking record);
- ``missing-value``: a field left empty where at least 90% of live records fill it.

A fix is a proposal (add/amend/end and fields) the custodian can review and approve; ``check``
with ``propose`` files them, each through ``proposals.propose`` (checked like a real change).
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine

from ..core.definitions import Definition
from ..core.validation import compile_checks, link_targets, linking_fields
from ..store import reads, records
from ..store.checks import system_records
from ..store.engine import snapshot
from .logs import register_id_of
from .proposals import InvalidProposal, list_proposals, propose
from .reading import is_current
from .records import definition_of

KINDS = ("duplicate", "dangling-link", "invalid-value", "ended-but-linked", "missing-value")
MOSTLY_FILLED = 0.9  # a field this share of live records fill is expected in every one
MIN_RECORDS = 10  # fewer live records than this say nothing about which fields are expected
SOURCE = "quality check"
_PUNCTUATION = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")
_LOOSE_DATE = re.compile(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?")


@dataclass(frozen=True)
class Finding:
    """One thing that looks wrong: in ``register`` (this one, or a linking one), record ``key``."""

    kind: str
    register: str
    key: str
    field: str | None
    message: str
    fix: dict[str, Any] | None = None  # a proposal for this register: action, key, fields, reason


@dataclass
class QualityReport:
    """Every finding about a register, and how many live records it has."""

    register: str
    records: int
    live: int
    findings: list[Finding] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """Findings per kind (every kind listed)."""
        out = dict.fromkeys(KINDS, 0)
        for f in self.findings:
            out[f.kind] += 1
        return out

    def as_json(self) -> dict[str, Any]:
        """The report as served at ``/<register>/quality.json``."""
        return {"register": self.register, "records": self.records, "live-records": self.live,
                "counts": self.counts(), "findings": [asdict(f) for f in self.findings]}


def normalised_name(name: str) -> str:
    """A name with case, accents' composition, punctuation, spacing, "&" and a leading "the"
    set aside: names equal under this are likely the same thing."""
    text = unicodedata.normalize("NFKC", name).casefold().replace("&", " and ")
    text = _SPACES.sub(" ", _PUNCTUATION.sub(" ", text)).strip()
    return text.removeprefix("the ")


def check(engine: Engine, name: str, today: str | None = None) -> QualityReport:
    """The quality report of register ``name`` (records as they are now)."""
    today = today or date.today().isoformat()
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        definition = definition_of(conn, reg_id, name)
        held = list(records.iter_records(conn, reg_id))
        report = QualityReport(name, len(held), 0)
        live = [r for r in held if is_current(r.item, today)]
        report.live = len(live)
        report.findings += _duplicates(definition, live, name)
        report.findings += _dangling(conn, definition, held, name)
        report.findings += _invalid(definition, held, name)
        report.findings += _ended_but_linked(conn, name, held, today)
        report.findings += _missing(definition, live, name)
    return report


def _duplicates(definition: Definition, live: list[records.Record], name: str) -> Iterator[Finding]:
    if "name" not in definition.by_name:
        return
    groups: dict[str, list[records.Record]] = defaultdict(list)
    for rec in live:
        value = rec.item.get("name")
        if isinstance(value, str) and normalised_name(value):
            groups[normalised_name(value)].append(rec)
    related = _self_links(definition, live)
    for same in groups.values():
        if len(same) < 2:
            continue
        first, *later = sorted(same, key=lambda r: r.entry.number)
        for rec in later:
            if related(rec.entry.key, first.entry.key):
                continue  # one names the other (a parent and its child may share a name)
            has_end = "end-date" in definition.by_name
            yield Finding(
                "duplicate", name, rec.entry.key, "name",
                f"record '{rec.entry.key}' ('{rec.item['name']}') looks like a duplicate of record "
                f"'{first.entry.key}' ('{first.item['name']}')",
                {"action": "end", "key": rec.entry.key, "fields": {"end-date": date.today().isoformat()},
                 "reason": f"likely duplicate of record '{first.entry.key}'"} if has_end else None,
            )


def _self_links(definition: Definition, live: list[records.Record]) -> Any:
    """Whether one key names the other through the register's links to itself, directly or
    through a chain of them (a SIC class, its group and its division)."""
    own = tuple(f for f in linking_fields(definition) if f.register == definition.register and f.datatype != "curie")
    named: dict[str, set[str]] = defaultdict(set)
    for rec in live:
        for f in own:
            if f.name == definition.key_field:
                continue
            value = rec.item.get(f.name)
            named[rec.entry.key].update(value if isinstance(value, list) else [value] if isinstance(value, str) else [])

    def reaches(start: str, goal: str) -> bool:
        seen, frontier = {start}, [start]
        while frontier:
            nxt = [k for key in frontier for k in named.get(key, ()) if k not in seen]
            if goal in nxt:
                return True
            seen.update(nxt)
            frontier = nxt
        return False

    return lambda a, b: bool(own) and (reaches(a, b) or reaches(b, a))


def _dangling(conn: Any, definition: Definition, held: list[records.Record], name: str) -> Iterator[Finding]:
    linking = linking_fields(definition)
    if not linking:
        return
    wanted: dict[str, set[str]] = defaultdict(set)
    links = []
    for rec in held:
        for f, register, target in link_targets(definition, rec.item, linking):
            if f == definition.key_field:
                continue
            register = name if register == definition.register else register
            links.append((rec.entry.key, f, register, target))
            wanted[register].add(target)
    existing: dict[str, set[str] | None] = {}
    for register, keys in wanted.items():
        reg_id = reads.register_id(conn, register)
        existing[register] = None if reg_id is None else set(records.current_entries(conn, reg_id, sorted(keys)))
    for key, f, register, target in links:
        found = existing[register]
        if found is None:
            yield Finding("dangling-link", name, key, f,
                          f"record '{key}' field '{f}': register '{register}' does not exist")
        elif target and target not in found:
            yield Finding("dangling-link", name, key, f,
                          f"record '{key}' field '{f}': '{target}' is not a key of register '{register}'")


def _invalid(definition: Definition, held: list[records.Record], name: str) -> Iterator[Finding]:
    rules = compile_checks(definition)
    for rec in held:
        for problem in rules(rec.entry.key, rec.item):
            value = rec.item.get(problem.field) if problem.field else None
            fixed = _repaired(rules, rec, problem.field, value)
            yield Finding(
                "invalid-value", name, rec.entry.key, problem.field or None,
                f"record '{rec.entry.key}': {problem.message}",
                {"action": "amend", "key": rec.entry.key, "fields": {problem.field: fixed},
                 "reason": f"field '{problem.field}': '{value}' does not meet its datatype; '{fixed}' does"}
                if fixed is not None else None,
            )


def _repaired(rules: Any, rec: records.Record, name: str | None, value: Any) -> str | None:
    """A value that passes where ``value`` fails, when the repair is certain: surrounding spaces
    removed, or a date's month and day given two digits."""
    if not name or not isinstance(value, str):
        return None
    candidates = [value.strip()]
    loose = _LOOSE_DATE.fullmatch(value.strip())
    if loose:
        year, month, day = loose.groups()
        candidates.append(f"{year}-{int(month):02d}" + (f"-{int(day):02d}" if day else ""))
    for candidate in candidates:
        if candidate and candidate != value:
            item = {**rec.item, name: candidate}
            if not any(p.field == name for p in rules(rec.entry.key, item)):
                return candidate
    return None


def _ended_but_linked(conn: Any, name: str, held: list[records.Record], today: str) -> Iterator[Finding]:
    ended = {r.entry.key: r.item.get("end-date") for r in held if not is_current(r.item, today)}
    if not ended:
        return
    for other in reads.register_names(conn):
        other_id = reads.register_id(conn, other)
        system = system_records(conn, other_id) if other_id is not None else {}
        other_definition = Definition.from_system(other, system)
        if other_id is None or other_definition is None:
            continue  # a register without a definition links nowhere
        itself = other_definition.register  # its own name in its definition, whatever it is loaded as

        def loaded(register: str, other: str = other, itself: str = itself) -> str:
            return other if register == itself else register

        linking = tuple(f for f in linking_fields(other_definition)
                        if f.datatype == "curie" or loaded(f.register or "") == name)
        if not linking:
            continue
        for rec in records.iter_records(conn, other_id):
            if not is_current(rec.item, today):
                continue
            for f, register, target in link_targets(other_definition, rec.item, linking):
                if f != other_definition.key_field and loaded(register) == name and target in ended:
                    yield Finding(
                        "ended-but-linked", other, rec.entry.key, f,
                        f"record '{rec.entry.key}' of '{other}' (live) names record '{target}' of '{name}', "
                        f"which ended on {ended[target]}",
                    )


def _missing(definition: Definition, live: list[records.Record], name: str) -> Iterator[Finding]:
    if len(live) < MIN_RECORDS:
        return
    for f in definition.fields:
        if f.name in (definition.key_field, "end-date"):
            continue
        empty = [r for r in live if r.item.get(f.name) in (None, "", [])]
        if empty and (len(live) - len(empty)) / len(live) >= MOSTLY_FILLED:
            share = (len(live) - len(empty)) / len(live)
            for rec in empty:
                yield Finding("missing-value", name, rec.entry.key, f.name,
                              f"record '{rec.entry.key}' has no '{f.name}', which {share:.0%} of live records fill")


@dataclass(frozen=True)
class Proposed:
    """What ``propose_fixes`` did: proposals filed, fixes already proposed, fixes refused."""

    filed: list[int]
    already: int
    refused: list[str]


def propose_fixes(engine: Engine, report: QualityReport) -> Proposed:
    """File each finding's fix as a proposal (source "quality check"), unless an open proposal
    already asks for the same change; a fix the register would refuse is reported, not filed."""
    open_now = {(p.key, p.action, tuple(sorted(p.fields.items()))) for p in list_proposals(engine, report.register)}
    filed, already, refused = [], 0, []
    for finding in report.findings:
        fix = finding.fix
        if fix is None:
            continue
        ident = (fix["key"], fix["action"], tuple(sorted(fix["fields"].items())))
        if ident in open_now:
            already += 1
            continue
        try:
            made = propose(engine, report.register, fix["key"], fix["fields"], fix["reason"], action=fix["action"],
                           source=SOURCE)
        except InvalidProposal as exc:
            refused.append(f"{fix['key']}: {exc}")
            continue
        open_now.add(ident)
        filed.append(made.id)
    return Proposed(filed, already, refused)
