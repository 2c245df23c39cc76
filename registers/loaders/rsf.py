"""RSF files in and out: naming the register a dump holds, and writing dumps and patches."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from sqlalchemy.engine import Connection

from ..core.entries import Entry, Log
from ..core.errors import InvalidRange
from ..core.items import item_digest, parse_hash
from ..core.rsf import AddItem, AppendEntry, AssertRootHash, Command
from ..store import reads
from ..store.tree import StoredTree


def register_name_in(path: Path) -> str | None:
    """The register a dump names in its ``name`` system entry, or None if it has none.

    Reads the file twice, line by line: once for the latest ``name`` entry's item hash, once
    for that item (only lines that can hold it are hashed).
    """
    wanted: bytes | None = None
    with path.open("rb") as stream:
        for line in stream:
            if line.startswith(b"append-entry\tsystem\tname\t"):
                try:
                    wanted = parse_hash(line.rstrip(b"\r\n").rsplit(b"\t", 1)[1].decode("ascii"))
                except (ValueError, UnicodeDecodeError):
                    return None  # the load itself names the bad line
    if wanted is None:
        return None
    with path.open("rb") as stream:
        for line in stream:
            if line.startswith(b'add-item\t{"name":'):
                blob = line.rstrip(b"\r\n")[len(b"add-item\t") :]
                if item_digest(blob) == wanted:
                    name = json.loads(blob).get("name")
                    return name if isinstance(name, str) else None
    return None


def export_commands(
    conn: Connection, reg_id: int, head: reads.Head, start: int = 0, end: int | None = None
) -> Iterator[Command]:
    """The RSF of user entries ``start+1..end`` (a full dump when ``start`` is 0).

    v1 layout: assert the root at ``start``; the items; the system entries (full dumps
    only); the user entries; assert the root at ``end``. A whole dump lists items in the order
    they were first added; a patch lists the items its entries use, in order of first use.
    """
    end = head.user_size if end is None else end
    if not 0 <= start <= end <= head.user_size:
        raise InvalidRange(f"a download needs 0 <= from ({start}) <= to ({end}) <= {head.user_size}")
    tree = StoredTree(conn, reg_id, Log.USER, head.user_size)
    yield AssertRootHash(tree.root(start))
    if start == end:
        return
    if start == 0 and end == head.user_size:
        for digest, blob in reads.iter_items(conn, reg_id):
            yield AddItem(blob, digest)
    else:
        yield from _items_first_used(conn, reg_id, head, start, end)
    if start == 0:
        for entry in reads.iter_entries(conn, reg_id, Log.SYSTEM, 1, head.system_size):
            yield AppendEntry.of(entry)
    for entry in reads.iter_entries(conn, reg_id, Log.USER, start + 1, end):
        yield AppendEntry.of(entry)
    yield AssertRootHash(tree.root(end))


_ITEMS = "SELECT hash, content FROM item WHERE register_id = {p} ORDER BY id"
_ENTRIES = (
    "SELECT key, timestamp, item_hashes FROM entry "
    "WHERE register_id = {p} AND log = {p} AND number BETWEEN {p} AND {p} ORDER BY number"
)


def export_rsf_chunks(
    conn: Connection, reg_id: int, head: reads.Head, start: int = 0, end: int | None = None
) -> Iterator[bytes]:
    """The same RSF as ``export_commands`` as a stream of byte chunks, fast: rows are read in
    batches straight from the DBAPI cursor and formatted without building commands (a full
    dump streams at tens of MB/s in flat memory). Every item is checked against its digest before
    its batch is given (StoredItemCorrupt), so a stream never carries changed bytes."""
    end = head.user_size if end is None else end
    if not 0 <= start <= end <= head.user_size:
        raise InvalidRange(f"a download needs 0 <= from ({start}) <= to ({end}) <= {head.user_size}")
    tree = StoredTree(conn, reg_id, Log.USER, head.user_size)
    yield AssertRootHash(tree.root(start)).to_line() + b"\n"
    if start == end:
        return
    if start == 0 and end == head.user_size:
        for raw in reads.stream_rows(conn, _ITEMS, (reg_id,)):
            rows = [(bytes(digest), reads.stored_bytes(content)) for digest, content in raw]
            reads.check_items(conn, reg_id, rows)
            yield b"".join([b"add-item\t" + content + b"\n" for _digest, content in rows])
    else:
        lines = [c.to_line() + b"\n" for c in _items_first_used(conn, reg_id, head, start, end)]
        for at in range(0, len(lines), 5000):
            yield b"".join(lines[at : at + 5000])
    if start == 0:
        yield from _entry_lines(conn, reg_id, Log.SYSTEM, 1, head.system_size)
    yield from _entry_lines(conn, reg_id, Log.USER, start + 1, end)
    yield AssertRootHash(tree.root(end)).to_line() + b"\n"


def export_system_chunks(conn: Connection, reg_id: int, head: reads.Head, start: int, end: int) -> Iterator[bytes]:
    """A patch of the system log: the items system entries ``start+1..end`` use (in order of
    first use), then those entries; no asserts (an RSF assert names the user root). A mirror
    checks it against the system log's signed checkpoint."""
    if not 0 <= start <= end <= head.system_size:
        raise InvalidRange(f"a system download needs 0 <= from ({start}) <= to ({end}) <= {head.system_size}")
    entries = reads.iter_entries(conn, reg_id, Log.SYSTEM, start + 1, end)
    lines = [c.to_line() + b"\n" for c in _first_uses(conn, reg_id, [entries])]
    for at in range(0, len(lines), 5000):
        yield b"".join(lines[at : at + 5000])
    yield from _entry_lines(conn, reg_id, Log.SYSTEM, start + 1, end)


