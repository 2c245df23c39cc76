"""The v1 API of each register, at ``/<register>/``: entries, records, items, downloads, proofs.

Reads go straight to the store (plain queries, one read transaction per request); nothing here
writes. A ``.json`` or ``.csv`` suffix chooses the representation (JSON by default).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import date
from urllib.parse import quote, urlencode

from flask import Blueprint, Response, redirect, render_template, request
from sqlalchemy.engine import Connection

from .. import service
from ..core.definitions import Definition
from ..core.entries import Entry, Log, entry_json, record_json, record_json_bytes
from ..core.items import hash_text, parse_hash
from ..core.rsf import MEDIA_TYPE as RSF_TYPE
from ..loaders.record_files import records_csv_chunks, records_jsonl_chunks
from ..loaders.rsf import export_rsf_chunks
from ..loaders.v1zip import register_zip_chunks
from ..service import NoDefinition, definition_of, is_current
from ..store import reads, records, search
from ..store.engine import snapshot
from ..store.fields import indexed_fields
from ..store.system import system_records
from . import browse
from .answers import (
    CORS,
    IMMUTABLE,
    attachment,
    conditional,
    link_headers,
    reading,
    register_id_of,
    streamed,
    whole_number,
)
from .problems import BadRequest, NotFound, TooLarge
from .representations import JSON_TYPE, csv_response, entries_csv, json_response, records_csv, wants_html
from .security import public_domain, public_origin
from .state import state

blueprint = Blueprint("api", __name__, url_prefix="/<register>")
PROOF = "merkle:sha-256"


def _definition(conn: Connection, reg_id: int, register: str) -> Definition:
    """The register's definition, or an empty one for a register loaded from a bare RSF."""
    try:
        return definition_of(conn, reg_id, register)
    except NoDefinition:
        return Definition(register, ())


def _split_format(path: str) -> tuple[str, str]:
    """The path without its ``.json``/``.csv`` suffix, and the representation asked for
    (the suffix beats ``Accept``; a browser asking for HTML gets the page)."""
    for suffix in (".json", ".csv"):
        if path.endswith(suffix):
            return path[: -len(suffix)], suffix[1:]
    return path, "html" if wants_html() else "json"


@blueprint.get("/")
def register_page(register: str) -> Response | str:
    """The register's HTML page: what it is (its definition, custodian, licence), its downloads,
    how to use its API, links to its proposals, quality report and how to verify it, and its
    records a page at a time (``records_view``)."""
    return _records_view(register, f"/{quote(register, safe='')}/", "register.html")


