"""A mirror keeps its origin's signatures and follows its origin's key rotations, on SQLite and
PostgreSQL, against registers served over real HTTP (loopback): it signs nothing and needs no
private key; it stores the origin's notes byte for byte and verifies with the origin's keys;
local writes to it are refused; a rotation is followed only through a handover note the old
key signed, and a forged one is refused with the copy unchanged."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, update

from registers import service
from registers.core.entries import Log
from registers.core.errors import ReadOnlyMirror, RegisterError
from registers.core.handover import handover_text, sign_handover
from registers.core.notes import SignerKey, VerifierKey, sign_note, signer_ids
from registers.store import schema
from registers.web import create_app
from registers.web.state import state
from tests.conftest import RSF
from tests.integration.helpers import app_client, load, snapshot
from tests.integration.test_mirror import Switchable, database, serving


@pytest.fixture
def mirror_keys(tmp_path: Path) -> Iterator[Path]:
    """The mirror's own key directory (never made: a mirror needs no key)."""
    yield tmp_path / "mirror-keys"
    assert not (tmp_path / "mirror-keys").exists()


@contextmanager
def on_mirror(monkeypatch: pytest.MonkeyPatch, directory: Path) -> Iterator[None]:
    """Run the block as the mirror's process would: with its own key directory."""
    with monkeypatch.context() as m:
        m.setenv("REGISTERS_KEY_DIR", str(directory))
        yield


@contextmanager
def served(db_url: str) -> Iterator[str]:
    """The web app over ``db_url`` on a loopback port; its base URL."""
    app = create_app({"DATABASE_URL": db_url})
    try:
        with serving(app) as base:
            yield base
    finally:
        state(app).close()


def _keys(engine: Engine) -> list[VerifierKey]:
    return [VerifierKey.parse(k) for k in service.public_keys(engine)]


def _notes(engine: Engine, name: str = "country") -> tuple[str, str]:
    return service.checkpoint_note(engine, name), service.checkpoint_note(engine, name, Log.SYSTEM)


def _signer(path: Path) -> SignerKey:
    return SignerKey.parse(path.read_text(encoding="ascii").strip())


