"""The first pass of a quality report: every record read once."""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from ...core.definitions import Definition
from ...core.validation import compile_checks, link_targets, linking_fields
from ...store import reads, records
from ..reading import is_current
from ..scratch import Scratch
from .findings import QualityFinding

LINK_BATCH = 5000  # links checked against their registers per round of lookups
KNOWN_TARGETS = 200_000  # link targets remembered as found or not (then forgotten, and looked up again)
SCRATCH_BATCH = 10_000  # rows put aside in the scratch file at a time
_PUNCTUATION = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")
_LOOSE_DATE = re.compile(r"(\d{4})-(\d{1,2})(?:-(\d{1,2}))?")


def normalised_name(name: str) -> str:
    """A name with case, accents' composition, punctuation, spacing, "&" and a leading "the"
    set aside: names equal under this are likely the same thing."""
    text = unicodedata.normalize("NFKC", name).casefold().replace("&", " and ")
    text = _SPACES.sub(" ", _PUNCTUATION.sub(" ", text)).strip()
    return text.removeprefix("the ")


class Survey:
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

    def take(self, rec: records.Record) -> Iterator[QualityFinding]:
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

    def finish(self) -> Iterator[QualityFinding]:
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

    def flush(self) -> Iterator[QualityFinding]:
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
                yield QualityFinding("dangling-link", self.name, key, f,
                              f"record '{key}' field '{f}': register '{register}' does not exist")
            elif target and not self.known[register][target]:
                yield QualityFinding("dangling-link", self.name, key, f,
                              f"record '{key}' field '{f}': '{target}' is not a key of register '{register}'")
        self.waiting = []


def _invalid(rules: Any, rec: records.Record, name: str) -> Iterator[QualityFinding]:
    for problem in rules(rec.entry.key, rec.item):
        value = rec.item.get(problem.field) if problem.field else None
        fixed = _repaired(rules, rec, problem.field, value)
        yield QualityFinding(
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
