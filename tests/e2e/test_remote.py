"""A custodian changes a served register from the command line with a token (real gunicorn,
logging every request): the changes land, receipts verify, the token appears in no log."""

from __future__ import annotations

import json
from pathlib import Path

from registers.core.definitions import Definition, FieldDef
from tests.conftest import ROOT, RSF
from tests.e2e.conftest import gunicorn
from tests.e2e.test_cli import ok, run


def test_remote_changes_with_a_token(db_url: str, tmp_path: Path) -> None:
    ok(db_url, "keys", "generate")  # the server's key: it signs the changes sent to it too
    ok(db_url, "load", str(RSF / "country-small.rsf"), "--register", "country")
    ok(db_url, "create", "territory", "--schema", str(ROOT / "schemas" / "territory.json"))
    secret = ok(db_url, "token", "issue", "territory", "--label", "Jane").strip()
    country_token = ok(db_url, "token", "issue", "country").strip()
    log = tmp_path / "gunicorn.log"
    with gunicorn(db_url, log=log) as base:
        url = f"{base}/territory/"
        out = ok(db_url, "add", "territory", "XQ", "name=Atlantis", "--remote", url, "--token", secret,
                 "--receipt", str(tmp_path / "r.json"))
        assert out.startswith("territory: 1 added; root ")
        vkey = ok(db_url, "keys", "list").split()[0]
        assert ok(db_url, "verify-receipt", str(tmp_path / "r.json"), "--key", vkey).startswith("territory: ok: user")
        ok(db_url, "amend", "territory", "XQ", "official-name=Lost Atlantis", "--remote", url, "--token", secret)
        ok(db_url, "end", "territory", "XQ", "--date", "2024-01-01", "--remote", url, "--token", secret)
        patch = ok(db_url, "load", str(RSF / "country-small-update.rsf"), "--remote", f"{base}/country/",
                   "--token", country_token, "--reason", "2016 update")
        assert patch.startswith("country: ")
        refused = run(db_url, "add", "territory", "XR", "name=Mu", "--remote", url, "--token", country_token)
        assert refused.returncode == 1 and "HTTP 403" in refused.stderr.decode()
        assert secret not in refused.stderr.decode() and country_token not in refused.stderr.decode()
        missing = run(db_url, "add", "territory", "XR", "name=Mu", "--remote", url)
        assert missing.returncode == 1 and "--token" in missing.stderr.decode()
        claimed = run(db_url, "add", "territory", "XR", "name=Mu", "--remote", url, "--token", secret, "--as", "Bob")
        assert claimed.returncode == 1 and "--as does not go with --remote" in claimed.stderr.decode()
    shown = ok(db_url, "show", "territory", "XQ")
    assert '"end-date": "2024-01-01"' in shown or '"end-date":"2024-01-01"' in shown
    text = log.read_text()
    assert "POST /territory/changes" in text  # requests were logged...
    assert secret not in text and country_token not in text  # ...tokens were not
    assert ok(db_url, "verify", "territory").startswith("territory: ok: ")
    assert run(db_url, "show", "territory", "XR").returncode == 1  # Bob's claimed change stored nothing


def test_remote_values_are_parsed_by_the_served_registers_definition(db_url: str, tmp_path: Path) -> None:
    schema = tmp_path / "colour.json"
    schema.write_text(json.dumps(Definition("colour", (FieldDef("colour"), FieldDef("name"),
                                                      FieldDef("shades", cardinality="n"))).to_json()))
    ok(db_url, "create", "colour", "--schema", str(schema))
    secret = ok(db_url, "token", "issue", "colour").strip()
    with gunicorn(db_url) as base:
        url = f"{base}/colour/"
        ok(db_url, "add", "colour", "red", "name=Red;ish", "shades=light;dark", "--remote", url, "--token", secret)
        twice = run(db_url, "amend", "colour", "red", "name=a", "name=b", "--remote", url, "--token", secret)
        assert twice.returncode == 1 and "field 'name' is given twice" in twice.stderr.decode()
    assert json.loads(ok(db_url, "show", "colour", "red"))["item"] == [
        {"colour": "red", "name": "Red;ish", "shades": ["light", "dark"]}]