def _entry_lines(conn: Connection, reg_id: int, log: Log, first: int, last: int) -> Iterator[bytes]:
    prefix = f"append-entry\t{log.label}\t"
    for rows in reads.stream_rows(conn, _ENTRIES, (reg_id, int(log), first, last)):
        lines = []
        for key, timestamp, packed in rows:
            packed = bytes(packed)
            if len(packed) == 32:
                hashes = "sha-256:" + packed.hex()
            else:
                hashes = ";".join("sha-256:" + packed[i : i + 32].hex() for i in range(0, len(packed), 32))
            lines.append(f"{prefix}{key}\t{timestamp}\t{hashes}\n")
        yield "".join(lines).encode()


def _items_first_used(
    conn: Connection, reg_id: int, head: reads.Head, start: int, end: int
) -> Iterator[AddItem]:
    entries: list[Iterator[Entry]] = [reads.iter_entries(conn, reg_id, Log.USER, start + 1, end)]
    if start == 0:
        entries.insert(0, reads.iter_entries(conn, reg_id, Log.SYSTEM, 1, head.system_size))
    return _first_uses(conn, reg_id, entries)


def _first_uses(conn: Connection, reg_id: int, entries: list[Iterator[Entry]]) -> Iterator[AddItem]:
    """The items of ``entries`` (read in turn), each once, in order of first use."""
    seen: set[bytes] = set()
    for stream in entries:
        batch: list[bytes] = []
        for entry in stream:
            for digest in entry.digests:
                if digest not in seen:
                    seen.add(digest)
                    batch.append(digest)
            if len(batch) >= reads.PAGE:
                yield from _add_items(conn, reg_id, batch)
                batch = []
        yield from _add_items(conn, reg_id, batch)


def _add_items(conn: Connection, reg_id: int, digests: list[bytes]) -> Iterator[AddItem]:
    contents = reads.item_contents(conn, reg_id, digests)
    for digest in digests:
        yield AddItem(contents[digest], digest)


def open_rsf(path: str) -> BinaryIO:
    """The RSF file at ``path`` opened for reading (``-`` is standard input)."""
    return sys.stdin.buffer if path == "-" else open(path, "rb")
