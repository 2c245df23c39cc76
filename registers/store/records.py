"""Record queries: the current record of a key, its history, and lists of records."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.engine import Connection

from ..core.entries import Entry, Log
from ..core.items import canonical_json
from . import fields, reads
from .dialects import dialect_for
from .schema import entry, entry_key, item, item_hash, record, superseded

PAGE = 1000


@dataclass(frozen=True)
class Record:
    """A key's latest entry (as of some point) with its items."""

    entry: Entry
    items: list[dict[str, Any]]

    @property
    def item(self) -> dict[str, Any]:
        """The record's (first) item."""
        return self.items[0] if self.items else {}


def _entries(rows: Iterable[Any], log: Log) -> list[Entry]:
    return [Entry(log, r.number, r.timestamp, r.key, reads.split_digests(bytes(r.item_hashes))) for r in rows]


def with_items(conn: Connection, reg_id: int, entries: list[Entry]) -> list[Record]:
    """``entries`` with their items (read in one statement), every item checked."""
    blobs = reads.item_contents(conn, reg_id, list({d for e in entries for d in e.digests}))
    return [Record(e, [orjson.loads(blobs[d]) for d in e.digests if d in blobs]) for e in entries]


def current_entries(conn: Connection, reg_id: int, keys: list[str], log: Log = Log.USER) -> dict[str, Entry]:
    """The latest entry of each of ``keys`` that has one."""
    r, e = record.c, entry.c
    latest = (e.register_id == r.register_id) & (e.log == r.log) & (e.number == r.entry_number)
    found: dict[str, Entry] = {}
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        # one key (a record GET) compares with =, a statement SQLAlchemy compiles once
        wanted = r.key == chunk[0] if len(chunk) == 1 else r.key.in_(chunk)
        rows = conn.execute(
            select(e.number, e.timestamp, e.key, e.item_hashes)
            .join_from(record, entry, latest)
            .where(r.register_id == reg_id, r.log == int(log), wanted)
        )
        found.update((x.key, x) for x in _entries(rows, log))
    return found


def existing_keys(conn: Connection, reg_id: int, keys: list[str], log: Log = Log.USER) -> set[str]:
    """Those of ``keys`` that have a record (an index probe each, nothing else read)."""
    r = record.c
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        chunk = keys[start : start + 500]
        found.update(conn.execute(
            select(r.key).where(r.register_id == reg_id, r.log == int(log), r.key.in_(chunk))
        ).scalars())
    return found


def current_records(conn: Connection, reg_id: int, keys: list[str]) -> dict[str, Record]:
    """The current record of each of ``keys`` that has one."""
    entries = current_entries(conn, reg_id, keys)
    return {rec.entry.key: rec for rec in with_items(conn, reg_id, list(entries.values()))}


def key_history(conn: Connection, reg_id: int, key: str, log: Log = Log.USER) -> list[Entry]:
    """Every entry for ``key``, oldest first (for the custodian's commands: a request pages
    with ``key_history_page``)."""
    e, k = entry.c, entry_key.c
    rows = conn.execute(
        select(e.number, e.timestamp, e.key, e.item_hashes)
        .join_from(entry_key, entry, (e.register_id == k.register_id) & (e.log == k.log) & (e.number == k.number))
        .where(k.register_id == reg_id, k.log == int(log), k.key == key)
        .order_by(k.number)
    )
    return _entries(rows, log)


def key_history_page(
    conn: Connection, reg_id: int, key: str, limit: int, *, before: int | None = None, after: int | None = None,
    newest_first: bool = True, log: Log = Log.USER,
) -> list[Entry]:
    """Up to ``limit`` entries for ``key``, numbered below ``before`` and above ``after`` (each
    optional): the newest of them (``newest_first``, in that order) or the oldest (oldest
    first), except that ``after`` without ``before`` with ``newest_first`` gives the ``limit``
    just above ``after``, still newest first (the page before a newest-first page). One range
    of the key's index, read no further than ``limit`` rows."""
    e, k = entry.c, entry_key.c
    query = (
        select(e.number, e.timestamp, e.key, e.item_hashes)
        .join_from(entry_key, entry, (e.register_id == k.register_id) & (e.log == k.log) & (e.number == k.number))
        .where(k.register_id == reg_id, k.log == int(log), k.key == key)
    )
    if before is not None:
        query = query.where(k.number < before)
    if after is not None:
        query = query.where(k.number > after)
    walk_down = newest_first and not (after is not None and before is None)
    query = query.order_by(k.number.desc() if walk_down else k.number).limit(limit)
    found = _entries(conn.execute(query), log)
    return found[::-1] if newest_first and not walk_down else found


