"""Proposed changes and their review (``proposal``), and per-client request counts shared by
every server process (``rate_window``). No data moves."""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "proposal",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), nullable=False),
        sa.Column("key", sa.Text, nullable=False),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("contact", sa.Text),
        sa.Column("source", sa.String(100), nullable=False),
        sa.Column("client", sa.String(64)),
        sa.Column("status", sa.String(10), nullable=False),
        sa.Column("base_entry", sa.BigInteger),
        sa.Column("created", sa.String(20), nullable=False),
        sa.Column("checked", sa.String(20), nullable=False),
        sa.Column("decided", sa.String(20)),
        sa.Column("decided_by", sa.String(200)),
        sa.Column("decision_reason", sa.Text),
        sa.Column("entry_number", sa.BigInteger),
        sa.Column("receipt", sa.Text),
    )
    op.create_index("proposal_by_register", "proposal", ["register_id", "status", "id"])
    op.create_table(
        "rate_window",
        sa.Column("client", sa.String(64), primary_key=True),
        sa.Column("scope", sa.String(40), primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("hits", sa.Integer, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rate_window")
    op.drop_index("proposal_by_register", "proposal")
    op.drop_table("proposal")
