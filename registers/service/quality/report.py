"""A register's quality report: its passes run in one snapshot, every finding counted."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from datetime import date
from typing import Any

from sqlalchemy import Engine

from ...core.definitions import Definition
from ...core.entries import now_timestamp
from ...store import reads, records
from ...store.engine import snapshot
from ..reading import is_current
from ..records import definition_of
from ..registers import register_id_of
from ..scratch import Scratch
from .duplicates import duplicates
from .ended import ended_but_linked
from .findings import KINDS, QualityFinding, QualityReport
from .survey import Survey

MOSTLY_FILLED = 0.9  # a field this share of live records fill is expected in every one
MIN_RECORDS = 10  # fewer live records than this say nothing about which fields are expected
PROGRESS_EVERY = 10_000  # records read between two calls of a report's progress


def check(engine: Engine, name: str, today: str | None = None, listed: int | None = None,
          progress: Callable[[int], None] | None = None,
          every: Callable[[QualityFinding], None] | None = None) -> QualityReport:
    """The quality report of register ``name`` (records as they are now, in one snapshot).

    Memory stays flat in the register's size: records are read in pages, links are checked in
    batches, and what must be grouped or remembered (names, ended keys, the register's links to
    itself) waits in a scratch file. Every finding is counted, and given to ``every`` as it is
    found (``stored.make_report`` keeps them all that way); ``listed`` keeps only the first so
    many of each kind in the report (None: all of them). ``progress`` is told how many more of
    the register's records have been read, every ``PROGRESS_EVERY``. It reads the whole
    register (and any register that can link to its ended records, unless the linking fields
    are indexed): made by ``registers check``, never on request."""
    today = today or date.today().isoformat()
    report = QualityReport(name, 0, 0, listed=listed)
    kept: dict[str, list[QualityFinding]] = {kind: [] for kind in KINDS}

    def note(findings: Iterable[QualityFinding]) -> None:
        for finding in findings:
            report.counted[finding.kind] += 1
            if every is not None:
                every(finding)
            if listed is None or len(kept[finding.kind]) < listed:
                kept[finding.kind].append(finding)

    with snapshot(engine) as conn, Scratch() as scratch:
        reg_id = register_id_of(conn, name)
        definition = definition_of(conn, reg_id, name)
        report.size, report.made = reads.head(conn, reg_id).user_size, now_timestamp()
        survey = Survey(conn, definition, name, today, scratch)
        for rec in records.iter_records(conn, reg_id):
            note(survey.take(rec))
            if progress is not None and survey.held % PROGRESS_EVERY == 0:
                progress(PROGRESS_EVERY)
        if progress is not None:
            progress(survey.held % PROGRESS_EVERY)
        note(survey.finish())
        report.records, report.live = survey.held, survey.live
        note(duplicates(definition, scratch, name))
        if survey.ended:
            note(ended_but_linked(conn, name, scratch, today))
        note(_missing(conn, reg_id, definition, name, survey.filled, survey.live, today))
    report.findings = [f for kind in KINDS for f in kept[kind]]
    return report


def _missing(conn: Any, reg_id: int, definition: Definition, name: str, filled: dict[str, int], live: int,
             today: str) -> Iterator[QualityFinding]:
    """Live records without a value in a field that at least ``MOSTLY_FILLED`` of them fill (a
    second pass over the records, made only when there is such a field with gaps)."""
    if live < MIN_RECORDS:
        return
    expected = [f for f, n in filled.items() if n < live and n / live >= MOSTLY_FILLED]
    if not expected:
        return
    for rec in records.iter_records(conn, reg_id):
        if not is_current(rec.item, today):
            continue
        for f in expected:
            if rec.item.get(f) in (None, "", []):
                share = filled[f] / live
                yield QualityFinding("missing-value", name, rec.entry.key, f,
                              f"record '{rec.entry.key}' has no '{f}', which {share:.0%} of live records fill")
