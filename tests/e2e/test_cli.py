"""The installed ``registers`` command, run as a user would, against a real database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT, RSF, vector

COUNTRY = vector("country-proofs.json")


def _registers_command() -> list[str]:
    installed = shutil.which("registers", path=str(Path(sys.executable).parent))
    return [installed] if installed else [sys.executable, str(ROOT / "cli.py")]


def run(db_url: str, *args: str, cwd: Path | None = None, stdin: bytes | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run ``registers --db URL ARGS`` (in ``env``, default this process's) and capture its output."""
    env = {k: v for k, v in (os.environ if env is None else env).items() if k != "REGISTERS_DATABASE_URL"}
    return subprocess.run(
        [*_registers_command(), "--db", db_url, *args], capture_output=True, cwd=cwd, input=stdin, env=env, timeout=120
    )


def ok(db_url: str, *args: str, **kwargs) -> str:
    result = run(db_url, *args, **kwargs)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode()


def test_load_root_list_verify(db_url: str) -> None:
    ok(db_url, "keys", "generate")  # as a custodian does first: a write signs with it
    out = ok(db_url, "load", str(RSF / "country-208.rsf"))
    assert out == f"country: 208 added (16 system); root 208 {COUNTRY['register_proof']['root-hash']}\n"
    assert ok(db_url, "root", "country") == f"208 {COUNTRY['register_proof']['root-hash']}\n"
    assert ok(db_url, "load", str(RSF / "country-208.rsf")).startswith("country: 0 added (0 system), 224 already present")
    assert ok(db_url, "list") == f"country\t208\t{COUNTRY['register_proof']['root-hash']}\n"
    assert ok(db_url, "verify", "country").startswith("country: ok: 208 user and 16 system entries")


def test_register_name_comes_from_option_then_dump_then_stem(db_url: str, tmp_path: Path) -> None:
    ok(db_url, "keys", "generate")
    ok(db_url, "load", str(RSF / "school-2017.rsf"))  # its name entry says "school"
    ok(db_url, "load", str(RSF / "escaped-backslash.rsf"))  # no name entry: the file's stem
    ok(db_url, "load", str(RSF / "country-small.rsf"), "--register", "small")
    names = [line.split("\t")[0] for line in ok(db_url, "list").splitlines()]
    assert names == ["escaped-backslash", "school", "small"]


def test_proofs_print_the_v1_json(db_url: str) -> None:
    ok(db_url, "keys", "generate")
    ok(db_url, "load", str(RSF / "country-208.rsf"))
    entry = json.loads(ok(db_url, "proof", "inclusion", "country", "10", "200"))
    assert entry == {"proof-identifier": "merkle:sha-256", "entry-number": "10",
                     "merkle-audit-path": COUNTRY["entry_proof"]["merkle-audit-path"]}
    consistency = json.loads(ok(db_url, "proof", "consistency", "country", "197", "200"))
    assert consistency["merkle-consistency-nodes"] == COUNTRY["consistency_proof"]["merkle-consistency-nodes"]
    bad = run(db_url, "proof", "inclusion", "country", "300", "200")
    assert bad.returncode == 1
    assert bad.stderr.decode() == "error: an inclusion proof needs 1 <= entry (300) <= size (200) <= 208\n"


def test_export_round_trip_and_patch_through_stdin(db_url: str, tmp_path: Path) -> None:
    ok(db_url, "keys", "generate")
    ok(db_url, "load", str(RSF / "industrial-classification.rsf"), "--register", "sic")
    dump = run(db_url, "export", "sic").stdout
    assert dump == (RSF / "industrial-classification.rsf").read_bytes()
    other = f"sqlite:///{tmp_path / 'copy.db'}"
    ok(other, "keys", "generate")  # a copy signs with a key of its own
    ok(other, "load", "-", "--register", "sic", stdin=run(db_url, "export", "sic", "--to", "1000").stdout)
    assert ok(other, "root", "sic").startswith("1000 ")
    ok(other, "load", "-", "--register", "sic", stdin=run(db_url, "export", "sic", "--from", "1000").stdout)
    assert ok(other, "root", "sic") == ok(db_url, "root", "sic")
    assert ok(db_url, "root", "sic", "--size", "1000") == ok(other, "root", "sic", "--size", "1000")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("non-canonical-item.rsf", ":1: item JSON is not canonical"),
        ("orphan-item.rsf", ":2: add-item sha-256:"),
        ("wrong-root-hash.rsf", ":1: the file continues from root sha-256:b63ab0be"),
        ("register-before-fields.rsf", ":9: system entry 'register:register' names field 'register'"),
    ],
)
def test_refused_files_give_one_line_and_exit_1(db_url: str, name: str, expected: str) -> None:
    ok(db_url, "keys", "generate")  # so that only the file itself can be refused
    ok(db_url, "load", str(RSF / "country-small.rsf"), "--register", "country")
    before = ok(db_url, "export", "country")
    result = run(db_url, "load", str(RSF / "invalid" / name), "--register", "other")
    err = result.stderr.decode()
    assert result.returncode == 1
    assert err.startswith(f"error: {RSF / 'invalid' / name}{expected}")
    assert err.count("\n") == 1 and "Traceback" not in err
    assert ok(db_url, "list").splitlines()[0].startswith("country\t7\t")
    assert len(ok(db_url, "list").splitlines()) == 1
    assert ok(db_url, "export", "country") == before


