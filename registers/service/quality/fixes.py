"""A report's fixes filed as proposals for the custodian to review."""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Engine

from ...core.changes import RecordChange
from ..proposals import InvalidProposal, open_changes, propose
from .findings import QualityReport

SOURCE = "quality check"


@dataclass(frozen=True)
class Proposed:
    """What ``propose_fixes`` did: proposals filed, fixes already proposed, fixes refused."""

    filed: list[int]
    already: int
    refused: list[str]


def propose_fixes(engine: Engine, report: QualityReport) -> Proposed:
    """File each finding's fix as a proposal (source "quality check"), unless an open proposal
    already asks for the same change; a fix the register would refuse is reported, not filed."""
    open_now = {_identity(change) for change in open_changes(engine, report.register)}
    filed, already, refused = [], 0, []
    for finding in report.findings:
        fix = finding.fix
        if fix is None:
            continue
        ident = _identity(RecordChange(fix["action"], fix["key"], fix["fields"]))
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


def _identity(change: RecordChange) -> str:
    """Equal for equal changes, list values included (a list is not hashable)."""
    return json.dumps(change.as_json(), sort_keys=True)
