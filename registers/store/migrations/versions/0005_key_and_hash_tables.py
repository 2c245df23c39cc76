"""The item hash and entry key indexes become tables of their own (``item_hash``, ``entry_key``),
so a large load can stage their rows and merge them in order at its end. Their rows are copied
from ``item`` and ``entry`` in index order; the old unique constraint and index are dropped,
and so is ``record_by_entry`` (lists of records walk the log by number instead).
Time and space: one sorted copy of each (minutes at tens of millions of entries)."""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "item_hash",
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), primary_key=True),
        sa.Column("hash", sa.LargeBinary(32), primary_key=True),
        sa.Column("item_id", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO item_hash (register_id, hash, item_id) "
        "SELECT register_id, hash, id FROM item ORDER BY register_id, hash"
    )
    op.create_table(
        "entry_key",
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), primary_key=True),
        sa.Column("log", sa.SmallInteger, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )
    op.execute(
        "INSERT INTO entry_key (register_id, log, key, number) "
        "SELECT register_id, log, key, number FROM entry ORDER BY register_id, log, key, number"
    )
    op.drop_index("entry_by_key", table_name="entry")
    op.drop_index("record_by_entry", table_name="record")  # lists walk the log instead
    with op.batch_alter_table("item") as batch:  # SQLite: the table is copied without the constraint
        batch.drop_constraint("item_register_hash", type_="unique")


def downgrade() -> None:
    with op.batch_alter_table("item") as batch:
        batch.create_unique_constraint("item_register_hash", ["register_id", "hash"])
    op.create_index("entry_by_key", "entry", ["register_id", "log", "key", "number"])
    op.create_index("record_by_entry", "record", ["register_id", "log", "entry_number"])
    op.drop_table("entry_key")
    op.drop_table("item_hash")
