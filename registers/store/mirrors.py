"""Mirrored registers: copies of a register served elsewhere, kept read-only here.

A mirrored register records the URL it copies (``mirror``) and the origin's public keys that
verify its checkpoints (``mirror_key``): the keys given on purpose when it was first mirrored,
and those learnt since through handover notes the origin's old keys signed. Its checkpoints
are the origin's signed notes, stored and served exactly as signed; this server signs nothing
for it and needs no private key.

Which origin keys are *current* is derived from the stored checkpoints, not recorded: the
newest recorded key that verifies the latest stored checkpoint notes, and those it handed over
to through the handover notes recorded. Every other recorded key is *superseded*: it still verifies the
stored checkpoints it signed, but never signs a new checkpoint nor hands over again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import insert, select
from sqlalchemy.engine import Connection

from ..core.entries import now_timestamp
from ..core.errors import ReadOnlyMirror
from ..core.handover import Handover, parse_handover
from ..core.notes import NoteError, VerifierKey, open_checkpoint
from . import reads
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


@dataclass(frozen=True)
class OriginKey:
    """An origin key recorded with a mirrored register: when this mirror learnt it, the
    handover it was learnt through (None: given on purpose), the handover by which it retired
    (None: none known), and whether it is current (see the module's doc)."""

    key: VerifierKey
    learnt: str
    learnt_from: Handover | None
    handed_over: Handover | None
    current: bool

    @property
    def status(self) -> str:
        """``current`` or ``superseded``."""
        return "current" if self.current else "superseded"


def origin_key_status(conn: Connection, reg_id: int) -> list[OriginKey]:
    """Each origin key of mirrored register ``reg_id``, oldest first, with its status."""
    rows = origin_key_rows(conn, reg_id)
    learnt = {key: parse_handover(note) for key, _added, note in rows if note}
    notes = reads.latest_notes(conn, reg_id)
    signed = [note for note in (notes or {}).values() if note]
    current = current_keys([key for key, _a, _n in rows], signed, learnt.values())
    handed = {h.old: h for h in learnt.values()}
    return [OriginKey(key, added, learnt.get(key), handed.get(key), key in current) for key, added, _note in rows]


def current_keys(keys: list[VerifierKey], notes: list[str], handovers: Iterable[Handover]) -> list[VerifierKey]:
    """Of ``keys`` (oldest first), the newest that verifies one of the latest checkpoint
    ``notes``, and those it handed over to (through ``handovers``, a key handing over once), in
    the order of ``keys``. Only the newest signer counts: an older key's signature beside it
    (a co-signature by a superseded key, as whoever stole its private file could add) makes
    that key current again never."""
    newest = next((key for key in reversed(keys) if any(signs(note, key) for note in notes)), None)
    signers = {newest} if newest is not None else set()
    successor = {h.old: h.new for h in handovers}
    reached, todo = set(signers), list(signers)
    while todo:
        new = successor.get(todo.pop())
        if new is not None and new not in reached and new in keys:
            reached.add(new)
            todo.append(new)
    return [key for key in keys if key in reached]


def signs(note: str, key: VerifierKey) -> bool:
    """Whether ``key`` signed the checkpoint ``note``."""
    try:
        open_checkpoint(note, [key])
    except NoteError:
        return False
    return True


def mirrored_registers(conn: Connection) -> list[tuple[str, str, int]]:
    """Every mirrored register here: its name, the URL it mirrors and its id, by name."""
    rows = conn.execute(
        select(register.c.name, mirror.c.url, register.c.id).join(mirror, mirror.c.register_id == register.c.id)
        .order_by(register.c.name)
    )
    return [(r.name, r.url, r.id) for r in rows]


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
