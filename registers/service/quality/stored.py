"""Quality reports kept to be served: ``registers check`` makes a report and stores it (every
finding), and ``/<register>/quality`` serves the last one stored, a page at a time, never
making one on request.

A report is derived from the register, like a proposal: it is kept outside the log, never
signed, and replaced by the next. Findings are numbered from 1 within each kind in the order
the report found them, so a page of one kind is a walk of ``quality_finding``'s primary key
from a cursor (the last number shown), at any depth. While the report is made its findings
wait in a scratch file; they are written, and the register's earlier report deleted, in one
short transaction at the end.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, insert, select

from ...core.errors import RegisterError
from ...store import reads
from ...store.engine import snapshot, writer
from ...store.schema import quality_finding, quality_report
from ..registers import register_id_of
from ..scratch import Scratch
from .findings import KINDS, QualityFinding, QualityReport
from .report import check

BATCH = 5_000  # findings written at a time


class NoReport(RegisterError):
    """No quality report is stored for the register: the message says how to make one."""


@dataclass(frozen=True)
class StoredReport:
    """The last report stored for a register: when it was made, at which size of the user log,
    its record counts and how many findings of each kind it has."""

    id: int
    register: str
    made: str
    size: int
    records: int
    live: int
    counts: dict[str, int]

    def as_json(self) -> dict[str, Any]:
        return {"register": self.register, "made": self.made, "total-entries": self.size,
                "records": self.records, "live-records": self.live, "counts": self.counts}


@dataclass(frozen=True)
class ReportPage:
    """A page of a stored report: ``findings`` (of one kind, or the first of each kind), and for
    each kind with more beyond them, the number of the last one shown (the cursor of the next
    page). ``entries_now`` is the size of the user log as the page was read."""

    report: StoredReport
    findings: list[QualityFinding]
    more: dict[str, int] = field(default_factory=dict)
    entries_now: int = 0


def make_report(engine: Engine, name: str, *, listed: int | None = None, today: str | None = None,
                progress: Callable[[int], None] | None = None) -> QualityReport:
    """Check register ``name`` (``report.check``: flat memory at any size) and store the report
    with every finding, in place of the register's last one; the report as ``check`` gives it
    (with the first ``listed`` findings of each kind)."""
    with Scratch() as spool:
        spool.execute("CREATE TABLE finding (kind TEXT, seq INTEGER, body TEXT)")
        waiting: list[tuple[str, int, str]] = []
        numbers = dict.fromkeys(KINDS, 0)

        def keep(finding: QualityFinding) -> None:
            numbers[finding.kind] += 1
            waiting.append((finding.kind, numbers[finding.kind], json.dumps(_body(finding), ensure_ascii=False)))
            if len(waiting) >= BATCH:
                spool.insert("finding", waiting)
                waiting.clear()

        report = check(engine, name, today=today, listed=listed, progress=progress, every=keep)
        spool.insert("finding", waiting)
        _store(engine, report, spool)
    return report


def _body(finding: QualityFinding) -> dict[str, Any]:
    body = asdict(finding)
    del body["kind"]  # a column of its own
    return body


def _store(engine: Engine, report: QualityReport, spool: Scratch) -> None:
    """Write ``report`` and the findings waiting in ``spool``; delete the register's earlier reports."""
    r, f = quality_report.c, quality_finding.c
    with writer(engine).begin() as conn:
        reg_id = register_id_of(conn, report.register)
        made = conn.execute(
            insert(quality_report).values(register_id=reg_id, made=report.made, user_size=report.size,
                                          records=report.records, live=report.live,
                                          counts=json.dumps(report.counts())).returning(r.id)
        ).scalar_one()
        rows = spool.execute("SELECT kind, seq, body FROM finding")
        while batch := list(itertools.islice(rows, BATCH)):
            conn.execute(insert(quality_finding),
                         [{"report_id": made, "kind": kind, "seq": seq, "body": body} for kind, seq, body in batch])
        earlier = select(r.id).where(r.register_id == reg_id, r.id < made)
        conn.execute(delete(quality_finding).where(f.report_id.in_(earlier)))
        conn.execute(delete(quality_report).where(r.register_id == reg_id, r.id < made))


def report_page(engine: Engine, name: str, kind: str | None = None, after: int = 0, size: int = 100) -> ReportPage:
    """A page of register ``name``'s last stored report: the findings of ``kind`` numbered after
    ``after``, ``size`` of them; with no ``kind``, the first ``size`` of each kind. NoReport if
    none is stored. It reads the report's row and a page of findings (and one more) per kind."""
    if kind is not None and kind not in KINDS:
        raise RegisterError(f"kind must be one of {', '.join(KINDS)}, not '{kind[:40]}'")
    r, f = quality_report.c, quality_finding.c
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        row = conn.execute(select(quality_report).where(r.register_id == reg_id).order_by(r.id.desc()).limit(1)).first()
        if row is None:
            raise NoReport(f"no quality report of register '{name}' has been made: run 'registers check {name}' "
                           "where the database is (from cron, say, to keep it current)")
        report = StoredReport(int(row.id), name, row.made, int(row.user_size), int(row.records), int(row.live),
                              dict.fromkeys(KINDS, 0) | json.loads(row.counts))
        findings: list[QualityFinding] = []
        more: dict[str, int] = {}
        for shown in [kind] if kind is not None else list(KINDS):
            if kind is None and not report.counts.get(shown):
                continue  # counted: nothing to read
            rows = conn.execute(
                select(f.seq, f.body).where(f.report_id == report.id, f.kind == shown, f.seq > (after if kind else 0))
                .order_by(f.seq).limit(size + 1)
            ).all()
            findings += [QualityFinding(shown, **json.loads(body)) for _seq, body in rows[:size]]
            if len(rows) > size:
                more[shown] = int(rows[size - 1].seq)
        return ReportPage(report, findings, more, reads.head(conn, reg_id).user_size)
