"""The as-of index: ``superseded`` gives, for each user entry a later entry for the same key
replaced, that later entry's number, so the records as they stood after entry N are a walk of
the log (not a replay). Backfilled from ``entry_key`` in one ordered pass (each key's entries are
adjacent there). Time and space: one sorted copy of the superseded entries' numbers (a minute or
so at tens of millions of entries)."""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "superseded",
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), primary_key=True),
        sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("by_number", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO superseded (register_id, number, by_number) "
        "SELECT register_id, number, next FROM ("
        "SELECT register_id, number, lead(number) OVER (PARTITION BY register_id, key ORDER BY number) AS next "
        "FROM entry_key WHERE log = 0) AS t WHERE next IS NOT NULL ORDER BY register_id, number"
    )


def downgrade() -> None:
    op.drop_table("superseded")
