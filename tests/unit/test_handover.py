"""Key handover notes (core.handover): a client holding an old key trusts a new one exactly
when a note signed by the old key (and by the new one) names it; chains of rotations are
followed in any order; forged, malformed and unrelated notes lead nowhere."""

from __future__ import annotations

import re

import pytest

from registers.core.handover import (
    HEADING,
    follow,
    handover_text,
    open_handover,
    parse_handover,
    sign_handover,
    walk,
)
from registers.core.notes import NoteError, Signature, SignerKey, add_signatures, sign_note

AT = "2026-12-06T12:00:00Z"
K1, K2, K3 = (SignerKey.generate("registers.example") for _ in range(3))
ATTACKER = SignerKey.generate("registers.example")


def test_a_genuine_handover_is_followed_from_the_old_key() -> None:
    note = sign_handover(K1, K2, AT)
    assert note.startswith(f"{HEADING}\nold {K1.verifier.text}\nnew {K2.verifier.text}\nat {AT}\n\n")
    handover = open_handover(note, [K1.verifier])
    assert (handover.old, handover.new, handover.at, handover.note) == (K1.verifier, K2.verifier, AT, note)
    assert follow([K1.verifier], [note]) == [handover]
    assert walk([K1.verifier], [note]).refused == {}  # nothing wrong with it


def test_a_handover_leads_nowhere_for_a_client_that_does_not_trust_the_old_key() -> None:
    note = sign_handover(K1, K2, AT)
    with pytest.raises(NoteError, match=re.escape(f"retires {K1.verifier.label}, which is not a trusted key")):
        open_handover(note, [K3.verifier])
    assert follow([K3.verifier], [note]) == []
    assert follow([], [note]) == []


def test_a_client_trusting_only_the_new_key_learns_nothing() -> None:
    assert follow([K2.verifier], [sign_handover(K1, K2, AT)]) == []


@pytest.mark.parametrize(
    ("signers", "fault"),
    [
        ((ATTACKER, K2), "not signed by its old key"),  # the attacker holds the new key only
        ((K2,), "not signed by its old key"),
        ((ATTACKER,), "not signed by its old key"),
        ((K1,), "not signed by its new key"),  # nobody showed they hold the new key
        ((K1, ATTACKER), "not signed by its new key"),
    ],
)
def test_a_forged_handover_is_refused_naming_the_missing_signature(signers: tuple[SignerKey, ...],
                                                                    fault: str) -> None:
    new = ATTACKER if signers[0] is ATTACKER and len(signers) == 1 else K2
    note = sign_note(handover_text(K1.verifier, new.verifier, AT), *signers)
    with pytest.raises(NoteError, match=fault):
        open_handover(note, [K1.verifier])
    assert follow([K1.verifier], [note]) == []
    assert fault in (walk([K1.verifier], [note]).why(new.verifier.label) or "")


def test_a_signature_under_the_old_keys_name_and_id_by_another_key_is_refused() -> None:
    """A signature line that claims to be the old key's (its name and key id) but was made by
    another key does not verify."""
    text = handover_text(K1.verifier, K2.verifier, AT)
    stolen = Signature(K1.name, K1.key_id, ATTACKER.sign(text.encode()))
    note = text + "\n" + stolen.line + Signature(K2.name, K2.key_id, K2.sign(text.encode())).line
    with pytest.raises(NoteError, match="not signed by its old key"):
        open_handover(note, [K1.verifier])
    assert follow([K1.verifier], [note]) == []


def test_a_handover_text_edited_after_signing_is_refused() -> None:
    genuine = sign_handover(K1, K2, AT)
    edited = genuine.replace(f"new {K2.verifier.text}", f"new {K3.verifier.text}")
    with pytest.raises(NoteError, match="not signed by its old key"):
        open_handover(edited, [K1.verifier])
    assert follow([K1.verifier], [edited]) == []
    later = genuine.replace(AT, "2030-01-01T00:00:00Z")
    assert follow([K1.verifier], [later]) == []


def test_chains_of_rotations_are_followed_to_their_end_in_any_order() -> None:
    first, second = sign_handover(K1, K2, AT), sign_handover(K2, K3, "2026-12-07T12:00:00Z")
    for notes in ([first, second], [second, first]):
        followed = follow([K1.verifier], notes)
        assert [(h.old, h.new) for h in followed] == [(K1.verifier, K2.verifier), (K2.verifier, K3.verifier)]
    # from the middle of the chain, only what comes after
    assert [h.new for h in follow([K2.verifier], [first, second])] == [K3.verifier]
    # a broken link stops the chain where it breaks
    forged = sign_note(handover_text(K2.verifier, K3.verifier, AT), ATTACKER, K3)
    assert [h.new for h in follow([K1.verifier], [first, forged])] == [K2.verifier]
    assert "not signed by its old key" in (walk([K1.verifier], [first, forged]).why(K3.verifier.label) or "")


def test_a_genuine_note_among_forged_and_malformed_ones_is_still_followed() -> None:
    forged = sign_note(handover_text(K1.verifier, ATTACKER.verifier, AT), ATTACKER)
    genuine = sign_handover(K1, K2, AT)
    followed = follow([K1.verifier], ["", "not a note", forged, genuine, genuine])
    assert [h.new for h in followed] == [K2.verifier]


