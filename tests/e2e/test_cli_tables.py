"""The data owner's commands, run as the installed ``registers`` command."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import ROOT, SHARED
from tests.e2e.test_cli import ok, run

TSV = SHARED / "data" / "tsv"


def test_init_with_fixtures_then_again_adds_nothing(db_url: str) -> None:
    out = ok(db_url, "init", "--with-fixtures")
    assert "country: 228 added, 209 entries" in out
    assert "school: 1014 added, 1000 entries; 900 findings reported: the published 2017 dump" in out
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
    import os

    result = run(db_url, "load", str(TSV / f"{name}.tsv"), "--history",
                 env={**os.environ, "REGISTERS_PROGRESS_SECONDS": "0"})
    assert result.returncode == 0
    assert f"loading {name}.tsv: " in result.stderr.decode()
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


FIVE_FAULTS = """local-authority-nir,local-authority-type,name,website,start-date
ABC,DIS,Antrim and Newtownabbey,https://antrimandnewtownabbey.gov.uk,2015-04-01
ARD,DIS,Ards and North Down,https://ardsandnorthdown.gov.uk,2015-02-30
BFS,NOPE,Belfast,https://belfastcity.gov.uk,2015-04-01
CCG,DIS,Causeway Coast and Glens,not a web address,2015-04-01
ABC,DIS,Antrim again,https://example.gov.uk,2015-04-01
DCS,DIS,Derry City and Strabane,https://derrystrabane.com,2015-04-01,extra
"""


def test_every_fault_of_a_table_in_one_run_and_nothing_stored(db_url: str, tmp_path: Path) -> None:
    """Five different faults (a bad date, a link to a missing type, a bad URL, a key twice, a row
    too long) are all named in one run, in file order; nothing is stored; --max-errors 2 names
    two and counts the rest; --json gives each as a JSON line with its parts."""
    import json

    ok(db_url, "create", "local-authority-type", "--schema", str(ROOT / "schemas/local-authority-type.json"))
    ok(db_url, "load", str(TSV / "local-authority-type.tsv"))
    ok(db_url, "create", "local-authority-nir", "--schema", str(ROOT / "schemas/local-authority-nir.json"))
    table = tmp_path / "nir.csv"
    table.write_text(FIVE_FAULTS)
    before = ok(db_url, "root", "local-authority-nir")
    result = run(db_url, "load", str(table), "--register", "local-authority-nir")
    assert result.returncode == 1
    lines = result.stderr.decode().splitlines()
    assert lines == [
        f"{table}:3: field 'start-date': value '2015-02-30' is not a valid datetime",
        f"{table}:4: field 'local-authority-type': value 'NOPE' is not a key of register 'local-authority-type'",
        f"{table}:5: field 'website': value 'not a web address' is not a valid url (http or https, with a host name)",
        f"{table}:6: key 'ABC' is also on line 2 (use --history to load rows as a key's history)",
        f"{table}:7: the row has 6 cells but the header has 5",
        f"error: 5 faults in {table}; nothing stored",
    ], lines
    assert ok(db_url, "root", "local-authority-nir") == before  # nothing stored
    capped = run(db_url, "load", str(table), "--register", "local-authority-nir", "--max-errors", "2")
    assert capped.returncode == 1
    assert capped.stderr.decode().splitlines()[2:] == [
        "… and 3 more faults (--max-errors N shows more)", f"error: 5 faults in {table}; nothing stored"]
    as_json = run(db_url, "load", str(table), "--register", "local-authority-nir", "--json")
    assert as_json.returncode == 1
    faults = [json.loads(line) for line in as_json.stdout.decode().splitlines()]
    assert [(f["line"], f["key"], f["field"], f["value"]) for f in faults] == [
        (3, "ARD", "start-date", "2015-02-30"), (4, "BFS", "local-authority-type", "NOPE"),
        (5, "CCG", "website", "not a web address"), (6, "ABC", None, None), (7, None, None, None)]
    assert faults[0]["reason"] == "is not a valid datetime" and all(f["file"] == str(table) for f in faults)
    dry = run(db_url, "load", str(table), "--register", "local-authority-nir", "--dry-run")
    assert dry.returncode == 1 and dry.stderr.decode().splitlines()[-1] == f"error: 5 faults in {table}; nothing stored"


def test_a_long_load_reports_progress_when_stderr_is_not_a_terminal(db_url: str, tmp_path: Path) -> None:
    """Cron and CI logs see how far a load has got: a line every REGISTERS_PROGRESS_SECONDS
    (here every update) with rows done, of how many, the rate and the time left; then a last one."""
    import json
    import os

    from registers.core.definitions import Definition, FieldDef

    schema = tmp_path / "colour.json"
    schema.write_text(json.dumps(Definition("colour", (FieldDef("colour"), FieldDef("name"))).to_json()))
    ok(db_url, "create", "colour", "--schema", str(schema))
    table = tmp_path / "colours.csv"
    table.write_text("colour,name\n" + "".join(f"c{i},The colour number {i} of many\n" for i in range(3000)))
    env = {**os.environ, "REGISTERS_PROGRESS_SECONDS": "0"}
    result = run(db_url, "load", str(table), "--register", "colour", env=env)
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stderr.decode().splitlines() if line.startswith("loading colours.csv: ")]
    assert len(lines) >= 3 and "of 3,000 rows (" in lines[0] and "rows/s" in lines[0]
    assert "left" in lines[0] and lines[-1].startswith("loading colours.csv: 3,000 of 3,000 rows (100%)")
    assert "done in" in lines[-1]
    quiet = run(db_url, "load", str(table), "--register", "colour")  # the default: a line every 5 s at most
    assert quiet.returncode == 0 and "loading colours.csv" not in quiet.stderr.decode()


def test_the_faults_named_are_the_first_in_the_file_and_json_covers_one_fault(db_url: str, tmp_path: Path) -> None:
    """--max-errors N names the N earliest faults whatever pass found them (rows are read
    before values and links are checked); --json gives a JSON line for a single fault too."""
    import json

    ok(db_url, "create", "local-authority-type", "--schema", str(ROOT / "schemas/local-authority-type.json"))
    ok(db_url, "load", str(TSV / "local-authority-type.tsv"))
    ok(db_url, "create", "local-authority-nir", "--schema", str(ROOT / "schemas/local-authority-nir.json"))
    table = tmp_path / "nir.csv"
    table.write_text(FIVE_FAULTS)
    capped = run(db_url, "load", str(table), "--register", "local-authority-nir", "--max-errors", "2")
    assert capped.stderr.decode().splitlines()[:2] == [
        f"{table}:3: field 'start-date': value '2015-02-30' is not a valid datetime",
        f"{table}:4: field 'local-authority-type': value 'NOPE' is not a key of register 'local-authority-type'"]
    one = tmp_path / "one.csv"
    one.write_text("local-authority-nir,name,start-date\nABC,Antrim,2015-02-30\n")
    single = run(db_url, "load", str(one), "--register", "local-authority-nir", "--json")
    assert single.returncode == 1
    [fault] = [json.loads(line) for line in single.stdout.decode().splitlines()]
    assert (fault["line"], fault["field"], fault["value"]) == (2, "start-date", "2015-02-30")
    blank = run(db_url, "add", "local-authority-nir", "XYZ", "name=X", "--as", "   ")
    assert blank.returncode == 1 and "say who makes this change" in blank.stderr.decode()
    forged = run(db_url, "add", "local-authority-nir", "XYZ", "name=X", "--as", "team\nby someone else")
    assert forged.returncode == 1 and "one line" in forged.stderr.decode()
