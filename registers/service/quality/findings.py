"""What a quality report holds: findings, of five kinds, and the budget of records it may read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ...core.errors import RegisterError

KINDS = ("duplicate", "dangling-link", "invalid-value", "ended-but-linked", "missing-value")


class ReportTooLarge(RegisterError):
    """The report would read more records than its budget allows (it says what to do instead)."""


class Budget:
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
class QualityFinding:
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
    findings: list[QualityFinding] = field(default_factory=list)
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
