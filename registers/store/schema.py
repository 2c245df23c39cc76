"""The tables. Only ``record`` (the current-record index) and ``merkle_tile`` edge tiles are
ever rewritten, and both are derivable from the log; every other row is written once.

- ``register``: one row per register.
- ``item``: canonical item bytes, per register, in the order first added (written once, in
  order: a row's id is its place).
- ``item_hash``: each item's SHA-256 digest with its row, per register: the content-addressed
  lookup, and what makes an item stored once.
- ``entry``: both logs of every register (log 0 = user, 1 = system), numbered from 1.
- ``entry_key``: every entry's key with its number, in key order: a key's history.

``item_hash`` and ``entry_key`` are indexes of random order kept as tables of their own so a
large load can stage their rows and merge them once, in their order, at its end (store/bulk.py):
a log row is then written where it belongs once, not once per page it dirties.
- ``record``: for each (register, log, key), the number of its latest entry.
- ``superseded``: for each user entry that a later entry for the same key replaced, the number
  of that later entry; written once, by the append that makes the later entry. An entry with
  no row here is current; the records as they stood after entry N are the entries up to N not
  superseded by N (a list walks the log by number, probing this table in the same order).
- ``merkle_tile``: the tree of each log as tiles of stored subtree hashes (see core.tiles).
- ``signing_key``: every public key that has signed this server's checkpoints, oldest first:
  the newest not retired signs (its private key file must be in the key directory; private
  keys never enter the database); a retired key keeps the handover note it signed, naming
  the key that replaced it.
- ``mirror``: the registers copied from another server (read-only here), with its URL.
- ``mirror_key``: for each mirrored register, the origin's public keys that verify its
  checkpoints (as given on purpose, or learnt through a handover note the origin served).
- ``token``: custodian tokens for remote writes, one register each, stored only as hashes, with
  when each expires and was last used.
- ``field_index``: the fields of a register whose values are indexed (chosen by the custodian).
- ``field_value``: for each indexed field, a 64-bit hash of every value an entry gave it, with
  the entry's number; written once, like the log. Joined to ``record`` it finds the current
  records holding a value in a few index probes, whatever the register's size.
- ``search_field``: the fields of a register its custodian marked for word search (beside the key
  and ``name``, which every register's search reads).
- ``search_text``: each user entry's words (store/search.py), under its rank, in each database's own
  full-text index: an FTS5 table on SQLite, a ``tsvector`` column with a GIN index on PostgreSQL
  (made by the DDL below, not as a Table: their shapes differ). Written once, like the log; an
  entry whose record moved on stops matching, as a search keeps only current records.
- ``proposal``: changes anyone proposed, outside the log (not authoritative) until the custodian
  approves one through the one write path; the proposer's contact is kept but never served.
- ``rate_window``: how many requests each client (an HMAC of its address) made in the current
  window of time, for limits shared by every server process.
- ``quality_report``: the last data-quality report made of each register (by ``registers
  check``): when, at which size of the user log, its record counts and how many findings of each
  kind. Derived from the log, like proposals, and never signed: a report replaces the one before.
- ``quality_finding``: a report's findings, numbered from 1 within each kind in the order the
  report found them, so that a page of one kind is a walk of the primary key from a cursor.
- ``checkpoint``: the sizes and roots of both logs after every committed change, and how many
  records the user log then had (so totals never need a ``count(*)``), with both logs' signed
  checkpoints.
"""

from __future__ import annotations

from sqlalchemy import (
    DDL,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
)

metadata = MetaData()

# An INTEGER PRIMARY KEY on SQLite (the rowid), BIGINT elsewhere.
_Id = BigInteger().with_variant(Integer(), "sqlite")

register = Table(
    "register",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False, unique=True),
    Column("created", String(20), nullable=False),
)

item = Table(
    "item",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("register_id", Integer, ForeignKey("register.id"), nullable=False),
    Column("hash", LargeBinary(32), nullable=False),
    Column("content", LargeBinary, nullable=False),
    Index("item_by_register", "register_id", "id"),  # a register's items in the order added, for dumps
)

item_hash = Table(
    "item_hash",
    metadata,
    Column("register_id", Integer, ForeignKey("register.id"), primary_key=True),
    Column("hash", LargeBinary(32), primary_key=True),
    Column("item_id", BigInteger, nullable=False),  # item.id
    sqlite_with_rowid=False,
)

