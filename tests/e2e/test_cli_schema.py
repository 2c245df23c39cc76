"""``registers schema check`` and ``registers create --schema`` with definition files, run as
the installed command: every problem named with where it is, the same first problem from
``create``, and nothing written by a refused ``create``."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

from tests.conftest import ROOT
from tests.e2e.test_cli import _registers_command, ok, run
from tests.unit.test_definition_schema import SEVERAL

SHIPPED = sorted((ROOT / "schemas").glob("*.json"))


def test_every_shipped_schema_is_ok(tmp_path: Path) -> None:
    db = tmp_path / "none.db"
    out = ok(f"sqlite:///{db}", "schema", "check", *map(str, SHIPPED))
    assert out.splitlines() == [
        f"{path}: ok (register {path.stem}, {len(json.loads(path.read_text())['register']['fields'])} fields)"
        for path in SHIPPED
    ]
    assert not db.exists()  # no database is opened


def test_several_problems_are_each_named_and_exit_1(db_url: str, tmp_path: Path) -> None:
    paint = tmp_path / "paint.json"
    paint.write_text(json.dumps(SEVERAL, indent=2))
    broken = tmp_path / "broken.json"
    broken.write_text('{\n  "register": {"register": "x", "fields": ["x"]}\n  "fields": []\n}\n')
    good = ROOT / "schemas" / "uk.json"
    result = run(db_url, "schema", "check", str(paint), str(broken), str(good))
    assert result.returncode == 1
    lines = result.stdout.decode().splitlines()
    assert lines == [
        f"{paint}: register: 'registy' is not a member of the register (members: fields, phase, register, registry, "
        "text); did you mean 'registry'?",
        f"{paint}: register.fields[2]: 'colour' is listed but no field defines it (add it to 'fields')",
        f"{paint}: register.fields[3]: 'name' is listed twice (first at register.fields[1])",
        f"{paint}: fields[0].cardinality: '2' must be '1' or 'n'",
        f"{paint}: fields[1].datatype: 'strin' is not a datatype (one of: string, text, integer, datetime, timestamp, "
        "period, url, curie, name, hash, point); did you mean 'string'?",
        f"{paint}: fields[2].cardinality: must be the string '1' or 'n', not 1",
        f"{paint}: fields[3]: field 'name' is defined twice (first at fields[1])",
        f"{paint}: fields[4]: field 'tone' has no 'datatype' (one of: string, text, integer, datetime, timestamp, "
        "period, url, curie, name, hash, point)",
        f"{paint}: fields[4].phase: warning: 'bta' is not one of v1's phases (discovery, alpha, beta, live)",
        f"{paint}: fields[2]: warning: field 'shade' is defined but not listed in register.fields, so the register "
        "does not have it",
        f"{paint}: fields[4]: warning: field 'tone' is defined but not listed in register.fields, so the register "
        "does not have it",
        f"{paint}: 8 problems",
        f"{broken}: line 3, column 3: not valid JSON: Expecting ',' delimiter",
        f"{broken}: 1 problem",
        f"{good}: ok (register uk, 5 fields)",
    ]
    assert result.stderr == b""


def test_create_names_the_first_problem_and_writes_nothing(db_url: str, tmp_path: Path) -> None:
    s1 = tmp_path / "s1.json"
    s1.write_text(json.dumps({"register": {"register": "paint", "fields": ["paint", "colour"]},
                              "fields": [{"field": "paint", "datatype": "string", "cardinality": "1"}]}))
    result = run(db_url, "create", "paint", "--schema", str(s1))
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"error: {s1}: register.fields[1]: 'colour' is listed but no field defines it (add it to 'fields')\n"
    )
    paint = tmp_path / "paint.json"
    paint.write_text(json.dumps(SEVERAL))
    result = run(db_url, "create", "paint", "--schema", str(paint))
    assert result.returncode == 1
    assert result.stderr.decode() == (
        f"error: {paint}: register: 'registy' is not a member of the register (members: fields, phase, register, "
        "registry, text); did you mean 'registry'? (and 7 more: 'registers schema check FILE' lists every one)\n"
    )
    fixed = {**SEVERAL, "register": {"register": "paint", "fields": ["paint", "name"]},
             "fields": [{"field": "paint", "datatype": "string", "cardinality": "1"},
                        {"field": "name", "datatype": "string", "cardinality": "1"}]}
    paint.write_text(json.dumps(fixed))
    assert ok(db_url, "schema", "check", str(paint)) == f"{paint}: ok (register paint, 2 fields)\n"
    assert ok(db_url, "create", "paint", "--schema", str(paint)) == "paint: 5 system entries added (2 fields)\n"
    assert [line.split("\t")[:2] for line in ok(db_url, "list").splitlines()] == [["paint", "0"]]  # nothing before


def test_the_help_examples_run_as_written(tmp_path: Path) -> None:
    """Each line of the Examples block of 'schema check --help', run from the project folder."""
    command = _registers_command()
    env = {k: v for k, v in os.environ.items() if k != "REGISTERS_DATABASE_URL"}
    env["REGISTERS_DATABASE_URL"] = f"sqlite:///{tmp_path / 'none.db'}"
    shown = subprocess.run([*command, "schema", "check", "--help"], capture_output=True, check=True, env=env).stdout
    examples = shown.decode().split("Examples:\n")[1].split("\n\n")[0].splitlines()
    assert len(examples) == 2
    for line in examples:
        assert line.startswith("    registers ")
        shell = shlex.join(command) + line.strip().removeprefix("registers")
        result = subprocess.run(shell, shell=True, cwd=ROOT, capture_output=True, env=env, timeout=60)
        assert result.returncode == 0, (line, result.stdout, result.stderr)
        assert re.fullmatch(r"(schemas/[a-z-]+\.json: ok \(register [a-z-]+, \d+ fields\)\n)+", result.stdout.decode())