def test_a_mirror_signs_nothing_needs_no_key_and_keeps_the_origins_notes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror_keys: Path
) -> None:
    with database(tmp_path, "origin") as (url, origin), served(url) as base, \
            database(tmp_path, "copy", signed=False) as (copy_url, copy):
        load(origin, "country-small.rsf", "country")
        with on_mirror(monkeypatch, mirror_keys):
            done = service.mirror(copy, f"{base}/country/", _keys(origin))
            assert done.followed == () and done.after.user_size == 7
            assert service.key_statuses(copy) == [] and service.public_keys(copy) == []  # none made or recorded
            assert _notes(copy) == _notes(origin)  # the origin's signed notes, byte for byte
            assert service.verify(copy, "country").head == service.head(origin, "country")
            listed = service.register_keys_json(copy, "country")
            assert [(k["key"], k["status"], k["handover"]) for k in listed] == [
                (_keys(origin)[0].text, "signing", None)]
            with app_client(copy_url) as client:
                assert client.get("/country/checkpoint").data == _notes(origin)[0].encode()
                assert client.get("/country/system/checkpoint").data == _notes(origin)[1].encode()
                assert client.get("/country/keys").data.decode() == f"{_keys(origin)[0].text}\n"
                assert client.get("/keys").data == b""  # the mirror has no key of its own
        # later runs need no --key: the origin's keys are recorded with the copy
        service.append_items(origin, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
        with on_mirror(monkeypatch, mirror_keys):
            assert " -> " in service.mirror(copy, f"{base}/country/", []).summary
            assert _notes(copy) == _notes(origin)


def test_a_local_write_to_a_mirror_is_refused_naming_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror_keys: Path
) -> None:
    with database(tmp_path, "origin") as (url, origin), served(url) as base, \
            database(tmp_path, "copy", signed=False) as (copy_url, copy):
        load(origin, "country-small.rsf", "country")
        with on_mirror(monkeypatch, mirror_keys):
            service.mirror(copy, f"{base}/country/", _keys(origin))
            token = service.issue_token(copy, "country").secret
            before = snapshot(copy)
            said = f"register 'country' mirrors {base}/country: it is read-only here; change it there"
            refusal = re.escape(said)
            with pytest.raises(ReadOnlyMirror, match=refusal):
                service.append_items(copy, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
            with pytest.raises(ReadOnlyMirror, match=refusal):
                service.load_rsf(copy, str(RSF / "country-small-update.rsf"), "country")
            with pytest.raises(ReadOnlyMirror, match=refusal):
                service.load_rsf(copy, str(RSF / "country-small-update.rsf"), "country", dry_run=True)
            with app_client(copy_url) as client:
                auth = {"Authorization": f"Bearer {token}"}
                answer = client.post("/country/changes", headers=auth,
                                     json={"action": "add", "key": "XK", "fields": {"name": "Kosovo"}})
                assert answer.status_code == 409, answer.json
                assert answer.content_type == "application/problem+json"
                assert answer.json["title"] == "Read-only mirror"
                assert answer.json["detail"] == said
                upload = client.post("/country/load-rsf", headers=auth,
                                     data=(RSF / "country-small-update.rsf").read_bytes())
                assert upload.status_code == 409, upload.json
            assert snapshot(copy) == before


def test_a_register_of_this_servers_own_never_becomes_a_mirror(tmp_path: Path, engine: Engine) -> None:
    load(engine, "country-small.rsf", "country")
    with database(tmp_path, "origin") as (url, origin), served(url) as base:
        load(origin, "country-small.rsf", "country")
        before = snapshot(engine)
        with pytest.raises(RegisterError, match="register 'country' is this server's own: it cannot become a mirror"):
            service.mirror(engine, f"{base}/country/", _keys(origin))
        assert snapshot(engine) == before
        # a mirror is bound to the URL it copies
        with database(tmp_path, "copy", signed=False) as (_copy_url, copy):
            service.mirror(copy, f"{base}/country/", _keys(origin))
            before = snapshot(copy)
            with served(url) as elsewhere, pytest.raises(RegisterError, match=re.escape(
                    f"register 'country' here mirrors {base}/country, not {elsewhere}/country")):
                service.mirror(copy, f"{elsewhere}/country/", _keys(origin))
            assert snapshot(copy) == before


def test_a_mirror_holding_the_old_key_follows_a_rotation_through_the_handover_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror_keys: Path
) -> None:
    with database(tmp_path, "origin") as (url, origin), served(url) as base, \
            database(tmp_path, "copy", signed=False) as (copy_url, copy):
        load(origin, "country-small.rsf", "country")
        [old] = _keys(origin)
        with on_mirror(monkeypatch, mirror_keys):
            service.mirror(copy, f"{base}/country/", [old])
        rotated = service.rotate_key(origin)
        assert rotated.handover.old == old
        new = rotated.handover.new
        service.append_items(origin, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
        with on_mirror(monkeypatch, mirror_keys):
            done = service.mirror(copy, f"{base}/country/", [])  # the copy knows only the old key
            assert [(h.old, h.new) for h in done.followed] == [(old, new)]
            assert _notes(copy) == _notes(origin) and signer_ids(_notes(copy)[0]) == [new.label]
            assert service.verify(copy, "country").head == service.head(origin, "country")  # old and new notes
            listed = service.register_keys_json(copy, "country")
            assert [(k["key"], k["status"]) for k in listed] == [(old.text, "retired"), (new.text, "signing")]
            assert listed[0]["handover"] == rotated.handover.note  # as the origin's old key signed it
        # the new key is recorded: the next run follows nothing
        service.append_items(origin, "country", [("XY", {"country": "XY", "name": "Ruritania"})])
        with on_mirror(monkeypatch, mirror_keys):
            again = service.mirror(copy, f"{base}/country/", [])
            assert again.followed == () and _notes(copy) == _notes(origin)
            # a client of the mirror holding only the old key follows through the mirror's keys.json
            with served(copy_url) as mirror_base:
                audited = service.audit(f"{mirror_base}/country/", [old], tmp_path / "trust-of-mirror")
                assert [h.new for h in audited.followed] == [new] and audited.user.size == 9


def test_a_chain_of_two_rotations_is_followed_and_the_auditor_follows_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror_keys: Path
) -> None:
    with database(tmp_path, "origin") as (url, origin), served(url) as base, \
            database(tmp_path, "copy", signed=False) as (_copy_url, copy):
        load(origin, "country-small.rsf", "country")
        [k1] = _keys(origin)
        with on_mirror(monkeypatch, mirror_keys):
            service.mirror(copy, f"{base}/country/", [k1])
            first = service.audit(f"{base}/country/", [k1])
            assert first.previous is None and first.followed == ()
        k2 = service.rotate_key(origin).handover.new
        service.append_items(origin, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
        k3 = service.rotate_key(origin).handover.new
        service.append_items(origin, "country", [("XY", {"country": "XY", "name": "Ruritania"})])
        with on_mirror(monkeypatch, mirror_keys):
            done = service.mirror(copy, f"{base}/country/", [])
            assert [(h.old, h.new) for h in done.followed] == [(k1, k2), (k2, k3)]
            assert [k["status"] for k in service.register_keys_json(copy, "country")] == ["retired", "retired",
                                                                                         "signing"]
            assert service.verify(copy, "country").head == service.head(origin, "country")
            audited = service.audit(f"{base}/country/", [k1])  # extends the checkpoint k1 signed
            assert [h.new for h in audited.followed] == [k2, k3]
            assert audited.previous is not None and (audited.previous.size, audited.user.size) == (7, 9)


def test_a_forged_handover_note_at_the_origin_is_refused_with_the_copy_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror_keys: Path
) -> None:
    """Whoever took the origin's new key (but not the old one) replaces the handover note with one
    signed by a key of their own: the mirror and the auditor refuse, naming the key they would
    need, and the copy is exactly as it was."""
    with database(tmp_path, "origin") as (url, origin), served(url) as base, \
            database(tmp_path, "copy", signed=False) as (_copy_url, copy):
        load(origin, "country-small.rsf", "country")
        [old] = _keys(origin)
        with on_mirror(monkeypatch, mirror_keys):
            service.mirror(copy, f"{base}/country/", [old])
            service.audit(f"{base}/country/", [old])
        rotated = service.rotate_key(origin)
        new, attacker = _signer(rotated.path), SignerKey.generate(old.name)
        forged = sign_note(handover_text(old, new.verifier, rotated.handover.at), attacker, new)
        with origin.begin() as conn:
            conn.execute(update(schema.signing_key).where(schema.signing_key.c.vkey == old.text)
                         .values(handover=forged))
        assert service.keys_json(origin)[0]["handover"] == forged
        service.append_items(origin, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
        before = snapshot(copy)
        refused = re.escape(
            f"signed by {new.verifier.label}, which is not a key trusted here (trusted: {old.label}); the handover "
            f"note naming it is refused: the handover note is not signed by its old key {old.label}")
        with on_mirror(monkeypatch, mirror_keys):
            with pytest.raises(service.RemoteError, match=refused):
                service.mirror(copy, f"{base}/country/", [])
            with pytest.raises(service.RemoteError, match=refused):
                service.audit(f"{base}/country/", [old])
        assert snapshot(copy) == before


def test_a_server_with_an_unrelated_key_at_the_origins_address_is_refused_with_the_copy_unchanged(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror_keys: Path
) -> None:
    """An impostor serves the same data signed by a key of its own, rotated on purpose to
    another (a genuine handover, but from a key nobody trusts): refused, naming its key."""
    with database(tmp_path, "origin") as (url, origin), database(tmp_path, "impostor") as (fake_url, impostor), \
            database(tmp_path, "copy", signed=False) as (_copy_url, copy):
        load(origin, "country-small.rsf", "country")
        load(impostor, "country-small.rsf", "country")
        [old] = _keys(origin)
        [unrelated] = _keys(impostor)
        origin_app, impostor_app = create_app({"DATABASE_URL": url}), create_app({"DATABASE_URL": fake_url})
        server = Switchable(origin_app)
        try:
            with serving(server) as base:
                with on_mirror(monkeypatch, mirror_keys):
                    service.mirror(copy, f"{base}/country/", [old])
                newer = service.rotate_key(impostor).handover.new
                service.append_items(impostor, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
                server.app = impostor_app
                before = snapshot(copy)
                with on_mirror(monkeypatch, mirror_keys):
                    with pytest.raises(service.RemoteError, match=re.escape(
                            f"signed by {newer.label}, which is not a key trusted here (trusted: {old.label}); the "
                            f"handover note naming it is refused: the handover note retires {unrelated.label}, "
                            "which is not a trusted key")):
                        service.mirror(copy, f"{base}/country/", [])
                assert snapshot(copy) == before
        finally:
            state(origin_app).close()
            state(impostor_app).close()


def test_a_key_given_is_recorded_once_and_only_when_it_signs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror_keys: Path
) -> None:
    """A key given on purpose is recorded with the copy once it signs a checkpoint accepted; one
    that signs nothing is trusted on the runs it is given, and not recorded (recorded, it would
    be superseded by the key that signs: see tests/integration/test_superseded_keys.py); a key
    given again is not recorded twice."""
    with database(tmp_path, "origin") as (url, origin), served(url) as base, \
            database(tmp_path, "copy", signed=False) as (_copy_url, copy):
        load(origin, "country-small.rsf", "country")
        [old] = _keys(origin)
        spare = SignerKey.generate("spare.example").verifier
        with on_mirror(monkeypatch, mirror_keys):
            service.mirror(copy, f"{base}/country/", [old])
            assert service.mirror(copy, f"{base}/country/", [old, spare]).summary.startswith("country: up to date")
            service.mirror(copy, f"{base}/country/", [old, spare])
            listed = service.register_keys_json(copy, "country")
            assert [k["key"] for k in listed] == [old.text]


def test_a_dump_of_a_mirror_verifies_against_the_origins_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror_keys: Path
) -> None:
    with database(tmp_path, "origin") as (url, origin), served(url) as base, \
            database(tmp_path, "copy", signed=False) as (_copy_url, copy):
        load(origin, "country-small.rsf", "country")
        with on_mirror(monkeypatch, mirror_keys):
            service.mirror(copy, f"{base}/country/", _keys(origin))
            dump = tmp_path / "country.rsf"
            with open(dump, "wb") as out:
                service.export_rsf(copy, "country", out)
            result = service.verify_dump(str(dump), _notes(copy)[0], _keys(origin))
            assert result.checkpoint is not None and result.checkpoint.size == 7


