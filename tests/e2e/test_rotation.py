"""Following a key rotation, as operators and auditors would (the installed command against a
real gunicorn): after 'registers keys rotate' at the origin, a mirror and 'registers verify
URL' holding only the old key follow the handover note the old key signed and say which key
they now trust; a forged handover note is refused, naming the key the checkpoint would need,
with the mirror's store unchanged."""

from __future__ import annotations

import re
from pathlib import Path

import requests
from sqlalchemy import Engine, update

from registers import service
from registers.core.handover import handover_text
from registers.core.notes import SignerKey, VerifierKey, sign_note
from registers.store import schema
from tests.conftest import fresh_database
from tests.e2e.conftest import gunicorn
from tests.e2e.test_cli import ok
from tests.e2e.test_mirror import as_mirror, mirror_ok
from tests.integration.helpers import snapshot


def test_a_mirror_and_an_auditor_holding_the_old_key_follow_a_rotation_and_refuse_a_forged_one(
    origin: Engine, db_url: str, tmp_path: Path
) -> None:
    keys = tmp_path / "mirror-keys"  # the mirror's key directory: never made
    [old] = [VerifierKey.parse(k) for k in service.public_keys(origin)]
    with gunicorn(db_url, workers=1) as served, fresh_database(tmp_path, "copy") as copy:
        url = f"{served}/country/"
        mirror_ok(copy, keys, "mirror", url, "--key", old.text)
        assert "first audit, checkpoint saved" in mirror_ok(copy, keys, "verify", url, "--key", old.text)

        # the custodian rotates the key, then changes the register
        new = VerifierKey.parse(ok(db_url, "keys", "rotate").strip())
        listed = {k["key"]: k for k in requests.get(f"{served}/keys.json", timeout=10).json()}
        assert (listed[old.text]["status"], listed[new.text]["status"]) == ("retired", "signing")
        service.add_record(origin, "country", "XK", {"name": "Kosovo"}, by="Jane", reason="recognised")
        trusting = re.compile(
            re.escape(f"now trusting {new.label}; add it to your configuration: {new.text} (handed over by "
                      f"{old.label} at ") + r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)\n")

        # the mirror knows only the old key: it follows the handover note and says so, once
        followed = as_mirror(copy, keys, "mirror", url)
        assert followed.returncode == 0, followed.stderr.decode()
        assert followed.stdout.decode().startswith("country: 7 -> 8 user entries")
        assert trusting.fullmatch(followed.stderr.decode()), followed.stderr.decode()
        assert requests.get(f"{served}/country/checkpoint", timeout=10).text == _note(copy)
        assert mirror_ok(copy, keys, "verify", "country").startswith("country: ok: 8 user and ")
        quiet = as_mirror(copy, keys, "mirror", url)
        assert quiet.stdout.decode().startswith("country: up to date at 8") and quiet.stderr == b""

        # the auditor too, from the checkpoint the old key signed to the one the new key signed
        audited = as_mirror(copy, keys, "verify", url, "--key", old.text)
        assert audited.returncode == 0, audited.stderr.decode()
        assert "extends the checkpoint saved before at 7" in audited.stdout.decode()
        assert trusting.fullmatch(audited.stderr.decode()), audited.stderr.decode()

        # whoever takes the next key (but not the one it replaces) forges the handover note
        rotated = service.rotate_key(origin)
        newer = SignerKey.parse(rotated.path.read_text(encoding="ascii").strip())
        attacker = SignerKey.generate(new.name)
        forged = sign_note(handover_text(new, newer.verifier, rotated.handover.at), attacker, newer)
        with origin.begin() as conn:
            conn.execute(update(schema.signing_key).where(schema.signing_key.c.vkey == new.text).values(handover=forged))
        assert forged in [k["handover"] for k in requests.get(f"{served}/keys.json", timeout=10).json()]
        service.add_record(origin, "country", "XY", {"name": "Ruritania"}, by="Mallory", reason="forged")
        copy_engine = service.open_database(copy)
        try:
            before = snapshot(copy_engine)
            why = (f"signed by {newer.verifier.label}, which is not a key trusted here (trusted: ", "; the handover "
                   f"note naming it is refused: the handover note is not signed by its old key {new.label} ")
            refused = as_mirror(copy, keys, "mirror", url)
            stderr = refused.stderr.decode()
            assert refused.returncode == 1 and stderr.count("\n") == 1 and refused.stdout == b"", stderr
            assert stderr.startswith(f"{url}: FAILED: ") and all(part in stderr for part in why), stderr
            assert snapshot(copy_engine) == before
            audit = as_mirror(copy, keys, "verify", url, "--key", old.text)
            assert audit.returncode == 1 and all(part in audit.stderr.decode() for part in why), audit.stderr
            assert snapshot(copy_engine) == before
        finally:
            copy_engine.dispose()
    assert not keys.exists()


def _note(db: str) -> str:
    engine = service.open_database(db)
    try:
        return service.checkpoint_note(engine, "country")
    finally:
        engine.dispose()
