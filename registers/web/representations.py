"""How entries, records and items look: v1 JSON and CSV (``text/csv;charset=UTF-8``, CRLF rows)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

import orjson
from flask import Response, request

from ..core.entries import Entry
from .security import vary_on_accept

CSV_TYPE = "text/csv;charset=UTF-8"
JSON_TYPE = "application/json"
ENTRY_COLUMNS = ["index-entry-number", "entry-number", "entry-timestamp", "key", "item-hash"]


def _cell(value: Any) -> str:
    return ";".join(value) if isinstance(value, list) else ("" if value is None else str(value))


def csv_response(header: list[str], rows: Iterable[list[Any]], headers: dict[str, str] | None = None) -> Response:
    """A CSV answer with CRLF rows."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([_cell(v) for v in row])
    return Response(out.getvalue(), headers=headers, content_type=CSV_TYPE)


def entries_csv(entries: list[Entry], headers: dict[str, str] | None = None) -> Response:
    """Entries as CSV."""
    rows = ([e.number, e.number, e.timestamp, e.key, e.item_hashes] for e in entries)
    return csv_response(ENTRY_COLUMNS, rows, headers)


def records_csv(
    records: list[tuple[Entry, dict[str, Any]]], fields: list[str], headers: dict[str, str] | None = None
) -> Response:
    """Records as CSV, the register's fields in register order."""
    rows = ([e.number, e.number, e.timestamp, e.key, *(item.get(f) for f in fields)] for e, item in records)
    return csv_response(["index-entry-number", "entry-number", "entry-timestamp", "key", *fields], rows, headers)


def json_response(value: Any, headers: dict[str, str] | None = None) -> Response:
    """A JSON answer (``application/json``, compact UTF-8, members in the order given)."""
    return Response(orjson.dumps(value), headers=headers, content_type=JSON_TYPE)


def wants_html() -> bool:
    """Whether the request prefers HTML to JSON (a browser); no Accept header means JSON. The
    answer then varies with ``Accept``, and says so (``Vary: Accept``)."""
    vary_on_accept()
    accept = request.headers.get("Accept")
    if accept is None or _JAVA_DEFAULT.search(accept):
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


# Java's HttpURLConnection sends "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2" when a
# program sets no Accept: its bare "*" (no browser sends one) marks an API client, which always
# got JSON from an extensionless path and still does.
_JAVA_DEFAULT = re.compile(r"(?:^|,)\s*\*\s*(?:;|,|$)")