def test_a_handover_naming_the_same_key_twice_is_refused() -> None:
    note = sign_note(handover_text(K1.verifier, K1.verifier, AT), K1)
    with pytest.raises(NoteError, match="names the same key twice"):
        parse_handover(note)
    assert follow([K1.verifier], [note]) == []
    # the same public key under another name is the same key
    renamed = SignerKey("another.example", K1.seed)
    assert renamed.verifier.public_key == K1.verifier.public_key and renamed.verifier != K1.verifier
    note = sign_note(handover_text(K1.verifier, renamed.verifier, AT), K1, renamed)
    with pytest.raises(NoteError, match="names the same key twice"):
        open_handover(note, [K1.verifier])
    assert follow([K1.verifier], [note]) == []


@pytest.mark.parametrize(
    "text",
    [
        "",
        "registers key handover\n",
        f"registers key handover\nold {K1.verifier.text}\nnew {K2.verifier.text}\n",  # no date
        f"registers key handover\nold {K1.verifier.text}\nnew {K2.verifier.text}\nat {AT}\nmore\n",
        f"registers key handoff\nold {K1.verifier.text}\nnew {K2.verifier.text}\nat {AT}\n",
        f"registers key handover\nnew {K2.verifier.text}\nold {K1.verifier.text}\nat {AT}\n",
        f"registers key handover\nold {K1.verifier.text}\nnew not-a-key\nat {AT}\n",
        f"registers key handover\nold {K1.verifier.text}x\nnew {K2.verifier.text}\nat {AT}\n",
        f"registers key handover\nold {K1.verifier.text}\n\nnew {K2.verifier.text}\nat {AT}\n",
        "localhost/country\n7\nAAAA\n",  # a checkpoint's text: old keys sign those too
    ],
)
def test_malformed_notes_are_not_handovers(text: str) -> None:
    note = sign_note(text, K1, K2) if text else ""
    with pytest.raises(NoteError):
        parse_handover(note)
    with pytest.raises(NoteError):
        open_handover(note, [K1.verifier])
    assert follow([K1.verifier], [note]) == []


def test_a_note_whose_signature_block_hides_a_second_text_is_not_a_handover() -> None:
    """The handover is read from the text the signatures cover (up to the last blank line), so
    a note cannot claim one handover in its first lines and be signed over something else."""
    inner = handover_text(K1.verifier, ATTACKER.verifier, AT)
    note = sign_note(inner + "\n" + "padding\n", K1, ATTACKER)
    with pytest.raises(NoteError, match="not a key handover note"):
        parse_handover(note)
    assert follow([K1.verifier], [note]) == []


def test_a_cosignature_added_later_does_not_change_what_a_handover_says() -> None:
    note = add_signatures(sign_handover(K1, K2, AT), K3)
    handover = open_handover(note, [K1.verifier])
    assert (handover.old, handover.new) == (K1.verifier, K2.verifier)


def test_a_key_hands_over_once() -> None:
    """An old key that signs a second handover note naming another successor (its private key
    leaked after the rotation) leads nowhere: not after the first was followed on an earlier
    run, and not when both are served at once."""
    genuine, rival = sign_handover(K1, K2, AT), sign_handover(K1, ATTACKER, "2027-01-01T00:00:00Z")
    [first] = follow([K1.verifier], [genuine])
    # a later run: the first handover is recorded, K2 trusted; only the rival note is served
    later = walk([K1.verifier, K2.verifier], [rival], before=[first])
    assert later.followed == ()
    assert later.why(ATTACKER.verifier.label) == (
        f"the handover note retires {K1.verifier.label}, which handed over to {K2.verifier.label} too: a key hands "
        "over once (its private key may have leaked)")
    # the genuine note served again beside the recorded handover is no rival
    assert walk([K1.verifier, K2.verifier], [genuine], before=[first]).refused == {}
    # both at once, in either order: neither is followed
    for notes in ([genuine, rival], [rival, genuine]):
        both = walk([K1.verifier], notes)
        assert both.followed == ()
        assert f"which handed over to {K2.verifier.label} too" in (both.why(ATTACKER.verifier.label) or "")
        assert f"which handed over to {ATTACKER.verifier.label} too" in (both.why(K2.verifier.label) or "")
    # the same note twice is one handover
    assert [h.new for h in follow([K1.verifier], [genuine, genuine])] == [K2.verifier]


def test_a_superseded_key_never_hands_over_and_is_never_reached_again() -> None:
    """K1 handed over to K2, which a client then saw superseded (a later checkpoint was signed by
    K3, given out of band after K2 was lost): whoever holds K2's leaked private key cannot hand
    over to a key of their own, and the current key cannot hand back to a superseded one."""
    leaked = sign_handover(K2, ATTACKER, AT)
    assert [h.new for h in follow([K2.verifier], [leaked])] == [ATTACKER.verifier]  # trusted, it would lead on
    refused = walk([K3.verifier], [leaked], superseded=[K1.verifier, K2.verifier])
    assert refused.followed == ()
    assert refused.why(ATTACKER.verifier.label) == (
        f"the handover note retires {K2.verifier.label}, a key superseded here: a superseded key never hands over "
        "(its private key may have leaked)")
    back = sign_handover(K3, K1, AT)
    walked = walk([K3.verifier], [back], superseded=[K1.verifier, K2.verifier])
    assert walked.followed == ()
    assert walked.why(K1.verifier.label) == (
        f"the handover note names {K1.verifier.label}, a key superseded here: a superseded key is never trusted again")
    # a superseded key that is trusted after all (given again) is not superseded
    assert [h.new for h in follow([K2.verifier], [leaked], superseded=[K2.verifier])] == [ATTACKER.verifier]
