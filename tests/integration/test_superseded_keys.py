"""Superseded origin keys, on SQLite and PostgreSQL, against registers served over real HTTP
(loopback): a mirror and an auditor trust for a new checkpoint only the current origin key (the
one that signed the latest checkpoint they accepted), keys it hands over to, and keys given out
of band that are new to them. A key superseded since (rotated away, or retired by
'keys rotate --lost') still verifies what it signed, but never signs a new checkpoint nor hands
over again, whoever holds its leaked private file; the auditor remembers the keys it trusts."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import Engine, insert, update

from registers import service
from registers.core.errors import IntegrityError, RegisterError
from registers.core.handover import sign_handover
from registers.core.notes import SignerKey, VerifierKey, signer_ids
from registers.store import schema
from tests.integration.helpers import load, snapshot
from tests.integration.test_mirror import database
from tests.integration.test_mirror_keys import _keys, _notes, on_mirror, served

LATER = "2030-01-01T00:00:00Z"


@pytest.fixture
def mirror_keys(tmp_path: Path) -> Iterator[Path]:
    """The mirror's own key directory (never made: a mirror needs no key)."""
    yield tmp_path / "mirror-keys"
    assert not (tmp_path / "mirror-keys").exists()


@dataclass
class Rotated:
    """An origin whose key went k1 -> k2 -> k3 (handover notes) -> k4 ('keys rotate --lost'),
    with a write after each, followed by a mirror and an auditor at every step."""

    origin: Engine
    copy: Engine
    url: str
    trust: Path
    k1: VerifierKey
    k2: VerifierKey
    k3: VerifierKey
    k4: VerifierKey


