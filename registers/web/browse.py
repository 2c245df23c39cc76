"""What the HTML pages show of a register's data, as the GOV.UK components' parameters.

- ``value_html``: a field's value as a person reads it: a cardinality-n field's values as a
  list, a linked field's value or a CURIE (``country:GB``) as a link to the linked record, a
  URL (http or https only) as a link with ``rel="nofollow"``; everything else as text. Data is
  always escaped (``markupsafe``): a ``<script>`` in a value shows as text.
- ``records_table``: a page of records as ``govukTable``'s parameters (caption, header scopes),
  an ended record carrying the tag "Ended".
- ``pagination``: ``govukPagination``'s parameters over keyset cursors: Next (``before=``, the
  last row's cursor) and Previous (``after=``, the first row's), and the page's number, carried
  in the URL (``page=``) for people only (it reads nothing: a page is found by its cursor).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from flask import request
from markupsafe import Markup, escape

from ..core.definitions import Definition, FieldDef
from ..service import is_current
from ..store.records import Record


def record_href(register: str, key: str) -> str:
    """The path of a record's page."""
    return f"/{quote(register, safe='')}/records/{quote(key, safe='')}"


def _link(href: str, text: str, rel: str | None = None) -> Markup:
    relation = Markup(' rel="{}"').format(rel) if rel else Markup("")
    return Markup('<a class="govuk-link" href="{}"{}>{}</a>').format(href, relation, text)


def _one(value: Any, field: FieldDef | None, known: KnownRegisters) -> Markup:
    text = value if isinstance(value, str) else str(value)
    if field is not None and field.register and text:
        return _link(record_href(field.register, text), text)
    if field is not None and field.datatype == "curie" and ":" in text:
        target, _, key = text.partition(":")
        if target in known and key:
            return _link(record_href(target, key), text)
    if field is not None and field.datatype == "url" and _web_address(text):
        return _link(text, text, "nofollow")
    return escape(text)


def _web_address(text: str) -> bool:
    """Whether ``text`` is an http or https URL with a host (nothing else becomes a link)."""
    try:
        parts = urlsplit(text)
    except ValueError:  # an unclosed IPv6 bracket, say
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class KnownRegisters:
    """The registers a CURIE may name (any, when not known)."""

    def __init__(self, names: Sequence[str] | None = None) -> None:
        self.names = set(names) if names is not None else None

    def __contains__(self, name: object) -> bool:
        return self.names is None or name in self.names


ANY = KnownRegisters()


def value_html(value: Any, field: FieldDef | None, known: KnownRegisters = ANY) -> Markup:
    """A field's value as HTML (see the module's docstring)."""
    if isinstance(value, list):
        items = Markup("").join(Markup("<li>{}</li>").format(_one(v, field, known)) for v in value)
        return Markup('<ul class="govuk-list">{}</ul>').format(items)
    return _one(value, field, known)


def ended_tag() -> Markup:
    return Markup('<strong class="govuk-tag govuk-tag--grey">Ended</strong>')


def records_table(register: str, definition: Definition, found: Sequence[Record], caption: str,
                  today: str) -> dict[str, Any]:
    """``govukTable``'s parameters for a page of records: the key (a link to the record), up to
    three more fields, whether it has ended, its latest entry."""
    shown = [f for f in definition.fields if f.name != definition.key_field][:3]
    head = [{"text": "Key"}, *({"text": f.name} for f in shown), {"text": "Status"}, {"text": "Entry"}]
    rows = []
    for rec in found:
        key = rec.entry.key
        status = ended_tag() if not is_current(rec.item, today) else Markup("")
        rows.append([
            {"html": _link(record_href(register, key), key)},
            *({"html": value_html(rec.item[f.name], f) if f.name in rec.item else ""} for f in shown),
            {"html": status},
            {"html": _link(f"/{quote(register, safe='')}/entries/{rec.entry.number}", str(rec.entry.number))},
        ])
    return {"caption": caption, "captionClasses": "govuk-table__caption--m", "firstCellIsHeader": True,
            "head": head, "rows": rows}