def _records_view(register: str, base: str, template: str) -> str:
    """A page of records for a person: newest first, ``page-size`` (default REGISTERS_PAGE_SIZE)
    a page, paged by keyset cursors both ways (Next: ``before``, the entry number of the page's
    last record; Previous: ``after``, its first's), ended records tagged, ``current=true`` leaving
    them out; ``q`` finds records by the words of their key, name and the fields marked for
    search (store/search.py), paged by rank the same way both ways. Every page reads about a
    page of records at any depth."""
    args = request.args
    settings = state().settings
    query = args.get("q", "").strip()
    size = whole_number(args.get("page-size"), "page-size", settings.page_size, 1, settings.max_page_size)
    before = whole_number(args.get("before"), "before", 0, 1) or None
    after = None if before is not None or args.get("after") is None else whole_number(args.get("after"), "after", 0, 0)
    page = whole_number(args.get("page"), "page", 1, 1, 10**12)
    current = _flag(args.get("current"), "current")
    as_of = whole_number(args.get("as-of"), "as-of", 0, 1) or None
    if as_of is not None and query:
        raise BadRequest("a search (q) finds current records: it cannot be combined with as-of")
    today = date.today().isoformat()
    keep = {"q": query or None, "current": "true" if current else None, "as-of": as_of,
            "page-size": size if size != settings.page_size else None}
    next_cursor = previous_cursor = top = None
    index = 1
    with reading(register) as (conn, reg_id):
        head = reads.head(conn, reg_id)
        definition = _definition(conn, reg_id, register)
        if query:
            keeping = (lambda rec: is_current(rec.item, today)) if current else None
            hits = search.find(conn, reg_id, _query_words(query), size, before, keeping, after)
            found = hits.records
            top = hits.ranks[0] if hits.ranks else None
            if after is not None:  # Previous: the matches just above the rank ``after``
                next_cursor = hits.ranks[-1] if hits.ranks else after + 1
                previous_cursor = hits.resume if hits.more else None
                page = max(page, 2) if hits.more else 1
            else:
                next_cursor = hits.resume if hits.more else None
                if before is not None:
                    previous_cursor = hits.ranks[0] if hits.ranks else before - 1
                    page = max(page, 2)
                else:
                    page = 1
        elif after is not None:
            found, previous_cursor = _record_page_after(conn, reg_id, size, after, current, today, as_of)
            next_cursor = found[-1].entry.number if found else after + 1  # the page this one was reached from
            page = max(page, 2) if previous_cursor is not None else 1
        else:
            # an old link's page-index is honoured as the API honours it (to REGISTERS_PAGE_INDEX_DEPTH)
            index = 1 if before is not None else whole_number(args.get("page-index"), "page-index", 1, 1)
            found, next_cursor = _record_page(conn, reg_id, size, page=index, before=before, current=current,
                                              as_of=as_of)
            if before is not None or index > 1:
                previous_cursor = found[0].entry.number if found else (before or 1) - 1
                page = index if index > 1 else max(page, 2)
            else:
                page = 1
        overview = _overview(conn, reg_id, register, head) if template == "register.html" else {}
    pager = browse.pagination(base, keep, page, next_cursor=next_cursor, previous_cursor=previous_cursor,
                              label="Pages of records")
    caption = f"Records found by “{query}”" if query else (
        f"Records as they stood after entry {as_of}, newest first" if as_of else "Records, newest first")
    caption += f", page {page}" if page > 1 else ""
    table = browse.records_table(register, definition, found, caption, today)
    if not query:
        top = found[0].entry.number if found else None
    # the API's page holding what this page shows: from its first row on (page 1: the API's first)
    twin_at: dict[str, int | None] = {}
    if page > 1 and top is not None:
        twin_at["before"] = top + 1
    elif page > 1 and index > 1:  # an old page-index link past the last record: the API's same page
        twin_at["page-index"] = index
    elif page > 1:
        twin_at["before"] = before
    twin = browse.query_path(f"/{quote(register, safe='')}/records", {
        "q": query or None, "current": "true" if current else None, "as-of": as_of, "page-size": size, **twin_at})
    return render_template(
        template, register=register, title=definition.title or register, text=definition.text,
        definition=definition, head=head, root=hash_text(head.user_root), records=found, table=table,
        pagination=pager, query=query, current=current, page=page,
        json_twin=twin.replace("/records", "/records.json", 1), csv_twin=twin.replace("/records", "/records.csv", 1),
        **overview,
    )


def _record_page_after(
    conn: Connection, reg_id: int, size: int, after: int, current: bool, today: str, as_of: int | None = None,
) -> tuple[list[records.Record], int | None]:
    """The ``size`` records just newer than entry ``after`` (the page before the one whose first
    record it is), newest first, and the cursor (``after=``) of the page before it (None: this is
    the first): a forwards walk of that page only, at most ``search.walk_limit`` rows."""
    kept: list[records.Record] = []
    want = size + 1
    walked = 0
    while True:
        found = records.record_page(conn, reg_id, want, as_of, after=after)[::-1]  # oldest first
        walked += len(found)
        kept += [rec for rec in found if not current or is_current(rec.item, today)]
        if len(kept) > size or len(found) < want:
            break
        after = found[-1].entry.number
        if walked >= search.walk_limit(want):
            return kept[::-1], after  # stopped short: the page before goes on from here
    return kept[:size][::-1], kept[size - 1].entry.number if len(kept) > size else None


def _overview(conn: Connection, reg_id: int, register: str, head: reads.Head) -> dict[str, object]:
    """What the register's page shows beside its records: the custodian, the latest update."""
    latest = next(reads.iter_entries(conn, reg_id, Log.USER, head.user_size), None) if head.user_size else None
    custodian = system_records(conn, reg_id, head.system_root).get("custodian", {}).get("custodian")
    return {"custodian": custodian if isinstance(custodian, str) and custodian else None,
            "last_updated": latest.timestamp if latest else None, "origin": public_origin()}


def _query_words(query: str) -> list[str]:
    """The words a search ``q`` must match (store/search.py); 400 for one of too many words."""
    try:
        return search.query_words(query)
    except search.QueryTooLong as exc:
        raise BadRequest(str(exc)) from None


