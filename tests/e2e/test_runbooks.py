"""The runbooks of docs/operations.md, run as written against a real gunicorn."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import RSF
from tests.e2e.conftest import gunicorn
from tests.e2e.test_cli import ok, run


def test_a_leaked_token_is_revoked_and_its_changes_found(db_url: str, tmp_path: Path) -> None:
    ok(db_url, "keys", "generate")
    ok(db_url, "load", str(RSF / "country-small.rsf"), "--register", "country")
    leaked = ok(db_url, "token", "issue", "country", "--label", "team-x").strip()
    ok(db_url, "token", "issue", "country", "--label", "team-y")
    with gunicorn(db_url) as base:
        remote = ("--remote", f"{base}/country/", "--token", leaked)
        ok(db_url, "amend", "country", "GB", "official-name=The UK", "--reason", "shorter", *remote)
        ok(db_url, "end", "country", "AL", "--date", "2024-01-01", "--reason", "looked ended", *remote)
        ok(db_url, "amend", "country", "AF", "official-name=Afghanistan", "--as", "someone-else", "--reason", "local")
        # 1. find it and revoke it
        listed = ok(db_url, "token", "list", "country").splitlines()
        [line] = [row for row in listed if "\tteam-x\t" in row]
        assert "\texpires " in line and "\tlast used " in line
        ok(db_url, "token", "revoke", "country", line.split("\t")[0])
        refused = run(db_url, "amend", "country", "GB", "official-name=Stolen", *remote)
        assert refused.returncode == 1 and "HTTP 401" in refused.stderr.decode()
    # 2. find what was done with it, and only that
    done = ok(db_url, "changes", "country", "--by", "team-x").splitlines()
    assert [row.split("\t")[2:] for row in done] == [["by team-x", "shorter"], ["by team-x", "looked ended"]]
    every = ok(db_url, "changes", "country").splitlines()
    assert len(every) == 3 and every[-1].endswith("\tby someone-else\tlocal")
    # the log cannot take them back: undone by a new change, recorded as such
    ok(db_url, "amend", "country", "GB", "official-name=The United Kingdom of Great Britain and Northern Ireland",
       "--as", "custodian", "--reason", "undo team-x's change after its token leaked")
    assert ok(db_url, "verify", "country").startswith("country: ok: ")
