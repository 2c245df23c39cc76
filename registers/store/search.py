"""Word search over records, on each database's own full-text index.

The grammar. A query is read as words: runs of letters and digits, anything else (spaces,
punctuation, apostrophes, hyphens, symbols) only separates them. Each word matches any word of a
record that begins with it, ignoring case and accents, and a record must match every word of
the query (``st andrew`` finds "St Andrew's Road"; ``glyndwr`` finds "Ffordd Glyndŵr";
``stoke-on`` finds "Stoke-on-Trent"). A query of no words (empty, or only punctuation) finds
nothing. Words are cut to MAX_WORD characters; a query may hold at most MAX_QUERY_WORDS words
once repeated words and words that begin another of its words are left out (they can change
nothing). A record's searched words are those of its key, its ``name`` field and every field the
custodian marks (``registers index NAME FIELD --search``), from its first item.

What is indexed is decided here, once, for both databases: text is put in one normal form (NFKD,
combining marks removed, case folded, a few letters without a decomposition spelt out: ø → o,
æ → ae, ł → l, …) and split into words, and each database is given those words as they are. So
SQLite (an FTS5 table, tokenizer ``unicode61 remove_diacritics 2``, which leaves words in this
form unchanged) and PostgreSQL (a ``tsvector`` of exactly these words, ``array_to_tsvector``, with
a GIN index; queries are ``'word':*`` prefixes, so no parser, configuration or locale of the
server changes a word) find the same records for the same query.

Rows are written once, like the log: the one write path adds a row for every new user entry
(store/append.py through store/bulk.py and the drivers); an amended or ended record's older row
stays and stops matching, because a search keeps only entries the record index points at. The
row is keyed by a *rank*: the entry number, plus LIVE when the entry's item has no ``end-date``.
Results come ranked high to low, so records without an end-date come first, then ended ones,
each newest first, and a rank is the keyset cursor (``before``) of the next page: a page reads
the index from there, and the entries it finds, nothing before it. Only current records are
found (each key's latest entry), never an older entry of a key.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import orjson
from sqlalchemy import delete, exists, insert, select
from sqlalchemy.engine import Connection

from ..core.entries import Entry, Log, now_timestamp
from ..core.errors import RegisterError
from . import reads, records
from .dialects import dialect_for
from .dialects.base import EntryRow, SearchRow
from .schema import entry, register, search_field

MAX_WORD = 100  # characters: longer words are cut to this, in records and queries alike
MAX_RECORD_WORDS = 1000  # distinct words of one record's text that are indexed (the first ones)
MAX_QUERY_WORDS = 16
LIVE = 1 << 40  # added to the rank of an entry whose item has no end-date: those come first
NUMBER = LIVE - 1  # the entry number in a rank
TOP = 2 * LIVE  # above every rank
SEARCHED = ("name",)  # the fields every register's search reads, beside the key
REWRITE_CHUNK = 10_000

# Letters with no canonical decomposition spelt as the letters they are read as (after case folding)
_SPELT = str.maketrans({"ø": "o", "ł": "l", "đ": "d", "ð": "d", "þ": "th", "æ": "ae", "œ": "oe", "ı": "i",
                        "ħ": "h", "ŧ": "t", "ŀ": "l"})
# Letters SQLite's tokenizer (Unicode 6.1) takes for separators though Unicode now has them as
# letters (New Tai Lue vowel signs, two Vedic signs): separators here too
_SEPARATORS = str.maketrans(dict.fromkeys([*range(0x19B0, 0x19C1), 0x19C8, 0x19C9, 0x1CF2, 0x1CF3], " "))
_ASCII_WORD = re.compile(r"[0-9a-z]+")
_WORD = re.compile(r"[^\W_]+")


class QueryTooLong(RegisterError):
    """A search of more words than MAX_QUERY_WORDS."""


def words(text: str) -> list[str]:
    """The words of ``text`` in normal form (see the module), in order, each cut to MAX_WORD."""
    if text.isascii():
        found = _ASCII_WORD.findall(text.lower())
    else:
        folded = unicodedata.normalize("NFKD", unicodedata.normalize("NFKD", text).casefold())
        plain = "".join(c for c in folded if unicodedata.category(c) != "Mn")
        found = _WORD.findall(plain.translate(_SPELT).translate(_SEPARATORS))
    if len(text) > MAX_WORD:
        found = [w[:MAX_WORD] for w in found]
    return found


def record_text(key: str, item: dict[str, object], fields: Sequence[str]) -> str:
    """The words a record is found by, in normal form and separated by single spaces: those of
    ``key`` and of ``fields`` of ``item`` (strings, and the strings of lists)."""
    parts = [key]
    for name in fields:
        value = item.get(name)
        if isinstance(value, str):
            parts.append(value)
        elif isinstance(value, list):
            parts.extend(v for v in value if isinstance(v, str))
    found = words(" ".join(parts))
    if len(found) > MAX_RECORD_WORDS:
        found = list(dict.fromkeys(found))[:MAX_RECORD_WORDS]
    return " ".join(found)


def rank(number: int, item: dict[str, object]) -> int:
    """The rank of entry ``number`` with ``item``: its number, plus LIVE without an end-date."""
    return number if "end-date" in item else number + LIVE


def query_words(query: str) -> list[str]:
    """The words a query must match, longest first: repeated words and words that begin
    another of its words are left out. QueryTooLong past MAX_QUERY_WORDS."""
    kept: list[str] = []
    for word in sorted(set(words(query)), key=len, reverse=True):
        if not any(longer.startswith(word) for longer in kept):
            kept.append(word)
    if len(kept) > MAX_QUERY_WORDS:
        raise QueryTooLong(f"a search takes at most {MAX_QUERY_WORDS} words; this one has {len(kept)}")
    return kept


# -- which fields are searched --------------------------------------------------------------


def marked_fields(conn: Connection, reg_id: int) -> tuple[str, ...]:
    """The fields the custodian marked for search, in name order."""
    f = search_field.c
    return tuple(conn.execute(select(f.field).where(f.register_id == reg_id).order_by(f.field)).scalars())


def searched_fields(conn: Connection, reg_id: int) -> tuple[str, ...]:
    """Every field a search of the register reads beside the key: ``name`` and the marked ones."""
    return (*SEARCHED, *(f for f in marked_fields(conn, reg_id) if f not in SEARCHED))


def mark(conn: Connection, reg_id: int, name: str) -> int:
    """Search field ``name`` too (inside the caller's write transaction, which holds the
    register's write lock): the rows of current records are rewritten now; later entries carry
    it. Returns the records whose words changed (0 when it was searched already)."""
    f = search_field.c
    if name in SEARCHED or conn.execute(select(exists().where(f.register_id == reg_id, f.field == name))).scalar():
        return 0
    before = searched_fields(conn, reg_id)
    conn.execute(insert(search_field).values(register_id=reg_id, field=name, created=now_timestamp()))
    return _rewrite(conn, reg_id, before, searched_fields(conn, reg_id))


def unmark(conn: Connection, reg_id: int, name: str) -> int | None:
    """Stop searching field ``name`` (as ``mark``); the records whose words changed, None when
    it was not marked."""
    f = search_field.c
    before = searched_fields(conn, reg_id)
    if not conn.execute(delete(search_field).where(f.register_id == reg_id, f.field == name)).rowcount:
        return None
    return _rewrite(conn, reg_id, before, searched_fields(conn, reg_id))


def _rewrite(conn: Connection, reg_id: int, before: Sequence[str], after: Sequence[str]) -> int:
    """Give every current record the words of the fields ``after`` in place of those of
    ``before`` (a row of FTS5's contentless table is deleted by giving the words it holds, which
    the record's item and ``before`` make again). In chunks: memory stays flat."""
    dialect = dialect_for(conn)
    changed, old, new = 0, list[SearchRow](), list[SearchRow]()
    for number, key, content in _current_items(conn, reg_id):
        item = orjson.loads(content)
        was, now = record_text(key, item, before), record_text(key, item, after)
        if was == now:
            continue
        changed += 1
        position = rank(number, item)
        if was:
            old.append((position, was))
        if now:
            new.append((position, now))
        if len(old) + len(new) >= REWRITE_CHUNK:
            dialect.run(conn, [dialect.delete_search(reg_id, old), dialect.insert_search(reg_id, new)])
            old, new = [], []
    if old or new:
        dialect.run(conn, [dialect.delete_search(reg_id, old), dialect.insert_search(reg_id, new)])
    return changed


def backfill(conn: Connection) -> int:
    """Write the rows of every current record of every register (a database made before search:
    migration 0008); the rows written."""
    written = 0
    dialect = dialect_for(conn)
    for reg_id in list(conn.execute(select(register.c.id).order_by(register.c.id)).scalars()):
        fields = searched_fields(conn, reg_id)
        rows: list[SearchRow] = []
        for number, key, content in _current_items(conn, reg_id):
            item = orjson.loads(content)
            text = record_text(key, item, fields)
            if text:
                rows.append((rank(number, item), text))
            if len(rows) >= REWRITE_CHUNK:
                dialect.run(conn, [dialect.insert_search(reg_id, sorted(rows))])
                written, rows = written + len(rows), []
        if rows:
            dialect.run(conn, [dialect.insert_search(reg_id, sorted(rows))])
            written += len(rows)
    return written


def _current_items(conn: Connection, reg_id: int) -> Iterator[tuple[int, str, bytes]]:
    """(entry number, key, first item's bytes) of every current user record, streamed."""
    sql = (
        "SELECT e.number, e.key, i.content FROM entry e "
        "JOIN item_hash h ON h.register_id = e.register_id AND h.hash = substr(e.item_hashes, 1, 32) "
        "JOIN item i ON i.id = h.item_id "
        "WHERE e.register_id = {p} AND e.log = 0 AND e.number = (SELECT r.entry_number FROM record r "
        "WHERE r.register_id = e.register_id AND r.log = e.log AND r.key = e.key) ORDER BY e.number"
    )
    for rows in reads.stream_rows(conn, sql, (reg_id,)):
        for number, key, content in rows:
            yield int(number), key, reads.stored_bytes(content)


# -- the append's rows ------------------------------------------------------------------------


def entry_rows(
    entries: Sequence[EntryRow],
    items: Mapping[bytes, bytes],
    contents: Callable[[list[bytes]], dict[bytes, bytes]],
    fields: Sequence[str],
) -> list[SearchRow]:
    """The rows of the user entries among ``entries`` (log, number, key, timestamp, packed
    digests), their first items' bytes found in ``items`` (the batch's latest) or else read
    through ``contents``, in rank order (SQLite's FTS5 writes rows in rowid order in one go, and
    starts a new segment for a lower one).

    This runs for every entry a load appends, on the loading process's one busy core, so the
    common case is read straight from the canonical bytes: a register searched by key and name
    alone, whose name is ASCII without escapes, is given to the database as its key and name
    lower-cased, whose words are exactly those ``record_text`` makes (both databases split it at
    any ASCII character other than a letter or digit). Anything else is parsed and normalised."""
    plain = tuple(fields) == SEARCHED
    rows: list[SearchRow] = []
    append = rows.append
    elsewhere: list[tuple[int, str, bytes]] = []
    get = items.get
    for log, number, key, _t, digests in entries:
        if log:
            continue
        digest = digests[:32]
        blob = get(digest)
        if blob is None:
            elsewhere.append((number, key, digest))
            continue
        if plain:  # the name read from the bytes (see _NAME), when it is plain ASCII
            start = blob.find(_NAME)
            if start > 0:
                start += 8  # len(_NAME)
                name = blob[start : blob.find(b'"', start)]
                if name.isascii() and key.isascii() and len(key) + len(name) < MAX_WORD and b"\\" not in name:
                    ended = blob.find(_ENDED, 0, start) > 0  # keys are sorted: "end-date" comes before "name"
                    append((number if ended else number + LIVE, f"{key} {name.decode()}".lower()))
                    continue
            elif b'"name":' not in blob and key.isascii() and len(key) < MAX_WORD:  # no name
                append((number if _ENDED in blob else number + LIVE, key.lower()))
                continue
        _parsed(append, number, key, blob, fields)
    if elsewhere:
        found = contents([digest for _n, _k, digest in elsewhere])
        for number, key, digest in elsewhere:
            if digest in found:  # else the append refused the entry already
                _parsed(append, number, key, found[digest], fields)
    rows.sort()
    return rows


def _parsed(append: Callable[[SearchRow], None], number: int, key: str, blob: bytes, fields: Sequence[str]) -> None:
    """The row of entry ``number`` made from its parsed item (when it has words)."""
    item = orjson.loads(blob)
    text = record_text(key, item, fields)
    if text:
        append((number if "end-date" in item else number + LIVE, text))


# In canonical JSON a '"' inside a string is escaped, so these can only be keys (and a key is
# preceded by '{' or ',')
_NAME, _ENDED = b'"name":"', b'"end-date":'


# -- finding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Found:
    """A page of search results: the records, each with its rank (the cursor after it), and
    whether more follow."""

    records: list[records.Record]
    ranks: list[int]
    more: bool
    resume: int | None = None  # with more: the rank the next page (or, upwards, the one before) starts from


def walk_limit(page: int) -> int:
    """The most index rows a list walks for one page of ``page`` kept rows: a page whose rows
    are mostly left out (ended records under ``current=true``, a word's matches in records that
    moved on) stops there, short, with a cursor to where it stopped."""
    return 10 * page + 1000


def find(
    conn: Connection,
    reg_id: int,
    query_words: Sequence[str],
    limit: int,
    before: int | None = None,
    keep: Callable[[records.Record], bool] | None = None,
    after: int | None = None,
) -> Found:
    """Up to ``limit`` current records matching every one of ``query_words`` (see
    ``query_words``), highest rank first, below the rank ``before``; ``keep`` leaves out others
    (``current=true``: ended records). Reads the index from ``before`` on, and each entry it
    gives once: an older entry of a key found there (its record moved on) costs its probe.
    With ``after`` (and no ``before``): the ``limit`` matches just above that rank (the page
    before the one it begins), read upwards from it, still given highest first; ``more`` then
    says whether higher ones remain."""
    if not query_words:
        return Found([], [], False)
    dialect = dialect_for(conn)
    cursor = TOP if before is None else min(before, TOP)
    upwards = after is not None and before is None
    low = after
    found: list[tuple[int, records.Record]] = []
    walked, cut, batch, kept = 0, None, 0, 0
    while len(found) <= limit:
        if walked >= walk_limit(limit + 1):
            cut = low if upwards else cursor  # stopped short: the walk goes on from here
            break
        # after a read that kept less than half its ranks the next asks for four times as many: a
        # long run of left-out matches costs a few reads of the index (each a scan of the words'
        # postings on PostgreSQL), not one a page; otherwise a read asks for what the page lacks
        shortfall = limit + 1 - len(found)
        grown = min(4 * batch, walk_limit(limit + 1) - walked)
        want = shortfall if not batch or 2 * kept >= batch else max(shortfall, grown)
        batch, before_read = want, len(found)
        ranks = dialect.search_ranks(conn, reg_id, query_words, cursor, want, low if upwards else None)
        walked += len(ranks)
        if not ranks:
            break
        current = _current_entries(conn, reg_id, [r & NUMBER for r in ranks])
        hits = [(r, current[r & NUMBER]) for r in ranks if r & NUMBER in current]
        with_items = records.with_items(conn, reg_id, [e for _r, e in hits])
        found += [(r, rec) for (r, _e), rec in zip(hits, with_items, strict=True) if keep is None or keep(rec)]
        kept = len(found) - before_read
        if len(ranks) < want:
            break
        if upwards:
            low = ranks[-1]
        else:
            cursor = ranks[-1]
    page = found[:limit][::-1] if upwards else found[:limit]
    if cut is not None and len(found) <= limit:
        return Found([rec for _r, rec in page], [r for r, _rec in page], True, cut)
    more = len(found) > limit
    return Found([rec for _r, rec in page], [r for r, _rec in page], more, found[limit - 1][0] if more else None)


def _current_entries(conn: Connection, reg_id: int, numbers: list[int]) -> dict[int, Entry]:
    """Those of the user entries ``numbers`` that are their key's current record."""
    e = entry.c
    rows = conn.execute(
        select(e.number, e.timestamp, e.key, e.item_hashes).where(
            e.register_id == reg_id, e.log == int(Log.USER), e.number.in_(numbers), reads.CURRENT
        )
    )
    return {
        r.number: Entry(Log.USER, r.number, r.timestamp, r.key, reads.split_digests(bytes(r.item_hashes)))
        for r in rows
    }
