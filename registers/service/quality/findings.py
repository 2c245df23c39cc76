"""What a quality report holds: findings, of five kinds."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

KINDS = ("duplicate", "dangling-link", "invalid-value", "ended-but-linked", "missing-value")


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
    size: int = 0  # the user entries the register had when the report was made
    made: str = field(default="", compare=False)  # when (its snapshot's time, an entry timestamp's form)

    def counts(self) -> dict[str, int]:
        """Findings per kind (every kind named; every finding counted, listed or not)."""
        return {kind: self.counted.get(kind, 0) for kind in KINDS}

    def as_json(self) -> dict[str, Any]:
        """The report as ``registers check --json`` prints it."""
        return {"register": self.register, "made": self.made, "total-entries": self.size, "records": self.records,
                "live-records": self.live, "counts": self.counts(), "listed-per-kind": self.listed,
                "findings": [asdict(f) for f in self.findings]}