def query_path(base: str, args: Mapping[str, str | int | None]) -> str:
    """``base`` with the query ``args`` (those not None), in the order given."""
    kept = {name: value for name, value in args.items() if value is not None and value != ""}
    return base + ("?" + urlencode(kept) if kept else "")


def pagination(base: str, keep: Mapping[str, str | int | None], page: int, *, next_cursor: int | None = None,
               previous_cursor: int | None = None, label: str = "Pages") -> dict[str, Any] | None:
    """``govukPagination``'s parameters: Next (``before=next_cursor``), Previous
    (``after=previous_cursor``), a link to page 1 and this page's number (``aria-current``);
    None when there is one page only."""
    params: dict[str, Any] = {"landmarkLabel": label}
    if next_cursor is not None:
        params["next"] = {"href": query_path(base, {**keep, "before": next_cursor, "page": page + 1})}
    if previous_cursor is not None:
        params["previous"] = {"href": query_path(base, {**keep, "after": previous_cursor, "page": max(page - 1, 1)})}
    if "next" not in params and "previous" not in params:
        return None
    items: list[dict[str, Any]] = []
    if page > 1:
        items.append({"number": 1, "href": query_path(base, keep)})
    if page > 2:
        items.append({"ellipsis": True})
    items.append({"number": page, "href": request.full_path.rstrip("?"), "current": True})
    params["items"] = items
    return params


def numbered_pagination(base: str, keep: Mapping[str, str | int | None], start: int, limit: int, size: int,
                        label: str = "Pages of entries") -> dict[str, Any] | None:
    """``govukPagination``'s parameters for a log's entries, numbered from 1 with no gaps, so
    every page has a number and a start (``start=``): Previous, Next, the first and last pages
    and those beside this one; None when one page holds them all."""
    if size <= limit and start == 1:
        return None
    page = (start - 2) // limit + 2 if start > 1 else 1  # a start between pages counts as the later
    last = page + max(0, -(-(size - (start + limit - 1)) // limit))

    def start_of(number: int) -> int:
        return max(1, start + (number - page) * limit)

    def href(number: int) -> str:
        first = start_of(number)
        return query_path(base, {**keep, "start": first if first > 1 else None, "limit": limit})

    params: dict[str, Any] = {"landmarkLabel": label}
    if start > 1:
        params["previous"] = {"href": href(page - 1)}
    if start + limit <= size:
        params["next"] = {"href": href(page + 1)}
    items: list[dict[str, Any]] = []
    shown = sorted(n for n in {1, page - 1, page, page + 1, last} if 1 <= n <= last)  # never a range of every page
    for number, following in zip(shown, [*shown[1:], None], strict=True):
        items.append({"number": number, "href": href(number), "current": number == page})
        if following is not None and following > number + 1:
            items.append({"ellipsis": True})
    params["items"] = items
    return params


def entries_table(register: str, entries: Sequence[Any], caption: str, system: bool = False,
                  items: Mapping[bytes, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """``govukTable``'s parameters for a page of entries: number, timestamp, key and items (a
    user entry's items as links; a system entry's as their fields)."""
    reg = quote(register, safe="")
    rows = []
    for found in entries:
        number: Markup | str = str(found.number)
        key: Markup | str = escape(found.key)  # a system key may be anything a loaded RSF held
        if not system:
            number = _link(f"/{reg}/entries/{found.number}", str(found.number))
            key = _link(record_href(register, found.key), found.key)
        if items is not None:
            held = Markup("").join(
                Markup('<code class="registers-code">{}</code>').format(
                    ", ".join(f"{name}: {value if isinstance(value, str) else '; '.join(map(str, value))}"
                              for name, value in items.get(digest, {}).items()))
                for digest in found.digests)
        else:
            held = Markup("<br>").join(_link(f"/{reg}/items/sha-256:{digest.hex()}", f"sha-256:{digest.hex()[:12]}…")
                                       for digest in found.digests)
        rows.append([{"html": number}, {"text": found.timestamp}, {"html": key}, {"html": held}])
    return {"caption": caption, "captionClasses": "govuk-table__caption--m", "firstCellIsHeader": True,
            "head": [{"text": "Entry"}, {"text": "Timestamp"}, {"text": "Key"},
                     {"text": "Item" if system else "Items"}], "rows": rows}
