"""Reading records: one record and its history (with who and why), lists, and table exports."""

from __future__ import annotations

import bisect
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any, BinaryIO

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from ..core.entries import Entry, Log, record_json
from ..core.errors import RegisterError
from ..store import reads, records
from ..store.engine import snapshot
from .records import definition_of
from .registers import register_id_of


class RecordNotFound(RegisterError):
    """No record has that key."""


@dataclass(frozen=True)
class ChangeNote:
    """Who made a change and why, and the user entries it made."""

    first: int
    last: int
    by: str
    reason: str
    timestamp: str


@dataclass(frozen=True)
class HistoryLine:
    """One entry of a record's history, with the change that made it (if one was recorded)."""

    record: records.Record
    change: ChangeNote | None


def changes(conn: Connection, reg_id: int) -> list[ChangeNote]:
    """Every recorded change of a register that made user entries, oldest first."""
    notes = []
    for rec in _system_history(conn, reg_id, "change"):
        span = rec.item.get("user-entries", "")
        if "-" in span:
            first, last = (int(n) for n in span.split("-", 1))
            item = rec.item
            notes.append(ChangeNote(first, last, item.get("by", ""), item.get("reason", ""), rec.entry.timestamp))
    return notes


def list_changes(engine: Engine, name: str, by: str | None = None) -> list[ChangeNote]:
    """Every recorded change of register ``name`` that made user entries, oldest first; with
    ``by``, only those made by that author (a token's label, a ``--as`` name): how an operator
    finds what a leaked token changed. Reads every change note (a custodian's command)."""
    with snapshot(engine) as conn:
        found = changes(conn, register_id_of(conn, name))
    return [note for note in found if by is None or note.by == by]


def _system_history(conn: Connection, reg_id: int, key: str) -> list[records.Record]:
    entries = records.key_history(conn, reg_id, key, Log.SYSTEM)
    blobs = reads.item_contents(conn, reg_id, [e.digests[0] for e in entries])
    return [records.Record(e, [json.loads(blobs[e.digests[0]])]) for e in entries]


def _note(conn: Connection, reg_id: int, found: Entry) -> ChangeNote | None:
    """The change note of the ``change`` system entry ``found`` (None: it made no user entries)."""
    blob = reads.item_contents(conn, reg_id, [found.digests[0]])[found.digests[0]]
    item = json.loads(blob)
    span = item.get("user-entries", "")
    if "-" not in span:
        return None
    first, last = (int(n) for n in span.split("-", 1))
    return ChangeNote(first, last, item.get("by", ""), item.get("reason", ""), found.timestamp)


# the change notes read from one place in the fallback's bisection, for one with a user span
_PROBE = 8


def change_for(conn: Connection, reg_id: int, number: int) -> ChangeNote | None:
    """Who made user entry ``number`` and why (None: not recorded), in a few index probes
    whatever the register's size: the first checkpoint whose user log reached ``number`` is the
    change that made it, and its note is the last ``change`` system entry that checkpoint
    covers. When one change made several notes (an RSF of another server's history loaded in
    one go), the notes before that one are bisected by system entry number."""
    system_size = reads.system_size_when_made(conn, reg_id, number)
    if system_size is None:
        return None
    latest = records.key_history_page(conn, reg_id, "change", 1, before=system_size + 1, log=Log.SYSTEM)
    if not latest:
        return None
    note = _note(conn, reg_id, latest[0])
    if note is None or note.first <= number:
        return note if note is not None and number <= note.last else None
    best: ChangeNote | None = None  # the last note (by system number) whose span starts at or before number
    low, high = 1, latest[0].number - 1
    while low <= high:
        middle = (low + high) // 2
        probed = records.key_history_page(conn, reg_id, "change", _PROBE, before=high + 1, after=middle - 1,
                                          newest_first=False, log=Log.SYSTEM)
        spanned = next(((e, n) for e in probed if (n := _note(conn, reg_id, e)) is not None), None)
        if spanned is None:
            high = middle - 1
        elif spanned[1].first <= number:
            best, low = spanned[1], spanned[0].number + 1
        else:
            high = middle - 1
    return best if best is not None and best.first <= number <= best.last else None


def _change_for(notes: list[ChangeNote], number: int) -> ChangeNote | None:
    index = bisect.bisect_right([n.first for n in notes], number) - 1
    if index >= 0 and notes[index].first <= number <= notes[index].last:
        return notes[index]
    return None


def show_record(engine: Engine, name: str, key: str, history: bool = False) -> list[HistoryLine]:
    """The record ``key`` (or every entry of its history, oldest first), each with who and why."""
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        if history:
            found = records.history_records(conn, reg_id, key)
        else:
            found = list(records.current_records(conn, reg_id, [key]).values())
        if not found:
            raise RecordNotFound(f"register '{name}' has no record '{key}'")
        notes = changes(conn, reg_id)
        return [HistoryLine(rec, _change_for(notes, rec.entry.number)) for rec in found]


def is_current(item: dict[str, Any], today: str | None = None) -> bool:
    """True unless the record has an ``end-date`` that has passed."""
    end = item.get("end-date")
    return not end or str(end) > (today or date.today().isoformat())


def list_records(
    engine: Engine,
    name: str,
    *,
    field: str | None = None,
    value: str | None = None,
    current: bool = False,
    as_of: int | None = None,
    before: int | None = None,
) -> Iterator[records.Record]:
    """Records newest first: all, those whose ``field`` holds ``value``, only ``current`` ones
    (no past end-date), or as they stood after entry ``as_of``; from after the record whose
    entry number is ``before`` (a keyset cursor). Streams in one read transaction."""
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        today = date.today().isoformat()
        by_value = field is not None and value is not None and as_of is None
        found = records.iter_records_with_value(conn, reg_id, field or "", value or "", before) if by_value \
            else records.iter_records(conn, reg_id, as_of, before)
        for rec in found:
            item = rec.item
            if field is not None and not by_value and not records.holds(item.get(field), value or ""):
                continue  # as of an entry: no index, the field is checked here
            if current and not is_current(item, today):
                continue
            yield rec


def export_records(engine: Engine, name: str, fmt: str, out: BinaryIO) -> int:
    """Write every record as ``csv``, ``json`` (the v1 records object) or ``jsonl``; returns records written."""
    with snapshot(engine) as conn:
        fields = definition_of(conn, register_id_of(conn, name), name).field_names
    count = 0
    if fmt == "csv":
        text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        writer = csv.writer(text, lineterminator="\r\n")
        writer.writerow(["index-entry-number", "entry-number", "entry-timestamp", "key", *fields])
        for rec in list_records(engine, name):
            item = rec.item
            cells = [";".join(v) if isinstance(v, list) else v for v in (item.get(f, "") for f in fields)]
            writer.writerow([rec.entry.number, rec.entry.number, rec.entry.timestamp, rec.entry.key, *cells])
            count += 1
        text.detach()
        return count
    if fmt == "json":
        out.write(b"{")
        for rec in list_records(engine, name):
            prefix = b"," if count else b""
            body = json.dumps(record_json(rec.entry, rec.items), ensure_ascii=False, separators=(",", ":"))
            out.write(prefix + json.dumps(rec.entry.key).encode() + b":" + body.encode())
            count += 1
        out.write(b"}\n")
        return count
    if fmt == "jsonl":
        for rec in list_records(engine, name):
            out.write(json.dumps(record_json(rec.entry, rec.items), ensure_ascii=False).encode() + b"\n")
            count += 1
        return count
    raise RegisterError(f"'{fmt}' is not an export format (rsf, csv, json, jsonl)")
