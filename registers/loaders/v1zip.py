"""The v1 register zip (``register.json``, ``item/<hex>.json``, ``entry/<n>.json``), made as it
is sent, in memory that does not grow with the register.

A zip ends with a central directory: a record per member (its name, CRC, sizes and where it
starts), which a writer must remember until the end. ``zipfile`` keeps a ``ZipInfo`` object per
member (about 1.3 kB: 541 MB for a register of 200,000 entries); zipstream-ng, which writes
each member as it is given (sizes and CRC in a data descriptor after the data, ZIP64 records
where an offset, a size or the number of members needs them), keeps them in a list too. Here
that list is replaced by a temporary file holding each member's finished directory record
(in memory up to ``SPOOL`` bytes, then on disk: about 120 bytes a member), read back in
chunks when the directory is written. So a worker holds a chunk of the zip and a page of rows,
at any size.

Members are stored, not deflated: each is a few hundred bytes of JSON compressed on its own,
which would save about 16% of the bytes (137 MB against 164 MB for 200,000 entries) and take 1.6
times as long (a compressor set up and flushed per member).
"""

from __future__ import annotations

import itertools
import json
import tempfile
from collections.abc import Iterator
from typing import Any

from sqlalchemy.engine import Connection
from zipstream import ZIP_STORED, ZipStream  # type: ignore[import-untyped]

from ..core.entries import Log, entry_json
from ..store import reads

CHUNK = 64 * 1024  # bytes of zip handed on at a time (the first chunk goes as soon as it is made)
SPOOL = 1 << 20  # bytes of central directory kept in memory before it moves to a temporary file
BATCH = 100  # members zipped at a time (a few tens of kB)


class _Record:
    """A member's central directory record, written already (what the footer asks of a member)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def _central_directory_header_data(self) -> bytes:
        return self.data


class _Directory:
    """The central directory, spooled: stands in for zipstream-ng's list of members, which it
    only appends to, counts and (writing the footer) reads through."""

    def __init__(self) -> None:
        self.file = tempfile.SpooledTemporaryFile(max_size=SPOOL)  # noqa: SIM115 (closed by close())
        self.count = 0

    def append(self, info: Any) -> None:
        self.file.write(info._central_directory_header_data())
        self.count += 1

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[_Record]:
        self.file.seek(0)
        while chunk := self.file.read(CHUNK):
            yield _Record(chunk)

    def close(self) -> None:
        self.file.close()


class _Zip(ZipStream):  # type: ignore[misc]
    """A ZipStream whose central directory waits in a temporary file, not in memory."""

    def __init__(self) -> None:
        super().__init__(compress_type=ZIP_STORED)
        self._filelist = _Directory()

    def members(self, batch: list[tuple[str, bytes]]) -> bytes:
        """The zip of the members ``batch`` names (each a name and its bytes)."""
        for name, data in batch:
            self.add(data, name)
        return b"".join(self.all_files())

    def close(self) -> None:
        self._filelist.close()


def register_zip_chunks(conn: Connection, reg_id: int, head: reads.Head, info: dict[str, Any]) -> Iterator[bytes]:
    """The v1 zip of a register at ``head``: ``register.json`` (``info``), every item in the
    order first added, every user entry, in chunks of about ``CHUNK`` bytes. The first chunk
    (``register.json`` and the first item, read with the first page of items) is given as soon
    as it is made. Items are checked as they are read (StoredItemCorrupt), so a stream never
    carries changed bytes."""
    archive = _Zip()
    try:
        members = _members(conn, reg_id, head, info)
        yield archive.members(list(itertools.islice(members, 2)))
        pending: list[bytes] = []
        size = 0
        while batch := list(itertools.islice(members, BATCH)):
            pending.append(archive.members(batch))
            size += len(pending[-1])
            if size >= CHUNK:
                yield b"".join(pending)
                pending, size = [], 0
        for piece in archive.footer():  # the central directory, read back a chunk at a time
            pending.append(piece)
            size += len(piece)
            if size >= CHUNK:
                yield b"".join(pending)
                pending, size = [], 0
        yield b"".join(pending)
    finally:
        archive.close()


def _members(conn: Connection, reg_id: int, head: reads.Head, info: dict[str, Any]) -> Iterator[tuple[str, bytes]]:
    yield "register.json", json.dumps(info).encode()
    for digest, blob in reads.iter_items(conn, reg_id):
        yield f"item/{digest.hex()}.json", blob
    for e in reads.iter_entries(conn, reg_id, Log.USER, 1, head.user_size):
        yield f"entry/{e.number}.json", json.dumps(entry_json(e)).encode()
