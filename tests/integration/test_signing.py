"""Signed checkpoints: every append signs both logs, rotation keeps old ones verifiable, the
platform never signs a tree inconsistent with its last checkpoint, and the notes are served."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from registers import service
from registers.core.errors import IntegrityError, NoSigningKey, RegisterError
from registers.core.handover import open_handover
from registers.core.items import hash_text
from registers.core.notes import SignerKey, VerifierKey, open_checkpoint
from registers.core.rsf import read_rsf
from registers.store.engine import open_engine
from tests.conftest import RSF
from tests.integration.helpers import app_client, load, snapshot

COUNTRY = "register_id = (SELECT id FROM register WHERE name = 'country')"


def _notes(engine: Engine) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        rows = conn.execute(text(f"SELECT user_note, system_note FROM checkpoint WHERE {COUNTRY} ORDER BY id"))
        return [(r.user_note, r.system_note) for r in rows]


def test_every_append_signs_both_logs_with_the_origin(db_url: str, key_dir: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTERS_ORIGIN", "registers.example.gov.uk")
    engine = open_engine(db_url)
    made = service.generate_key(engine)  # named by the origin
    result = load(engine, "country-208.rsf", "country")
    keys = [VerifierKey.parse(k) for k in service.public_keys(engine)]
    assert len(keys) == 1 and keys[0].name == "registers.example.gov.uk" and keys[0].text == made.vkey
    private = key_dir / f"{keys[0].key_id.hex()}.key"
    assert made.path == private and private.stat().st_mode & 0o777 == 0o600
    assert SignerKey.parse(private.read_text().strip()).verifier == keys[0]  # the file is that key's private half
    user, system = _notes(engine)[-1]
    checkpoint, opened = open_checkpoint(user, keys)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (
        "registers.example.gov.uk/country", 208, result.head.user_root)
    assert opened.verified[0].key_id == keys[0].key_id
    checkpoint, _ = open_checkpoint(system, keys)
    assert (checkpoint.origin, checkpoint.size, checkpoint.root) == (
        "registers.example.gov.uk/country/system", result.head.system_size, result.head.system_root)
    assert service.checkpoint_note(engine, "country") == user
    engine.dispose()


def test_a_rotated_key_signs_from_then_on_and_old_checkpoints_still_verify(engine: Engine, key_dir: Path) -> None:
    service.load_rsf(engine, _first(150), "country")
    old = service.public_keys(engine)
    with pytest.raises(RegisterError, match="signs here already: 'registers keys rotate' replaces it"):
        service.generate_key(engine, "localhost")  # a second key is never made by 'generate'
    assert service.public_keys(engine) == old and len(list(key_dir.iterdir())) == 1
    rotated = service.rotate_key(engine, "localhost")
    new = rotated.handover.new.text
    assert rotated.path == key_dir / f"{rotated.handover.new.key_id.hex()}.key"
    assert service.signing_key(engine) == new and service.public_keys(engine) == [*old, new]
    assert [(r.key.text, r.status) for r in service.key_statuses(engine)] == [(old[0], "retired"), (new, "signing")]
    service.load_rsf(engine, str(_rsf("country-208.rsf")), "country")
    (first_user, _), (second_user, _) = _notes(engine)
    old_key, new_key = VerifierKey.parse(old[0]), VerifierKey.parse(new)
    assert open_checkpoint(first_user, [old_key])[0].size == 150
    assert open_checkpoint(second_user, [new_key])[0].size == 208
    with pytest.raises(ValueError):
        open_checkpoint(second_user, [old_key])
    assert open_handover(rotated.handover.note, [old_key]) == rotated.handover  # the old key vouches for the new
    assert service.verify(engine, "country").head.user_size == 208


def test_a_dry_run_needs_no_key_and_a_write_never_makes_one(db_url: str, key_dir: Path) -> None:
    engine = open_engine(db_url)  # no key made: the database records none
    dry = service.load_rsf(engine, str(RSF / "country-208.rsf"), "country", dry_run=True)
    assert dry.added_user == 208  # checked, signed by nobody, then rolled back
    assert not key_dir.exists() and service.public_keys(engine) == []
    before = snapshot(engine)
    with pytest.raises(NoSigningKey, match=f"records none; make one with 'registers keys generate'.*{key_dir}"):
        load(engine, "country-208.rsf", "country")
    assert snapshot(engine) == before and not key_dir.exists()  # refused whole: no entries, no key
    made = service.generate_key(engine)
    load(engine, "country-208.rsf", "country")
    (only,) = [VerifierKey.parse(k) for k in service.public_keys(engine)]
    assert only.text == made.vkey and [p.name for p in key_dir.iterdir()] == [f"{only.key_id.hex()}.key"]
    trial = service.apply_change(engine, "country", service.RecordChange("amend", "GB", {"name": "Trial"}), commit=False)
    assert trial.added_user == 1 and service.head(engine, "country").user_size == 208
    assert service.public_keys(engine) == [only.text] and len(list(key_dir.iterdir())) == 1
    engine.dispose()


def test_the_platform_refuses_to_sign_a_tree_inconsistent_with_its_last_checkpoint(engine: Engine) -> None:
    load(engine, "country-208.rsf", "country")
    before = _notes(engine)
    with engine.begin() as conn:
        conn.execute(text(f"UPDATE merkle_tile SET hashes = zeroblob(length(hashes)) WHERE {COUNTRY} AND log = 0")
                     if conn.dialect.name == "sqlite" else
                     text(f"UPDATE merkle_tile SET hashes = decode(repeat('00', length(hashes)), 'hex') "
                          f"WHERE {COUNTRY} AND log = 0"))
    with pytest.raises(IntegrityError, match="refusing to sign: the user log of 'country' at size 209 is not "
                                             "consistent with its signed checkpoint at size 208"):
        service.append_items(engine, "country", [("XX", {"country": "XX", "name": "Nowhere"})])
    assert _notes(engine) == before and service.head(engine, "country").user_size == 208


@pytest.mark.parametrize("tamper", [
    "swap", "edit-note", "drop-key",
])
def test_tampered_signatures_are_caught(engine: Engine, tamper: str) -> None:
    service.load_rsf(engine, _first(100), "country")
    service.load_rsf(engine, str(_rsf("country-208.rsf")), "country")
    with engine.begin() as conn:
        if tamper == "swap":  # the two checkpoints' signed notes trade places
            rows = conn.execute(text(f"SELECT id, user_note FROM checkpoint WHERE {COUNTRY} ORDER BY id")).all()
            for (row_id, _), (_, note) in zip(rows, reversed(rows), strict=True):
                conn.execute(text("UPDATE checkpoint SET user_note = :n WHERE id = :i"), {"n": note, "i": row_id})
        elif tamper == "edit-note":
            conn.execute(text(f"UPDATE checkpoint SET user_note = replace(user_note, '\n208\n', '\n209\n') "
                              f"WHERE {COUNTRY}"))
        else:
            conn.execute(text("DELETE FROM signing_key"))
    with pytest.raises(IntegrityError) as caught:
        service.verify(engine, "country")
    message = str(caught.value)
    if tamper == "swap":
        assert message.startswith("checkpoint 1 (user log) records size 100 root ")
    elif tamper == "edit-note":
        assert message.startswith("checkpoint 2 (user log): ") and "verif" in message
    else:
        assert message.startswith("checkpoint 1 (user log): ") and "verif" in message


def _rsf(name: str) -> Path:
    return RSF / name


def _first(n: int) -> str:
    """A file holding the first ``n`` entries of country-208 as a dump (made by the platform)."""
    from registers.store.append import append
    from registers.store.signers import UNSIGNED
    from tests.conftest import fresh_database

    out = Path(os.environ["REGISTERS_KEY_DIR"]).parent / f"first-{n}.rsf"
    with fresh_database(out.parent, f"scratch{n}") as url:
        scratch = open_engine(url)
        with open(_rsf("country-208.rsf"), "rb") as source:  # thrown away: signed by nobody
            append(scratch, "country", read_rsf(source), signed=UNSIGNED)
        with open(out, "wb") as sink:
            service.export_rsf(scratch, "country", sink, 0, n)
        scratch.dispose()
    return str(out)


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[FlaskClient]:
    load(engine, "country-208.rsf", "country")
    service.append_items(engine, "country", [("XX", {"country": "XX", "name": "Nowhere"})])
    with app_client(db_url) as made:
        yield made


def test_checkpoints_keys_and_the_system_log_are_served(client: FlaskClient, engine: Engine) -> None:
    keys = client.get("/keys")
    assert keys.content_type == "text/plain; charset=utf-8"
    verifiers = [VerifierKey.parse(line) for line in keys.data.decode().splitlines()]
    head = service.head(engine, "country")
    note = client.get("/country/checkpoint")
    assert note.content_type == "text/plain; charset=utf-8" and note.headers["Cache-Control"] == "no-cache"
    assert open_checkpoint(note.data.decode(), verifiers)[0].size == 209
    system = open_checkpoint(client.get("/country/system/checkpoint").data.decode(), verifiers)[0]
    assert (system.size, system.root) == (head.system_size, head.system_root)
    proof = client.get("/country/system/proof/register/merkle:sha-256").json
    assert proof == {"proof-identifier": "merkle:sha-256", "root-hash": hash_text(head.system_root),
                     "total-entries": head.system_size}
    entries = client.get(f"/country/system/entries?start=1&limit={head.system_size}").json
    assert len(entries) == head.system_size and entries[0]["key"] == "name"
    patch = client.get(f"/country/system/download-rsf/1/{head.system_size}").data
    assert patch.count(b"append-entry\tsystem\t") == head.system_size - 1 and b"assert-root-hash" not in patch
    path = client.get(f"/country/system/proof/entries/1/{head.system_size}/merkle:sha-256").json
    assert path["merkle-audit-path"]
    assert client.get(f"/country/system/download-rsf/5/{head.system_size + 1}").status_code == 400
    assert client.get("/nowhere/checkpoint").status_code == 404