@blueprint.get("/register")
@blueprint.get("/register.json")
def register_info(register: str) -> Response:
    """Totals, the latest update, the register's own definition record, its custodian's name
    (as GOV.UK's server gave it: left out when there is none) and its fields' definitions
    (datatype, cardinality, linked register), in register order. A browser at ``/register``
    gets the register's page, which shows all of this."""
    if request.path.endswith("/register") and wants_html():
        return register_page(register)  # type: ignore[return-value]
    with reading(register) as (conn, reg_id):
        head = reads.head(conn, reg_id)
        latest = next(reads.iter_entries(conn, reg_id, Log.USER, head.user_size), None) if head.user_size else None
        definition = _definition(conn, reg_id, register)
        custodian = system_records(conn, reg_id, head.system_root).get("custodian", {}).get("custodian")
        body = {
            "domain": public_domain(),  # REGISTERS_SERVER_NAME's host, else REGISTERS_ORIGIN: never Host
            "total-records": head.user_records,
            "total-entries": head.user_size,
            "last-updated": latest.timestamp if latest else None,
            "register-record": definition.register_item(),
            **({"custodian": custodian} if isinstance(custodian, str) and custodian else {}),
            "fields": [f.item() for f in definition.fields],  # beyond v1: what each field holds
        }
    return conditional(json_response(body, CORS), f"register-{head.user_root.hex()}-{head.system_root.hex()}")


@blueprint.get("/entries", defaults={"fmt": "json"})
@blueprint.get("/entries.<any(json,csv):fmt>")
def entries(register: str, fmt: str) -> Response:
    """Entries oldest first from ``start`` (an entry number), ``limit`` at a time (at most 5000);
    for a browser (``/entries`` asked for HTML), the page of them."""
    settings = state().settings
    limit = whole_number(request.args.get("limit"), "limit", settings.page_size, 1, settings.max_page_size)
    html = request.path.endswith("/entries") and wants_html()
    with reading(register) as (conn, reg_id):
        size = reads.head(conn, reg_id).user_size
        start = whole_number(request.args.get("start"), "start", 1, 1)
        found = list(reads.iter_entries(conn, reg_id, Log.USER, start, min(size, start + limit - 1)))
        if html:
            title = _definition(conn, reg_id, register).title or register
            return entries_page(register, title, found, start, limit, size)  # type: ignore[return-value]
    pairs = []
    if start + limit <= size:
        pairs.append(("next", f"?start={start + limit}&limit={limit}"))
    if start > 1:
        pairs.append(("previous", f"?start={max(1, start - limit)}&limit={limit}"))
    headers = link_headers(pairs)
    response = entries_csv(found, headers) if fmt == "csv" else json_response([entry_json(e) for e in found], headers)
    last = found[-1].number if found else 0
    return conditional(response, f"entries-{start}-{last}-{limit}-{fmt}")  # entries never change


def entries_page(register: str, title: str, found: list[Entry], start: int, limit: int, size: int,
                 system: bool = False, items: dict[bytes, dict[str, object]] | None = None) -> str:
    """A page of a log's entries for a person (the user log, or with ``system`` the system log,
    its items' fields shown), paged by entry number with numbered pages."""
    base = f"/{quote(register, safe='')}/{'system/' if system else ''}entries"
    page = (start - 2) // limit + 2 if start > 1 else 1
    caption = ("System entries" if system else "Entries") + f", oldest first, page {page}"
    twin = browse.query_path(base, {"start": start if start > 1 else None,
                                    "limit": limit if limit != state().settings.page_size else None})
    return render_template(
        "entries.html", register=register, title=title, system=system, page=page, size=size,
        table=browse.entries_table(register, found, caption, system, items),
        pagination=browse.numbered_pagination(base, {}, start, limit, size) if found or start > 1 else None,
        json_twin=twin.replace("/entries", "/entries.json", 1),
        csv_twin=twin.replace("/entries", "/entries.csv", 1) if not system else None,
    )


@blueprint.get("/entries/<path:number>")
def entry(register: str, number: str) -> Response:
    """One entry, as a one-element list."""
    text, fmt = _split_format(number)
    n = whole_number(text, "entry number", 1, 1)
    with reading(register) as (conn, reg_id):
        found = list(reads.iter_entries(conn, reg_id, Log.USER, n, n))
        if found and fmt == "html":
            items = reads.item_contents(conn, reg_id, list(found[0].digests))
            definition = _definition(conn, reg_id, register)
            known = browse.KnownRegisters(reads.register_names(conn))
            return render_template(  # type: ignore[return-value]
                "entry.html", register=register, entry=found[0], title=definition.title or register,
                items=[(hash_text(d), _summary_rows(known, definition, json.loads(items[d])))
                       for d in found[0].digests if d in items],
                record_href=browse.record_href(register, found[0].key),
            )
    if not found:
        raise NotFound(f"register '{register}' has no entry {n}")
    headers = IMMUTABLE
    response = entries_csv(found, headers) if fmt == "csv" else json_response([entry_json(found[0])], headers)
    return conditional(response, f"entry-{n}-{fmt}")


