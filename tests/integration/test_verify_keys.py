"""'registers verify NAME' checks the keys too, on both databases: with --key (a key obtained out
of band) the latest checkpoints must be signed by it or by a key it hands over to through the
handover notes recorded here; and every recorded handover note must be genuine, so that whoever
controls the database but not the old private key cannot slip a key of their own in with a
forged note (this server's keys, and a mirror's origin keys alike)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import Result
from sqlalchemy import Engine, insert, update

from registers import service
from registers.core.handover import handover_text
from registers.core.notes import SignerKey, VerifierKey, sign_note
from registers.store import schema, signing
from tests.integration.helpers import load
from tests.integration.test_key_model import cli, ok
from tests.integration.test_mirror import database
from tests.integration.test_mirror_keys import on_mirror, served


def _keys(engine: Engine) -> list[VerifierKey]:
    return [VerifierKey.parse(k) for k in service.public_keys(engine)]


def _failed(db_url: str, *args: str) -> str:
    """What a failed 'registers verify' says (one line on stderr, exit 1), without its target."""
    done = cli(db_url, "verify", *args)
    assert done.exit_code == 1 and done.stdout == "", done.output
    prefix = f"{args[0]}: FAILED: "
    assert done.stderr.startswith(prefix) and done.stderr.count("\n") == 1, done.stderr
    return done.stderr[len(prefix):-1]


def _given(db_url: str, *args: str) -> Result:
    done = ok(db_url, "verify", *args)
    assert done.stdout.startswith(f"{args[0]}: ok: "), done.stdout
    return done


def _not_signed(log: str, signer: VerifierKey, *given: VerifierKey, retired: VerifierKey | None = None) -> str:
    """The failure of a --key check; ``retired``: the key whose handover note names the signer,
    which no given key reaches."""
    why = f"; the handover note naming it is refused: the handover note retires {retired.label}, which is not a " \
        "trusted key" if retired else ""
    return (f"the latest {log} checkpoint is signed by {signer.label}, not by the key(s) given "
            f"({', '.join(k.label for k in given)}) or a key they hand over to through the handover notes recorded "
            f"here{why}")


# -- --key ------------------------------------------------------------------------------------


def test_verify_with_a_key_requires_the_latest_checkpoints_to_be_signed_by_it_or_its_successors(
        engine: Engine, db_url: str) -> None:
    load(engine, "country-small.rsf", "country")
    [k1] = _keys(engine)
    unrelated = SignerKey.generate(k1.name).verifier  # the same name, another key
    done = _given(db_url, "country", "--key", k1.text)
    assert "every checkpoint signature (the latest checked with the given key); root 7 " in done.stdout
    assert _failed(db_url, "country", "--key", unrelated.text) == _not_signed("user", k1, unrelated)
    assert "(the latest checked with the given keys)" in _given(db_url, "country", "--key", unrelated.text,
                                                                "--key", k1.text).stdout
    # a rotation: the old key reaches the new one through the recorded handover note
    k2 = service.rotate_key(engine).handover.new
    service.apply_change(engine, "country", service.RecordChange("amend", "GB", {"name": "Albion"}))
    done = _given(db_url, "country", "--key", k1.text)
    assert "(the latest checked with the given key)" in done.stdout
    assert done.stderr.startswith(f"now trusting {k2.label}; add it to your configuration: {k2.text} (handed over by "
                                  f"{k1.label} at ")
    assert "(the latest checked with the given key)" in _given(db_url, "country", "--since", "7", "--key",
                                                               k1.text).stdout
    assert _failed(db_url, "country", "--key", unrelated.text) == _not_signed("user", k2, unrelated, retired=k1)
    # a lost key retired with no note: the keys before it reach nothing after it
    k3 = VerifierKey.parse(service.replace_lost_key(engine).new.vkey)
    service.apply_change(engine, "country", service.RecordChange("amend", "GB", {"name": "Britain"}))
    assert _given(db_url, "country").stdout.startswith("country: ok: ")  # a key retired with no note is no fault
    assert _failed(db_url, "country", "--key", k1.text) == _not_signed("user", k3, k1)
    assert _failed(db_url, "country", "--key", k2.text) == _not_signed("user", k3, k2)
    _given(db_url, "country", "--key", k3.text)
    _given(db_url, "country", "--key", k1.text, "--key", k3.text)


# -- the recorded key history -----------------------------------------------------------------


AT = "2025-01-01T00:00:00Z"


def _slip_in(engine: Engine, key_dir: Path, old: VerifierKey, attacker: SignerKey, note: str | None) -> None:
    """An attacker with the database (not the old private key) records a key of their own as
    the old key's successor, with ``note`` as its handover, and plants its private file."""
    at = AT
    k = schema.signing_key.c
    with engine.begin() as conn:
        conn.execute(update(schema.signing_key).where(k.vkey == old.text).values(retired=at, handover=note))
        conn.execute(insert(schema.signing_key).values(vkey=attacker.verifier.text, created=at))
    signing.write_private_key(key_dir, attacker)


