"""A key is made only on purpose, seen from a custodian's side (and an attacker's): 'init' and
'create' make no key on a database holding a mirror (it is no fresh database), nor when they
are refused anyway; key files and statuses are reported as they are (an absolute key
directory, a retired key's file left behind, a compromised key recorded). Commands run
in-process on both databases; the mirror copies a register served over real HTTP (loopback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import insert

from registers import service
from registers.core.notes import SignerKey, VerifierKey
from registers.store import schema, signing
from registers.store.engine import open_engine, writer
from tests.conftest import ROOT, fresh_database
from tests.integration.helpers import load, snapshot
from tests.integration.test_key_model import (
    COMPROMISED_PRIVATE,
    COMPROMISED_PUBLIC,
    SMALL,
    TERRITORY,
    key_file,
    ok,
    refused,
    statuses,
)
from tests.integration.test_mirror import database
from tests.integration.test_mirror_keys import on_mirror, served

COUNTRY = str(ROOT / "schemas" / "country.json")


def _project(tmp_path: Path, *names: str) -> Path:
    """A project folder shipping the registers ``names`` (definitions only), for 'registers init'."""
    project = tmp_path / f"project-{'-'.join(names)}"
    (project / "fixtures").mkdir(parents=True)
    (project / "schemas").mkdir()
    for name in names:
        (project / "schemas" / f"{name}.json").write_text((ROOT / "schemas" / f"{name}.json").read_text())
    (project / "fixtures" / "fixtures.json").write_text(json.dumps(
        {"registers": [{"register": name, "schema": f"{name}.json"} for name in names]}))
    return project


# -- a database holding a mirror is not fresh -------------------------------------------------


def test_init_and_create_make_no_key_on_a_database_holding_a_mirror(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tester's finding: 'create country' in a mirror's folder made a key, then was refused
    (read-only), and the mirror served that key at /keys. Now nothing is made: the refusal of a
    mirrored register comes first, and another write needs 'registers keys generate' on purpose."""
    copy_keys = tmp_path / "copy-keys"
    env: dict[str, str | None] = {"REGISTERS_KEY_DIR": str(copy_keys)}
    with database(tmp_path, "origin") as (url, origin), served(url) as base, \
            database(tmp_path, "copy", signed=False) as (copy_url, copy):
        load(origin, "country-small.rsf", "country")
        with on_mirror(monkeypatch, copy_keys):
            service.mirror(copy, f"{base}/country/", [VerifierKey.parse(k) for k in service.public_keys(origin)])
        before = snapshot(copy)
        read_only = f"register 'country' mirrors {base}/country: it is read-only here; change it there"
        no_key = ("no signing key is configured: this database records none (it holds mirrored registers, so 'init' "
                  "and 'create' make none here); make one with 'registers keys generate' or record an existing one "
                  f"with 'registers keys import FILE' (key directory: {copy_keys})")
        assert refused(copy_url, "create", "country", "--schema", COUNTRY, env=env) == read_only
        assert refused(copy_url, "init", "--with-fixtures", "--project", str(_project(tmp_path, "territory", "country")),
                       env=env) == read_only
        assert refused(copy_url, "create", "territory", "--schema", TERRITORY, env=env) == no_key
        assert refused(copy_url, "init", "--with-fixtures", "--project", str(_project(tmp_path, "territory")),
                       env=env) == no_key
        assert snapshot(copy) == before and not copy_keys.exists()  # no key, no register, nothing
        assert service.public_keys(copy) == [] and service.key_statuses(copy) == []
        # a key made on purpose: the mirror's own registers may then be made; the mirrored one stays read-only
        made = ok(copy_url, "keys", "generate", env=env).stdout.strip()
        done = ok(copy_url, "create", "territory", "--schema", TERRITORY, env=env)
        assert "signing key" not in done.stderr
        assert refused(copy_url, "create", "country", "--schema", COUNTRY, env=env) == read_only
        assert service.public_keys(copy) == [made] and list(copy_keys.iterdir()) == [key_file(copy_keys, made)]
        assert ok(copy_url, "verify", "country", env=env).stdout.startswith("country: ok: ")


