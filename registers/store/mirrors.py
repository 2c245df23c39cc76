"""Mirrored registers: copies of a register served elsewhere, kept read-only here.

A mirrored register records the URL it copies (``mirror``) and the origin's public keys that
verify its checkpoints (``mirror_key``): the keys given on purpose when it was first mirrored,
and those learnt since through handover notes the origin's old keys signed. Its checkpoints
are the origin's signed notes, stored and served exactly as signed; this server signs nothing
for it and needs no private key.
"""

from __future__ import annotations

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from ..core.entries import now_timestamp
from ..core.errors import ReadOnlyMirror
from ..core.notes import VerifierKey
from .schema import mirror, mirror_key, register
from .signing import refuse_compromised, verifier_keys


def mirrored_from(conn: Connection, reg_id: int) -> str | None:
    """The URL register ``reg_id`` mirrors, or None when it is this server's own."""
    return conn.execute(select(mirror.c.url).where(mirror.c.register_id == reg_id)).scalar()


def refuse_write(conn: Connection, reg_id: int) -> None:
    """ReadOnlyMirror when register ``reg_id`` is a mirror (local writes are refused)."""
    url = mirrored_from(conn, reg_id)
    if url is not None:
        name = conn.execute(select(register.c.name).where(register.c.id == reg_id)).scalar_one()
        raise ReadOnlyMirror(name, url)


def record_mirror(conn: Connection, reg_id: int, url: str) -> None:
    """Record register ``reg_id`` as a mirror of ``url`` (once)."""
    if mirrored_from(conn, reg_id) is None:
        conn.execute(insert(mirror).values(register_id=reg_id, url=url, created=now_timestamp()))


def origin_keys(conn: Connection, reg_id: int) -> list[VerifierKey]:
    """The origin's public keys recorded for mirrored register ``reg_id``, oldest first."""
    m = mirror_key.c
    rows = conn.execute(select(m.vkey).where(m.register_id == reg_id).order_by(m.id)).scalars()
    return [VerifierKey.parse(text) for text in rows]


def origin_key_rows(conn: Connection, reg_id: int) -> list[tuple[VerifierKey, str, str | None]]:
    """Each origin key of mirrored register ``reg_id``, oldest first, with when it was added
    and the handover note it was learnt from (None: given on purpose)."""
    m = mirror_key.c
    rows = conn.execute(select(m.vkey, m.added, m.handover).where(m.register_id == reg_id).order_by(m.id))
    return [(VerifierKey.parse(r.vkey), r.added, r.handover) for r in rows]


def trust_origin_key(conn: Connection, reg_id: int, key: VerifierKey, handover: str | None = None) -> bool:
    """Record ``key`` as one of the origin's keys for register ``reg_id`` (``handover``: the
    note it was learnt from); whether it was new. CompromisedKey for a compromised key."""
    refuse_compromised(key)
    m = mirror_key.c
    if conn.execute(select(m.id).where(m.register_id == reg_id, m.vkey == key.text)).first() is not None:
        return False
    conn.execute(insert(mirror_key).values(register_id=reg_id, vkey=key.text, added=now_timestamp(), handover=handover))
    return True


def register_keys(conn: Connection, reg_id: int) -> list[VerifierKey]:
    """The keys that verify register ``reg_id``'s checkpoints: its origin's for a mirror, this
    server's own otherwise."""
    if mirrored_from(conn, reg_id) is not None:
        return origin_keys(conn, reg_id)
    return verifier_keys(conn)
