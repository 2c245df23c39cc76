"""Tables in: CSV, TSV, JSON (an array of objects) and JSON lines, read as rows of a register.

A row becomes an item as GOV.UK did it: empty cells are left out, a cardinality-``n`` field's
cell is split on ``;`` (a cardinality-``1`` value keeps its ``;``), and values are kept
exactly as written. Every problem names the line (or the JSON array position).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from ..core.definitions import Definition
from ..core.errors import InvalidTable
from ..core.faults import FaultLog, refuse

FORMATS = {".csv": "csv", ".tsv": "tsv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".rsf": "rsf"}


@dataclass(frozen=True)
class Row:
    """One row of a table: its line number and its item."""

    line: int
    key: str
    item: dict[str, Any]


def table_format(path: str, given: str | None = None) -> str:
    """The format of ``path`` (``csv``, ``tsv``, ``json``, ``jsonl`` or ``rsf``), from its suffix."""
    if given:
        return given
    if path == "-":
        return "rsf"  # standard input: RSF unless --format says otherwise
    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:
        raise InvalidTable(f"cannot tell the format of '{path}' (use .csv, .tsv, .json, .jsonl or .rsf)")
    return fmt


def read_rows(stream: BinaryIO, fmt: str, definition: Definition, faults: FaultLog | None = None) -> Iterator[Row]:
    """The rows of a table as items of ``definition``'s register, in file order. A row that
    cannot be read refuses the table, or with ``faults`` is counted there and left out (a
    problem with the whole file, such as its header or JSON syntax, always refuses it)."""
    if fmt in ("csv", "tsv"):
        yield from _delimited(stream, fmt, definition, faults)
    elif fmt == "jsonl":
        for number, raw in enumerate(stream, 1):
            if raw.strip():
                try:
                    yield _row(number, _json_object(raw, number), definition)
                except InvalidTable as exc:
                    refuse(exc, faults)
    elif fmt == "json":
        try:
            doc = json.loads(stream.read())
        except (UnicodeDecodeError, ValueError) as exc:
            raise InvalidTable(f"not valid JSON: {exc}") from None
        except RecursionError:
            raise InvalidTable("not valid JSON: too deeply nested") from None
        if not isinstance(doc, list):
            raise InvalidTable("a JSON table is an array of objects")
        for number, value in enumerate(doc, 1):
            try:
                if not isinstance(value, dict):
                    raise InvalidTable(f"element {number} is not an object", number)
                yield _row(number, value, definition)
            except InvalidTable as exc:
                refuse(exc, faults)
    else:
        raise InvalidTable(f"'{fmt}' is not a table format")


def _decoded_lines(stream: BinaryIO, faults: FaultLog | None = None) -> Iterator[str]:
    """The stream's lines as text, naming the exact line and byte of any invalid UTF-8 (with
    ``faults``: counted there, the line read as an empty one)."""
    for number, raw in enumerate(stream, 1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            refuse(InvalidTable(f"the line is not valid UTF-8 (byte {exc.start + 1} is 0x{raw[exc.start]:02x})",
                                 number), faults)
            text = "\n"
        yield text[1:] if number == 1 and text.startswith("\ufeff") else text


def _delimited(stream: BinaryIO, fmt: str, definition: Definition, faults: FaultLog | None) -> Iterator[Row]:
    lines = _decoded_lines(stream, faults)
    if fmt == "tsv":
        reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE, strict=True)
    else:
        reader = csv.reader(lines, strict=True)
    line = 1
    try:
        header = next(reader, None)
        if not header:
            raise InvalidTable("the table is empty (no header line)", 1)
        header = [h.strip() for h in header]
        _check_header(header, definition)
        line = reader.line_num + 1
        for cells in reader:
            try:
                if len(cells) > len(header):
                    raise InvalidTable(f"the row has {len(cells)} cells but the header has {len(header)}", line)
                if any(cells):
                    values = {name: cell for name, cell in zip(header, cells, strict=False) if cell != ""}
                    yield _row(line, _split_lists(values, definition), definition)
            except InvalidTable as exc:
                refuse(exc, faults)
            line = reader.line_num + 1
    except csv.Error as exc:  # the reader cannot go on past it
        rest = "; the rest of the file was not read" if faults is not None else ""
        refuse(InvalidTable(f"malformed {fmt.upper()}: {exc}{rest}", line), faults)


def _check_header(header: list[str], definition: Definition) -> None:
    seen: set[str] = set()
    for name in header:
        if name not in definition.by_name:
            raise InvalidTable(
                f"column '{name}' is not a field of register '{definition.register}' "
                f"(its fields: {', '.join(definition.field_names)})",
                1,
            )
        if name in seen:
            raise InvalidTable(f"column '{name}' appears twice", 1)
        seen.add(name)
    if definition.key_field and definition.key_field not in seen:
        raise InvalidTable(f"the table has no '{definition.key_field}' column (it holds the key)", 1)


def _split_lists(values: dict[str, str], definition: Definition) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in values.items():
        if definition.by_name[name].cardinality == "n":
            out[name] = value.split(";")
        else:
            out[name] = value
    return out


def _json_object(raw: bytes, number: int) -> dict[str, Any]:
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidTable(f"not a JSON object: {exc}", number) from None
    except RecursionError:
        raise InvalidTable("not a JSON object: too deeply nested", number) from None
    if not isinstance(value, dict):
        raise InvalidTable("not a JSON object", number)
    return value


def _row(number: int, item: dict[str, Any], definition: Definition) -> Row:
    key_field = definition.key_field
    if key_field is None:
        raise InvalidTable(f"register '{definition.register}' has no field named after it to take keys from")
    key = item.get(key_field)
    if not isinstance(key, str) or not key:
        raise InvalidTable(f"field '{key_field}' is missing: it holds the key", number)
    return Row(number, key, item)
