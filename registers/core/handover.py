"""Key handover notes: how a register's signing key names its successor, so that clients and
mirrors holding only the old key can follow a rotation.

A handover note is a C2SP signed note whose text is::

    registers key handover
    old <the retired verifier key>
    new <the verifier key that signs from now on>
    at <UTC timestamp>

signed by the old key (which vouches for the new one) and by the new key (which shows its
holder has the private key). A client trusts the new key exactly when the note verifies with
a key it already trusts and the old key named is that key.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .notes import NoteError, SignerKey, VerifierKey, open_note, sign_note

HEADING = "registers key handover"


@dataclass(frozen=True)
class Handover:
    """One rotation: ``old`` retired in favour of ``new`` at ``at``, and the signed note."""

    old: VerifierKey
    new: VerifierKey
    at: str
    note: str


def handover_text(old: VerifierKey, new: VerifierKey, at: str) -> str:
    """The text a handover note signs."""
    return f"{HEADING}\nold {old.text}\nnew {new.text}\nat {at}\n"


def sign_handover(old: SignerKey, new: SignerKey, at: str) -> str:
    """The handover note from ``old`` to ``new``, signed by both."""
    return sign_note(handover_text(old.verifier, new.verifier, at), old, new)


def parse_handover(note: str) -> Handover:
    """The handover a note claims (signatures not checked); NoteError when it is not one."""
    text = note.split("\n\n", 1)[0] + "\n"
    lines = text[:-1].split("\n")
    if len(lines) != 4 or lines[0] != HEADING or not lines[1].startswith("old ") \
            or not lines[2].startswith("new ") or not lines[3].startswith("at "):
        raise NoteError("not a key handover note")
    old, new = VerifierKey.parse(lines[1][4:]), VerifierKey.parse(lines[2][4:])
    if old.public_key == new.public_key:
        raise NoteError("a handover note names the same key twice")
    return Handover(old, new, lines[3][3:], note)


def open_handover(note: str, trusted: Iterable[VerifierKey]) -> Handover:
    """The handover in ``note`` once it is shown genuine: its old key is one of ``trusted`` and
    signed it, and the new key signed it too. NoteError naming what fails otherwise."""
    handover = parse_handover(note)
    if handover.old not in set(trusted):
        raise NoteError(f"the handover note retires {handover.old.label}, which is not a trusted key")
    for key, role in ((handover.old, "old"), (handover.new, "new")):
        try:
            open_note(note, [key])
        except NoteError:
            raise NoteError(f"the handover note is not signed by its {role} key {key.label}") from None
    return handover


def follow(trusted: Iterable[VerifierKey], notes: Iterable[str]) -> list[Handover]:
    """The handovers, in the order they are followed, that lead from ``trusted`` keys to new
    ones through ``notes`` (each must be genuine for a key trusted by then; others are
    ignored). Chains of rotations are followed to their end."""
    known = list(trusted)
    pending = list(notes)
    followed: list[Handover] = []
    progress = True
    while progress:
        progress = False
        for note in list(pending):
            try:
                handover = open_handover(note, known)
            except NoteError:
                continue
            pending.remove(note)
            if handover.new not in known:
                known.append(handover.new)
                followed.append(handover)
                progress = True
    return followed