entry = Table(
    "entry",
    metadata,
    Column("register_id", Integer, ForeignKey("register.id"), primary_key=True),
    Column("log", SmallInteger, primary_key=True),
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    Column("key", Text, nullable=False),
    Column("timestamp", String(20), nullable=False),
    Column("item_hashes", LargeBinary, nullable=False),  # concatenated 32-byte digests
    sqlite_with_rowid=False,
)

entry_key = Table(
    "entry_key",
    metadata,
    Column("register_id", Integer, ForeignKey("register.id"), primary_key=True),
    Column("log", SmallInteger, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("number", BigInteger, primary_key=True, autoincrement=False),
    sqlite_with_rowid=False,
)

record = Table(
    "record",
    metadata,
    Column("register_id", Integer, ForeignKey("register.id"), primary_key=True),
    Column("log", SmallInteger, primary_key=True),
    Column("key", Text, primary_key=True),
    Column("entry_number", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

superseded = Table(
    "superseded",
    metadata,
    Column("register_id", Integer, ForeignKey("register.id"), primary_key=True),
    Column("number", BigInteger, primary_key=True, autoincrement=False),  # a user entry
    Column("by_number", BigInteger, nullable=False),  # the next user entry for the same key
    sqlite_with_rowid=False,
)

merkle_tile = Table(
    "merkle_tile",
    metadata,
    Column("register_id", Integer, ForeignKey("register.id"), primary_key=True),
    Column("log", SmallInteger, primary_key=True),
    Column("level", SmallInteger, primary_key=True),
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hashes", LargeBinary, nullable=False),
    sqlite_with_rowid=False,
)

field_index = Table(
    "field_index",
    metadata,
    Column("register_id", Integer, ForeignKey("register.id"), primary_key=True),
    Column("field", String(100), primary_key=True),
    Column("created", String(20), nullable=False),
)

field_value = Table(
    "field_value",
    metadata,
    Column("register_id", Integer, ForeignKey("register.id"), primary_key=True),
    Column("field", String(100), primary_key=True),
    Column("value_hash", BigInteger, primary_key=True, autoincrement=False),  # see core.field_values.value_hash
    Column("entry_number", BigInteger, primary_key=True, autoincrement=False),  # a user entry
    sqlite_with_rowid=False,
)

search_field = Table(
    "search_field",
    metadata,
    Column("register_id", Integer, ForeignKey("register.id"), primary_key=True),
    Column("field", String(100), primary_key=True),
    Column("created", String(20), nullable=False),
)

# search_text, per database (migration 0008 makes the same): SQLite's is contentless (the index
# alone), without positions (no phrase queries) and with prefix indexes for words of up to three
# letters, its rowid the register's id times 2**41 plus the rank; PostgreSQL's holds the words
# as a tsvector under a GIN index (the planner walks the primary key instead for common words)
SEARCH_TEXT_DDL = {
    "sqlite": (
        "CREATE VIRTUAL TABLE search_text USING fts5(words, content='', detail=none, columnsize=0, "
        "prefix='1 2 3', tokenize='unicode61 remove_diacritics 2')",
    ),
    "postgresql": (
        "CREATE TABLE search_text (register_id integer NOT NULL REFERENCES register (id), rank bigint NOT NULL, "
        "words tsvector NOT NULL, PRIMARY KEY (register_id, rank))",
        # a short pending list: every search reads it whole (rows are merged in 1 MB at a time)
        "CREATE INDEX search_text_words ON search_text USING gin (words) WITH (gin_pending_list_limit = 1024)",
    ),
}
for _dialect, _statements in SEARCH_TEXT_DDL.items():
    for _statement in _statements:
        event.listen(metadata, "after_create", DDL(_statement).execute_if(dialect=_dialect))  # type: ignore[no-untyped-call]

proposal = Table(
    "proposal",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("register_id", Integer, ForeignKey("register.id"), nullable=False),
    Column("key", Text, nullable=False),
    Column("action", String(10), nullable=False),  # add, amend or end
    Column("fields", Text, nullable=False),  # JSON: field -> value (null removes); end: {"end-date": D}
    Column("reason", Text, nullable=False),
    Column("contact", Text),  # never served
    Column("source", String(100), nullable=False),  # who proposed, publicly: "anonymous", "quality check"
    Column("client_mac", String(64)),  # HMAC of the proposer's address under the server secret, never served
    Column("status", String(10), nullable=False),  # open, approved, rejected
    Column("base_entry", BigInteger),  # the key's latest entry when proposed or last re-checked
    Column("created", String(20), nullable=False),
    Column("checked", String(20), nullable=False),
    Column("decided", String(20)),
    Column("decided_by", String(200)),
    Column("decision_reason", Text),
    Column("entry_number", BigInteger),  # the user entry the approval made
    Column("receipt", Text),  # JSON: the approved change's receipt
    Index("proposal_by_register", "register_id", "status", "id"),
)

rate_window = Table(
    "rate_window",
    metadata,
    Column("client_mac", String(64), primary_key=True),  # HMAC of the address (``client_hash``)
    Column("scope", String(40), primary_key=True),
    Column("bucket", BigInteger, primary_key=True, autoincrement=False),  # seconds since 1970 // window
    Column("hits", Integer, nullable=False),
)

quality_report = Table(
    "quality_report",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("register_id", Integer, ForeignKey("register.id"), nullable=False),
    Column("made", String(20), nullable=False),  # when its snapshot was taken (an entry timestamp's form)
    Column("user_size", BigInteger, nullable=False),  # the user entries the register then had
    Column("records", BigInteger, nullable=False),
    Column("live", BigInteger, nullable=False),  # records not ended
    Column("counts", Text, nullable=False),  # JSON: findings per kind, every kind named
    Index("quality_report_by_register", "register_id", "id"),
)

quality_finding = Table(
    "quality_finding",
    metadata,
    Column("report_id", BigInteger, ForeignKey("quality_report.id"), primary_key=True),
    Column("kind", String(20), primary_key=True),
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # 1, 2, ... within the kind
    Column("body", Text, nullable=False),  # JSON: register, key, field, message, fix
    sqlite_with_rowid=False,
)

checkpoint = Table(
    "checkpoint",
    metadata,
    Column("id", _Id, primary_key=True, autoincrement=True),
    Column("register_id", Integer, ForeignKey("register.id"), nullable=False),
    Column("user_size", BigInteger, nullable=False),
    Column("user_root", LargeBinary(32), nullable=False),
    Column("system_size", BigInteger, nullable=False),
    Column("system_root", LargeBinary(32), nullable=False),
    Column("user_records", BigInteger, nullable=False),  # how many keys the user log has
    Column("timestamp", String(20), nullable=False),
    Column("user_note", Text, nullable=False),  # the signed C2SP checkpoint of the user log
    Column("system_note", Text, nullable=False),  # ... and of the system log
    Index("checkpoint_by_register", "register_id", "id"),
    Index("checkpoint_by_root", "register_id", "user_root"),
    Index("checkpoint_by_user_size", "register_id", "user_size", "system_size"),  # the change that made entry N
)

signing_key = Table(
    "signing_key",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vkey", Text, nullable=False, unique=True),  # the public verifier key, C2SP form
    Column("created", String(20), nullable=False),
    Column("retired", String(20)),  # when another key replaced it (NULL: it signs, if newest)
    Column("handover", Text),  # the note it signed naming its successor (NULL if none)
)

mirror = Table(
    "mirror",
    metadata,
    Column("register_id", Integer, ForeignKey("register.id"), primary_key=True),
    Column("url", Text, nullable=False),  # the origin's register URL
    Column("created", String(20), nullable=False),
)

mirror_key = Table(
    "mirror_key",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("register_id", Integer, ForeignKey("register.id"), nullable=False),
    Column("vkey", Text, nullable=False),  # an origin's public verifier key, C2SP form
    Column("added", String(20), nullable=False),
    Column("handover", Text),  # the origin's handover note it was learnt from (NULL: given on purpose)
    UniqueConstraint("register_id", "vkey"),
)

token = Table(
    "token",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("register_id", Integer, ForeignKey("register.id"), nullable=False),
    Column("hash", LargeBinary(32), nullable=False, unique=True),  # SHA-256 of the token; the token is never stored
    Column("label", String(200), nullable=False),
    Column("created", String(20), nullable=False),
    Column("revoked", String(20)),
    Column("expires", String(20)),  # NULL: never (asked for on purpose, or made before expiry existed)
    Column("last_used", String(20)),  # the last write it authorised (to the minute); NULL: none yet
)
