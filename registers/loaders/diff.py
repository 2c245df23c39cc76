"""Tables against the register: which rows become entries.

Runs inside the append transaction (under the write lock), so the records it compares with
are the ones the new entries will follow. Loading the same table twice appends nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from ..core.entries import Log
from ..core.errors import InvalidTable
from ..core.faults import FaultLog, refuse
from ..core.items import InvalidItem, canonical_json, item_digest
from ..core.rsf import AddItem, AppendEntry, Command
from ..store import reads, records
from .tables import Row

CHUNK = 1000
EXAMPLES = 5


@dataclass
class TableDiff:
    """What a table load found: counts and the first examples of each kind."""

    added: int = 0
    changed: int = 0
    unchanged: int = 0
    vanished: int = 0
    ended: int = 0
    examples: dict[str, list[str]] = field(default_factory=dict)

    def note(self, kind: str, text: str) -> None:
        """Count one row of ``kind`` and keep it as an example if there are few yet."""
        setattr(self, kind, getattr(self, kind) + 1)
        shown = self.examples.setdefault(kind, [])
        if len(shown) < EXAMPLES:
            shown.append(text)

    @property
    def appended(self) -> int:
        """Entries the load appends."""
        return self.added + self.changed + self.ended


def _blob(row: Row) -> tuple[bytes, bytes]:
    try:
        blob = canonical_json(row.item)
    except InvalidItem as exc:
        raise InvalidTable(str(exc), row.line) from None
    return blob, item_digest(blob)


def _changed_fields(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def diff_commands(
    conn: Connection,
    reg_id: int,
    rows: Iterable[Row],
    timestamp: str,
    diff: TableDiff,
    *,
    end_missing: str | None = None,
    progress: Callable[[int], None] | None = None,
    faults: FaultLog | None = None,
    max_end: int | None = None,
) -> Iterator[Command]:
    """Entries for the new and changed rows of a table (a key twice is refused). With
    ``faults``, a refused row is counted there and left out, and the table read to its end.
    ``end_missing`` ends the records the table lacks, at most ``max_end`` of them (default:
    ``end_guard``); more refuses the load, saying how many."""
    seen: dict[str, int] = {}
    chunk: list[Row] = []
    for row in rows:
        first = seen.setdefault(row.key, row.line)
        if first != row.line:
            refuse(InvalidTable(
                f"key '{row.key}' is also on line {first} (use --history to load rows as a key's history)", row.line
            ), faults, row.key)
            continue
        chunk.append(row)
        if len(chunk) == CHUNK:
            yield from _diff_chunk(conn, reg_id, chunk, timestamp, diff, faults)
            if progress:
                progress(len(chunk))
            chunk = []
    yield from _diff_chunk(conn, reg_id, chunk, timestamp, diff, faults)
    if progress:
        progress(len(chunk))
    yield from _vanished(conn, reg_id, seen, timestamp, diff, end_missing, max_end)


def end_guard(records_held: int) -> int:
    """How many records ``--end-missing`` may end without ``--max-end``: 10, or 1% of the
    register's records, whichever is more (a truncated table must not end a register)."""
    return max(10, records_held // 100)


def _diff_chunk(
    conn: Connection, reg_id: int, chunk: list[Row], timestamp: str, diff: TableDiff, faults: FaultLog | None = None,
) -> Iterator[Command]:
    current = records.current_records(conn, reg_id, [row.key for row in chunk])
    for row in chunk:
        try:
            blob, digest = _blob(row)
        except InvalidTable as exc:
            refuse(exc, faults, row.key)
            continue
        now = current.get(row.key)
        if now is not None and now.entry.digests == (digest,):
            diff.note("unchanged", row.key)
            continue
        if now is None:
            diff.note("added", row.key)
        else:
            diff.note("changed", f"{row.key} ({', '.join(_changed_fields(now.item, row.item))})")
        yield AddItem(blob, digest, row.line)
        yield AppendEntry(Log.USER, row.key, timestamp, (digest,), row.line)


def _vanished(
    conn: Connection, reg_id: int, seen: dict[str, int], timestamp: str, diff: TableDiff, end_missing: str | None,
    max_end: int | None = None,
) -> Iterator[Command]:
    gone: list[str] = []
    for key in records.iter_all_keys(conn, reg_id):
        if key not in seen:
            gone.append(key)
    ending: list[tuple[str, dict[str, Any]]] = []
    for start in range(0, len(gone), CHUNK):
        current = records.current_records(conn, reg_id, gone[start : start + CHUNK])
        for key, rec in current.items():
            diff.note("vanished", key)
            if end_missing and "end-date" not in rec.item:
                ending.append((key, rec.item))
    limit = max_end if max_end is not None else end_guard(reads.head(conn, reg_id).user_records)
    if len(ending) > limit:
        guard = f"--max-end {max_end}" if max_end is not None else \
            f"the guard ({limit}: 10 records or 1% of the register's, whichever is more)"
        raise InvalidTable(
            f"--end-missing would end {len(ending)} records, more than {guard}: check that the table is whole, "
            f"or give --max-end {len(ending)}"
        )
    for key, item in ending:
        ended = dict(item, **{"end-date": end_missing})
        blob = canonical_json(ended)
        digest = item_digest(blob)
        diff.note("ended", key)
        yield AddItem(blob, digest)
        yield AppendEntry(Log.USER, key, timestamp, (digest,))


def history_commands(
    conn: Connection,
    reg_id: int,
    rows: Iterable[Row],
    timestamp: str,
    diff: TableDiff,
    progress: Callable[[int], None] | None = None,
    faults: FaultLog | None = None,
) -> Iterator[Command]:
    """Each key's rows as its history, oldest first; only rows beyond the stored history append.
    With ``faults``, a key whose rows cannot be taken is counted there and left out."""
    by_key: dict[str, list[Row]] = {}
    for row in rows:
        by_key.setdefault(row.key, []).append(row)
    keys = list(by_key)
    for start in range(0, len(keys), CHUNK):
        for key in keys[start : start + CHUNK]:
            try:
                yield from _key_history(conn, reg_id, key, by_key[key], timestamp, diff)
            except InvalidTable as exc:  # raised before any of the key's commands
                refuse(exc, faults, key)
        if progress:
            progress(sum(len(by_key[k]) for k in keys[start : start + CHUNK]))


def _key_history(
    conn: Connection, reg_id: int, key: str, rows: list[Row], timestamp: str, diff: TableDiff
) -> Iterator[Command]:
    if all("start-date" in row.item for row in rows):
        rows = sorted(rows, key=lambda row: str(row.item["start-date"]))
    stored = [e.digests for e in records.key_history(conn, reg_id, key)]
    wanted = [(row, *_blob(row)) for row in rows]
    for index, (row, _blob_bytes, digest) in enumerate(wanted[: len(stored)]):
        if stored[index] != (digest,):
            raise InvalidTable(
                f"key '{key}': this row differs from entry {index + 1} of the key's stored history "
                "(history is only ever appended to)",
                row.line,
            )
        diff.note("unchanged", key)
    for row, blob, digest in wanted[len(stored) :]:
        diff.note("added" if not stored else "changed", key)
        stored.append((digest,))
        yield AddItem(blob, digest, row.line)
        yield AppendEntry(Log.USER, key, timestamp, (digest,), row.line)