@pytest.mark.parametrize("case", ["another register's schema", "a link to a register not here"])
def test_a_create_that_is_refused_makes_no_key_on_a_fresh_database(case: str, db_url: str, key_dir: Path) -> None:
    args = ["create", "territory", "--schema", COUNTRY] if case == "another register's schema" else \
        ["create", "local-authority-eng", "--schema", str(ROOT / "schemas" / "local-authority-eng.json")]
    said = refused(db_url, *args)
    assert said == "the schema defines register 'country', not 'territory'" if case == "another register's schema" \
        else "links to register 'local-authority-type', which does not exist here" in said
    assert not key_dir.exists() and ok(db_url, "keys", "list").stdout == "" and ok(db_url, "list").stdout == ""
    done = ok(db_url, "create", "territory", "--schema", TERRITORY)  # then a good one makes the key, and says so
    made = ok(db_url, "keys", "list").stdout.split()[0]
    assert done.stderr.startswith(f"signing key made: {made}\n")


# -- how keys and key files are reported ------------------------------------------------------


def test_a_relative_key_directory_is_reported_and_used_as_the_absolute_path(
        db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    here.mkdir()
    elsewhere.mkdir()
    relative: dict[str, str | None] = {"REGISTERS_KEY_DIR": "server-keys"}
    monkeypatch.chdir(here)
    done = ok(db_url, "keys", "generate", env=relative)
    vkey = done.stdout.strip()
    path = key_file(here / "server-keys", vkey)
    assert done.stderr == f"private key written to {path} (mode 0600); keep it secret, back it up\n"
    assert path.is_file()
    ok(db_url, "load", SMALL, "--register", "country", env=relative)
    monkeypatch.chdir(elsewhere)  # another working directory: another key directory, named in full
    said = refused(db_url, "amend", "country", "GB", "name=Albion", env=relative)
    assert said == (f"no signing key is configured: key {VerifierKey.parse(vkey).label} signs here, but its private "
                    f"key file {key_file(elsewhere / 'server-keys', vkey)} is missing (REGISTERS_KEY_DIR)")


def test_rotate_lost_says_the_retired_keys_file_is_still_there(db_url: str, key_dir: Path) -> None:
    old = ok(db_url, "keys", "generate").stdout.strip()
    ok(db_url, "load", SMALL, "--register", "country")
    done = ok(db_url, "keys", "rotate", "--lost")
    new = done.stdout.strip()
    lines = done.stderr.splitlines()
    assert lines[0].startswith(f"{VerifierKey.parse(old).label} retired with no handover note; ")
    assert lines[1:] == [f"the retired key's private file {key_file(key_dir, old)} is still there: destroy it (a lost "
                         "or leaked key must never sign again)"]
    assert key_file(key_dir, old).is_file()  # said, not deleted
    key_file(key_dir, new).unlink()  # lost this time: nothing is left to destroy, and nothing is said of it
    done = ok(db_url, "keys", "rotate", "--lost")
    assert len(done.stderr.splitlines()) == 1


def test_a_compromised_key_recorded_by_an_attacker_is_listed_as_compromised_and_never_signs(
        tmp_path: Path, key_dir: Path) -> None:
    with fresh_database(tmp_path, "attacked") as url:
        engine = open_engine(url)
        with writer(engine).begin() as conn:  # the attacker records the published key and plants its file
            signing.write_private_key(key_dir, SignerKey.parse(COMPROMISED_PRIVATE))
            conn.execute(insert(schema.signing_key).values(vkey=COMPROMISED_PUBLIC, created="2024-01-01T00:00:00Z"))
        assert [k.status for k in service.key_statuses(engine)] == ["compromised"]
        assert [k["status"] for k in service.keys_json(engine)] == ["compromised"]
        [(listed, marker)] = statuses(url)
        assert listed == COMPROMISED_PUBLIC and marker != "(signs)"
        assert "is compromised" in refused(url, "load", SMALL, "--register", "country")
        assert "is compromised" in refused(url, "create", "territory", "--schema", TERRITORY)
        assert service.list_registers(engine) == []
        engine.dispose()