def test_a_forged_handover_note_recorded_in_the_database_fails_verify(engine: Engine, db_url: str,
                                                                      key_dir: Path) -> None:
    load(engine, "country-small.rsf", "country")
    [old] = _keys(engine)
    impostor = SignerKey.generate(old.name)  # signs in the old key's name: not the old key
    new = SignerKey.generate(old.name)
    _slip_in(engine, key_dir, old, new, sign_note(handover_text(old, new.verifier, AT), impostor, new))
    service.apply_change(engine, "country", service.RecordChange("amend", "GB", {"name": "Albion"}))  # signed by it
    said = f"key {old.label}: its handover note is not genuine: the handover note is not signed by its old key {old.label}"
    assert _failed(db_url, "country") == said
    assert _failed(db_url, "country", "--key", old.text) == said


def test_a_key_slipped_in_with_no_note_verifies_but_not_with_the_old_key(engine: Engine, db_url: str,
                                                                         key_dir: Path) -> None:
    """With no note the old key looks lost (as after 'keys rotate --lost'): no fault on its own,
    but a consumer holding the old key is not led to the attacker's."""
    load(engine, "country-small.rsf", "country")
    [old] = _keys(engine)
    attacker = SignerKey.generate(old.name)
    _slip_in(engine, key_dir, old, attacker, None)
    service.apply_change(engine, "country", service.RecordChange("amend", "GB", {"name": "Albion"}))
    _given(db_url, "country")
    assert _failed(db_url, "country", "--key", old.text) == _not_signed("user", attacker.verifier, old)


def test_a_genuine_note_naming_another_key_than_the_one_recorded_next_fails_verify(
        engine: Engine, db_url: str, key_dir: Path) -> None:
    load(engine, "country-small.rsf", "country")
    [k1] = _keys(engine)
    rotated = service.rotate_key(engine)
    service.apply_change(engine, "country", service.RecordChange("amend", "GB", {"name": "Albion"}))
    attacker = SignerKey.generate(k1.name)  # the genuine note K1 -> K2 kept, K2 swapped for a key of theirs
    k = schema.signing_key.c
    with engine.begin() as conn:
        conn.execute(update(schema.signing_key).where(k.vkey == rotated.handover.new.text)
                     .values(vkey=attacker.verifier.text))
    assert _failed(db_url, "country") == (f"key {k1.label}: its handover note names {rotated.handover.new.label}, but "
                                          f"the key recorded after it is {attacker.verifier.label}")


# -- a mirror's origin keys -------------------------------------------------------------------


def test_a_mirrors_origin_keys_are_checked_and_followed_from_a_given_key(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy_keys = tmp_path / "copy-keys"
    with database(tmp_path, "origin") as (url, origin), served(url) as base, \
            database(tmp_path, "copy", signed=False) as (copy_url, copy):
        load(origin, "country-small.rsf", "country")
        [k1] = _keys(origin)
        with on_mirror(monkeypatch, copy_keys):
            service.mirror(copy, f"{base}/country/", [k1])
        k2 = service.rotate_key(origin).handover.new
        service.append_items(origin, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
        with on_mirror(monkeypatch, copy_keys):
            service.mirror(copy, f"{base}/country/", [])  # learns k2 through the handover note
        unrelated = SignerKey.generate(k1.name).verifier
        done = _given(copy_url, "country", "--key", k1.text)
        assert "(the latest checked with the given key)" in done.stdout and f"now trusting {k2.label}" in done.stderr
        assert _failed(copy_url, "country", "--key", unrelated.text) == _not_signed("user", k2, unrelated, retired=k1)
        # an attacker with the mirror's database swaps the note k2 was learnt from for a forged one
        impostor = SignerKey.generate(k1.name)
        forged = sign_note(handover_text(k1, k2, AT), impostor)
        m = schema.mirror_key.c
        with copy.begin() as conn:
            conn.execute(update(schema.mirror_key).where(m.vkey == k2.text).values(handover=forged))
        said = (f"origin key {k2.label}: the handover note it was learnt from is not genuine: the handover note is not "
                f"signed by its old key {k1.label}")
        assert _failed(copy_url, "country") == said
        assert not copy_keys.exists()
