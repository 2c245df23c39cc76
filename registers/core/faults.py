"""Every fault of a load in one pass: a ``FaultLog`` collects them as the load goes on, and
``FaultsFound`` refuses the load with all of them once it has read the whole file.

A fault is what refuses a load in its mode (a table, or a ``--strict`` load: a datatype, key,
link or duplicate fault; a row that cannot be read). Each keeps today's one-line message
(``file:line: field 'x': value 'y' is …``) and, for machines, its parts: line, key, field,
value and reason. A log keeps the first ``limit`` faults in file order and counts the rest.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import asdict, dataclass
from typing import Any

from .errors import LineError

DEFAULT_LIMIT = 100
# "field 'x': value 'y' is not …" / "… holds ';' …": the parts of a value's message
_VALUE = re.compile(r"^field '(?P<field>[^']*)': value '(?P<value>.*?)' (?P<reason>(?:is|holds) .*)$", re.S)
_FIELD = re.compile(r"^field '(?P<field>[^']*)'[: ]")


@dataclass(frozen=True)
class Fault:
    """One fault: where (line, 0 when the platform made the row itself), which record, field
    and value, why, and the whole one-line message."""

    line: int
    key: str | None
    field: str | None
    value: str | None
    reason: str
    message: str
    kind: type[LineError] = dataclasses.field(default=LineError, compare=False, repr=False)  # raised when alone

    @classmethod
    def of(cls, line: int | None, message: str, key: str | None = None, kind: type[LineError] = LineError) -> Fault:
        """The fault ``message`` says, on ``line`` of record ``key``: its field and value read
        from the message's own form (``field 'x': value 'y' …``)."""
        parts = _VALUE.match(message)
        if parts is not None:
            return cls(line or 0, key, parts["field"], parts["value"], parts["reason"], message, kind)
        named = _FIELD.match(message)
        return cls(line or 0, key, named["field"] if named else None, None, message, message, kind)

    def error(self, source: str | None) -> LineError:
        """The fault as the error that refuses a load with it alone."""
        return self.kind(self.message, self.line or None, source)

    def text(self, source: str | None) -> str:
        """``file:line: message``, as a load names a fault."""
        where = source or ""
        if self.line:
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        return f"{where}: {self.message}" if where else self.message

    def record(self) -> dict[str, Any]:
        """The fault as JSON: ``{line, key, field, value, reason}`` (and the message)."""
        return {k: v for k, v in asdict(self).items() if k != "kind"}


@dataclass
class FaultLog:
    """The faults of one load: the ``limit`` earliest in the file kept (shown in file order), all counted."""

    limit: int = DEFAULT_LIMIT
    kept: list[Fault] = dataclasses.field(default_factory=list)
    count: int = 0

    def add(self, line: int | None, message: str, key: str | None = None, kind: type[LineError] = LineError) -> None:
        """Count a fault (``kind``: the error it would raise alone); keep the ``limit`` earliest
        in the file (faults are found in different passes: rows, then values, then links)."""
        self.count += 1
        fault = Fault.of(line, message, key, kind)
        if len(self.kept) < self.limit:
            self.kept.append(fault)
            return
        latest = max(range(len(self.kept)), key=lambda i: self.kept[i].line)
        if fault.line < self.kept[latest].line:  # an earlier line than the latest kept: it takes its place
            self.kept[latest] = fault

    def add_error(self, error: LineError, key: str | None = None) -> None:
        """Count a LineError (a fault found by code that stops at its first) as a fault."""
        self.add(error.line, error.reason, key, type(error))

    def __bool__(self) -> bool:
        return self.count > 0

    @property
    def more(self) -> int:
        """Faults counted but not kept."""
        return self.count - len(self.kept)


class FaultsFound(LineError):
    """A load refused for every fault in ``faults`` (its message is the first, and how many more)."""

    def __init__(self, faults: FaultLog, source: str | None = None) -> None:
        faults.kept.sort(key=lambda fault: fault.line)  # file order (found as rows, values, then links)
        self.faults = faults
        first = faults.kept[0] if faults.kept else Fault(0, None, None, None, "refused", "refused")
        others = faults.count - 1
        reason = first.message + (f" (and {others} more fault{'s' if others != 1 else ''})" if others else "")
        super().__init__(reason, first.line or None, source)

    def located(self, source: str) -> FaultsFound:
        """The same faults, naming ``source`` as the file they are in."""
        return FaultsFound(self.faults, source)

    def lines(self) -> list[str]:
        """Each kept fault as its one line, then how many more there were."""
        shown = [fault.text(self.source) for fault in self.faults.kept]
        if self.faults.more:
            shown.append(f"… and {self.faults.more} more fault{'s' if self.faults.more != 1 else ''} "
                         "(--max-errors N shows more)")
        return shown


def refuse(error: LineError, faults: FaultLog | None, key: str | None = None) -> None:
    """Raise ``error``; or, collecting ``faults``, count it there (the row of record ``key`` is
    left out and the load goes on)."""
    if faults is None:
        raise error
    faults.add_error(error, key)


def stopped(error: LineError, faults: FaultLog | None, source: str) -> LineError:
    """What a load from ``source`` raises when ``error`` stopped it: with faults found before it,
    all of them and this one (``FaultsFound``); else ``error``, naming ``source``. A load with
    one fault only raises that fault's own error (InvalidEntry, InvalidTable, …), as before."""
    if isinstance(error, FaultsFound):
        found = error.faults
    elif faults:
        faults.add_error(error)
        found = faults
    else:
        return error.located(source)
    if found.count == 1:
        return found.kept[0].error(source)
    return FaultsFound(found, source)
