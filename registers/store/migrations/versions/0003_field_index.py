"""Field indexes: ``field_index`` (which fields of a register are indexed) and ``field_value``
(a hash of each value an entry gave an indexed field), for lookups by value at any size.
No data moves: a register has no indexed field until its custodian asks for one."""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    op.create_table(
        "field_index",
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), primary_key=True),
        sa.Column("field", sa.String(100), primary_key=True),
        sa.Column("created", sa.String(20), nullable=False),
    )
    op.create_table(
        "field_value",
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), primary_key=True),
        sa.Column("field", sa.String(100), primary_key=True),
        sa.Column("value_hash", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("entry_number", sa.BigInteger, primary_key=True, autoincrement=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("field_value")
    op.drop_table("field_index")