@contextmanager
def rotated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, audits: bool = True) -> Iterator[Rotated]:
    """The rotations of ``Rotated``, followed by a mirror, and by an auditor when ``audits``."""
    mirror_keys, trust = tmp_path / "mirror-keys", tmp_path / "audits"
    with database(tmp_path, "origin") as (db, origin), served(db) as base, \
            database(tmp_path, "copy", signed=False) as (_copy_db, copy):
        url = f"{base}/country/"
        load(origin, "country-small.rsf", "country")
        [k1] = _keys(origin)
        with on_mirror(monkeypatch, mirror_keys):
            service.mirror(copy, url, [k1])
            assert not audits or service.audit(url, [k1], trust).previous is None
        k2 = service.rotate_key(origin).handover.new
        service.append_items(origin, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
        with on_mirror(monkeypatch, mirror_keys):
            assert [h.new for h in service.mirror(copy, url, []).followed] == [k2]
            assert not audits or [h.new for h in service.audit(url, [], trust).followed] == [k2]  # k1 remembered
        k3 = service.rotate_key(origin).handover.new
        service.append_items(origin, "country", [("XY", {"country": "XY", "name": "Ruritania"})])
        with on_mirror(monkeypatch, mirror_keys):
            assert [h.new for h in service.mirror(copy, url, []).followed] == [k3]
            assert not audits or [h.new for h in service.audit(url, [k1], trust).followed] == [k3]
        k4 = VerifierKey.parse(service.replace_lost_key(origin).new.vkey)
        service.append_items(origin, "country", [("XZ", {"country": "XZ", "name": "Zembla"})])
        with on_mirror(monkeypatch, mirror_keys):
            with pytest.raises(service.RemoteError, match=re.escape(f"signed by {k4.label}, which is not a key trusted")):
                service.mirror(copy, url, [])  # no note leads to k4: it is given out of band
            assert service.mirror(copy, url, [k4]).followed == ()
            if audits:
                audited = service.audit(url, [k4], trust)  # the checkpoint k3 signed, saved before, still verifies
                assert audited.followed == () and audited.previous is not None and audited.previous.size == 9
        assert mirror_keys.exists() is False
        yield Rotated(origin, copy, url, trust, k1, k2, k3, k4)


def _sign_with(origin: Engine, key_dir: Path, key: SignerKey) -> None:
    """Make the origin sign with ``key`` from now on, as whoever took over its database and key
    directory would (the key recorded, if it is not, and every other key retired)."""
    k = schema.signing_key.c
    with origin.begin() as conn:
        if not conn.execute(schema.signing_key.select().where(k.vkey == key.verifier.text)).first():
            conn.execute(insert(schema.signing_key).values(vkey=key.verifier.text, created=LATER))
        conn.execute(update(schema.signing_key).where(k.vkey != key.verifier.text, k.retired.is_(None))
                     .values(retired=LATER))
        conn.execute(update(schema.signing_key).where(k.vkey == key.verifier.text).values(retired=None))
    path = key_dir / f"{key.verifier.key_id.hex()}.key"
    if not path.exists():
        path.write_text(key.text + "\n")
        path.chmod(0o600)


def _leaked(key_dir: Path, key: VerifierKey) -> SignerKey:
    return SignerKey.parse((key_dir / f"{key.key_id.hex()}.key").read_text(encoding="ascii").strip())


@pytest.mark.parametrize("audits", [False, True], ids=["mirror", "mirror-and-auditor"])
def test_a_key_retired_as_lost_never_hands_over_to_a_thief(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_dir: Path, audits: bool
) -> None:
    """k3's private file leaked, so the origin retired it with 'keys rotate --lost' (k4, given to
    the mirror out of band). The thief writes a handover note k3 -> their key into the origin's
    database and signs checkpoints with their key: the mirror and the auditor refuse, naming the
    thief's key and why, with nothing applied, whether k4 is given again or not."""
    with rotated(tmp_path, monkeypatch, audits) as r:
        leaked, thief = _leaked(key_dir, r.k3), SignerKey.generate(r.k3.name)
        with r.origin.begin() as conn:
            conn.execute(update(schema.signing_key).where(schema.signing_key.c.vkey == r.k3.text)
                         .values(handover=sign_handover(leaked, thief, LATER)))
        _sign_with(r.origin, key_dir, thief)
        service.append_items(r.origin, "country", [("QA", {"country": "QA", "name": "Land QA"})])
        assert signer_ids(_notes(r.origin)[0]) == [thief.verifier.label]
        before = snapshot(r.copy)
        refused = re.escape(
            f"signed by {thief.verifier.label}, which is not a key trusted here (trusted: {r.k4.label}); the "
            f"handover note naming it is refused: the handover note retires {r.k3.label}, a key superseded here: "
            "a superseded key never hands over")
        for given in ([], [r.k4], [r.k1, r.k4]):
            with on_mirror(monkeypatch, tmp_path / "mirror-keys"), pytest.raises(service.RemoteError, match=refused):
                service.mirror(r.copy, r.url, given)
            assert snapshot(r.copy) == before
            if audits:
                with pytest.raises(service.RemoteError, match=refused):
                    service.audit(r.url, given, r.trust)
        assert service.register_keys_json(r.copy, "country")[-1]["key"] == r.k4.text  # nothing new recorded


@pytest.mark.parametrize("audits", [False, True], ids=["mirror", "mirror-and-auditor"])
def test_a_superseded_key_never_signs_a_new_checkpoint_even_when_given_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_dir: Path, audits: bool
) -> None:
    """The thief signs with the leaked k3 itself (no note): refused by name; given again with
    --key it is not trusted again. Its old checkpoints keep verifying the copy by name."""
    with rotated(tmp_path, monkeypatch, audits) as r:
        _sign_with(r.origin, key_dir, _leaked(key_dir, r.k3))
        service.append_items(r.origin, "country", [("QA", {"country": "QA", "name": "Land QA"})])
        assert signer_ids(_notes(r.origin)[0]) == [r.k3.label]
        before = snapshot(r.copy)
        superseded = (f"signed by {r.k3.label}, a key superseded here: a superseded key still verifies the "
                      "checkpoints it signed before, but never signs a new one (trusted: ")
        again = (f"signed by {r.k3.label}, a key superseded here (given with --key, but recorded here as "
                 "superseded: it is not trusted again): a superseded key still verifies")
        with on_mirror(monkeypatch, tmp_path / "mirror-keys"):
            with pytest.raises(service.RemoteError, match=re.escape(superseded + f"{r.k4.label})")):
                service.mirror(r.copy, r.url, [])
            with pytest.raises(service.RemoteError, match=re.escape(again)):
                service.mirror(r.copy, r.url, [r.k3, r.k4])
            assert snapshot(r.copy) == before
            if audits:
                with pytest.raises(service.RemoteError, match=re.escape(superseded + f"{r.k4.label})")):
                    service.audit(r.url, [], r.trust)
                with pytest.raises(service.RemoteError, match=re.escape(again)):
                    service.audit(r.url, [r.k3], r.trust)
            # every checkpoint of the copy, signed by k1 to k4, still verifies with the keys recorded
            assert service.verify(r.copy, "country").head.user_size == 10
        # the old key k1, handed over once, is refused too: superseded
        _sign_with(r.origin, key_dir, _leaked(key_dir, r.k1))
        service.append_items(r.origin, "country", [("QB", {"country": "QB", "name": "Land QB"})])
        with on_mirror(monkeypatch, tmp_path / "mirror-keys"), pytest.raises(service.RemoteError, match=re.escape(
                f"signed by {r.k1.label}, a key superseded here (given with --key")):
            service.mirror(r.copy, r.url, [r.k1])
        # the genuine key k4 signs again: accepted, with no key given
        _sign_with(r.origin, key_dir, _leaked(key_dir, r.k4))
        service.append_items(r.origin, "country", [("QC", {"country": "QC", "name": "Land QC"})])
        with on_mirror(monkeypatch, tmp_path / "mirror-keys"):
            assert service.mirror(r.copy, r.url, []).after.user_size == 13
            assert not audits or service.audit(r.url, [], r.trust).user.size == 13