@blueprint.get("/items/<path:digest>")
def item(register: str, digest: str) -> Response:
    """One item by its hash."""
    text, fmt = _split_format(digest)
    try:
        raw = parse_hash(text)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    with reading(register) as (conn, reg_id):
        blob = reads.item_contents(conn, reg_id, [raw]).get(raw)
        if blob is not None and fmt == "html":
            definition = _definition(conn, reg_id, register)
            rows = _summary_rows(browse.KnownRegisters(reads.register_names(conn)), definition, json.loads(blob))
            return render_template(  # type: ignore[return-value]
                "item.html", register=register, title=definition.title or register, digest=text, rows=rows,
                href=f"/{quote(register, safe='')}/items/{text}")
        fields = _definition(conn, reg_id, register).field_names if fmt == "csv" and blob else []
    if blob is None:
        raise NotFound(f"register '{register}' has no item {text}")
    headers = IMMUTABLE
    if fmt == "csv":
        value = json.loads(blob)
        return conditional(csv_response(fields, [[value.get(f) for f in fields]], headers), f"{text}-csv")
    return conditional(Response(blob, content_type="application/json", headers=headers), f"{text}-json")


def _record_page(
    conn: Connection, reg_id: int, size: int, *, page: int = 1, before: int | None = None,
    current: bool = False, as_of: int | None = None,
) -> tuple[list[records.Record], int | None]:
    """One page of records newest first: after the keyset cursor ``before`` (a walk of that
    page only), or by ``page`` (a walk past the earlier pages, kept for old clients while it
    skips at most REGISTERS_PAGE_INDEX_DEPTH records); and the cursor of the next page (None:
    no more follow). With ``current``, a walk reads at most ``search.walk_limit`` rows: past a
    long run of ended records the page comes back short, its cursor where the walk stopped."""
    skip = 0 if before is not None else (page - 1) * size
    depth = state().settings.page_index_depth
    if skip > depth:
        raise TooLarge(
            f"page-index={page} with page-size={size} skips {skip} records, more than {depth}: follow "
            "the Link: next header instead, whose before=N cursor (the entry number of the last record of a "
            "page) reads only the page asked for"
        )
    today = date.today().isoformat()
    out: list[records.Record] = []
    want = skip + size + 1  # the page, and one more to say whether more follow
    walked = 0
    while True:
        found = records.record_page(conn, reg_id, want, as_of, before)
        walked += len(found)
        for rec in found:
            if current and not is_current(rec.item, today):
                continue
            if skip:
                skip -= 1
                continue
            if len(out) == size:
                return out, out[-1].entry.number
            out.append(rec)
        if len(found) < want:
            return out, None
        before = found[-1].entry.number
        if walked >= search.walk_limit(want) and not skip:
            return out, before  # a page mostly of ended records stops short, saying where


@blueprint.get("/records", defaults={"fmt": "json"})
@blueprint.get("/records.<any(json,csv):fmt>")
def record_list(register: str, fmt: str) -> Response:
    """Records newest first, ``page-size`` (default 100, at most 5000) a page; ``page-index``
    (from 1) or the keyset cursor ``before`` that ``Link: next`` carries; ``current=true`` leaves
    out ended records; ``as-of=N`` gives the records as they stood after entry N; ``q`` finds
    records by word instead (``_search_list``)."""
    if request.path.endswith("/records") and wants_html():  # a browser: the page (JSON otherwise, as before)
        return _records_view(register, f"/{quote(register, safe='')}/records", "records.html")  # type: ignore[return-value]
    args = request.args
    settings = state().settings
    size = whole_number(args.get("page-size"), "page-size", settings.page_size, 1, settings.max_page_size)
    page = whole_number(args.get("page-index"), "page-index", 1, 1)
    before = whole_number(args.get("before"), "before", 0, 1) or None
    as_of = whole_number(args.get("as-of"), "as-of", 0, 1) or None
    current = _flag(args.get("current"), "current")
    if args.get("q", "").strip():
        return _search_list(register, fmt, args["q"], size, page, before, current, as_of)
    with reading(register) as (conn, reg_id):
        found, following = _record_page(conn, reg_id, size, page=page, before=before, current=current, as_of=as_of)
        fields = _definition(conn, reg_id, register).field_names if fmt == "csv" else []
        root = reads.head(conn, reg_id).user_root.hex()
    keep = ("&current=true" if current else "") + (f"&as-of={as_of}" if as_of else "")  # parsed values only
    pairs = []
    if following is not None:
        pairs.append(("next", f"?page-size={size}&before={following}{keep}"))
    if before is None and page > 1:
        pairs.append(("previous", f"?page-index={page - 1}&page-size={size}{keep}"))
    response = _records_answer(found, fmt, fields, link_headers(pairs))
    return conditional(response, f"{root}-{request.query_string.decode()}-{fmt}")


