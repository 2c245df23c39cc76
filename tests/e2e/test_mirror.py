"""A mirror of a served register, run as an operator would (the installed command, real
gunicorns over real databases): it holds no private key, serves the origin's checkpoints
byte for byte, verifies with the origin's key by name and by URL, refuses local writes, and
follows five rounds of changes at the origin."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from registers import service
from tests.conftest import fresh_database
from tests.e2e.conftest import gunicorn
from tests.e2e.test_cli import _registers_command
from tests.integration.helpers import load

COUNTRY = "country"


def as_mirror(db: str, keys: Path, *args: str) -> subprocess.CompletedProcess:
    """``registers --db DB ARGS`` run by the mirror's operator: with a key directory of its own."""
    env = {k: v for k, v in os.environ.items() if k != "REGISTERS_DATABASE_URL"}
    env["REGISTERS_KEY_DIR"] = str(keys)
    return subprocess.run([*_registers_command(), "--db", db, *args], capture_output=True, env=env, timeout=120)


def mirror_ok(db: str, keys: Path, *args: str) -> str:
    done = as_mirror(db, keys, *args)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


@contextmanager
def mirror_server(monkeypatch: pytest.MonkeyPatch, db: str, keys: Path) -> Iterator[str]:
    """gunicorn over the mirror's database, started with the mirror's key directory."""
    with monkeypatch.context() as m:
        m.setenv("REGISTERS_KEY_DIR", str(keys))
        with gunicorn(db, workers=1) as base:
            m.undo()  # the process has its environment: the test's own writes sign as the origin
            yield base


def checkpoints(base: str) -> tuple[bytes, bytes]:
    """The user and system checkpoints served at ``base`` (bytes as served)."""
    user, system = (requests.get(f"{base}/{COUNTRY}/{path}", timeout=10) for path in ("checkpoint", "system/checkpoint"))
    assert user.status_code == system.status_code == 200
    return user.content, system.content


def test_a_mirror_of_a_served_register_keeps_its_signatures_and_follows_five_rounds(
    origin: Engine, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = tmp_path / "mirror-keys"  # the mirror's key directory: never made
    [vkey] = service.public_keys(origin)
    with gunicorn(db_url, workers=1) as served, fresh_database(tmp_path, "copy") as copy:
        first = mirror_ok(copy, keys, "mirror", f"{served}/{COUNTRY}/", "--key", vkey)
        assert first.startswith("country: 0 -> 7 user entries") and "verified against the signed checkpoint" in first
        with mirror_server(monkeypatch, copy, keys) as mirrored:
            assert checkpoints(mirrored) == checkpoints(served)
            assert requests.get(f"{mirrored}/{COUNTRY}/keys", timeout=10).text == f"{vkey}\n"
            assert requests.get(f"{mirrored}/keys", timeout=10).text == ""  # no key of its own
            # the copy verifies with the origin's key: by name here, and by URL
            assert mirror_ok(copy, keys, "verify", COUNTRY).startswith("country: ok: 7 user and ")
            by_url = mirror_ok(copy, keys, "verify", f"{mirrored}/{COUNTRY}/", "--key", vkey)
            assert "first audit, checkpoint saved" in by_url
            # local writes are refused, naming the origin
            refused = as_mirror(copy, keys, "add", COUNTRY, "QX", "name=Atlantis", "--as", "Jane", "--reason", "r")
            assert (refused.returncode, refused.stdout, refused.stderr.decode()) == (1, b"", (
                f"error: register 'country' mirrors {served}/{COUNTRY}: it is read-only here; change it there\n"))
            copy_engine = service.open_database(copy)
            try:
                token = service.issue_token(copy_engine, COUNTRY).secret
            finally:
                copy_engine.dispose()
            answer = requests.post(f"{mirrored}/{COUNTRY}/changes", headers={"Authorization": f"Bearer {token}"},
                                   json={"action": "add", "key": "QX", "fields": {"name": "Atlantis"}}, timeout=10)
            assert answer.status_code == 409 and answer.headers["Content-Type"] == "application/problem+json"
            assert answer.json()["detail"] == (
                f"register 'country' mirrors {served}/{COUNTRY}: it is read-only here; change it there")
            # five rounds of changes at the origin, each carried over and served as signed there
            rounds = [
                lambda: load(origin, "country-small-update.rsf", COUNTRY),  # data and a new custodian
                lambda: service.add_record(origin, COUNTRY, "XK", {"name": "Kosovo"}, by="Jane", reason="new"),
                lambda: service.amend_record(origin, COUNTRY, "XK", {"name": "Republic of Kosovo"}, by="Jane"),
                lambda: service.end_record(origin, COUNTRY, "XK", "2030-01-01", by="Jane", reason="ended"),
                lambda: service.append_items(origin, COUNTRY, [(k, {"country": k, "name": f"Land {k}"})
                                                               for k in ("QA", "QB", "QC")]),
            ]
            for change in rounds:
                before = service.head(origin, COUNTRY)
                change()
                after = service.head(origin, COUNTRY)
                assert after.user_size > before.user_size
                summary = mirror_ok(copy, keys, "mirror", f"{served}/{COUNTRY}/")
                assert summary.startswith(f"country: {before.user_size} -> {after.user_size} user entries"), summary
                assert checkpoints(mirrored) == checkpoints(served)
            assert mirror_ok(copy, keys, "mirror", f"{served}/{COUNTRY}/").startswith("country: up to date at ")
            assert mirror_ok(copy, keys, "verify", COUNTRY).startswith("country: ok: ")
            again = mirror_ok(copy, keys, "verify", f"{mirrored}/{COUNTRY}/", "--key", vkey)
            assert "extends the checkpoint saved before at 7" in again
            assert requests.get(f"{mirrored}/{COUNTRY}/records/XK", timeout=10).json() == \
                requests.get(f"{served}/{COUNTRY}/records/XK", timeout=10).json()
    assert not keys.exists()  # nothing made or looked for a key in the mirror's key directory
    assert not list(tmp_path.glob("**/mirror-keys/*.key"))
