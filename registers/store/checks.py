"""The rules a batch's new entries are held to, inside the append transaction.

System entries keep the register's definition current as the batch goes (a ``register:`` entry
may only name fields already defined). New user entries are validated against that definition
with the compiled checks, and every link they make (linked fields and CURIEs) is checked at the
end of the batch against the registers as they will then stand, so a file may link forward
within itself. ``Change.strict`` decides whether a finding refuses the batch or is reported; a
system key the platform does not know is such a finding. ``Change.authored`` holds a batch's new
system entries to the rules of definitions made here (``registers create``, uploads over HTTP).
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from ..core.checking import Checked, check_entries
from ..core.definitions import Definition, definition_problem, undefined_field_problem
from ..core.entries import KNOWN_SYSTEM_KEYS, known_system_key
from ..core.errors import InvalidEntry, InvalidRSF
from ..core.faults import FaultLog
from ..core.field_values import FieldRow
from ..core.validation import ItemCheck, compile_checks, validate_item
from . import fields, reads, records
from .checker import CHECKER_FROM, CheckerProcess
from .system import system_records

MAX_EXAMPLES = 20
SMALL_BATCH = 100  # up to this many entries are checked by the marshmallow schema itself


@dataclass(frozen=True)
class Change:
    """Who makes a change, why, and how strictly its entries are checked.

    ``strict``: datatype, key and link findings refuse the whole batch (tables, amends);
    otherwise they are reported and the batch loads as given (published RSF).
    ``allow_dangling``: links to records that do not exist are reported, not refused.
    ``kept_links``: links (field, register, key) the changed record already made; one of them
    that names no record is reported, not refused: a change is held to the links it adds, so a
    record whose old link dangles can still be amended or ended.
    ``faults``: with ``strict``, every fault is collected here and the batch goes on to its
    end, then is refused with all of them (``core.faults.FaultsFound``).
    ``authored``: the batch's new system entries are written here and now (``registers
    create``, a custodian's RSF upload over HTTP), not copied from a published log. A new
    ``change`` entry is refused (who and why are the platform's to record: ``by`` and
    ``reason``), so is a key the platform does not know, and every new definition entry must
    pass ``core.definitions.definition_problem``. Without it (``registers load``, mirrors) a
    published log's system entries load as published.
    """

    by: str | None = None
    reason: str | None = None
    strict: bool = True
    allow_dangling: bool = False
    authored: bool = False
    faults: FaultLog | None = None  # strict: collect every fault, refuse at the end (else the first refuses)
    kept_links: AbstractSet[tuple[str, str, str]] = frozenset()  # (field, register, key) the record already had

    @property
    def recorded(self) -> bool:
        """True when the change leaves a ``change`` system entry saying who and why."""
        return bool(self.by or self.reason)


@dataclass
class LoadFindings:
    """Problems reported (not refused) while loading: a count and the first examples."""

    count: int = 0
    examples: list[str] = dataclasses.field(default_factory=list)
    dangling: int = 0
    dangling_links: list[str] = dataclasses.field(default_factory=list)  # every one, not only the first

    def add(self, line: int, message: str, dangling: bool = False) -> None:
        """Count a finding on ``line``; keep it as an example (every dangling link is kept)."""
        text = f"{line}: {message}" if line else message
        self.count += 1
        if dangling:
            self.dangling += 1
            self.dangling_links.append(text)
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(text)


class EntryChecks:
    """Validation state of one batch."""

    def __init__(
        self,
        conn: Connection,
        reg_id: int,
        register: str,
        change: Change,
        checker: CheckerProcess | None = None,
        system_root: bytes | None = None,
        sync: Callable[[], None] | None = None,
    ) -> None:
        self.conn = conn
        self.sync = sync  # waits for the batch's write in flight before the store is read mid-batch
        self.reg_id = reg_id
        self.register = register
        self.change = change
        self.system = system_records(conn, reg_id, system_root)  # the root of the committed state
        self.findings = LoadFindings()
        self._check: ItemCheck | None = None
        self._definition: Definition | None = None
        self._stale = True
        self.pending: list[tuple[int, str, bytes, int]] = []  # (line, key, digest, number) to validate
        self.index_fields = fields.indexed_fields(conn, reg_id)
        self.field_rows: list[FieldRow] = []  # for field_value, from the entries validated
        self.links: dict[str, dict[str, tuple[int, str, str]]] = {}  # register -> target -> (line, field, key)
        self.checker = checker  # runs large runs of checks on the second core, when given
        self._version = 0  # bumped whenever the definition may have changed

    @property
    def definition(self) -> Definition | None:
        """The register's definition as the batch has it so far."""
        if self._stale:
            self._definition = Definition.from_system(self.register, self.system)
            self._check = compile_checks(self._definition) if self._definition else None
            self._stale = False
        return self._definition

    def system_entry(self, key: str, value: dict[str, Any], line: int, recording: bool = False) -> None:
        """Take in a new system entry, refusing a ``register:`` entry that names undefined fields.
        A key the platform does not know is a finding (refused when strict). An ``authored``
        change is held to the rules of definitions made here; ``recording`` marks the
        ``change`` entry the platform itself writes for the batch."""
        if key.startswith("register:"):
            problem = undefined_field_problem(key, value, self.system)
            if problem is not None:
                raise InvalidRSF(problem, line)
        if self.change.authored and not recording:
            self._authored(key, value, line)
        elif not known_system_key(key):
            self._report(line, f"system key '{key}' is not one the platform knows ({KNOWN_SYSTEM_KEYS})")
        self.system[key] = value
        if key.startswith(("field:", "register:")) or key == "name":
            self._stale = True
            self._version += 1

    def _authored(self, key: str, value: dict[str, Any], line: int) -> None:
        """Refuse what a system entry written here may not be (see ``Change.authored``)."""
        if key == "change":
            raise InvalidEntry(
                "a 'change' system entry cannot be sent: the platform records who made a change and why", line
            )
        if not known_system_key(key):
            raise InvalidEntry(f"system key '{key}' is not one of {KNOWN_SYSTEM_KEYS}", line)
        problem = definition_problem(key, value, self.system, self._register_exists)
        if problem:
            raise InvalidEntry(problem, line)

    def _register_exists(self, name: str) -> bool:
        """A register a field may link to: this one (under its own name or the name its
        definition gives) or any register of this database."""
        if name in (self.register, self.system.get("name", {}).get("name")):
            return True
        if self.sync is not None:
            self.sync()
        return reads.register_id(self.conn, name) is not None

    def user_entry(self, line: int, key: str, digest: bytes, number: int = 0) -> None:
        """Queue a new user entry (entry ``number``'s item ``digest``) for validation at the next write."""
        self.pending.append((line, key, digest, number))

    def take_field_rows(self) -> list[FieldRow]:
        """The ``field_value`` rows of the entries validated since the last call."""
        rows, self.field_rows = self.field_rows, []
        return rows

    def validate_pending(self, contents: Callable[[list[bytes]], dict[bytes, bytes]]) -> None:
        """Validate the queued entries (their items fetched through ``contents``) and note the
        values of indexed fields. With a checker process, a large run is sent to it and its
        results are taken in, in order, at the next call or ``settle``."""
        if not self.pending:
            return
        definition = self.definition
        check = self._check
        index_fields = self.index_fields
        if (definition is None or check is None) and not index_fields:
            self.pending = []
            return
        blobs = contents(list({digest for _line, _key, digest, _number in self.pending}))
        entries = [(line, key, number, blobs[digest]) for line, key, digest, number in self.pending]
        self.pending = []
        self.settle()
        if self.checker is not None and len(entries) >= CHECKER_FROM and self.checker.start():
            self.checker.submit(self._version, self.register, self.system, index_fields, entries)
            return
        if definition is not None and len(entries) <= SMALL_BATCH:
            check = functools.partial(validate_item, definition)  # marshmallow holds the rules; bulk loads compile them
        self._take(check_entries(self.register, definition, check, index_fields, entries))

    def settle(self) -> None:
        """Take in the results of the run in the checker process, if one is there (findings
        are reported, or refused when strict, exactly as if checked here)."""
        if self.checker is not None and self.checker.busy:
            self._take(self.checker.result())

    def close(self) -> None:
        """Stop the checker process, if one was started."""
        if self.checker is not None:
            self.checker.close()

    def _take(self, checked: Checked) -> None:
        for line, message, key in checked.findings:
            self._report(line, message, key=key)
        for register, targets in checked.links.items():
            known = self.links.setdefault(register, {})
            for target, first in targets.items():
                known.setdefault(target, first)
        self.field_rows.extend(checked.field_rows)

    def check_links(self) -> None:
        """Every link must name a record of its register as the batch leaves it."""
        for register, targets in self.links.items():
            reg_id = reads.register_id(self.conn, register)
            found = records.existing_keys(self.conn, reg_id, [k for k in targets if k]) if reg_id is not None else set()
            missing = [(line, field, key, record) for key, (line, field, record) in targets.items() if key not in found]
            if reg_id is not None:
                missing = [m for m in missing if m[2]]  # 'register:' alone names an existing register
            for line, field, key, record in sorted(missing):
                what = f"value '{key}'" if key else f"value '{register}:'"
                where = f"register '{register}'" + ("" if reg_id is not None else ", which does not exist")
                message = f"field '{field}': {what} is not a key of {where}"
                if (field, register, key) in self.change.kept_links:  # not this change's link: it was there
                    self.findings.add(line, message + " (the record already linked it)", dangling=True)
                    continue
                self._report(line, message, dangling=True, key=record)

    def _report(self, line: int, message: str, dangling: bool = False, key: str | None = None) -> None:
        refuse = self.change.strict and not (dangling and self.change.allow_dangling)
        if refuse and self.change.faults is not None:
            self.change.faults.add(line, message, key, InvalidEntry)
        elif refuse:
            raise InvalidEntry(message, line)
        else:
            self.findings.add(line, message, dangling)

