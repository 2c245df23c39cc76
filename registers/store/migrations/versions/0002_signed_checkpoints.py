"""Signed checkpoints, record counts, custodian tokens, and dumps in item order.

Adds ``checkpoint.user_records``, ``user_note`` and ``system_note``, the ``signing_key`` and
``token`` tables and the ``item_by_register`` index. Existing checkpoints get their record
count (distinct keys up to their size) and are signed now, by the key that signs from now on:
the notes of a migrated database say what it held when it was migrated, not when.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    op.create_index("item_by_register", "item", ["register_id", "id"])
    op.create_table(
        "signing_key",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("vkey", sa.Text, nullable=False, unique=True),
        sa.Column("created", sa.String(20), nullable=False),
    )
    op.create_table(
        "token",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("register_id", sa.Integer, sa.ForeignKey("register.id"), nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False, unique=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("created", sa.String(20), nullable=False),
        sa.Column("revoked", sa.String(20)),
    )
    with op.batch_alter_table("checkpoint") as batch:
        batch.add_column(sa.Column("user_records", sa.BigInteger))
        batch.add_column(sa.Column("user_note", sa.Text))
        batch.add_column(sa.Column("system_note", sa.Text))
    _backfill(op.get_bind())
    with op.batch_alter_table("checkpoint") as batch:
        batch.alter_column("user_records", existing_type=sa.BigInteger, nullable=False)
        batch.alter_column("user_note", existing_type=sa.Text, nullable=False)
        batch.alter_column("system_note", existing_type=sa.Text, nullable=False)


def _backfill(conn) -> None:  # type: ignore[no-untyped-def]
    from registers.core.entries import Log, now_timestamp
    from registers.core.notes import SignerKey
    from registers.store import signing

    # The database predates signing: 'registers migrate' makes its first key on purpose (and
    # says where); a key file already in the directory is never adopted.
    signer = SignerKey.generate(signing.origin())
    signing.write_private_key(signing.needed_key_dir(conn), signer)
    conn.execute(sa.text("INSERT INTO signing_key (vkey, created) VALUES (:vkey, :created)"),
                 {"vkey": signer.verifier.text, "created": now_timestamp()})
    rows = conn.execute(sa.text(
        "SELECT c.id, c.register_id, r.name, c.user_size, c.user_root, c.system_size, c.system_root "
        "FROM checkpoint c JOIN register r ON r.id = c.register_id ORDER BY c.id"
    )).all()
    for row in rows:
        records = conn.execute(sa.text(
            "SELECT count(DISTINCT key) FROM entry WHERE register_id = :r AND log = 0 AND number <= :n"
        ), {"r": row.register_id, "n": row.user_size}).scalar_one()
        conn.execute(sa.text(
            "UPDATE checkpoint SET user_records = :records, user_note = :user, system_note = :system WHERE id = :id"
        ), {
            "records": records, "id": row.id,
            "user": signing.sign(signer, row.name, Log.USER, row.user_size, bytes(row.user_root)),
            "system": signing.sign(signer, row.name, Log.SYSTEM, row.system_size, bytes(row.system_root)),
        })


def downgrade() -> None:
    with op.batch_alter_table("checkpoint") as batch:
        batch.drop_column("system_note")
        batch.drop_column("user_note")
        batch.drop_column("user_records")
    op.drop_table("token")
    op.drop_table("signing_key")
    op.drop_index("item_by_register", "item")