def _flag(text: str | None, what: str) -> bool:
    """``true`` or ``false`` (absent: false); BadRequest otherwise (it is never echoed)."""
    if text is None or text == "false":
        return False
    if text == "true":
        return True
    raise BadRequest(f"{what} must be true or false")


def _search_list(
    register: str, fmt: str, query: str, size: int, page: int, before: int | None, current: bool, as_of: int | None,
) -> Response:
    """``records?q=``: the current records matching every word of ``q`` (store/search.py), those
    without an end-date first, then ended ones, each newest first; ``before`` is the rank
    ``Link: next`` carries (``page-index`` walks up to REGISTERS_PAGE_INDEX_DEPTH records)."""
    if as_of is not None:
        raise BadRequest("a search (q) finds current records: it cannot be combined with as-of")
    words = _query_words(query)
    skip = 0 if before is not None else (page - 1) * size
    depth = state().settings.page_index_depth
    if skip > depth:
        raise TooLarge(
            f"page-index={page} with page-size={size} skips {skip} records, more than {depth}: follow the "
            "Link: next header instead, whose before=N cursor (the rank of the last record of a page) reads only "
            "the page asked for"
        )
    today = date.today().isoformat()
    keep = (lambda rec: is_current(rec.item, today)) if current else None
    with reading(register) as (conn, reg_id):
        hits = search.find(conn, reg_id, words, skip + size, before, keep)
        fields = _definition(conn, reg_id, register).field_names if fmt == "csv" else []
        root = reads.head(conn, reg_id).user_root.hex()
        searched = ",".join(search.marked_fields(conn, reg_id))  # marking a field changes the answers
    found = hits.records[skip:]
    keep_args = "&current=true" if current else ""
    pairs = []
    if hits.more and hits.resume is not None:
        pairs.append(("next", f"?{urlencode({'q': query})}&page-size={size}&before={hits.resume}{keep_args}"))
    if before is None and page > 1:
        pairs.append(("previous", f"?{urlencode({'q': query})}&page-index={page - 1}&page-size={size}{keep_args}"))
    response = _records_answer(found, fmt, fields, link_headers(pairs))
    return conditional(response, f"{root}-{searched}-{request.query_string.decode()}-{fmt}")


def _records_answer(found: list[records.Record], fmt: str, fields: list[str], headers: dict[str, str]) -> Response:
    if fmt == "csv":
        return records_csv([(r.entry, r.item) for r in found], fields, headers)
    return json_response({r.entry.key: record_json(r.entry, r.items) for r in found}, headers)


@blueprint.get("/records/<path:rest>")
def record_paths(register: str, rest: str) -> Response:
    """``records/{key}``, ``records/{key}/entries`` and ``records/{field}/{value}``."""
    path, fmt = _split_format(rest)
    parts = path.split("/")
    if fmt == "json" and len(parts) == 1:
        return _record(register, path)
    with reading(register) as (conn, reg_id):
        if len(parts) == 2 and parts[1] == "entries":
            if fmt == "html":
                return _history_page(conn, reg_id, register, parts[0])  # type: ignore[return-value]
            return _history_answer(conn, reg_id, register, parts[0], fmt)
        # the definition (a few queries) is read only when the answer needs it
        definition = _definition(conn, reg_id, register) if len(parts) == 2 or fmt != "json" else None
        if definition is not None and len(parts) == 2 and parts[0] in definition.by_name:
            return _records_by_value(conn, reg_id, register, definition, parts[0], parts[1], fmt, path)
        key = path
        found = list(records.current_records(conn, reg_id, [key]).values())
        if not found:
            raise NotFound(f"register '{register}' has no record '{key}'")
        assert definition is not None
        if fmt == "html":
            return _record_page_html(conn, reg_id, register, definition, found[0])  # type: ignore[return-value]
        response = _records_answer(found, fmt, definition.field_names, _history_link(register, key))
        return conditional(response, f"record-{key}-{found[0].entry.number}-{fmt}")


