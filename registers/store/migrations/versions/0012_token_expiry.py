"""Tokens that expire and say when they were last used: ``token.expires`` (NULL: never, as
every token made before this revision, which ``registers token list`` shows as "never
expires" so an operator can replace them) and ``token.last_used`` (NULL: not since it was
issued, or not since this revision)."""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    with op.batch_alter_table("token") as batch:
        batch.add_column(sa.Column("expires", sa.String(20)))
        batch.add_column(sa.Column("last_used", sa.String(20)))


def downgrade() -> None:
    with op.batch_alter_table("token") as batch:
        batch.drop_column("last_used")
        batch.drop_column("expires")
