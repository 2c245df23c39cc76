"""What a data owner does: create a register, load tables, add, amend and end records, read them.

Every change goes through ``store.append.append`` with ``extend=True`` and works out what to
append inside the transaction, under the register's write lock. Tables and single changes are
strict: a finding refuses the change (``allow_dangling`` lets links to missing records through,
reported).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from ..core.changes import FieldValue, RecordChange, new_item, parse_assignments
from ..core.definitions import Definition, load_definition
from ..core.entries import Log, now_timestamp
from ..core.errors import InvalidEntry, LineError, RegisterError, RegisterNotFound
from ..core.faults import DEFAULT_LIMIT, FaultLog, stopped
from ..core.items import canonical_json, item_digest
from ..core.rsf import AddItem, AppendEntry, Command
from ..core.validation import link_targets
from ..loaders.diff import TableDiff, diff_commands, history_commands
from ..loaders.tables import read_rows
from ..settings import current
from ..store import reads, records
from ..store.append import AppendResult, append, check_register_name
from ..store.checks import Change
from ..store.engine import snapshot
from ..store.system import system_records


class NoDefinition(RegisterError):
    """The register has no field definitions to check rows against."""


def read_schema(path: str) -> Definition:
    """The register definition in a ``schemas/<register>.json`` file (errors name the file)."""
    try:
        return load_definition(Path(path).read_text(encoding="utf-8"))
    except RegisterError as exc:
        raise RegisterError(f"{path}: {exc}") from None


def default_actor() -> str | None:
    """Who is acting when ``--as`` is not given: $REGISTERS_AS, else no one named (never the
    login name: who made a change is published in the register's log for ever)."""
    return current().actor


def definition_of(conn: Connection, reg_id: int, name: str) -> Definition:
    """The register's definition from its system records as of its latest checkpoint (the
    state ``conn`` reads); NoDefinition if it has none."""
    system = system_records(conn, reg_id, reads.head(conn, reg_id).system_root)
    definition = Definition.from_system(name, system)
    if definition is None:
        raise NoDefinition(
            f"register '{name}' has no definition: create it with 'registers create {name} --schema FILE'"
        )
    return definition


def _system_commands(items: list[tuple[str, dict[str, Any]]], current: dict[str, Any], stamp: str) -> Iterator[Command]:
    for key, value in items:
        if current.get(key) == value:
            continue
        blob = canonical_json(value)
        digest = item_digest(blob)
        yield AddItem(blob, digest)
        yield AppendEntry(Log.SYSTEM, key, stamp, (digest,))


def create_register(
    engine: Engine,
    name: str,
    definition: Definition,
    *,
    custodian: str | None = None,
    by: str | None = None,
    reason: str | None = None,
) -> AppendResult:
    """Create register ``name`` with ``definition`` as system entries, or append what changed.

    The register's own name and definition's name must agree. Creating it again with the same
    definition appends nothing; a changed field or description is appended to the system log.
    """
    check_register_name(name)
    if definition.register != name:
        raise InvalidEntry(f"the schema defines register '{definition.register}', not '{name}'")
    stamp = now_timestamp()

    def commands(conn: Connection, reg_id: int) -> Iterator[Command]:
        yield from _system_commands(definition.system_items(custodian), system_records(conn, reg_id), stamp)

    change = Change(by=by or default_actor(), reason=reason or f"define register '{name}'", authored=True)
    return append(engine, name, commands, create=True, extend=True, change=change)


@dataclass(frozen=True)
class TableLoad:
    """A table load: what it found and, unless it was a dry run, what was committed."""

    diff: TableDiff
    result: AppendResult


def load_table(
    engine: Engine,
    stream: BinaryIO,
    fmt: str,
    register: str,
    *,
    source: str = "<table>",
    history: bool = False,
    end_missing: str | None = None,
    dry_run: bool = False,
    allow_dangling: bool = False,
    by: str | None = None,
    reason: str | None = None,
    progress: Callable[[int], None] | None = None,
    max_errors: int = DEFAULT_LIMIT,
    max_end: int | None = None,
) -> TableLoad:
    """Load a CSV/TSV/JSON/JSONL table into an existing register, appending only what changed.

    New and changed rows become entries; unchanged rows append nothing; records missing from
    the table are reported, and ended (``end-date``) only when ``end_missing`` gives the date,
    at most ``max_end`` of them (default: 10 or 1% of the records, whichever is more; more
    refuses the load). A key twice is refused unless ``history``. ``dry_run`` checks everything and stores nothing.
    The whole table is checked: every fault (a row that cannot be read, a key twice, a bad
    datatype, key or link) is collected, and the load then refused with all of them
    (``FaultsFound``, a LineError naming ``source``, the first ``max_errors`` kept); a problem
    with the whole file (its header, its syntax) refuses it at once. Nothing is stored then.
    """
    diff = TableDiff()
    stamp = now_timestamp()
    faults = FaultLog(max_errors)

    def commands(conn: Connection, reg_id: int) -> Iterator[Command]:
        rows = read_rows(stream, fmt, definition_of(conn, reg_id, register), faults)
        if history:
            return history_commands(conn, reg_id, rows, stamp, diff, progress, faults)
        return diff_commands(conn, reg_id, rows, stamp, diff, end_missing=end_missing, progress=progress,
                             faults=faults, max_end=max_end)

    change = Change(
        by=by or default_actor(),
        reason=reason or f"load {os.path.basename(source)}",
        strict=True,
        allow_dangling=allow_dangling,
        faults=faults,
    )
    try:
        result = append(engine, check_register_name(register), commands, create=False, extend=True, change=change,
                        commit=not dry_run)
    except LineError as exc:
        raise stopped(exc, faults, source) from None
    return TableLoad(diff, result)


def apply_change(
    engine: Engine,
    name: str,
    change: RecordChange,
    *,
    by: str | None = None,
    reason: str | None = None,
    commit: bool = True,
    also: Callable[[Connection, Any], None] | None = None,
) -> AppendResult:
    """Apply ``change`` to its record through the one write path: the new item is made by
    ``core.changes.new_item`` from the record as it stands under the write lock, then checked
    strictly by the register's item rules (datatypes, cardinality, key, links), signed, all or
    nothing. Stored exactly as asked, or refused (InvalidEntry) saying which field and why.
    ``commit`` false checks everything and stores nothing; ``also`` writes its own rows in the
    same transaction (see ``append``)."""
    stamp = now_timestamp()
    kept: set[tuple[str, str, str]] = set()

    def commands(conn: Connection, reg_id: int) -> Iterator[Command]:
        definition = definition_of(conn, reg_id, name)
        current = records.current_records(conn, reg_id, [change.key]).get(change.key)
        if current is not None:  # the links the record already makes: held to the rules when made, not now
            kept.update((field, name if target == definition.register else target, key)
                        for field, target, key in link_targets(definition, current.item))
        value = new_item(change, definition, current.item if current is not None else None)
        blob = canonical_json(value)
        digest = item_digest(blob)
        if current is not None and current.entry.digests == (digest,):
            raise InvalidEntry(f"record '{change.key}' already has these values: nothing to {change.action}")
        yield AddItem(blob, digest)
        yield AppendEntry(Log.USER, change.key, stamp, (digest,))

    recorded = Change(by=by or default_actor(), reason=reason or f"{change.action} {change.key}",
                      kept_links=kept)  # filled in by commands(), read when the links are checked
    return append(engine, check_register_name(name), commands, create=False, extend=True, change=recorded,
                  commit=commit, also=also)


def parse_fields(engine: Engine, name: str, assignments: list[str]) -> dict[str, FieldValue]:
    """Command-line ``FIELD=VALUE`` arguments as a change's fields, parsed by the register's
    definition (see ``core.changes.parse_assignments``)."""
    with snapshot(engine) as conn:
        reg_id = reads.register_id(conn, check_register_name(name))
        if reg_id is None:
            raise RegisterNotFound(name)
        definition = definition_of(conn, reg_id, name)
    return parse_assignments(definition, assignments)


def parse_change(engine: Engine, name: str, action: str, key: str, assignments: list[str]) -> RecordChange:
    """The change command-line ``FIELD=VALUE`` arguments ask for (see ``parse_fields``)."""
    return RecordChange(action, key, parse_fields(engine, name, assignments))


def add_record(
    engine: Engine, name: str, key: str, fields: Mapping[str, FieldValue], *, by: str | None = None,
    reason: str | None = None,
) -> AppendResult:
    """Add a new record ``key`` with ``fields`` (the key field is filled in)."""
    return apply_change(engine, name, RecordChange("add", key, fields), by=by, reason=reason)


def amend_record(
    engine: Engine, name: str, key: str, fields: Mapping[str, FieldValue], *, by: str | None = None,
    reason: str | None = None,
) -> AppendResult:
    """Change only the named fields of record ``key`` (None removes one); every other field is
    carried over."""
    return apply_change(engine, name, RecordChange("amend", key, fields), by=by, reason=reason)


def end_record(
    engine: Engine, name: str, key: str, date: str, *, by: str | None = None, reason: str | None = None
) -> AppendResult:
    """End record ``key``: a new entry with ``end-date`` set (the record is not deleted)."""
    return apply_change(engine, name, RecordChange.end(key, date), by=by, reason=reason)