def history_records(conn: Connection, reg_id: int, key: str) -> list[Record]:
    """Every entry for ``key`` with its items, oldest first."""
    return with_items(conn, reg_id, key_history(conn, reg_id, key))


# What superseded an entry (None: nothing did, the entry is current): one probe of the as-of
# index per entry walked, in the walk's own (number) order.
SUPERSEDED_BY = (
    select(superseded.c.by_number)
    .where(superseded.c.register_id == entry.c.register_id, superseded.c.number == entry.c.number)
    .scalar_subquery()
)


def record_entries(
    conn: Connection, reg_id: int, limit: int, as_of: int | None = None, before: int | None = None
) -> list[Entry]:
    """Up to ``limit`` records' entries, newest first: the current ones, or those as they stood
    after entry ``as_of``; keyset-paged by entry number (``before``: after the record whose entry
    number it is). See ``record_page``, which reads them with their items."""
    return [rec.entry for rec in record_page(conn, reg_id, limit, as_of, before)]


def record_page(
    conn: Connection, reg_id: int, limit: int, as_of: int | None = None, before: int | None = None,
    after: int | None = None,
) -> list[Record]:
    """Up to ``limit`` records, newest first, with their items (each checked: StoredItemCorrupt):
    the current ones, or those as they stood after entry ``as_of``; keyset-paged by entry number
    (``before``: after the record whose entry number it is; ``after``: the ``limit`` records just
    newer than the one whose entry number it is, the page before it). See ``record_rows``."""
    out: list[Record] = []
    for number, timestamp, key, hashes, blob in record_rows(conn, reg_id, limit, as_of, before, after):
        found = Entry(Log.USER, number, timestamp, key, reads.split_digests(hashes))
        if len(found.digests) == 1 and blob is not None:
            out.append(Record(found, [orjson.loads(blob)]))
        else:  # an entry of several items (rare), or of none
            out += with_items(conn, reg_id, [found])
    return out


def record_rows(
    conn: Connection, reg_id: int, limit: int, as_of: int | None = None, before: int | None = None,
    after: int | None = None,
) -> list[tuple[int, str, str, bytes, bytes | None]]:
    """Up to ``limit`` records as plain rows (entry number, timestamp, key, item hashes, first
    item's bytes, checked against its digest: StoredItemCorrupt), newest first: the current
    ones, or those as they stood after entry ``as_of``; keyset-paged by entry number
    (``before``: after the record whose entry number it is). A walk of the log backwards from
    there, each entry read with what superseded it (the as-of index) and its first item's bytes
    (index probes): it reads the page's entries and those superseded (by ``as_of``) between
    them, nothing else. The walk is plain statements of an index range and a limit, filtered
    here, so that no planner can choose to read the range whole (PostgreSQL would, misjudging
    how many entries a filter on the index keeps). With ``after`` (and no ``before``) the walk
    goes forwards from that entry number instead, the same reads, and the rows it keeps (the
    ``limit`` records just newer than ``after``) are still given newest first."""
    e, h, i = entry.c, item_hash.c, item.c
    first_item = (h.register_id == e.register_id) & (h.hash == func.substr(e.item_hashes, 1, 32))
    upper = before
    if as_of is not None:
        upper = as_of + 1 if upper is None else min(upper, as_of + 1)
    forwards = after is not None and before is None
    lower = after
    found: list[tuple[int, str, str, bytes, bytes | None]] = []
    while len(found) < limit:
        query = (
            select(e.number, e.timestamp, e.key, e.item_hashes, SUPERSEDED_BY.label("by"), i.content)
            .join_from(entry, item_hash, first_item, isouter=True)
            .join(item, i.id == h.item_id, isouter=True)
            .where(e.register_id == reg_id, e.log == int(Log.USER))
        )
        if upper is not None:
            query = query.where(e.number < upper)
        if forwards:
            query = query.where(e.number > lower)
        chunk = limit - len(found) + 1
        order = e.number.asc() if forwards else e.number.desc()
        rows = conn.execute(query.order_by(order).limit(chunk)).all()
        kept = [(n, ts, key, bytes(hashes), None if blob is None else reads.stored_bytes(blob))
                for n, ts, key, hashes, by, blob in rows if by is None or (as_of is not None and by > as_of)]
        kept = kept[: limit - len(found)]
        reads.check_items(conn, reg_id, [(r[3][:32], r[4]) for r in kept if r[4] is not None])
        found += kept
        if len(rows) < chunk:
            break
        if forwards:
            lower = rows[-1][0]
        else:
            upper = rows[-1][0]
    return found[::-1] if forwards else found