def test_the_auditor_saves_the_keys_it_trusts_beside_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with rotated(tmp_path, monkeypatch) as r:
        [saved] = r.trust.glob("*.keys")
        assert saved.name == r.url.split("://", 1)[1].rstrip("/").replace("/", "_") + ".keys"
        assert (r.trust / saved.name.replace(".keys", ".checkpoint")).exists()
        lines = [line for line in saved.read_text().splitlines() if not line.startswith("#")]
        handover = re.compile(r", handed over to (\S+) at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
        assert [line.replace(",", "").split()[:2] for line in lines] == [
            [r.k1.text, "superseded"], [r.k2.text, "superseded"], [r.k3.text, "superseded"], [r.k4.text, "current"]]
        assert [m.group(1) if (m := handover.search(line)) else None for line in lines] == [
            r.k2.text, r.k3.text, None, None]
        assert service.read_keys([str(saved)]) == [r.k1, r.k2, r.k3, r.k4]  # '--key FILE' reads it too
        assert not list(r.trust.glob(".*"))  # no temporary file left behind
        # a later audit needs no key, says nothing of keys saved before, and keeps the file
        audited = service.audit(r.url, [], r.trust)
        assert audited.followed == () and audited.previous is not None
        assert saved.read_text().splitlines()[1:] == lines
        # with no key given nor saved, an audit is refused before anything is read
        with pytest.raises(RegisterError, match="auditing a URL needs --key the first time"):
            service.audit(r.url, [], tmp_path / "elsewhere")


def test_a_key_given_before_the_origin_signs_with_it_stays_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror_keys: Path
) -> None:
    """The operator adds the new key (given out of band after 'keys rotate --lost') before the
    origin signs anything with it: runs while the copy is current keep trusting the old key's
    checkpoint and do not make the new key superseded; it is recorded once it signs."""
    with database(tmp_path, "origin") as (db, origin), served(db) as base, \
            database(tmp_path, "copy", signed=False) as (_copy_db, copy):
        url = f"{base}/country/"
        load(origin, "country-small.rsf", "country")
        [old] = _keys(origin)
        with on_mirror(monkeypatch, mirror_keys):
            service.mirror(copy, url, [old])
        new = VerifierKey.parse(service.replace_lost_key(origin).new.vkey)
        with on_mirror(monkeypatch, mirror_keys):
            for _ in range(2):
                assert service.mirror(copy, url, [old, new]).summary.startswith("country: up to date")
                assert service.audit(url, [old, new], tmp_path / "audits").followed == ()
            assert [k["key"] for k in service.register_keys_json(copy, "country")] == [old.text]  # given, unused
        service.append_items(origin, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
        with on_mirror(monkeypatch, mirror_keys):
            assert " -> 8 user entries" in service.mirror(copy, url, [old, new]).summary
            assert service.audit(url, [old, new], tmp_path / "audits").user.size == 8
            listed = service.register_keys_json(copy, "country")
            assert [(k["key"], k["status"]) for k in listed] == [(old.text, "retired"), (new.text, "signing")]
        service.append_items(origin, "country", [("XY", {"country": "XY", "name": "Ruritania"})])
        with on_mirror(monkeypatch, mirror_keys):
            assert " -> 9 user entries" in service.mirror(copy, url, []).summary
            assert service.audit(url, [], tmp_path / "audits").user.size == 9


def test_a_current_key_that_handed_over_still_hands_over_only_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror_keys: Path, key_dir: Path
) -> None:
    """k2 signed the latest checkpoint and then handed over to k3, which has signed nothing yet:
    both are current. A second note by k2 (its file leaked) naming a thief's key is refused."""
    with database(tmp_path, "origin") as (db, origin), served(db) as base, \
            database(tmp_path, "copy", signed=False) as (_copy_db, copy):
        url = f"{base}/country/"
        load(origin, "country-small.rsf", "country")
        [k1] = _keys(origin)
        with on_mirror(monkeypatch, mirror_keys):
            service.mirror(copy, url, [k1])
        k2 = service.rotate_key(origin).handover.new
        service.append_items(origin, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
        k3 = service.rotate_key(origin).handover.new
        with on_mirror(monkeypatch, mirror_keys):
            assert [h.new for h in service.mirror(copy, url, []).followed] == [k2, k3]
            listed = service.register_keys_json(copy, "country")
            assert [(k["key"], k["status"]) for k in listed] == [
                (k1.text, "retired"), (k2.text, "retired"), (k3.text, "signing")]
        leaked, thief = _leaked(key_dir, k2), SignerKey.generate(k2.name)
        with origin.begin() as conn:
            conn.execute(update(schema.signing_key).where(schema.signing_key.c.vkey == k2.text)
                         .values(handover=sign_handover(leaked, thief, LATER)))
        _sign_with(origin, key_dir, thief)
        service.append_items(origin, "country", [("XY", {"country": "XY", "name": "Ruritania"})])
        before = snapshot(copy)
        with on_mirror(monkeypatch, mirror_keys), pytest.raises(service.RemoteError, match=re.escape(
                f"the handover note retires {k2.label}, which handed over to {k3.label} too: a key hands over once")):
            service.mirror(copy, url, [])
        assert snapshot(copy) == before


def test_a_mirrors_keys_json_gives_the_origins_dates_and_when_it_learnt_each_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with rotated(tmp_path, monkeypatch, audits=False) as r:
        origin = {k["key"]: k for k in service.keys_json(r.origin)}
        listed = service.register_keys_json(r.copy, "country")
        assert [(k["key"], k["status"]) for k in listed] == [
            (r.k1.text, "retired"), (r.k2.text, "retired"), (r.k3.text, "retired"), (r.k4.text, "signing")]
        k1, k2, k3, k4 = listed
        # the origin's facts where the handover notes tell them: a successor is made when its
        # predecessor retires; nothing is known of a key given on purpose or retired as lost
        assert k1["retired"] == k2["created"] == origin[r.k1.text]["retired"]
        assert k2["retired"] == k3["created"] == origin[r.k2.text]["retired"]
        assert (k1["created"], k3["retired"], k4["created"], k4["retired"]) == (None, None, None, None)
        assert k1["handover"] == origin[r.k1.text]["handover"] and k3["handover"] is None
        for key in listed:  # the mirror's own date under a name of its own; never retired before made
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", key["learnt"])
            assert key["created"] is None or key["retired"] is None or key["created"] <= key["retired"]
            assert key["id"] == VerifierKey.parse(key["key"]).label


def _cosign_latest(origin: Engine, *signers: SignerKey) -> None:
    """Replace the latest checkpoint's two notes by the same text signed by ``signers`` (the
    right key and a thief's leaked one: the note still verifies with the right key)."""
    from registers.core.notes import sign_note

    c = schema.checkpoint.c
    with origin.begin() as conn:
        row = conn.execute(schema.checkpoint.select().order_by(c.id.desc()).limit(1)).one()
        notes = {}
        for column in ("user_note", "system_note"):
            note = getattr(row, column)
            notes[column] = sign_note(note[: note.rfind("\n\n") + 1], *signers)
        conn.execute(update(schema.checkpoint).where(c.id == row.id).values(**notes))


@pytest.mark.parametrize("audits", [False, True], ids=["mirror", "mirror-and-auditor"])
def test_a_superseded_keys_cosignature_never_makes_it_current_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_dir: Path, audits: bool
) -> None:
    """The thief holding k3's file (retired as lost) adds k3's signature beside k4's on the
    origin's next checkpoint. The mirror and the auditor accept the checkpoint (k4 signed it)
    but k3 stays superseded: a checkpoint k3 alone signs next is refused. The origin's own
    verify names the co-signed checkpoint."""
    with rotated(tmp_path, monkeypatch, audits) as r:
        service.append_items(r.origin, "country", [("QA", {"country": "QA", "name": "Qatar"})])
        leaked = _leaked(key_dir, r.k3)
        _cosign_latest(r.origin, _leaked(key_dir, r.k4), leaked)
        with on_mirror(monkeypatch, tmp_path / "mirror-keys"):
            assert " -> 11 user entries" in service.mirror(r.copy, r.url, []).summary
            if audits:
                service.audit(r.url, [], r.trust)
        statuses = {k["key"]: k["status"] for k in service.register_keys_json(r.copy, "country")}
        assert (statuses[r.k3.text], statuses[r.k4.text]) == ("retired", "signing")
        with pytest.raises(IntegrityError, match=re.escape(f"is signed by {r.k3.label}, but {r.k4.label}, recorded "
                                                           "after it, signed an earlier checkpoint")):
            service.verify(r.origin, "country")
        _sign_with(r.origin, key_dir, leaked)
        service.append_items(r.origin, "country", [("QB", {"country": "QB", "name": "Thief"})])
        before = snapshot(r.copy)
        with on_mirror(monkeypatch, tmp_path / "mirror-keys"):
            with pytest.raises(service.RemoteError, match=re.escape(f"signed by {r.k3.label}, a key superseded here")):
                service.mirror(r.copy, r.url, [])
            if audits:
                with pytest.raises(service.RemoteError, match=re.escape(f"signed by {r.k3.label}, a key superseded")):
                    service.audit(r.url, [], r.trust)
        assert snapshot(r.copy) == before


