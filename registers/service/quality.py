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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Engine

from ..core.definitions import Definition
from ..core.errors import RegisterError
from ..core.validation import compile_checks, link_targets, linking_fields
from ..store import fields, reads, records
from ..store.checks import system_records
from ..store.engine import snapshot
from .logs import register_id_of
from .proposals import InvalidProposal, list_proposals, propose
from .reading import is_current
from .records import definition_of
from .scratch import Scratch

KINDS = ("duplicate", "dangling-link", "invalid-value", "ended-but-linked", "missing-value")
MOSTLY_FILLED = 0.9  # a field this share of live records fill is expected in every one
MIN_RECORDS = 10  # fewer live records than this say nothing about which fields are expected
SOURCE = "quality check"
LINK_BATCH = 5000  # links checked against their registers per round of lookups
KNOWN_TARGETS = 200_000  # link targets remembered as found or not (then forgotten, and looked up again)
SCRATCH_BATCH = 10_000  # rows put aside in the scratch file at a time
PROGRESS_EVERY = 10_000  # records read between two calls of a report's progress
_PUNCTUATION = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")
_LOOSE_DATE = re.compile(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?")


class ReportTooLarge(RegisterError):
    """The report would read more records than its budget allows (it says what to do instead)."""


class _Budget:
    """How many more records a report may read (None: any number)."""

    def __init__(self, name: str, records: int | None) -> None:
        self.name, self.left = name, records

    def spend(self, records: int, why: str) -> None:
        """Count ``records`` about to be read, or refuse, saying ``why`` they would be."""
        if self.left is None:
            return
        if records > self.left:
            raise ReportTooLarge(f"{why}, more than this server reads for a report on request: run "
                                 f"'registers check {self.name}' where the database is")
        self.left -= records


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
    """What a check found in a register: how many records it has and how many are live, how
    many findings of each kind (all of them), and the findings listed (all, or the first
    ``listed`` of each kind)."""

    register: str
    records: int
    live: int
    findings: list[Finding] = field(default_factory=list)
    counted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    listed: int | None = None

    def counts(self) -> dict[str, int]:
        """Findings per kind (every kind named; every finding counted, listed or not)."""
        return {kind: self.counted.get(kind, 0) for kind in KINDS}

    def as_json(self) -> dict[str, Any]:
        """The report as served at ``/<register>/quality.json``."""
        return {"register": self.register, "records": self.records, "live-records": self.live,
                "counts": self.counts(), "listed-per-kind": self.listed,
                "findings": [asdict(f) for f in self.findings]}


def normalised_name(name: str) -> str:
    """A name with case, accents' composition, punctuation, spacing, "&" and a leading "the"
    set aside: names equal under this are likely the same thing."""
    text = unicodedata.normalize("NFKC", name).casefold().replace("&", " and ")
    text = _SPACES.sub(" ", _PUNCTUATION.sub(" ", text)).strip()
    return text.removeprefix("the ")


def check(engine: Engine, name: str, today: str | None = None, listed: int | None = None,
          budget: int | None = None, progress: Callable[[int], None] | None = None) -> QualityReport:
    """The quality report of register ``name`` (records as they are now, in one snapshot).

    Memory stays flat in the register's size: records are read in pages, links are checked in
    batches, and what must be grouped or remembered (names, ended keys, the register's links to
    itself) waits in a scratch file. Every finding is counted; ``listed`` keeps only the first
    so many of each kind (None: all of them). ``budget`` caps the records read, this register's
    and those of registers linking to it (ReportTooLarge, before any is read, when the next
    pass would go over it): a report made on request stays cheap. ``progress`` is told how many
    more of the register's records have been read, every ``PROGRESS_EVERY``."""
    today = today or date.today().isoformat()
    report = QualityReport(name, 0, 0, listed=listed)
    kept: dict[str, list[Finding]] = {kind: [] for kind in KINDS}
    allowed = _Budget(name, budget)

    def note(findings: Iterable[Finding]) -> None:
        for finding in findings:
            report.counted[finding.kind] += 1
            if listed is None or len(kept[finding.kind]) < listed:
                kept[finding.kind].append(finding)

    with snapshot(engine) as conn, Scratch() as scratch:
        reg_id = register_id_of(conn, name)
        definition = definition_of(conn, reg_id, name)
        held = reads.head(conn, reg_id).user_records
        allowed.spend(held, f"register '{name}' has {held} records")
        survey = _Survey(conn, definition, name, today, scratch)
        for rec in records.iter_records(conn, reg_id):
            note(survey.take(rec))
            if progress is not None and survey.held % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
        if progress is not None:
            progress(survey.held % PROGRESS_EVERY)
        note(survey.finish())
        report.records, report.live = survey.held, survey.live
        note(_duplicates(definition, scratch, name))
        if survey.ended:
            note(_ended_but_linked(conn, name, scratch, today, allowed))
        note(_missing(conn, reg_id, definition, name, survey.filled, survey.live, today, allowed))
    report.findings = [f for kind in KINDS for f in kept[kind]]
    return report


class _Survey:
    """One pass over a register's records: counts, invalid values and dangling links found on
    the way; names, ended keys and links to itself put aside in the scratch file."""

    def __init__(self, conn: Any, definition: Definition, name: str, today: str, scratch: Scratch) -> None:
        self.conn, self.definition, self.name, self.today, self.scratch = conn, definition, name, today, scratch
        self.held = self.live = self.ended = 0
        self.rules = compile_checks(definition)
        self.linking = linking_fields(definition)
        self.own = tuple(f for f in self.linking if f.register == definition.register
                         and f.datatype != "curie" and f.name != definition.key_field)
        self.named = "name" in definition.by_name
        self.filled = {f.name: 0 for f in definition.fields if f.name not in (definition.key_field, "end-date")}
        self.links = _Links(conn, name)
        self.rows: dict[str, list[tuple[Any, ...]]] = {"name_of": [], "ended": [], "own_link": []}
        scratch.execute("CREATE TABLE name_of (norm TEXT, number INTEGER, key TEXT, name TEXT)")
        scratch.execute("CREATE TABLE ended (key TEXT PRIMARY KEY, end_date TEXT)")
        scratch.execute("CREATE TABLE own_link (key TEXT, target TEXT)")

    def take(self, rec: records.Record) -> Iterator[Finding]:
        """Findings of one record (and of earlier ones whose links are checked now)."""
        self.held += 1
        item, key = rec.item, rec.entry.key
        if is_current(item, self.today):
            self.live += 1
            self._live(rec)
        else:
            self.ended += 1
            self.rows["ended"].append((key, item.get("end-date")))
        yield from _invalid(self.rules, rec, self.name)
        for f, register, target in link_targets(self.definition, item, self.linking):
            if f != self.definition.key_field:
                self.links.add(key, f, self.name if register == self.definition.register else register, target)
        if self.links.full():
            yield from self.links.flush()
        if sum(map(len, self.rows.values())) >= SCRATCH_BATCH:
            self._put_aside()

    def _live(self, rec: records.Record) -> None:
        item = rec.item
        for name in self.filled:
            if item.get(name) not in (None, "", []):
                self.filled[name] += 1
        value = item.get("name")
        norm = normalised_name(value) if self.named and isinstance(value, str) else ""
        if norm:
            self.rows["name_of"].append((norm, rec.entry.number, rec.entry.key, value))
        for own in self.own:
            value = item.get(own.name)
            for target in value if isinstance(value, list) else [value] if isinstance(value, str) else []:
                self.rows["own_link"].append((rec.entry.key, target))

    def _put_aside(self) -> None:
        for table, rows in self.rows.items():
            self.scratch.insert(table, rows)
            rows.clear()

    def finish(self) -> Iterator[Finding]:
        """The findings still waiting (the last links); the scratch tables indexed for reading."""
        yield from self.links.flush()
        self._put_aside()
        self.scratch.execute("CREATE INDEX name_of_norm ON name_of (norm, number)")
        self.scratch.execute("CREATE INDEX own_link_key ON own_link (key)")


class _Links:
    """Links checked against the registers they name, a batch at a time; what was found (or not)
    is remembered for the next batches, up to ``KNOWN_TARGETS`` targets."""

    def __init__(self, conn: Any, name: str) -> None:
        self.conn, self.name = conn, name
        self.waiting: list[tuple[str, str, str, str]] = []  # linking key, field, register, target
        self.ids: dict[str, int | None] = {}
        self.known: dict[str, dict[str, bool]] = defaultdict(dict)

    def add(self, key: str, f: str, register: str, target: str) -> None:
        """A link to check: field ``f`` of record ``key`` names ``target`` of ``register``."""
        self.waiting.append((key, f, register, target))

    def full(self) -> bool:
        """Whether enough links wait to check them now."""
        return len(self.waiting) >= LINK_BATCH

    def flush(self) -> Iterator[Finding]:
        """Check the waiting links: a finding for each that names nothing."""
        if sum(map(len, self.known.values())) > KNOWN_TARGETS:
            self.known.clear()
        wanted: dict[str, set[str]] = defaultdict(set)
        for _key, _f, register, target in self.waiting:
            if register not in self.ids:
                self.ids[register] = reads.register_id(self.conn, register)
            if target and self.ids[register] is not None and target not in self.known[register]:
                wanted[register].add(target)
        for register, targets in wanted.items():
            exists = records.existing_keys(self.conn, self.ids[register] or 0, sorted(targets))
            self.known[register].update((t, t in exists) for t in targets)
        for key, f, register, target in self.waiting:
            if self.ids[register] is None:
                yield Finding("dangling-link", self.name, key, f,
                              f"record '{key}' field '{f}': register '{register}' does not exist")
            elif target and not self.known[register][target]:
                yield Finding("dangling-link", self.name, key, f,
                              f"record '{key}' field '{f}': '{target}' is not a key of register '{register}'")
        self.waiting = []


def _duplicates(definition: Definition, scratch: Scratch, name: str) -> Iterator[Finding]:
    """Live records whose normalised names are the same: every one after the first (by entry
    number) in each group, unless one of the two names the other through the register's links
    to itself (a parent and its child may share a name)."""
    has_end = "end-date" in definition.by_name
    groups = scratch.execute("SELECT norm FROM name_of GROUP BY norm HAVING count(*) > 1 ORDER BY max(number) DESC")
    for (norm,) in groups:
        first, *later = scratch.execute("SELECT key, name FROM name_of WHERE norm = ? ORDER BY number", (norm,))
        for key, value in later:
            if _related(scratch, key, first[0]):
                continue
            yield Finding(
                "duplicate", name, key, "name",
                f"record '{key}' ('{value}') looks like a duplicate of record '{first[0]}' ('{first[1]}')",
                {"action": "end", "key": key, "fields": {"end-date": date.today().isoformat()},
                 "reason": f"likely duplicate of record '{first[0]}'"} if has_end else None,
            )


def _related(scratch: Scratch, a: str, b: str) -> bool:
    """Whether one key names the other through the register's links to itself, directly or
    through a chain of them (a SIC class, its group and its division)."""

    def reaches(start: str, goal: str) -> bool:
        seen, frontier = {start}, [start]
        while frontier:
            nxt = {t for (t,) in scratch.lookup("SELECT target FROM own_link WHERE key IN ({})", frontier)} - seen
            if goal in nxt:
                return True
            seen |= nxt
            frontier = sorted(nxt)
        return False

    return reaches(a, b) or reaches(b, a)


def _invalid(rules: Any, rec: records.Record, name: str) -> Iterator[Finding]:
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


def _ended_but_linked(conn: Any, name: str, scratch: Scratch, today: str, allowed: _Budget) -> Iterator[Finding]:
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
        size = reads.head(conn, other_id).user_records
        unindexed = ", ".join(f"'{f.name}'" for f in linking if f.name not in indexed)
        allowed.spend(size, f"register '{name}' has ended records, and register '{other}' ({size} records) "
                      f"can name them in {unindexed}, not indexed (indexing it makes this a lookup)")
        waiting: list[tuple[str, str, str]] = []
        for rec in records.iter_records(conn, other_id):
            if is_current(rec.item, today):
                waiting += ((rec.entry.key, f, target) for f, register, target
                            in link_targets(other_definition, rec.item, linking) if loaded(register) == name)
            if len(waiting) >= LINK_BATCH:
                yield from _ended_links(scratch, name, other, waiting)
                waiting = []
        yield from _ended_links(scratch, name, other, waiting)


def _ended_looked_up(conn: Any, scratch: Scratch, name: str, other: str, other_id: int, linking: tuple[Any, ...],
                     prefixes: set[str], today: str) -> Iterator[Finding]:
    """``_ended_but_linked`` through the field indexes of ``other``: its live records holding
    each ended key of ``name`` (as ``prefix:key`` in a CURIE field)."""
    for key, end_date in scratch.execute("SELECT key, end_date FROM ended ORDER BY key"):
        for f in linking:
            values = [f"{prefix}:{key}" for prefix in sorted(prefixes)] if f.datatype == "curie" else [key]
            for value in values:
                for rec in records.iter_records_with_value(conn, other_id, f.name, value):
                    if is_current(rec.item, today):
                        yield _ended_finding(name, other, rec.entry.key, f.name, key, end_date)


def _ended_links(scratch: Scratch, name: str, other: str, waiting: list[tuple[str, str, str]]) -> Iterator[Finding]:
    ends = dict(scratch.lookup("SELECT key, end_date FROM ended WHERE key IN ({})", sorted({t for *_, t in waiting})))
    for key, f, target in waiting:
        if target in ends:
            yield _ended_finding(name, other, key, f, target, ends[target])


def _ended_finding(name: str, other: str, key: str, f: str, target: str, end_date: str) -> Finding:
    return Finding("ended-but-linked", other, key, f,
                   f"record '{key}' of '{other}' (live) names record '{target}' of '{name}', which ended on {end_date}")


def _missing(conn: Any, reg_id: int, definition: Definition, name: str, filled: dict[str, int], live: int,
             today: str, allowed: _Budget) -> Iterator[Finding]:
    """Live records without a value in a field that at least ``MOSTLY_FILLED`` of them fill (a
    second pass over the records, made only when there is such a field with gaps)."""
    if live < MIN_RECORDS:
        return
    expected = [f for f, n in filled.items() if n < live and n / live >= MOSTLY_FILLED]
    if not expected:
        return
    held = reads.head(conn, reg_id).user_records
    allowed.spend(held, f"register '{name}' has {held} records, read twice (fields with gaps)")
    for rec in records.iter_records(conn, reg_id):
        if not is_current(rec.item, today):
            continue
        for f in expected:
            if rec.item.get(f) in (None, "", []):
                share = filled[f] / live
                yield Finding("missing-value", name, rec.entry.key, f,
                              f"record '{rec.entry.key}' has no '{f}', which {share:.0%} of live records fill")


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
