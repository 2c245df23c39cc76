"""Key handover notes: how a register's signing key names its successor, so that clients and
mirrors holding only the old key can follow a rotation.

A handover note is a C2SP signed note whose text is::

    registers key handover
    old <the retired verifier key>
    new <the verifier key that signs from now on>
    at <UTC timestamp>

signed by the old key (which vouches for the new one) and by the new key (which shows its
holder has the private key). A client trusts the new key exactly when the note verifies with
a key it already trusts and the old key named is that key. A key hands over once: a second
note by the same old key naming another successor (as whoever stole a retired key's private
file could sign) is never followed. A key the client holds as superseded (it signed earlier
checkpoints, but a later one was signed by another key) never hands over, and is never
reached again. The note's text is read exactly as its signatures cover it (up to the last
blank line), so it cannot claim one handover and be signed over another.
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
    split = note.rfind("\n\n")  # where the signatures start, as open_note splits the note
    if split < 0:
        raise NoteError("not a key handover note")
    lines = note[:split].split("\n")
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


@dataclass(frozen=True)
class Walk:
    """Where handover notes lead from some trusted keys: the handovers followed, in order, and
    why each note that names a key not reached was not followed (by that key's label)."""

    followed: tuple[Handover, ...]
    refused: dict[str, str]

    def why(self, label: str) -> str | None:
        """Why the note naming the key ``label`` (``name+hex key id``) was not followed; None
        when no note names it."""
        return self.refused.get(label)


def walk(trusted: Iterable[VerifierKey], notes: Iterable[str], before: Iterable[Handover] = (),
         superseded: Iterable[VerifierKey] = ()) -> Walk:
    """Follow ``notes`` from the ``trusted`` keys: a note is followed once it is genuine for a
    key trusted by then (chains of rotations are followed to their end, in any order). A key
    hands over once: ``before`` holds the handovers followed on earlier runs, and a genuine
    note naming another successor for a key that has one, or two genuine notes naming
    different successors, is never followed (the old key's private key may have leaked).
    ``superseded``: keys the client no longer trusts for anything new; a note retiring one
    leads nowhere (it is not trusted), and a note naming one is never followed."""
    known = list(trusted)
    retired = [k for k in superseded if k not in known]
    successor = {h.old: h.new for h in before}
    pending = list(dict.fromkeys(notes))
    followed: list[Handover] = []
    progress = True
    while progress:
        progress = False
        opened = _genuine(pending, known)
        named: dict[VerifierKey, set[VerifierKey]] = {}
        for handover in opened:
            named.setdefault(handover.old, set()).add(handover.new)
        for handover in opened:
            rivals = named[handover.old] | ({successor[handover.old]} if handover.old in successor else set())
            if len(rivals) > 1 or handover.new in retired:
                continue
            pending.remove(handover.note)
            successor[handover.old] = handover.new
            if handover.new not in known:
                known.append(handover.new)
                followed.append(handover)
                progress = True
    refused: dict[str, str] = {}
    for note in pending:
        try:
            claimed = parse_handover(note)
        except NoteError:
            continue
        if claimed.new in known or claimed.new.label in refused:
            continue
        try:
            open_handover(note, known)
        except NoteError as exc:
            refused[claimed.new.label] = (
                f"the handover note retires {claimed.old.label}, a key superseded here: a superseded key never "
                "hands over (its private key may have leaked)" if claimed.old in retired else str(exc)
            )
            continue
        if claimed.new in retired:
            refused[claimed.new.label] = (
                f"the handover note names {claimed.new.label}, a key superseded here: a superseded key is never "
                "trusted again"
            )
            continue
        # genuine, yet not followed: its old key named another successor too
        rivals = {h.new for h in _genuine(pending, known) if h.old == claimed.old}
        if claimed.old in successor:
            rivals.add(successor[claimed.old])
        others = ", ".join(sorted(k.label for k in rivals - {claimed.new}))
        refused[claimed.new.label] = (
            f"the handover note retires {claimed.old.label}, which handed over to {others} too: a key hands over "
            "once (its private key may have leaked)"
        )
    return Walk(tuple(followed), refused)


def _genuine(notes: list[str], trusted: list[VerifierKey]) -> list[Handover]:
    """The handovers of ``notes`` that are genuine for the ``trusted`` keys."""
    genuine = []
    for note in notes:
        try:
            genuine.append(open_handover(note, trusted))
        except NoteError:
            continue
    return genuine


def follow(trusted: Iterable[VerifierKey], notes: Iterable[str], before: Iterable[Handover] = (),
           superseded: Iterable[VerifierKey] = ()) -> list[Handover]:
    """The handovers, in the order they are followed, that lead from ``trusted`` keys to new
    ones through ``notes`` (see ``walk``; notes that are not genuine are ignored)."""
    return list(walk(trusted, notes, before, superseded).followed)
