"""A key lost or leaked, as operators and auditors would meet it (the installed command against a
real gunicorn): after 'registers keys rotate --lost' the new key is given out of band once, the
auditor remembers the keys it trusts, a checkpoint signed again by the retired key is refused by
name, 'keys list' shows the origin keys a mirror trusts, and a dump checked against a checkpoint
with the wrong key names the key that signed it."""

from __future__ import annotations

import re
from pathlib import Path

from sqlalchemy import Engine

from registers import service
from registers.core.notes import SignerKey, VerifierKey
from tests.conftest import fresh_database
from tests.e2e.conftest import gunicorn
from tests.e2e.test_cli import ok, run
from tests.e2e.test_mirror import as_mirror, mirror_ok
from tests.integration.test_superseded_keys import _sign_with


def test_after_a_lost_key_the_new_key_is_given_once_and_the_retired_one_never_signs_again(
    origin: Engine, db_url: str, tmp_path: Path, key_dir: Path
) -> None:
    keys = tmp_path / "mirror-keys"  # the mirror's key directory: never made
    [k1] = [VerifierKey.parse(k) for k in service.public_keys(origin)]
    with gunicorn(db_url, workers=1) as served, fresh_database(tmp_path, "copy") as copy:
        url = f"{served}/country/"
        mirror_ok(copy, keys, "mirror", url, "--key", k1.text)
        assert "first audit, checkpoint saved" in mirror_ok(copy, keys, "verify", url, "--key", k1.text)

        # a rotation: the auditor follows it with no --key (it remembers k1), and says so once
        k2 = VerifierKey.parse(ok(db_url, "keys", "rotate").strip())
        service.add_record(origin, "country", "XK", {"name": "Kosovo"}, by="Jane", reason="recognised")
        mirror_ok(copy, keys, "mirror", url)
        followed = as_mirror(copy, keys, "verify", url)
        assert followed.returncode == 0, followed.stderr.decode()
        assert followed.stderr.decode().startswith(f"now trusting {k2.label}")
        quiet = as_mirror(copy, keys, "verify", url, "--key", k1.text)
        assert quiet.returncode == 0 and quiet.stderr == b"", quiet.stderr.decode()

        # k2 leaks: retired with no note, k4 made; until it is given, both refuse, naming it (the
        # URL said once)
        k4 = VerifierKey.parse(ok(db_url, "keys", "rotate", "--lost").strip())
        service.add_record(origin, "country", "XY", {"name": "Ruritania"}, by="Jane", reason="new")
        for command in ("mirror", "verify"):
            refused = as_mirror(copy, keys, command, url)
            stderr = refused.stderr.decode()
            assert refused.returncode == 1 and stderr.count("\n") == 1, stderr
            assert stderr.startswith(f"{url}: FAILED: the user checkpoint: note has no verifiable signatures: it "
                                     f"is signed by {k4.label}, which is not a key trusted here (trusted: "
                                     f"{k2.label}); "), stderr
            assert stderr.count(served) == 1, stderr
        # given out of band once: the saved checkpoint (k2's) still verifies, and k4 is remembered
        audited = mirror_ok(copy, keys, "verify", url, "--key", k4.text)
        assert "extends the checkpoint saved before at 8" in audited
        assert mirror_ok(copy, keys, "mirror", url, "--key", k4.text).startswith("country: 8 -> 9 user entries")
        again = as_mirror(copy, keys, "verify", url)
        assert again.returncode == 0 and again.stderr == b"", again.stderr.decode()

        # whoever holds k2's private file signs with it again: refused by name, given or not
        _sign_with(origin, key_dir, SignerKey.parse((key_dir / f"{k2.key_id.hex()}.key").read_text().strip()))
        service.add_record(origin, "country", "XZ", {"name": "Zembla"}, by="Mallory", reason="forged")
        for command, given in (("mirror", ()), ("verify", ()), ("mirror", ("--key", k2.text)),
                               ("verify", ("--key", k2.text))):
            refused = as_mirror(copy, keys, command, url, *given)
            stderr = refused.stderr.decode()
            assert refused.returncode == 1, stderr
            assert f"it is signed by {k2.label}, a key superseded here" in stderr, stderr
            assert ("given with --key, but recorded here as superseded" in stderr) == bool(given), stderr

        # 'keys list' on the mirror's database: the origin keys it trusts, in a form --key reads
        listed = mirror_ok(copy, keys, "keys", "list")
        lines = listed.splitlines()
        assert lines[0] == f"# country mirrors {served}/country"
        assert [line.split(" learnt ")[0] for line in lines[1:]] == [
            f"# {k1.text}  (origin key, superseded)", f"# {k2.text}  (origin key, superseded)",
            f"{k4.text}  (origin key, current)"]
        assert re.search(rf", handed over to {re.escape(k2.label)} at \S+Z$", lines[1]), lines[1]
        saved = tmp_path / "trusted.txt"
        saved.write_text(listed)
        assert service.read_keys([str(saved)]) == [k4]  # superseded keys listed after '# ': not handed out
    assert not keys.exists()