def test_the_keys_given_must_sign_the_origins_checkpoint(tmp_path: Path) -> None:
    with database(tmp_path, "origin") as (url, origin), served(url) as base, \
            database(tmp_path, "copy", signed=False) as (_copy_url, copy):
        load(origin, "country-small.rsf", "country")
        stranger = SignerKey.generate("localhost").verifier
        [signing] = _keys(origin)
        with pytest.raises(service.RemoteError, match=re.escape(
                f"signed by {signing.label}, which is not a key trusted here (trusted: {stranger.label}); no "
                "handover note signed by a trusted key names it")):
            service.mirror(copy, f"{base}/country/", [stranger])
        with pytest.raises(service.RemoteError, match="needs --key"):
            service.mirror(copy, f"{base}/country/", [])
        assert service.list_registers(copy) == []


def test_an_old_key_that_handed_over_once_cannot_hand_over_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror_keys: Path, key_dir: Path
) -> None:
    """The old key's private file leaks after a rotation the mirror followed: a second handover
    note it signs, naming the thief's key, is refused (a key hands over once; once the new key
    signed, the old one is superseded and hands over no more), copy unchanged."""
    with database(tmp_path, "origin") as (url, origin), served(url) as base, \
            database(tmp_path, "copy", signed=False) as (_copy_url, copy):
        load(origin, "country-small.rsf", "country")
        [old] = _keys(origin)
        with on_mirror(monkeypatch, mirror_keys):
            service.mirror(copy, f"{base}/country/", [old])
        new = service.rotate_key(origin).handover.new
        service.append_items(origin, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
        with on_mirror(monkeypatch, mirror_keys):
            assert [h.new for h in service.mirror(copy, f"{base}/country/", []).followed] == [new]
        # the thief signs with the leaked old key a handover to a key of their own, and signs with it
        leaked, thief = _signer(key_dir / f"{old.key_id.hex()}.key"), SignerKey.generate(old.name)
        forged = sign_handover(leaked, thief, "2030-01-01T00:00:00Z")
        signing_key = schema.signing_key
        with origin.begin() as conn:
            conn.execute(update(signing_key).where(signing_key.c.vkey == old.text).values(handover=forged))
            conn.execute(update(signing_key).where(signing_key.c.vkey == new.text).values(retired="2030-01-01T00:00:00Z"))
            conn.execute(insert(signing_key).values(vkey=thief.verifier.text, created="2030-01-01T00:00:00Z"))
        (key_dir / f"{thief.verifier.key_id.hex()}.key").write_text(thief.text + "\n")
        (key_dir / f"{thief.verifier.key_id.hex()}.key").chmod(0o600)
        service.append_items(origin, "country", [("XY", {"country": "XY", "name": "Ruritania"})])
        assert signer_ids(_notes(origin)[0]) == [thief.verifier.label]
        before = snapshot(copy)
        with on_mirror(monkeypatch, mirror_keys), pytest.raises(service.RemoteError, match=re.escape(
                f"signed by {thief.verifier.label}, which is not a key trusted here (trusted: {new.label}); the "
                f"handover note naming it is refused: the handover note retires {old.label}, a key superseded here: "
                "a superseded key never hands over (its private key may have leaked)")):
            service.mirror(copy, f"{base}/country/", [])
        assert snapshot(copy) == before