def _summary_rows(
    known: browse.KnownRegisters, definition: Definition, item: dict[str, object],
) -> list[dict[str, object]]:
    """``govukSummaryList``'s rows for an item: its fields in register order (then any the
    definition does not name), each value as ``browse.value_html`` shows it (a CURIE links only
    to a register of ``known``)."""
    names = [f for f in definition.field_names if f in item] + sorted(set(item) - set(definition.field_names))
    own = definition.key_field  # the record's own key: text, not a link to itself
    return [{"key": {"text": name},
             "value": {"html": browse.value_html(item[name], None if name == own else definition.by_name.get(name),
                                                 known)}}
            for name in names]


def _record_page_html(
    conn: Connection, reg_id: int, register: str, definition: Definition, found: records.Record,
) -> str:
    """A record for a person: a summary list of its fields, whether it has ended, its entry."""
    key = found.entry.key
    return render_template(
        "record.html", register=register, title=definition.title or register, key=key, entry=found.entry,
        rows=_summary_rows(browse.KnownRegisters(reads.register_names(conn)), definition, found.item),
        ended=not is_current(found.item), href=browse.record_href(register, key),
    )


def _history_answer(conn: Connection, reg_id: int, register: str, key: str, fmt: str) -> Response:
    """``records/{key}/entries`` for an API client: the key's entries oldest first, as GOV.UK's
    server gave them, at most ``REGISTERS_MAX_PAGE_SIZE`` of them, then ``Link: next``
    (``after=``, the last entry's number) to the rest."""
    size = state().settings.max_page_size
    after = whole_number(request.args.get("after"), "after", 0, 0) or None
    history = records.key_history_page(conn, reg_id, key, size + 1, after=after, newest_first=False)
    if not history and after is None:
        raise NotFound(f"register '{register}' has no record '{key}'")
    more, history = len(history) > size, history[:size]
    headers = link_headers([("next", f"?after={history[-1].number}")]) if more else CORS
    listed = [entry_json(e) for e in history]
    answer = entries_csv(history, headers) if fmt == "csv" else json_response(listed, headers)
    last = history[-1].number if history else after
    return conditional(answer, f"history-{key}-{after}-{last}-{more}-{fmt}")


HISTORY_PAGE = 20  # the lines of a history page for a person (each line is a record in full)


def _history_page(conn: Connection, reg_id: int, register: str, key: str) -> str:
    """A record's history for a person: its entries newest first, ``page-size`` (default 20, at
    most 100) a page, paged by entry number both ways (Next: ``before``; Previous: ``after``),
    each with its fields and who made the change and why (``service.change_for``: a few index
    probes a line, whatever the register's size)."""
    args = request.args
    size = whole_number(args.get("page-size"), "page-size", HISTORY_PAGE, 1, 100)
    before = whole_number(args.get("before"), "before", 0, 1) or None
    after = None if before is not None else (whole_number(args.get("after"), "after", 0, 0)
                                             if args.get("after") is not None else None)
    page = whole_number(args.get("page"), "page", 1, 1, 10**12)
    found = records.key_history_page(conn, reg_id, key, size + 1, before=before, after=after)
    if after is not None:  # Previous: the lines just newer than ``after``, newest first
        newer, found = len(found) > size, found[-size:]
        next_cursor = found[-1].number if found else None
        previous_cursor = found[0].number if newer and found else None
        page = max(page, 2) if newer else 1
    else:
        more, found = len(found) > size, found[:size]
        next_cursor = found[-1].number if more and found else None
        previous_cursor = (found[0].number if found else before - 1) if before is not None else None
        page = max(page, 2) if before is not None else 1
    if not found and before is None and after is None:
        raise NotFound(f"register '{register}' has no record '{key}'")
    newest = records.current_entries(conn, reg_id, [key]).get(key)
    definition = _definition(conn, reg_id, register)
    known = browse.KnownRegisters(reads.register_names(conn))
    lines = []
    for rec in records.with_items(conn, reg_id, found):
        lines.append({"entry": rec.entry, "note": service.change_for(conn, reg_id, rec.entry.number),
                      "rows": _summary_rows(known, definition, rec.item), "ended": not is_current(rec.item),
                      "now": newest is not None and rec.entry.number == newest.number})
    href = browse.record_href(register, key)
    keep = {"page-size": size if size != HISTORY_PAGE else None}
    pager = browse.pagination(f"{href}/entries", keep, page, next_cursor=next_cursor,
                              previous_cursor=previous_cursor, label="Pages of this record's history")
    return render_template(
        "history.html", register=register, title=definition.title or register, key=key, lines=lines,
        href=href, pagination=pager, page=page,
    )


