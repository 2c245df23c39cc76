"""An index of checkpoints by the size of the user log: the checkpoint of the change that made
user entry N is the first whose user size reaches N, found in one index probe, and the change
note (who and why) of that change is the last ``change`` system entry at or before that
checkpoint's system size (service/reading.py ``change_for``). So a record's history page finds
each line's author and reason in a few probes, not by reading every change the register had."""

from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.create_index("checkpoint_by_user_size", "checkpoint", ["register_id", "user_size", "system_size"])


def downgrade() -> None:
    op.drop_index("checkpoint_by_user_size", table_name="checkpoint")
