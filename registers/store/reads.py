"""Plain read queries: registers, log heads, entries, items. Keyset-paged, never OFFSET.

Item bytes are checked on the way out: every read that serves an item re-hashes its bytes
against the digest it is read under (about a microsecond an item) and raises StoredItemCorrupt
rather than hand on bytes that were changed in the database. Only ``verify`` reads them
unchecked (``stored_item_contents``, ``iter_stored_items``), to report what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..core.entries import Entry, Log
from ..core.errors import StoredItemCorrupt
from ..core.merkle import EMPTY_ROOT
from .dialects import dialect_for
from .schema import checkpoint, entry, item, item_hash, record, register

PAGE = 2000


# An entry is current when the record index points at it: one probe of the index by the
# entry's key (lists walk the log by number instead of keeping an index by entry number, which
# a large load would write at random places). A correlated scalar subquery, not a join: a
# planner cannot turn it into a scan of the whole record index, whatever its statistics say.
CURRENT = (
    select(record.c.entry_number)
    .where(record.c.register_id == entry.c.register_id, record.c.log == entry.c.log, record.c.key == entry.c.key)
    .scalar_subquery()
    == entry.c.number
)


@dataclass(frozen=True)
class Head:
    """The committed state of a register: size and root of both logs."""

    user_size: int = 0
    user_root: bytes = EMPTY_ROOT
    system_size: int = 0
    system_root: bytes = EMPTY_ROOT
    user_records: int = 0  # how many keys the user log has

    def size(self, log: Log) -> int:
        """The size of ``log``."""
        return self.user_size if log is Log.USER else self.system_size

    def root(self, log: Log) -> bytes:
        """The root of ``log``."""
        return self.user_root if log is Log.USER else self.system_root


def register_id(conn: Connection, name: str) -> int | None:
    """The id of register ``name``, or None if there is no such register."""
    return conn.execute(select(register.c.id).where(register.c.name == name)).scalar()


def register_names(conn: Connection) -> list[str]:
    """Every register's name, sorted."""
    return list(conn.execute(select(register.c.name).order_by(register.c.name)).scalars())


def _checkpoints(reg_id: int):  # type: ignore[no-untyped-def]
    c = checkpoint.c
    return select(c.user_size, c.user_root, c.system_size, c.system_root, c.user_records).where(c.register_id == reg_id)


def _head(row: Any) -> Head:
    return Head(row.user_size, bytes(row.user_root), row.system_size, bytes(row.system_root), row.user_records)


def head(conn: Connection, reg_id: int) -> Head:
    """The latest checkpoint of a register (an empty head if it has none)."""
    row = conn.execute(_checkpoints(reg_id).order_by(checkpoint.c.id.desc()).limit(1)).first()
    return Head() if row is None else _head(row)


def latest_notes(conn: Connection, reg_id: int) -> dict[Log, str] | None:
    """The signed checkpoint notes of both logs at the register's latest checkpoint, if any."""
    c = checkpoint.c
    query = select(c.user_note, c.system_note).where(c.register_id == reg_id).order_by(c.id.desc()).limit(1)
    row = conn.execute(query).first()
    return None if row is None else {Log.USER: row.user_note, Log.SYSTEM: row.system_note}


def state_with_root(conn: Connection, reg_id: int, user_root: bytes) -> Head | None:
    """The latest committed state whose user root was ``user_root``, if any."""
    query = _checkpoints(reg_id).where(checkpoint.c.user_root == user_root)
    row = conn.execute(query.order_by(checkpoint.c.id.desc()).limit(1)).first()
    return None if row is None else _head(row)


def system_size_when_made(conn: Connection, reg_id: int, number: int) -> int | None:
    """The size of the system log after the change that made user entry ``number`` (the first
    checkpoint whose user log reached it; one probe of ``checkpoint_by_user_size``)."""
    c = checkpoint.c
    return conn.execute(
        select(c.system_size).where(c.register_id == reg_id, c.user_size >= number)
        .order_by(c.user_size, c.system_size).limit(1)
    ).scalar()


def checkpoints(conn: Connection, reg_id: int) -> list[Head]:
    """Every committed state of a register, oldest first."""
    return [_head(row) for row in conn.execute(_checkpoints(reg_id).order_by(checkpoint.c.id))]


def split_digests(blob: bytes) -> tuple[bytes, ...]:
    """The 32-byte digests packed in an ``item_hashes`` value."""
    if len(blob) == 32:  # nearly every entry: one item
        return (blob,)
    return tuple(blob[i : i + 32] for i in range(0, len(blob), 32))


