"""Who signs the checkpoints an append records (``append(..., signed=...)``).

- ``OWN_KEY`` (the default): this server's signing key signs; a mirrored register is refused
  (read-only), and with no signing key at hand the append is refused (NoSigningKey).
- ``OriginSigned``: a mirror's append stores the origin's signed notes as they are; they must
  verify with the origin's keys and sign exactly the state the append reaches.
- ``UNSIGNED``: scratch databases that check a dump or a download and are then thrown away.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..core.entries import Log
from ..core.errors import IntegrityError, RegisterError
from ..core.items import hash_text
from ..core.notes import VerifierKey
from . import mirrors, reads, signing
from .schema import entry


class Signed(Protocol):
    """How an append's new checkpoints are signed."""

    def admit(self, conn: Connection, reg_id: int, name: str, created: bool) -> None:
        """Refuse the append before it starts, or record what it needs (under the write lock)."""

    def keys(self, conn: Connection, reg_id: int) -> list[VerifierKey]:
        """The keys the register's stored checkpoints verify with."""

    def notes(self, conn: Connection, name: str, new: reads.Head, keys: list[VerifierKey]) -> dict[Log, str]:
        """The signed notes of both logs at ``new``."""


class OwnKey:
    """This server's signing key signs."""

    def admit(self, conn: Connection, reg_id: int, name: str, created: bool) -> None:
        mirrors.refuse_write(conn, reg_id)

    def keys(self, conn: Connection, reg_id: int) -> list[VerifierKey]:
        return signing.verifier_keys(conn)

    def notes(self, conn: Connection, name: str, new: reads.Head, keys: list[VerifierKey]) -> dict[Log, str]:
        signer = signing.current_signer(conn)
        return {log: signing.sign(signer, name, log, new.size(log), new.root(log)) for log in Log}


class Unsigned:
    """Nothing is signed: for scratch databases only (their checkpoints hold empty notes)."""

    def admit(self, conn: Connection, reg_id: int, name: str, created: bool) -> None:
        return None

    def keys(self, conn: Connection, reg_id: int) -> list[VerifierKey]:
        return []

    def notes(self, conn: Connection, name: str, new: reads.Head, keys: list[VerifierKey]) -> dict[Log, str]:
        return {log: "" for log in Log}


OWN_KEY = OwnKey()
UNSIGNED = Unsigned()


@dataclass(frozen=True)
class OriginSigned:
    """A mirror's append of ``url``: the origin's notes for the state it must reach, and the
    origin keys to record first (each with the handover note it was learnt from, or None when
    given on purpose)."""

    url: str
    user_note: str
    system_note: str
    trust: tuple[tuple[VerifierKey, str | None], ...] = ()

    def admit(self, conn: Connection, reg_id: int, name: str, created: bool) -> None:
        url = mirrors.mirrored_from(conn, reg_id)
        if url is None and not created and _has_entries(conn, reg_id):
            raise RegisterError(f"register '{name}' is this server's own: it cannot become a mirror of {self.url}")
        if url is not None and url != self.url:
            raise RegisterError(f"register '{name}' mirrors {url}, not {self.url}")
        mirrors.record_mirror(conn, reg_id, self.url)
        for key, handover in self.trust:
            mirrors.trust_origin_key(conn, reg_id, key, handover)

    def keys(self, conn: Connection, reg_id: int) -> list[VerifierKey]:
        return mirrors.origin_keys(conn, reg_id)

    def notes(self, conn: Connection, name: str, new: reads.Head, keys: list[VerifierKey]) -> dict[Log, str]:
        notes = {Log.USER: self.user_note, Log.SYSTEM: self.system_note}
        for log, note in notes.items():
            signed = signing.open_stored(note, keys, f"{self.url}: the origin's {log.label} checkpoint")
            if (signed.size, signed.root) != (new.size(log), new.root(log)):
                raise IntegrityError(
                    f"{self.url}: the {log.label} log here has {new.size(log)} entries with root "
                    f"{hash_text(new.root(log))}, not the signed {signed.size} with {hash_text(signed.root)}"
                )
        return notes


def _has_entries(conn: Connection, reg_id: int) -> bool:
    return conn.execute(select(entry.c.number).where(entry.c.register_id == reg_id).limit(1)).first() is not None
