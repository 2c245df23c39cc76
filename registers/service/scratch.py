"""A throwaway SQLite file for work on more rows than memory should hold.

A report over every record of a register of tens of millions (grouping names, remembering
ended keys) keeps its working rows here, on disk in a temporary folder, whatever database the
register is in. The file is deleted when the ``with`` block ends. Nothing here is part of the
register: it is never signed and never read again.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

CACHE_KIB = 16384  # SQLite's page cache here: the scratch file's memory stays this small
IN_LIST = 500  # keys per IN (…) lookup


class Scratch:
    """A temporary SQLite database: ``execute`` statements, ``insert`` many rows, ``lookup`` keys."""

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="registers-scratch-")
        self.db = sqlite3.connect(Path(self._folder.name) / "scratch.sqlite3", isolation_level=None)
        for pragma in ("journal_mode=OFF", "synchronous=OFF", f"cache_size=-{CACHE_KIB}", "temp_store=FILE"):
            self.db.execute(f"PRAGMA {pragma}")
        self.db.execute("BEGIN")  # one transaction: nothing here needs to survive a crash

    def __enter__(self) -> Scratch:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Delete the file."""
        self.db.close()
        self._folder.cleanup()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Iterator[tuple[Any, ...]]:
        """The rows of one statement, read as they are needed."""
        return iter(self.db.execute(sql, params))

    def insert(self, table: str, rows: Iterable[Sequence[Any]]) -> None:
        """Add ``rows`` to ``table`` (each row one value per column, in the table's order)."""
        rows = list(rows)
        if rows:
            marks = ", ".join("?" * len(rows[0]))
            self.db.executemany(f"INSERT INTO {table} VALUES ({marks})", rows)

    def lookup(self, sql: str, keys: Sequence[Any]) -> list[tuple[Any, ...]]:
        """The rows of ``sql`` (whose one ``IN ({})`` placeholder takes a list) for ``keys``, in chunks."""
        out: list[tuple[Any, ...]] = []
        for start in range(0, len(keys), IN_LIST):
            chunk = list(keys[start : start + IN_LIST])
            out += self.db.execute(sql.format(", ".join("?" * len(chunk))), chunk).fetchall()
        return out
