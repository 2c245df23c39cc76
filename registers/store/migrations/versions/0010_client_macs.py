"""Client addresses kept only as an HMAC under the server secret (``REGISTERS_SECRET_KEY``):
``proposal.client`` and ``rate_window.client`` become ``client_mac``.

The columns held a bare SHA-256 of the address, which anyone holding the database reverses for
every IPv4 address in minutes; an HMAC under the secret cannot be made from it, so the stored
hashes are dropped, not converted:

- ``rate_window``: every row is deleted. A count keyed by the old hash could never match a
  request again (requests are now counted under their HMAC), so keeping them would only leave
  unreachable rows; deleting them costs each client at most one window of fresh allowance
  (``REGISTERS_PROPOSAL_RATE`` in ``REGISTERS_PROPOSAL_RATE_WINDOW``), once, at the upgrade.
- ``proposal``: ``client_mac`` is null for every proposal made before. The column was never
  served nor used to decide anything (limits are counted in ``rate_window``); it says which
  proposals one client made from now on.

The rename makes the revision visible in the tables (a database that lost its
``alembic_version`` row is still told apart from 0009). Downgrade renames back and again drops
the values (an HMAC is not the hash 0009 expects).
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"


def _rekey(old: str, new: str) -> None:
    op.execute(sa.text("DELETE FROM rate_window"))
    op.execute(sa.text(f"UPDATE proposal SET {old} = NULL WHERE {old} IS NOT NULL"))
    op.alter_column("proposal", old, new_column_name=new, existing_type=sa.String(64))
    op.alter_column("rate_window", old, new_column_name=new, existing_type=sa.String(64), existing_nullable=False)


def upgrade() -> None:
    _rekey("client", "client_mac")


def downgrade() -> None:
    _rekey("client_mac", "client")
