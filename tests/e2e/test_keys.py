"""Keys are made only on purpose, seen through a real gunicorn (issue 22): a server without its
key refuses writes with 503 and serves reads, and never makes or adopts a key; servers started
from different folders sign with the one recorded key; a rotation is served at /keys and
/keys.json with the handover note. Both databases."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import requests
from sqlalchemy import Engine

from registers import service
from registers.core.handover import open_handover
from registers.core.notes import SignerKey, VerifierKey, open_checkpoint
from tests.conftest import RSF, on_postgresql
from tests.e2e.conftest import gunicorn
from tests.integration.helpers import load
from tests.integration.test_key_model import ok

REFUSED = "no signing key is configured"


def _served(engine: Engine) -> str:
    """A register to write to (country-small as 'country'), and a custodian token for it."""
    load(engine, "country-small.rsf", "country")
    return service.issue_token(engine, "country", "Jane").secret


def _amend(base: str, token: str, name: str) -> requests.Response:
    return requests.post(f"{base}/country/changes", timeout=30, headers={"Authorization": f"Bearer {token}"},
                         json={"action": "amend", "key": "GB", "fields": {"name": name}, "reason": "test"})


def _upload(base: str, token: str) -> requests.Response:
    return requests.post(f"{base}/country/load-rsf", timeout=30, headers={"Authorization": f"Bearer {token}"},
                         data=(RSF / "country-small-update.rsf").read_bytes())


def _assert_refused(answer: requests.Response, *secret_paths: Path) -> None:
    """A 503 problem saying only that no signing key is configured (where it was looked for is
    the operator's business: it goes to the log)."""
    assert answer.status_code == 503, answer.text
    assert answer.headers["Content-Type"] == "application/problem+json"
    assert answer.json() == {"type": "about:blank", "title": "Writes unavailable", "status": 503, "detail": REFUSED}
    assert answer.headers["Cache-Control"] == "no-store"
    assert all(str(path) not in answer.text for path in secret_paths) and ".key" not in answer.text


def _dropped(directory: Path) -> Path:
    """A private key file dropped into ``directory``, named as the platform names key files."""
    key = SignerKey.generate("localhost")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{key.key_id.hex()}.key"
    path.write_text(key.text + "\n")
    return path


def _without(name: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != name}


@pytest.mark.parametrize("where", ["empty", "missing"])
def test_a_server_without_its_key_refuses_writes_serves_reads_and_makes_no_key(
        where: str, engine: Engine, db_url: str, key_dir: Path, tmp_path: Path) -> None:
    token = _served(engine)
    directory = tmp_path / "server-keys"
    if where == "empty":
        directory.mkdir()
    keys, head, note = service.public_keys(engine), service.head(engine, "country"), service.checkpoint_note(engine, "country")
    output = tmp_path / "server.out"
    with gunicorn(db_url, 1, env={**os.environ, "REGISTERS_KEY_DIR": str(directory)}, output=output) as base:
        served = requests.get(f"{base}/keys", timeout=30)
        assert served.status_code == 200 and served.text == "".join(k + "\n" for k in keys)  # /keys unchanged
        assert requests.get(f"{base}/country/checkpoint", timeout=30).text == note  # reads go on
        assert "GB" in requests.get(f"{base}/country/records.json", timeout=30).json()
        _assert_refused(_amend(base, token, "Albion"), directory, key_dir)
        _assert_refused(_upload(base, token), directory, key_dir)
        proposed = requests.post(f"{base}/country/proposals", timeout=30, json={
            "key": "GB", "fields": {"name": "Albion"}, "reason": "checked, signed by nobody"})
        assert proposed.status_code == 201, proposed.text  # a proposal is checked by a dry run: no key needed
        ident = proposed.json()["id"]
        _assert_refused(requests.post(f"{base}/country/proposals/{ident}/approve", timeout=30, json={"reason": "ok"},
                                      headers={"Authorization": f"Bearer {token}"}), directory, key_dir)
        assert requests.get(f"{base}/country/proposals/{ident}.json", timeout=30).json()["status"] == "open"
        assert (directory.exists(), sorted(directory.iterdir()) if directory.exists() else []) == (where == "empty", [])
        stray = _dropped(directory)  # a key file that is not the recorded key's: never used
        _assert_refused(_amend(base, token, "Albion"), directory, key_dir)
        assert requests.get(f"{base}/keys", timeout=30).text == served.text
    assert service.public_keys(engine) == keys and service.head(engine, "country") == head
    assert list(directory.iterdir()) == [stray]  # no key file made
    log = output.read_text()
    events = [json.loads(line) for line in log.splitlines() if line.startswith("{")]  # the app's JSON lines
    missing = directory / f"{VerifierKey.parse(keys[0]).key_id.hex()}.key"
    assert any(e["event"] == "no_signing_key" and e["reason"].startswith(f"{REFUSED}: key ")
               for e in events)  # said at start-up: custodians' writes will be refused
    refusal = f"{REFUSED}: key {VerifierKey.parse(keys[0]).label} signs here, but its private key file {missing} is missing"
    assert any(e["event"] == "signing_failed" and e["level"] == "error" and e["register"] == "country"
               and e["reason"].startswith(refusal) for e in events)
    assert f"ignoring key file {stray}: only a key recorded in the database signs" in log


def test_without_a_key_directory_postgresql_refuses_writes_and_sqlite_finds_keys_beside_its_file(
        engine: Engine, db_url: str, key_dir: Path, tmp_path: Path) -> None:
    token = _served(engine)
    output, folder = tmp_path / "server.out", tmp_path / "started-here"
    folder.mkdir()
    with gunicorn(db_url, 1, env=_without("REGISTERS_KEY_DIR"), cwd=folder, output=output) as base:
        answer = _amend(base, token, "Albion")
        assert requests.get(f"{base}/keys", timeout=30).text == "".join(k + "\n" for k in service.public_keys(engine))
        if not on_postgresql():  # keys/ beside the database file, which is where the test's key is
            assert answer.status_code == 200, answer.text
            return
        _assert_refused(answer, key_dir)
        assert requests.get(f"{base}/country/records/GB.json", timeout=30).json()["GB"]["item"][0]["name"] == \
            "United Kingdom"
    assert "REGISTERS_KEY_DIR is not set" in output.read_text()
    assert service.head(engine, "country").user_size == 7 and list(folder.iterdir()) == []  # no ./keys made


def test_servers_started_from_two_folders_sign_with_the_one_recorded_key(
        engine: Engine, db_url: str, key_dir: Path, tmp_path: Path) -> None:
    token = _served(engine)
    [recorded] = [VerifierKey.parse(k) for k in service.public_keys(engine)]
    folders = [tmp_path / "one", tmp_path / "two"]
    notes = []
    for folder in folders:
        folder.mkdir()
    with gunicorn(db_url, 1, cwd=folders[0]) as first, gunicorn(db_url, 1, cwd=folders[1]) as second:
        for n, base in enumerate((first, second, first)):
            done = _amend(base, token, f"Albion {n}")
            assert done.status_code == 200, done.text
            notes.append(requests.get(f"{base}/country/checkpoint", timeout=30).text)
            assert requests.get(f"{base}/keys", timeout=30).text == recorded.text + "\n"
    assert [open_checkpoint(note, [recorded])[0].size for note in notes] == [8, 9, 10]
    assert service.public_keys(engine) == [recorded.text] and len(list(key_dir.iterdir())) == 1
    assert [list(folder.iterdir()) for folder in folders] == [[], []]  # no keys/ made where either started
    assert ok(db_url, "verify", "country").stdout.startswith("country: ok: ")


def test_a_rotation_is_served_with_its_handover_note(engine: Engine, db_url: str, key_dir: Path,
                                                     tmp_path: Path) -> None:
    token = _served(engine)
    [old] = [VerifierKey.parse(k) for k in service.public_keys(engine)]
    output = tmp_path / "server.out"
    with gunicorn(db_url, 1, output=output) as base:
        before = requests.get(f"{base}/country/checkpoint", timeout=30).text
        new = VerifierKey.parse(ok(db_url, "keys", "rotate").stdout.strip())  # while it serves
        stray = _dropped(key_dir)
        assert _amend(base, token, "Albion").status_code == 200
        after = requests.get(f"{base}/country/checkpoint", timeout=30).text
        served = requests.get(f"{base}/keys", timeout=30)
        listed: list[dict[str, Any]] = requests.get(f"{base}/keys.json", timeout=30).json()
        assert requests.get(f"{base}/country/keys", timeout=30).text == served.text
        assert requests.get(f"{base}/country/keys.json", timeout=30).json() == listed
    assert open_checkpoint(before, [old])[0].size == 7 and open_checkpoint(after, [new])[0].size == 8
    with pytest.raises(ValueError):
        open_checkpoint(after, [old])
    assert served.headers["Content-Type"] == "text/plain; charset=utf-8"
    assert served.text == f"{old.text}\n{new.text}\n"  # one key per line, oldest first
    assert [(k["key"], k["id"], k["status"]) for k in listed] == [
        (old.text, old.label, "retired"), (new.text, new.label, "signing")]
    assert listed[0]["retired"] == listed[1]["created"] and listed[0]["created"] <= listed[0]["retired"]
    assert listed[1]["retired"] is None and listed[1]["handover"] is None
    handover = open_handover(listed[0]["handover"], [old])  # verifies with the old key alone
    assert (handover.old, handover.new, handover.at) == (old, new, listed[0]["retired"])
    listing = ok(db_url, "keys", "list").stdout.splitlines()
    assert [line.split()[:3] for line in listing] == [["#", old.text, "(retired)"], [new.text, "(signs)", "since"]]
    assert ok(db_url, "verify", "country").stdout.startswith("country: ok: ")  # old and new checkpoints
    assert f"ignoring key file {stray}" in output.read_text()  # dropped while the new key signs: unused
