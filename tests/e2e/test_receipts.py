"""``--receipt`` and ``registers verify-receipt``, run as the installed command."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from registers.core.notes import SignerKey
from tests.conftest import RSF
from tests.e2e.test_cli import ok, run

OK_LINE = re.compile(
    r"(?P<register>[a-z0-9-]+): ok: (?P<log>user|system) entries (?P<first>\d+)-(?P<last>\d+) are in the log "
    r"signed at size (?P<size>\d+) \(root sha-256:[0-9a-f]{64}\) by (?P<key>localhost\+[0-9a-f]{8})"
)


def _verify(db_url: str, receipt: Path, *keys: str) -> list[re.Match[str]]:
    out = ok(db_url, "verify-receipt", str(receipt), *(arg for key in keys for arg in ("--key", key)))
    matches = [OK_LINE.fullmatch(line) for line in out.splitlines()]
    assert matches and all(matches), out
    return matches  # type: ignore[return-value]


def _fails(db_url: str, receipt: Path | str, *args: str) -> str:
    result = run(db_url, "verify-receipt", str(receipt), *args)
    err = result.stderr.decode()
    assert result.returncode == 1 and result.stdout == b"", err
    assert "Traceback" not in err and err.count("\n") == 1, err
    return err


def _signing_key(db_url: str) -> str:
    (line,) = [line for line in ok(db_url, "keys", "list").splitlines() if line.split()[1] == "(signs)"]
    return line.split()[0]


@pytest.fixture
def fixtures_db(db_url: str) -> str:
    ok(db_url, "init", "--with-fixtures")
    return db_url


def test_receipts_of_a_load_and_of_record_changes_verify(fixtures_db: str, tmp_path: Path) -> None:
    db = fixtures_db
    vkey = _signing_key(db)
    loaded = tmp_path / "load.json"
    result = run(db, "load", str(RSF / "country-208.rsf"), "--register", "country-208", "--receipt", str(loaded))
    assert result.returncode == 0 and f"receipt written to {loaded}" in result.stderr.decode()
    user, system = _verify(db, loaded, vkey)
    assert user.group("register", "log", "first", "last", "size") == ("country-208", "user", "1", "208", "208")
    assert system.group("log", "first") == ("system", "1") and user.group("key") == "+".join(vkey.split("+")[:2])

    size = int(ok(db, "root", "country").split()[0])
    for number, command in enumerate([
        ("add", "country", "XQ", "name=Atlantis", "--reason", "found"),
        ("amend", "country", "XQ", "name=Atlantis Rising", "--as", "Joe"),
        ("end", "country", "XQ", "--date", "2025-01-01"),
    ], size + 1):
        receipt = tmp_path / f"{command[0]}.json"
        ok(db, *command, "--receipt", str(receipt))
        user, *_ = _verify(db, receipt, vkey)
        assert user.group("register", "log", "first", "last", "size") == (
            "country", "user", str(number), str(number), str(number))
        entry = json.loads(receipt.read_text())["user"]["entries"][0]
        assert entry["key"] == "XQ" and entry["entry-number"] == str(number)
    assert entry["item"][0]["end-date"] == "2025-01-01"


def test_a_changed_byte_a_wrong_key_or_a_bad_file_fails(fixtures_db: str, tmp_path: Path) -> None:
    db = fixtures_db
    vkey = _signing_key(db)
    receipt = tmp_path / "add.json"
    ok(db, "add", "country", "XQ", "name=Atlantis", "--receipt", str(receipt))
    _verify(db, receipt, vkey)
    original = receipt.read_bytes()
    document = json.loads(original)
    user = document["user"]
    targets = [  # (bytes, the last of them rather than the first)
        (b'"Atlantis"', False),  # the item
        (user["entries"][0]["entry-timestamp"].encode(), False),  # the user entry's, before the system's
        (user["frontier"][0].encode(), False),  # the frontier comes before the audit path (of the same hashes)
        (user["entries"][0]["merkle-audit-path"][-1].encode(), True),
        (user["checkpoint"].split("\n")[2].encode(), False),  # the signed root
        (user["checkpoint"].split("\n")[-2][-12:].encode(), False),  # the signature
        (document["system"]["entries"][0]["item-hash"][0].encode(), False),
        (f'"entry-number": "{user["entries"][0]["entry-number"]}"'.encode(), False),
    ]
    for target, last in targets:
        at = (original.rindex(target) if last else original.index(target)) + len(target) - 3
        changed = original[:at] + (b"1" if original[at:at + 1] != b"1" else b"2") + original[at + 1:]
        bad = tmp_path / "bad.json"
        bad.write_bytes(changed)
        err = _fails(db, bad, "--key", vkey)
        assert err.startswith(f"{bad}: FAILED: "), err

    other_db = f"sqlite:///{tmp_path / 'other.db'}"
    other_key = ok(other_db, "keys", "generate").strip()
    err = _fails(db, receipt, "--key", other_key)
    assert err == f"{receipt}: FAILED: user log: the checkpoint's signature: note has no verifiable signatures\n"
    fresh = SignerKey.generate("localhost").verifier.text
    assert "no verifiable signatures" in _fails(db, receipt, "--key", fresh)
    _verify(db, receipt, fresh, vkey)  # any one trusted key is enough

    assert _fails(db, tmp_path / "absent.json", "--key", vkey).startswith(
        f"{tmp_path / 'absent.json'}: FAILED: cannot read: ")
    (tmp_path / "text.json").write_text("this is not JSON\n")
    assert "FAILED: not a receipt (not JSON" in _fails(db, tmp_path / "text.json", "--key", vkey)
    (tmp_path / "list.json").write_text("[1, 2]\n")
    assert "FAILED: not a receipt (format is not registers-receipt/1)" in _fails(db, tmp_path / "list.json",
                                                                                 "--key", vkey)
    assert _fails(db, receipt) == (
        "error: give the public key to check with: --key <name+id+key> or --key <file of keys>\n")
    assert _fails(db, receipt, "--key", "nokey") == "error: --key nokey: no such file, and not a key (name+id+key)\n"
    assert _fails(db, receipt, "--key", vkey[:-2] + "AA").startswith(f"error: --key {vkey[:-2]}AA: ")


def test_the_key_may_be_a_file_and_no_database_is_needed(fixtures_db: str, tmp_path: Path) -> None:
    db = fixtures_db
    receipt = tmp_path / "add.json"
    ok(db, "add", "country", "XQ", "name=Atlantis", "--receipt", str(receipt))
    keys = tmp_path / "keys.txt"
    keys.write_text(ok(db, "keys", "list"))  # as listed: "(signs)" after the key in use
    absent = tmp_path / "nowhere" / "absent.db"
    matches = _verify(f"sqlite:///{absent}", receipt, str(keys))
    assert [m.group("log") for m in matches] == ["user", "system"] and not absent.parent.exists()

    other = tmp_path / "other-keys.txt"
    other.write_text(f"# trusted\n\n{SignerKey.generate('localhost').verifier.text}\n")
    assert "no verifiable signatures" in _fails(db, receipt, "--key", str(other))
    _verify(db, receipt, str(other), str(keys))
    (tmp_path / "empty.txt").write_text("\n")
    assert _fails(db, receipt, "--key", str(tmp_path / "empty.txt")) == (
        f"error: --key {tmp_path / 'empty.txt'}: the file holds no keys\n")
    (tmp_path / "bad-keys.txt").write_text("localhost+00000000+AAAA\n")
    assert _fails(db, receipt, "--key", str(tmp_path / "bad-keys.txt")).startswith(
        f"error: {tmp_path / 'bad-keys.txt'}:1: ")

    stdin = run(db, "verify-receipt", "-", "--key", str(keys), stdin=receipt.read_bytes())
    assert stdin.returncode == 0 and stdin.stdout.decode().startswith("country: ok: user entries ")