def iter_entries(
    conn: Connection, reg_id: int, log: Log, first: int = 1, last: int | None = None
) -> Iterator[Entry]:
    """Entries ``first..last`` of a log in order, fetched a page at a time by number."""
    e = entry.c
    after = first - 1
    while True:
        query = (
            select(e.number, e.timestamp, e.key, e.item_hashes)
            .where(e.register_id == reg_id, e.log == int(log), e.number > after)
            .order_by(e.number)
            .limit(PAGE)
        )
        if last is not None:
            query = query.where(e.number <= last)
        rows = conn.execute(query).all()
        for row in rows:
            yield Entry(log, row.number, row.timestamp, row.key, split_digests(bytes(row.item_hashes)))
        if len(rows) < PAGE:
            return
        after = rows[-1].number


def stored_bytes(value: Any) -> bytes:
    """A content column's value as bytes: a BLOB as it is; a TEXT value (written behind the
    platform's back, say by ``sqlite3``'s ``UPDATE item SET content = '...'``) as its UTF-8
    bytes, so that it is hashed and checked like any other rather than failing on its type."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    return bytes(value)


def first_corrupt(items: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The first digest of ``(digest, bytes)`` pairs whose bytes do not hash to it, or None."""
    for digest, blob in items:
        if sha256(blob).digest() != digest:
            return digest
    return None


def register_name(conn: Connection, reg_id: int) -> str:
    """The name of register ``reg_id``."""
    return str(conn.execute(select(register.c.name).where(register.c.id == reg_id)).scalar_one())


def check_items(conn: Connection, reg_id: int, items: Iterable[tuple[bytes, bytes]]) -> None:
    """Raise StoredItemCorrupt, naming the register, if any of the ``(digest, bytes)`` pairs
    read from it does not hash to its digest."""
    bad = first_corrupt(items)
    if bad is not None:
        raise StoredItemCorrupt(register_name(conn, reg_id), bad)


def iter_items(conn: Connection, reg_id: int) -> Iterator[tuple[bytes, bytes]]:
    """Every ``(digest, canonical bytes)`` of a register, in the order first added, each checked
    (StoredItemCorrupt at the first whose bytes do not hash to its digest)."""
    for page in _item_pages(conn, reg_id):
        check_items(conn, reg_id, page)
        yield from page


def iter_stored_items(conn: Connection, reg_id: int) -> Iterator[tuple[bytes, bytes]]:
    """Every ``(digest, bytes)`` of a register as stored, unchecked (for verify)."""
    for page in _item_pages(conn, reg_id):
        yield from page


def _item_pages(conn: Connection, reg_id: int) -> Iterator[list[tuple[bytes, bytes]]]:
    i = item.c
    after = 0
    while True:
        rows = conn.execute(
            select(i.id, i.hash, i.content).where(i.register_id == reg_id, i.id > after).order_by(i.id).limit(PAGE)
        ).all()
        yield [(bytes(row.hash), stored_bytes(row.content)) for row in rows]
        if len(rows) < PAGE:
            return
        after = rows[-1].id


def stream_rows(conn: Connection, sql: str, params: tuple[Any, ...], size: int = 5000) -> Iterator[Sequence[Any]]:
    """The rows of a raw ``sql`` query (its parameters marked ``{p}``, which becomes the
    driver's placeholder) in batches of ``size`` plain tuples, read as they are sent (a
    server-side cursor on PostgreSQL) inside ``conn``'s transaction.

    For the long scans of a dump, where per-row SQLAlchemy overhead would dominate.
    """
    dbapi = conn.connection.dbapi_connection
    assert dbapi is not None
    dialect = dialect_for(conn)
    cursor = dialect.stream_cursor(dbapi)
    try:
        cursor.execute(sql.format(p=dialect.placeholder), params)
        while rows := cursor.fetchmany(size):
            yield rows
    finally:
        cursor.close()


def item_contents(conn: Connection, reg_id: int, digests: list[bytes]) -> dict[bytes, bytes]:
    """The stored bytes of those of ``digests`` the register holds, each checked
    (StoredItemCorrupt if any does not hash to its digest)."""
    found = stored_item_contents(conn, reg_id, digests)
    check_items(conn, reg_id, found.items())
    return found


def stored_item_contents(conn: Connection, reg_id: int, digests: list[bytes]) -> dict[bytes, bytes]:
    """The bytes of those of ``digests`` the register holds, as stored, unchecked (for verify)."""
    found: dict[bytes, bytes] = {}
    for start in range(0, len(digests), 500):
        chunk = digests[start : start + 500]
        h = item_hash.c
        wanted = h.hash == chunk[0] if len(chunk) == 1 else h.hash.in_(chunk)
        rows = conn.execute(
            select(h.hash, item.c.content)
            .join_from(item_hash, item, item.c.id == h.item_id)
            .where(h.register_id == reg_id, wanted)
        )
        found.update((bytes(r.hash), stored_bytes(r.content)) for r in rows)
    return found
