"""Stored quality reports: ``quality_report`` (the last report made of each register: when, at
which size, its counts) and ``quality_finding`` (its findings, numbered within each kind, so a page
of one kind is a walk of the primary key). Derived data, outside the signed log, like proposals:
no data moves; ``registers check NAME`` makes the first report of each register."""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"

_Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "quality_report",
        sa.Column("id", _Id, primary_key=True, autoincrement=True),
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), nullable=False),
        sa.Column("made", sa.String(20), nullable=False),
        sa.Column("user_size", sa.BigInteger, nullable=False),
        sa.Column("records", sa.BigInteger, nullable=False),
        sa.Column("live", sa.BigInteger, nullable=False),
        sa.Column("counts", sa.Text, nullable=False),
    )
    op.create_index("quality_report_by_register", "quality_report", ["register_id", "id"])
    op.create_table(
        "quality_finding",
        sa.Column("report_id", sa.BigInteger, sa.ForeignKey("quality_report.id"), primary_key=True),
        sa.Column("kind", sa.String(20), primary_key=True),
        sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("body", sa.Text, nullable=False),
        sqlite_with_rowid=False,
    )


def downgrade() -> None:
    op.drop_table("quality_finding")
    op.drop_index("quality_report_by_register", "quality_report")
    op.drop_table("quality_report")
