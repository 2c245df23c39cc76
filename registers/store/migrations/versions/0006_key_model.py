"""One key model: a signing key is retired by a handover note naming its successor, and
mirrored registers keep their origin's public keys (``mirror``, ``mirror_key``). Every key
recorded before but the newest is marked retired (with no handover note: none was signed).
Time and space: a few rows."""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    with op.batch_alter_table("signing_key") as batch:
        batch.add_column(sa.Column("retired", sa.String(20)))
        batch.add_column(sa.Column("handover", sa.Text))
    op.execute(
        "UPDATE signing_key SET retired = ("
        "SELECT min(later.created) FROM signing_key later WHERE later.id > signing_key.id"
        ") WHERE id < (SELECT max(id) FROM signing_key)"
    )
    op.create_table(
        "mirror",
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("created", sa.String(20), nullable=False),
    )
    op.create_table(
        "mirror_key",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), nullable=False),
        sa.Column("vkey", sa.Text, nullable=False),
        sa.Column("added", sa.String(20), nullable=False),
        sa.Column("handover", sa.Text),
        sa.UniqueConstraint("register_id", "vkey"),
    )


def downgrade() -> None:
    op.drop_table("mirror_key")
    op.drop_table("mirror")
    with op.batch_alter_table("signing_key") as batch:
        batch.drop_column("handover")
        batch.drop_column("retired")
