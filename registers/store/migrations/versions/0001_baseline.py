"""The schema before signed checkpoints: registers, items, both logs, the record index, tiles,
and unsigned checkpoints."""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "register",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("created", sa.String(20), nullable=False),
    )
    op.create_table(
        "item",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("register_id", "hash", name="item_register_hash"),
    )
    op.create_table(
        "entry",
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), primary_key=True),
        sa.Column("log", sa.SmallInteger, primary_key=True),
        sa.Column("number", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("timestamp", sa.String(20), nullable=False),
        sa.Column("item_hashes", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("entry_by_key", "entry", ["register_id", "log", "key", "number"])
    op.create_table(
        "record",
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), primary_key=True),
        sa.Column("log", sa.SmallInteger, primary_key=True),
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("entry_number", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_index("record_by_entry", "record", ["register_id", "log", "entry_number"])
    op.create_table(
        "merkle_tile",
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), primary_key=True),
        sa.Column("log", sa.SmallInteger, primary_key=True),
        sa.Column("level", sa.SmallInteger, primary_key=True),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hashes", sa.LargeBinary, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "checkpoint",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), nullable=False),
        sa.Column("user_size", sa.BigInteger, nullable=False),
        sa.Column("user_root", sa.LargeBinary(32), nullable=False),
        sa.Column("system_size", sa.BigInteger, nullable=False),
        sa.Column("system_root", sa.LargeBinary(32), nullable=False),
        sa.Column("timestamp", sa.String(20), nullable=False),
    )
    op.create_index("checkpoint_by_register", "checkpoint", ["register_id", "id"])
    op.create_index("checkpoint_by_root", "checkpoint", ["register_id", "user_root"])


def downgrade() -> None:
    for table in ("checkpoint", "merkle_tile", "record", "entry", "item", "register"):
        op.drop_table(table)