def iter_records(
    conn: Connection, reg_id: int, as_of: int | None = None, before: int | None = None
) -> Iterator[Record]:
    """Every record, newest first (by its latest entry), optionally as it stood after entry
    ``as_of``, a page at a time (see ``record_page``); ``before`` starts after a record whose
    entry number it is."""
    while True:
        page = record_page(conn, reg_id, PAGE, as_of, before)
        if not page:
            return
        yield from page
        if len(page) < PAGE:
            return
        before = page[-1].entry.number


def iter_records_with_value(
    conn: Connection, reg_id: int, name: str, value: str, before: int | None = None, chunk: int = PAGE,
    indexed: bool | None = None,
) -> Iterator[Record]:
    """Every current record whose field ``name`` holds ``value`` (equal to it, or a member of
    its list), newest first, from after the record whose entry number is ``before``. An indexed
    field is looked up in ``field_value`` (a few index probes per record found, ``chunk`` rows a
    statement); any other is found by a prefilter over the records' items (a scan: see
    ``web.api`` for the size it is allowed at). ``indexed``: whether the field is indexed, when
    the caller knows."""
    if indexed if indexed is not None else name in fields.indexed_fields(conn, reg_id):
        while True:
            rows = fields.holders(conn, reg_id, name, value, before, chunk)
            for found in _records_of_rows(conn, reg_id, rows):
                if holds(found.item.get(name), value):
                    yield found
            if len(rows) < chunk:
                return
            before = rows[-1].number
    needle = canonical_json({"": value})[4:-1]  # the value as it is written in a stored item
    for found in iter_records_containing(conn, reg_id, needle, before):
        if holds(found.item.get(name), value):
            yield found


def holds(held: Any, value: str) -> bool:
    """Whether a field's value ``held`` is ``value`` or a list with ``value`` among its members."""
    return held == value or (isinstance(held, list) and value in held)


def _records_of_rows(conn: Connection, reg_id: int, rows: Sequence[Any]) -> Iterator[Record]:
    """Records of rows (number, timestamp, key, item_hashes, first item's content), every
    item checked against its digest before any record is given (StoredItemCorrupt)."""
    entries = [Entry(Log.USER, r.number, r.timestamp, r.key, reads.split_digests(bytes(r.item_hashes))) for r in rows]
    contents = [reads.stored_bytes(r.content) for r in rows]
    reads.check_items(conn, reg_id, [(e.digests[0], blob) for e, blob in zip(entries, contents, strict=True)])
    for found, blob in zip(entries, contents, strict=True):
        if len(found.digests) == 1:
            yield Record(found, [orjson.loads(blob)])
        else:  # rare: an entry of several items
            yield from with_items(conn, reg_id, [found])


def iter_records_containing(
    conn: Connection, reg_id: int, needle: bytes, before: int | None = None
) -> Iterator[Record]:
    """Every current record whose (first) item's canonical bytes contain ``needle``, newest
    first: a prefilter done by the database, for finding records by a field's value (the
    caller checks the field itself)."""
    e, h, i = entry.c, item_hash.c, item.c
    first_item = (h.register_id == e.register_id) & (h.hash == func.substr(e.item_hashes, 1, 32))
    holds = dialect_for(conn).item_contains(i.content, needle)
    while True:
        query = (
            select(e.number, e.timestamp, e.key, e.item_hashes, i.content)
            .join_from(entry, item_hash, first_item)
            .join(item, i.id == h.item_id)
            .where(e.register_id == reg_id, e.log == int(Log.USER), reads.CURRENT, holds)
            .order_by(e.number.desc())
            .limit(PAGE)
        )
        if before is not None:
            query = query.where(e.number < before)
        rows = conn.execute(query).all()
        yield from _records_of_rows(conn, reg_id, rows)
        if len(rows) < PAGE:
            return
        before = rows[-1].number


def iter_all_keys(conn: Connection, reg_id: int) -> Iterator[str]:
    """Every user-record key, in key order (keyset-paged)."""
    r = record.c
    after: str | None = None
    while True:
        query = select(r.key).where(r.register_id == reg_id, r.log == int(Log.USER)).order_by(r.key).limit(PAGE)
        if after is not None:
            query = query.where(r.key > after)
        keys = list(conn.execute(query).scalars())
        yield from keys
        if len(keys) < PAGE:
            return
        after = keys[-1]


def count_records(conn: Connection, reg_id: int, log: Log = Log.USER) -> int:
    """How many records (distinct keys) a log has."""
    r = record.c
    return int(conn.execute(select(func.count()).where(r.register_id == reg_id, r.log == int(log))).scalar_one())