def test_keys_given_oldest_first_with_a_retired_one_never_bring_it_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_dir: Path
) -> None:
    """A new consumer is given k3 (retired as lost) and k4, oldest first, on every run. k4 signs:
    k3 is recorded as superseded, so when the thief signs with k3 alone, giving it again does
    not bring it back (a key given after the one that signs stays trusted: see above)."""
    with rotated(tmp_path, monkeypatch, audits=False) as r, database(tmp_path, "fresh", signed=False) as (_u, fresh):
        trust = tmp_path / "fresh-audits"
        with on_mirror(monkeypatch, tmp_path / "mirror-keys"):
            service.mirror(fresh, r.url, [r.k3, r.k4])
            service.audit(r.url, [r.k3, r.k4], trust)
        statuses = {k["key"]: k["status"] for k in service.register_keys_json(fresh, "country")}
        assert statuses == {r.k3.text: "retired", r.k4.text: "signing"}
        _sign_with(r.origin, key_dir, _leaked(key_dir, r.k3))
        service.append_items(r.origin, "country", [("QB", {"country": "QB", "name": "Thief"})])
        before = snapshot(fresh)
        with on_mirror(monkeypatch, tmp_path / "mirror-keys"):
            for run in (lambda: service.mirror(fresh, r.url, [r.k3, r.k4]),
                        lambda: service.audit(r.url, [r.k3, r.k4], trust)):
                with pytest.raises(service.RemoteError, match=re.escape(f"signed by {r.k3.label}, a key superseded")):
                    run()
        assert snapshot(fresh) == before


def test_the_origins_verify_refuses_a_retired_key_signing_again_and_a_redated_handover(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, key_dir: Path
) -> None:
    with rotated(tmp_path, monkeypatch, audits=False) as r:
        assert service.verify(r.origin, "country").head.user_size == 10
        k = schema.signing_key.c
        with r.origin.begin() as conn:
            retired = conn.execute(schema.signing_key.select().where(k.vkey == r.k1.text)).one().retired
            conn.execute(update(schema.signing_key).where(k.vkey == r.k1.text).values(retired=LATER))
        with pytest.raises(IntegrityError, match=re.escape(f"key {r.k1.label}: its handover note is dated ")):
            service.verify(r.origin, "country")
        with r.origin.begin() as conn:
            conn.execute(update(schema.signing_key).where(k.vkey == r.k1.text).values(retired=retired))
        service.verify(r.origin, "country")
        _sign_with(r.origin, key_dir, _leaked(key_dir, r.k3))
        service.append_items(r.origin, "country", [("QB", {"country": "QB", "name": "Thief"})])
        with pytest.raises(IntegrityError, match=re.escape(f"is signed by {r.k3.label}, but {r.k4.label}, recorded "
                                                           "after it, signed an earlier checkpoint")):
            service.verify(r.origin, "country")
