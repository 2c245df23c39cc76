"""Custodian tokens: bearer tokens, one register each, that allow remote writes.

A token is shown once, when issued; only its SHA-256 is stored, so the database never holds
a usable token. Checking compares hashes, so it takes the same time whatever the token.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select, update

from ..core.entries import now_timestamp
from ..core.errors import RegisterError
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


@dataclass(frozen=True)
class TokenInfo:
    """What is kept of a token (never the secret)."""

    id: int
    label: str
    created: str
    revoked: str | None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).digest()


def issue_token(engine: Engine, name: str, label: str | None = None) -> IssuedToken:
    """A new token for register ``name`` (which must exist); only its hash is stored."""
    secret = PREFIX + secrets.token_urlsafe(32)
    with writer(engine).begin() as conn:
        reg_id = register_id_of(conn, name)
        label = label or f"custodian token for {name}"
        new_id = conn.execute(
            insert(token).values(register_id=reg_id, hash=_digest(secret), label=label, created=now_timestamp())
            .returning(token.c.id)
        ).scalar_one()
    return IssuedToken(int(new_id), label, secret)


def list_tokens(engine: Engine, name: str) -> list[TokenInfo]:
    """The tokens of register ``name``, oldest first (ids, labels, dates; no secrets)."""
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        rows = conn.execute(
            select(token.c.id, token.c.label, token.c.created, token.c.revoked)
            .where(token.c.register_id == reg_id).order_by(token.c.id)
        )
        return [TokenInfo(r.id, r.label, r.created, r.revoked) for r in rows]


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
            select(token.c.label, token.c.revoked, register.c.name)
            .join_from(token, register, token.c.register_id == register.c.id)
            .where(token.c.hash == _digest(secret))
        ).first()
    if row is None or row.revoked is not None:
        raise Unauthorized("the token is not a live custodian token")
    if row.name != name:
        raise Forbidden(f"the token is for register '{row.name}', not '{name}'")
    return str(row.label)
