"""The data owner's commands, run as the installed ``registers`` command."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT, SHARED
from tests.e2e.test_cli import ok, run

TSV = SHARED / "data" / "tsv"


def test_init_with_fixtures_then_again_adds_nothing(db_url: str) -> None:
    out = ok(db_url, "init", "--with-fixtures")
    assert "country: 217 added, 206 entries" in out
    assert "school: 1013 added, 1000 entries; 900 findings reported: the published 2017 dump" in out
    again = ok(db_url, "init", "--with-fixtures")
    assert again.splitlines()[-1] == "0 entries added"
    assert ok(db_url, "verify", "local-authority-eng").startswith("local-authority-eng: ok: 354 user")


def test_create_load_amend_end_show(db_url: str, tmp_path: Path) -> None:
    ok(db_url, "create", "local-authority-type", "--schema", str(ROOT / "schemas/local-authority-type.json"),
       "--custodian", "A Custodian")
    out = ok(db_url, "load", str(TSV / "local-authority-type.tsv"), "--as", "Jane", "--reason", "first load")
    assert out.startswith("local-authority-type: 11 added (1 system)")
    assert ok(db_url, "load", str(TSV / "local-authority-type.tsv")).startswith("local-authority-type: 0 added")
    ok(db_url, "amend", "local-authority-type", "CA", "name=Council area (Scotland)", "--as", "Joe", "--reason", "clearer")
    ok(db_url, "end", "local-authority-type", "CA", "--date", "2025-01-01", "--as", "Joe", "--reason", "abolished")
    history = ok(db_url, "show", "local-authority-type", "CA", "--history").splitlines()
    assert [line.split("  ", 2)[2] for line in history[::2]] == [
        "by Jane: first load", "by Joe: clearer", "by Joe: abolished",
    ]
    assert '"end-date": "2025-01-01"' in history[-1]
    records = ok(db_url, "records", "local-authority-type", "--current").splitlines()
    assert len(records) == 10 and all('"CA"' not in r for r in records)
    csv = run(db_url, "export", "local-authority-type", "--format", "csv").stdout
    assert csv.startswith(b"index-entry-number,entry-number,entry-timestamp,key,local-authority-type,name,start-date,end-date\r\n")


def test_bad_table_gives_one_line_and_changes_nothing(db_url: str, tmp_path: Path) -> None:
    ok(db_url, "create", "local-authority-type", "--schema", str(ROOT / "schemas/local-authority-type.json"))
    bad = tmp_path / "types.csv"
    bad.write_text("local-authority-type,name,start-date\nCA,Council area,2019-02-30\n")
    result = run(db_url, "load", str(bad), "--register", "local-authority-type")
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"error: {bad}:2: field 'start-date': value '2019-02-30' is not a valid datetime\n"
    )
    assert ok(db_url, "root", "local-authority-type").startswith("0 ")


def test_dry_run_prints_the_diff_and_stores_nothing(db_url: str) -> None:
    ok(db_url, "create", "uk", "--schema", str(ROOT / "schemas/uk.json"))
    result = run(db_url, "load", str(TSV / "uk.tsv"), "--dry-run")
    assert result.returncode == 0
    assert "uk: dry run: 5 entries would be appended; nothing stored" in result.stdout.decode()
    assert "table: 5 new, 0 changed, 0 unchanged, 0 vanished" in result.stderr.decode()
    assert ok(db_url, "root", "uk").startswith("0 ")


def test_large_loads_show_progress_on_stderr_and_data_on_stdout(db_url: str) -> None:
    name = "westminster-parliamentary-constituency"
    ok(db_url, "create", name, "--schema", str(ROOT / f"schemas/{name}.json"))
    result = run(db_url, "load", str(TSV / f"{name}.tsv"), "--history")
    assert result.returncode == 0
    assert "loading" in result.stderr.decode()
    assert "loading" not in result.stdout.decode()
    assert result.stdout.decode().startswith(f"{name}: 3877 added")


def test_allow_dangling_loads_and_lists_every_dangling_link(db_url: str) -> None:
    ok(db_url, "create", "local-authority-type", "--schema", str(ROOT / "schemas/local-authority-type.json"))  # empty
    ok(db_url, "create", "local-authority-eng", "--schema", str(ROOT / "schemas/local-authority-eng.json"))
    refused = run(db_url, "load", str(TSV / "local-authority-eng.tsv"))
    assert refused.returncode == 1 and "is not a key of register 'local-authority-type'" in refused.stderr.decode()
    result = run(db_url, "load", str(TSV / "local-authority-eng.tsv"), "--allow-dangling")
    assert result.returncode == 0
    listed = [line for line in result.stderr.decode().splitlines() if "is not a key of register" in line]
    rows = (TSV / "local-authority-eng.tsv").read_text().splitlines()[1:]
    distinct_types = {row.split("\t")[1] for row in rows if row.split("\t")[1]}
    assert len(listed) == len(distinct_types) > 3  # each missing type, with the first line naming it