def _history_link(register: str, key: str) -> dict[str, str]:
    """A record's headers: ``Link`` to its history, ``rel="version-history"``, as GOV.UK's server gave."""
    history = f"/{quote(register)}/records/{quote(key, safe='/')}/entries"
    return {**CORS, "Link": f'<{history}>; rel="version-history"'}


def _records_by_value(
    conn: Connection, reg_id: int, register: str, definition: Definition, field: str, value: str, fmt: str, path: str,
) -> Response:
    """``records/{field}/{value}``: the current records whose ``field`` holds ``value``, newest
    first, ``page-size`` a page with ``Link: next``. A field without an index is looked up by a
    scan, refused (422) on a register of more than REGISTERS_LOOKUP_SCAN_MAX records."""
    settings = state().settings
    size = whole_number(request.args.get("page-size"), "page-size", settings.page_size, 1, settings.max_page_size)
    before = whole_number(request.args.get("before"), "before", 0, 1) or None
    head = reads.head(conn, reg_id)
    most = settings.lookup_scan_max
    indexed = field in indexed_fields(conn, reg_id)
    if not indexed and head.user_records > most:
        raise TooLarge(
            f"register '{register}' has {head.user_records} records and its field '{field}' has no index: a lookup "
            f"by value would read them all (more than {most}); the custodian makes it fast with "
            f"'registers index {register} {field}'"
        )
    holders = records.iter_records_with_value(conn, reg_id, field, value, before, size + 1, indexed)
    found = list(itertools.islice(holders, size + 1))
    pairs = []
    if len(found) > size:
        found = found[:size]
        pairs.append(("next", f"?page-size={size}&before={found[-1].entry.number}"))
    response = _records_answer(found, fmt, definition.field_names, link_headers(pairs))
    return conditional(response, f"{head.user_root.hex()}-{path}-{request.query_string.decode()}-{fmt}")


def _record(register: str, key: str) -> Response:
    """``records/{key}`` as JSON: the hot path, one statement (see store.lookup)."""
    found = state().lookup.record(register_id_of(None, register), key)
    if found is None:
        raise NotFound(f"register '{register}' has no record '{key}'")
    etag = f"{found.number}.json"  # the record of a key changes only with its latest entry
    headers = {**_history_link(register, key), "ETag": f'"{etag}"'}
    # RFC 9110 §13.1.2: If-None-Match compares weakly, so W/"6.json" matches too
    if "If-None-Match" in request.headers and request.if_none_match.contains_weak(etag):
        return Response(status=304, headers=headers)
    body = record_json_bytes(found.number, found.timestamp, key, found.contents)
    return Response(body, headers=headers, content_type=JSON_TYPE)


@blueprint.get("/download-rsf", defaults={"start": None, "end": None})
@blueprint.get("/download-rsf/<int:start>", defaults={"end": None})
@blueprint.get("/download-rsf/<int:start>/<int:end>")
def download_rsf(register: str, start: int | None, end: int | None) -> Response:
    """The register as RSF, streamed: whole, from entry ``start`` (exclusive), or up to ``end``."""
    engine = state().engine
    with reading(register) as (conn, reg_id):
        head = reads.head(conn, reg_id)
    first = start or 0
    last = head.user_size if end is None else end
    if not 0 <= first <= last <= head.user_size:
        raise BadRequest(f"a download needs 0 <= {first} <= {last} <= {head.user_size}")

    def generate() -> Iterator[bytes]:
        with snapshot(engine) as conn:  # one snapshot for the whole dump; the log only grew since
            yield from export_rsf_chunks(conn, reg_id, reads.head(conn, reg_id), first, last)

    # A patch first+1..last never changes. A dump to the head changes as the log grows, and one
    # from 0 carries every system entry, so it changes when the system log does.
    headers = {**(IMMUTABLE if first > 0 and end is not None else CORS), **attachment(f"{register}.rsf")}
    response = Response(streamed(generate()), content_type=RSF_TYPE, headers=headers)
    return conditional(response, f"rsf-{first}-{last}-{head.system_size if first == 0 else ''}")


