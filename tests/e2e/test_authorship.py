"""Authorship without personal data (issue 27): a local change names a role or team (``--as``,
``REGISTERS_AS``) or is refused, saying how; the login name is never recorded anywhere."""

from __future__ import annotations

import getpass
import os
import re
from pathlib import Path

import pytest

from tests.conftest import ROOT, RSF
from tests.e2e.test_cli import ok, run

REFUSED = "say who makes this change: --as TEAM, or set REGISTERS_AS=TEAM"


@pytest.fixture
def no_author(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    monkeypatch.delenv("REGISTERS_AS", raising=False)
    return {k: v for k, v in os.environ.items() if k != "REGISTERS_AS"}


def test_a_local_change_without_an_author_is_refused_saying_how(db_url: str, no_author: dict[str, str],
                                                                tmp_path: Path) -> None:
    assert ok(db_url, "init", "--with-fixtures", env=no_author).endswith("entries added\n")  # records 'fixtures'
    table = tmp_path / "types.csv"
    table.write_text("local-authority-type,name\nXX,A new kind\n")
    made = ok(db_url, "propose", "country", "GB", "official-name=The UK", "--reason", "shorter", env=no_author)
    proposal = made.split()[1].rstrip(":")
    before = ok(db_url, "list", env=no_author)
    for args in (("add", "territory", "XZ", "name=Nowhere"), ("amend", "country", "GB", "name=Britain"),
                 ("end", "country", "GB", "--date", "2030-01-01"),
                 ("create", "colour", "--schema", str(ROOT / "schemas" / "territory.json")),
                 ("load", str(table), "--register", "local-authority-type"),
                 ("proposals", "approve", "country", proposal, "--reason", "yes"),
                 ("proposals", "reject", "country", proposal, "--reason", "no")):
        refused = run(db_url, *args, env=no_author)
        assert refused.returncode == 1 and REFUSED in refused.stderr.decode(), (args, refused.stderr)
    assert ok(db_url, "list", env=no_author) == before  # nothing stored
    dry = run(db_url, "load", str(table), "--register", "local-authority-type", "--dry-run", env=no_author)
    assert dry.returncode == 0, dry.stderr  # a dry run stores nothing, so names no one
    ok(db_url, "amend", "country", "GB", "name=Britain", "--as", "fcdo-data-team", env=no_author)
    ok(db_url, "amend", "country", "GB", "name=United Kingdom", env={**no_author, "REGISTERS_AS": "fcdo-data-team"})
    authors = {line.split("\t")[2] for line in ok(db_url, "changes", "country", env=no_author).splitlines()}
    assert authors == {"by fixtures", "by fcdo-data-team"}


def test_the_login_name_is_in_no_log_the_platform_writes(db_url: str, no_author: dict[str, str]) -> None:
    login = getpass.getuser()
    ok(db_url, "init", "--with-fixtures", env=no_author)
    ok(db_url, "load", str(RSF / "country-small.rsf"), "--register", "small", env=no_author)  # a published RSF
    ok(db_url, "propose", "country", "FR", "official-name=France", "--reason", "short", env=no_author)
    names = [line.split()[0] for line in ok(db_url, "list", env=no_author).splitlines()]
    assert "country" in names and "small" in names
    for name in names:  # every item of both logs, in the RSF each register exports
        exported = ok(db_url, "export", name, env=no_author)
        assert f'"by":"{login}"' not in exported, name
        assert all(login not in line for line in exported.splitlines() if '"by":' in line), name
    shown = ok(db_url, "proposals", "country", env=no_author)
    assert f" {login}" not in shown and "anonymous" in ok(db_url, "proposals", "show", "country", "1", env=no_author)


def test_no_module_reads_the_login_name() -> None:
    sources = [ROOT / "cli.py", *sorted((ROOT / "registers").rglob("*.py"))]
    reading = re.compile(r"getpass|getuser|getlogin|\bLOGNAME\b|environ\[.USER.\]")
    assert [str(p.relative_to(ROOT)) for p in sources if reading.search(p.read_text(encoding="utf-8"))] == []
