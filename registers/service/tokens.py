"""Custodian tokens: bearer tokens, one register each, that allow remote writes.

A token is shown once, when issued; only its SHA-256 is stored, so the database never holds
a usable token. Checking compares hashes, so it takes the same time whatever the token.
A token expires (``REGISTERS_TOKEN_EXPIRY_DAYS`` after it is issued unless ``expires`` says
otherwise; one that never expires must be asked for) and records when it was last used (to the
minute), so an operator can see which tokens are stale.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, insert, select, update

from ..core.entries import now_timestamp
from ..core.errors import RegisterError
from ..settings import current
from ..store.engine import snapshot, writer
from ..store.schema import register, token
from .registers import register_id_of

PREFIX = "rgt_"


class Unauthorized(RegisterError):
    """No token, or a token this platform did not issue (or revoked): HTTP 401."""


class Forbidden(RegisterError):
    """A good token for another register: HTTP 403."""


@dataclass(frozen=True)
class IssuedToken:
    """A token as issued: its id and label, and the secret itself (shown this once)."""

    id: int
    label: str
    secret: str
    expires: str | None = None  # None: never


@dataclass(frozen=True)
class TokenInfo:
    """What is kept of a token (never the secret)."""

    id: int
    label: str
    created: str
    revoked: str | None
    expires: str | None = None  # None: never
    last_used: str | None = None  # None: not yet


NEVER = "never"
_LIFETIME = re.compile(r"([1-9][0-9]{0,4})d")


def expiry(given: str | None, now: datetime | None = None) -> str | None:
    """When a token issued ``now`` with ``--expires given`` expires (None: never): ``Nd`` (N
    days), a date ``YYYY-MM-DD`` (its start, UTC), ``never``, or nothing (the settings'
    ``token_expiry_days``). RegisterError for anything else, or a time already past."""
    now = now or datetime.now(UTC)
    if given == NEVER:
        return None
    if given is None:
        ends = now + timedelta(days=current().token_expiry_days)
    elif (days := _LIFETIME.fullmatch(given)) is not None:
        ends = now + timedelta(days=int(days[1]))
    else:
        try:
            ends = datetime.strptime(given, "%Y-%m-%d").replace(tzinfo=UTC)
        except ValueError:
            raise RegisterError(f"--expires {given!r} must be a number of days like 90d, a date like "
                                "2027-03-31, or never") from None
    if ends <= now:
        raise RegisterError(f"--expires {given!r} is already past")
    return ends.strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


def issue_token(engine: Engine, name: str, label: str | None = None, expires: str | None = None) -> IssuedToken:
    """A new token for register ``name`` (which must exist), expiring as ``expiry(expires)``
    says; only its hash is stored."""
    secret = PREFIX + secrets.token_urlsafe(32)
    ends = expiry(expires)
    if label is not None and (not label.strip() or any(ord(c) < 32 or ord(c) == 127 for c in label)):
        raise RegisterError("a token's label names a team on one line: not blank, no tabs or newlines")
    with writer(engine).begin() as conn:
        reg_id = register_id_of(conn, name)
        label = label or f"custodian token for {name}"
        new_id = conn.execute(
            insert(token).values(register_id=reg_id, hash=_digest(secret), label=label, created=now_timestamp(),
                                 expires=ends)
            .returning(token.c.id)
        ).scalar_one()
    return IssuedToken(int(new_id), label, secret, ends)


def list_tokens(engine: Engine, name: str) -> list[TokenInfo]:
    """The tokens of register ``name``, oldest first (ids, labels, dates; no secrets)."""
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        rows = conn.execute(
            select(token.c.id, token.c.label, token.c.created, token.c.revoked, token.c.expires, token.c.last_used)
            .where(token.c.register_id == reg_id).order_by(token.c.id)
        )
        return [TokenInfo(r.id, r.label, r.created, r.revoked, r.expires, r.last_used) for r in rows]


def revoke_token(engine: Engine, name: str, token_id: int) -> None:
    """Revoke token ``token_id`` of register ``name`` (it stops working at once)."""
    with writer(engine).begin() as conn:
        reg_id = register_id_of(conn, name)
        done = conn.execute(
            update(token).where(token.c.id == token_id, token.c.register_id == reg_id, token.c.revoked.is_(None))
            .values(revoked=now_timestamp())
        ).rowcount
    if not done:
        raise RegisterError(f"register '{name}' has no live token {token_id}")


def authorise(engine: Engine, name: str, secret: str | None) -> str:
    """The label of the live token ``secret`` if it may write to register ``name``.

    Raises Unauthorized (no token, unknown or revoked) or Forbidden (another register's).
    """
    if not secret:
        raise Unauthorized("a custodian token is needed: Authorization: Bearer <token>")
    with snapshot(engine) as conn:
        row = conn.execute(
            select(token.c.label, token.c.revoked, token.c.expires, register.c.name)
            .join_from(token, register, token.c.register_id == register.c.id)
            .where(token.c.hash == _digest(secret))
        ).first()
    if row is None or row.revoked is not None:
        raise Unauthorized("the token is not a live custodian token")
    now = now_timestamp()
    if row.expires is not None and row.expires <= now:
        raise Unauthorized(f"the token expired at {row.expires}: ask the register's custodian for a new one "
                           f"(registers token issue {row.name})")
    if row.name != name:
        raise Forbidden(f"the token is for register '{row.name}', not '{name}'")
    return str(row.label)


def note_use(engine: Engine, secret: str) -> None:
    """Record that the token ``secret`` authorised a change that was made (to the minute: at
    most one write a minute per token). A refused change leaves the store as it was, this too."""
    now = now_timestamp()
    with writer(engine).begin() as conn:
        conn.execute(
            update(token).where(token.c.hash == _digest(secret),
                                token.c.last_used.is_(None) | (token.c.last_used < now[:16] + ":00Z"))
            .values(last_used=now)
        )