@blueprint.get("/download-register")
def download_register(register: str) -> Response:
    """The v1 zip: ``register.json``, ``item/<hex>.json`` and ``entry/<n>.json``, streamed as it
    is made, in memory that does not grow with the register (loaders.v1zip; ZIP64 when large)."""
    engine = state().engine
    with reading(register) as (conn, reg_id):
        head = reads.head(conn, reg_id)
        info = {"register": register, "total-entries": head.user_size, "root-hash": hash_text(head.user_root),
                "register-record": _definition(conn, reg_id, register).register_item()}

    def generate() -> Iterator[bytes]:
        with snapshot(engine) as conn:  # one snapshot for the whole zip; the log only grew since
            yield from register_zip_chunks(conn, reg_id, head, info)

    headers = {**CORS, **attachment(f"{register}.zip")}
    return Response(streamed(generate(), start=True), content_type="application/zip", headers=headers)


@blueprint.get("/download-records.<any(csv,jsonl):fmt>")
def download_records(register: str, fmt: str) -> Response:
    """Every current record, streamed as CSV or JSON lines (newest first)."""
    engine = state().engine
    with reading(register) as (conn, reg_id):
        fields = _definition(conn, reg_id, register).field_names

    def generate() -> Iterator[bytes]:
        with snapshot(engine) as conn:
            if fmt == "csv":
                yield from records_csv_chunks(conn, reg_id, fields)
            else:
                yield from records_jsonl_chunks(conn, reg_id)

    content_type = "text/csv;charset=UTF-8" if fmt == "csv" else "application/x-ndjson"
    headers = {**CORS, **attachment(f"{register}.{fmt}")}
    return Response(streamed(generate(), start=True), content_type=content_type, headers=headers)


@blueprint.get("/proof/register/merkle:sha-256")
def register_proof(register: str) -> Response:
    """The root hash and size of the user log."""
    with reading(register) as (conn, reg_id):
        head = reads.head(conn, reg_id)
    body = {"proof-identifier": PROOF, "root-hash": hash_text(head.user_root), "total-entries": head.user_size}
    return conditional(json_response(body, CORS), f"proof-{head.user_root.hex()}")


@blueprint.get("/proof/entries/<number>/<size>/merkle:sha-256")
def entry_proof(register: str, number: str, size: str) -> Response:
    """The audit path of an entry in the tree of ``size`` entries (never changes)."""
    n, s = whole_number(number, "entry number", 1, 1), whole_number(size, "tree size", 1, 1)
    engine = state().engine
    proof = service.inclusion_proof(engine, register, n, s)
    return conditional(json_response(proof, IMMUTABLE), f"entry-proof-{n}-{s}")


@blueprint.get("/proof/consistency/<first>/<second>/merkle:sha-256")
def consistency_proof(register: str, first: str, second: str) -> Response:
    """The consistency proof between two tree sizes (never changes)."""
    m, n = whole_number(first, "first size", 1, 1), whole_number(second, "second size", 1, 1)
    engine = state().engine
    return conditional(json_response(service.consistency_proof(engine, register, m, n), IMMUTABLE),
                        f"consistency-{m}-{n}")


@blueprint.get("/record/<path:rest>")
@blueprint.get("/entry/<path:rest>")
@blueprint.get("/item/<path:rest>")
@blueprint.get("/proof/entry/<path:rest>")
def singular(register: str, rest: str) -> Response:
    """Old singular paths answer 301 to the plural ones, the rest of the path as it was sent
    (still percent-encoded: a key's '?', '#' or '%2F' stays part of the key)."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    try:  # WSGI gives the bytes sent as Latin-1 characters
        sent = raw.split("?", 1)[0].encode("latin-1").decode("utf-8") if raw else request.path
    except UnicodeError:
        raw, sent = None, request.path
    path = quote(sent, safe="/:@!$&'()*+,;=-._~" + ("%" if raw else ""))
    register_path = quote(register, safe="")
    for old, new in (("/record/", "/records/"), ("/entry/", "/entries/"), ("/item/", "/items/")):
        if f"/{register_path}{old}" in path:
            path = path.replace(f"/{register_path}{old}", f"/{register_path}{new}", 1)
            break
    else:
        path = path.replace(f"/{register_path}/proof/entry/", f"/{register_path}/proof/entries/", 1)
    query = request.query_string.decode()
    return redirect(path + (f"?{query}" if query else ""), code=301)  # type: ignore[return-value]
