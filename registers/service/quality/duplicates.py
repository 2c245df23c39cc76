"""Duplicate records: live records whose names are the same once normalised."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from ...core.definitions import Definition
from ..scratch import Scratch
from .findings import QualityFinding


def duplicates(definition: Definition, scratch: Scratch, name: str) -> Iterator[QualityFinding]:
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
            yield QualityFinding(
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