def test_unknown_register_and_bad_names(db_url: str) -> None:
    ok(db_url, "keys", "generate")  # a database ('root' only reads: it never makes one)
    result = run(db_url, "root", "nowhere")
    assert (result.returncode, result.stderr.decode()) == (1, "error: register 'nowhere' does not exist\n")
    result = run(db_url, "load", str(RSF / "country.rsf"), "--register", "Bad Name")
    assert result.returncode == 1 and "cannot name a register" in result.stderr.decode()


def test_verify_names_the_first_bad_entry_and_exits_1(tmp_path: Path) -> None:
    db = tmp_path / "tampered.db"
    url = f"sqlite:///{db}"
    ok(url, "keys", "generate")
    ok(url, "load", str(RSF / "country-small.rsf"), "--register", "country")
    import sqlite3

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE entry SET timestamp = '2001-01-01T00:00:00Z' WHERE log = 0 AND number = 4")
    result = run(url, "verify", "country")
    assert result.returncode == 1
    assert result.stderr.decode().startswith("country: FAILED: user entry 4 (key 'AF') has been changed")


def test_default_database_is_registers_db_in_the_working_directory(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REGISTERS_DATABASE_URL"}
    subprocess.run([*_registers_command(), "keys", "generate"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    subprocess.run([*_registers_command(), "load", str(RSF / "country.rsf")], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    assert (tmp_path / "registers.db").exists()
    env["REGISTERS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'registers.db'}"
    out = subprocess.run([*_registers_command(), "root", "country"], env=env, capture_output=True, check=True)
    assert out.stdout.decode() == f"209 {COUNTRY['final_roots']['../data/rsf/country.rsf']}\n"


def test_rsf_dry_run_stores_nothing_and_table_options_are_refused(db_url: str) -> None:
    out = ok(db_url, "load", str(RSF / "country-small.rsf"), "--dry-run")
    assert out == "country: dry run: 19 entries would be appended; nothing stored\n"
    assert ok(db_url, "list") == ""
    refused = run(db_url, "load", str(RSF / "country-small.rsf"), "--history")
    assert (refused.returncode, refused.stderr.decode()) == (1, "error: --history applies to tables, not RSF\n")


def test_a_missing_file_is_one_line(db_url: str) -> None:
    result = run(db_url, "load", "/nowhere/country.rsf")
    assert result.returncode == 2 and "does not exist" in result.stderr.decode()
    assert "Traceback" not in result.stderr.decode()


def test_who_and_why_on_rsf_patches_that_overlap_the_log(db_url: str, tmp_path: Path) -> None:
    ok(db_url, "keys", "generate")
    ok(db_url, "load", str(RSF / "industrial-classification.rsf"), "--register", "sic")
    other = f"sqlite:///{tmp_path / 'copy.db'}"
    ok(other, "keys", "generate")
    ok(other, "load", "-", "--register", "sic", stdin=run(db_url, "export", "sic", "--to", "150").stdout)
    ok(other, "load", "-", "--register", "sic", "--as", "bob", stdin=run(db_url, "export", "sic", "--from", "150", "--to", "180").stdout)
    out = ok(other, "load", "-", "--register", "sic", "--as", "carol",
             stdin=run(db_url, "export", "sic", "--from", "150", "--to", "208").stdout)
    assert out.startswith("sic: 28 added (1 system), 30 already present")
    assert ok(other, "verify", "sic").startswith("sic: ok: 208 user")


def test_check_counts_every_finding_and_lists_the_first_of_each_kind(db_url: str) -> None:
    ok(db_url, "keys", "generate")
    ok(db_url, "load", str(RSF / "school-2017.rsf"))  # its schools link to an address register we do not have
    head, *lines, more = ok(db_url, "check", "school", "--limit", "2").splitlines()
    assert head == ("school: 1000 records (903 live); 14 duplicate, 1000 dangling-link, 0 invalid-value, "
                    "0 ended-but-linked, 0 missing-value")
    assert [line.split("\t")[0] for line in lines] == ["duplicate"] * 2 + ["dangling-link"] * 2
    assert "register 'address' does not exist" in lines[-1]
    assert more == "(1010 more not listed: --limit N or --all lists them)"
    report = json.loads(ok(db_url, "check", "school", "--json", "--all"))
    assert len(report["findings"]) == 1014 and report["listed-per-kind"] is None
    assert len(json.loads(ok(db_url, "check", "school", "--json"))["findings"]) == 14 + 20  # 20 a kind by default
    assert run(db_url, "check", "no-such").returncode != 0
