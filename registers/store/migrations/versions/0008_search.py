"""Word search: ``search_field`` (the fields a custodian marks for search) and ``search_text``
(each entry's words in the database's own full-text index: FTS5 on SQLite, a tsvector under GIN
on PostgreSQL). Backfilled with the words of every register's current records (key and
``name``): one pass over the current records, in flat memory (rows written 10,000 at a time);
older entries need none, as a search finds only current records."""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"

SEARCH_TEXT = {  # as store/schema.py makes it for a new database
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


def upgrade() -> None:
    from registers.store import search

    op.create_table(
        "search_field",
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), primary_key=True),
        sa.Column("field", sa.String(100), primary_key=True),
        sa.Column("created", sa.String(20), nullable=False),
    )
    bind = op.get_bind()
    for statement in SEARCH_TEXT[bind.dialect.name]:
        op.execute(statement)
    search.backfill(bind)


def downgrade() -> None:
    op.execute("DROP TABLE search_text")
    op.drop_table("search_field")