def test_a_dump_checked_with_the_key_before_a_rotation_names_the_key_that_signed(
    origin: Engine, db_url: str, tmp_path: Path
) -> None:
    [old] = [VerifierKey.parse(k) for k in service.public_keys(origin)]
    new = VerifierKey.parse(ok(db_url, "keys", "rotate").strip())
    service.add_record(origin, "country", "XK", {"name": "Kosovo"}, by="Jane", reason="recognised")
    dump, checkpoint = tmp_path / "country.rsf", tmp_path / "country.checkpoint"
    dump.write_bytes(run(db_url, "export", "country").stdout)
    checkpoint.write_text(service.checkpoint_note(origin, "country"))
    refused = run(db_url, "verify", str(dump), "--checkpoint", str(checkpoint), "--key", old.text)
    assert refused.returncode == 1 and refused.stderr.decode() == (
        f"{dump}: FAILED: the checkpoint: note has no verifiable signatures: it is signed by {new.label}, not by a "
        f"key given (given: {old.label}); after a key rotation, give the key that signed it\n")
    assert "matches the signed checkpoint at 8" in ok(db_url, "verify", str(dump), "--checkpoint", str(checkpoint),
                                                       "--key", new.text)


def test_keys_list_shows_each_mirrored_register_and_the_origin_keys_it_trusts(
    origin: Engine, db_url: str, tmp_path: Path
) -> None:
    keys = tmp_path / "mirror-keys"
    [old] = [VerifierKey.parse(k) for k in service.public_keys(origin)]
    with gunicorn(db_url, workers=1) as served, fresh_database(tmp_path, "copy") as copy:
        mirror_ok(copy, keys, "mirror", f"{served}/country/", "--key", old.text)
        assert mirror_ok(copy, keys, "keys", "list").split(" learnt ")[0] == (
            f"# country mirrors {served}/country\n{old.text}  (origin key, current)")
        new = VerifierKey.parse(ok(db_url, "keys", "rotate").strip())
        service.add_record(origin, "country", "XK", {"name": "Kosovo"}, by="Jane", reason="recognised")
        mirror_ok(copy, keys, "mirror", f"{served}/country/")
        listed = mirror_ok(copy, keys, "keys", "list").splitlines()
        assert listed[0] == f"# country mirrors {served}/country"
        assert re.fullmatch(re.escape(f"# {old.text}  (origin key, superseded) learnt ") + r"\S+Z, handed over to "
                            + re.escape(new.label) + r" at \S+Z", listed[1]), listed[1]
        assert re.fullmatch(re.escape(f"{new.text}  (origin key, current) learnt ") + r"\S+Z", listed[2]), listed[2]
    assert not keys.exists()


def test_a_failed_mirror_names_its_url_once(origin: Engine, db_url: str, tmp_path: Path) -> None:
    stranger = SignerKey.generate("localhost").verifier
    [signing] = [VerifierKey.parse(k) for k in service.public_keys(origin)]
    with gunicorn(db_url, workers=1) as served, fresh_database(tmp_path, "copy") as copy:
        url = f"{served}/country/"
        for command in ("mirror", "verify"):
            refused = run(copy, command, url, "--key", stranger.text)
            assert refused.returncode == 1 and refused.stderr.decode() == (
                f"{url}: FAILED: the user checkpoint: note has no verifiable signatures: it is signed by "
                f"{signing.label}, which is not a key trusted here (trusted: {stranger.label}); no handover note "
                "signed by a trusted key names it (add the key that signs it with --key, obtained out of band)\n")
        # a fault of another address than the register's own still names it
        missing = run(copy, "mirror", f"{served}/nothing/", "--key", stranger.text)
        assert missing.stderr.decode().startswith(f"{served}/nothing/: FAILED: {served}/nothing/checkpoint: HTTP 404")
