"""The auditor, the mirror and key rotation through the installed command, against a real
gunicorn serving a real database."""

from __future__ import annotations

from pathlib import Path

from registers import service
from registers.core.notes import SignerKey, VerifierKey
from tests.conftest import RSF, fresh_database
from tests.e2e.test_cli import ok, run


def test_mirror_and_audit_a_served_register_with_rotation_between_rounds(server: str, db_url: str,
                                                                           tmp_path: Path) -> None:
    vkey = ok(db_url, "keys", "list").split()[0]
    with fresh_database(tmp_path, "copy") as copy:
        first = ok(copy, "mirror", f"{server}/country/", "--key", vkey)
        assert first.startswith("country: 0 -> ") and "verified against the signed checkpoint" in first
        audited = ok(copy, "verify", f"{server}/country/", "--key", vkey)
        assert "first audit, checkpoint saved" in audited
        # the custodian rotates the key and changes data and metadata
        new = ok(db_url, "keys", "rotate").strip()
        listed = ok(db_url, "keys", "list").splitlines()
        assert [line.split()[:3] for line in listed] == [["#", vkey, "(retired)"], [new, "(signs)", "since"]]
        ok(db_url, "add", "country", "QX", "name=Atlantis", "--as", "Jane", "--reason", "recognised")
        label, old_label = VerifierKey.parse(new).label, VerifierKey.parse(vkey).label
        trusting = f"now trusting {label}; add it to your configuration: {new} (handed over by {old_label} at "
        # the copy and the auditor hold only the old key: both follow the handover note it signed
        second = run(copy, "mirror", f"{server}/country/", "--key", vkey)
        assert second.returncode == 0, second.stderr.decode()
        assert "-> " in second.stdout.decode() and trusting in second.stderr.decode()
        assert ok(copy, "verify", "country").startswith("country: ok: ")
        assert ok(copy, "root", "country") == ok(db_url, "root", "country")
        again = run(copy, "verify", f"{server}/country/", "--key", vkey)
        assert again.returncode == 0, again.stderr.decode()
        assert "extends the checkpoint saved before" in again.stdout.decode()
        assert trusting in again.stderr.decode()
        # the copy recorded the new key: it says so once, not on every run
        current = run(copy, "mirror", f"{server}/country/")
        assert current.stdout.decode().startswith("country: up to date at ") and current.stderr == b""
        # a key never given nor handed over is refused, naming the key the checkpoint needs
        stranger = SignerKey.generate("localhost").verifier.text
        with fresh_database(tmp_path, "fresh") as fresh:
            refused = run(fresh, "mirror", f"{server}/country/", "--key", stranger)
            assert refused.returncode == 1 and refused.stderr.decode().count("\n") == 1
            assert "FAILED" in refused.stderr.decode() and f"signed by {label}," in refused.stderr.decode()
            assert ok(fresh, "list") == ""


def test_verify_a_dump_against_its_signed_checkpoint(db_url: str, tmp_path: Path) -> None:
    ok(db_url, "keys", "generate")
    ok(db_url, "load", str(RSF / "country-208.rsf"))
    vkey = ok(db_url, "keys", "list").split()[0]
    dump = tmp_path / "country.rsf"
    dump.write_bytes(run(db_url, "export", "country").stdout)
    checkpoint = tmp_path / "country.checkpoint"
    engine = service.open_database(db_url)
    checkpoint.write_text(service.checkpoint_note(engine, "country"))
    engine.dispose()
    out = ok(db_url, "verify", str(dump), "--checkpoint", str(checkpoint), "--key", vkey)
    assert out.startswith(f"{dump}: ok: country: 208 entries;") and "matches the signed checkpoint at 208" in out
    dump.write_bytes(dump.read_bytes().replace(b'"name":"Andorra"', b'"name":"Andorre"', 1))
    bad = run(db_url, "verify", str(dump), "--checkpoint", str(checkpoint), "--key", vkey)
    assert bad.returncode == 1 and "FAILED" in bad.stderr.decode() and "line " in bad.stderr.decode()


def test_verify_only_what_came_since_an_earlier_audit(db_url: str) -> None:
    ok(db_url, "keys", "generate")
    ok(db_url, "load", str(RSF / "country-208.rsf"))
    assert ok(db_url, "verify", "country").startswith("country: ok: 208 user and 16 system entries")
    ok(db_url, "amend", "country", "GB", "name=Great Britain", "--as", "Joe", "--reason", "shorter")
    out = ok(db_url, "verify", "country", "--since", "208")
    assert out.startswith("country: ok: 1 user and 1 system entries after the checkpoint at 208 (verified before), "
                          "2 items, every checkpoint signature; root 209 sha-256:")
    refused = run(db_url, "verify", "country", "--since", "100")
    assert refused.returncode == 1 and refused.stderr.decode() == (
        "error: no checkpoint of this register has 100 user entries to verify from\n")
    refused = run(db_url, "verify", str(RSF / "country-208.rsf"), "--since", "208")
    assert refused.returncode == 1 and "--since is for a register in the local database" in refused.stderr.decode()
