"""The settings at start-up: the web app and every command read the ``REGISTERS_*`` variables
when they start and refuse a bad one in one line; the app serves with the values it read, and
a command finds the custodian token there."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from registers import service
from registers.cli import main
from registers.settings import BadSetting
from registers.web import create_app
from registers.web.state import state
from tests.conftest import ROOT
from tests.integration.helpers import load
from tests.integration.test_mirror import serving


def test_the_web_app_refuses_a_bad_setting_when_it_is_made(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTERS_PAGE_SIZE", "ten")
    with pytest.raises(BadSetting, match=r"^REGISTERS_PAGE_SIZE='ten' must be a whole number, at least 1$"):
        create_app({"DATABASE_URL": db_url})
    monkeypatch.delenv("REGISTERS_PAGE_SIZE")
    with pytest.raises(BadSetting, match=r"^REGISTERS_MAX_UPLOAD='lots' must be a whole number of bytes"):
        create_app({"DATABASE_URL": db_url, "MAX_UPLOAD": "lots"})


def test_the_web_app_serves_with_the_settings_it_read(engine: Engine, db_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    load(engine, "country-208.rsf", "country")
    monkeypatch.setenv("REGISTERS_PAGE_SIZE", "3")
    monkeypatch.setenv("REGISTERS_MAX_PAGE_SIZE", "50")
    app = create_app({"DATABASE_URL": db_url, "TESTING": True, "MAX_PAGE_SIZE": 4})
    try:
        monkeypatch.setenv("REGISTERS_PAGE_SIZE", "5")  # read once, when the app was made
        client = app.test_client()
        assert len(client.get("/country/entries").get_json()) == 3
        assert len(client.get("/country/records").get_json()) == 3
        refused = client.get("/country/entries?limit=5")
        assert refused.status_code == 400 and "between 1 and 4" in refused.get_json()["detail"]
        assert app.config["TESTING"] is True  # a key that is not a setting is Flask's
        assert (state(app).settings.page_size, state(app).settings.max_page_size) == (3, 4)
    finally:
        state(app).close()


def test_a_command_refuses_a_bad_setting_before_it_starts(tmp_path: Path) -> None:
    database = tmp_path / "never.db"
    done = CliRunner().invoke(main, ["--db", f"sqlite:///{database}", "list"],
                              env={"REGISTERS_SQLITE_CACHE_MIB": "0"})
    assert done.exit_code == 1
    assert done.stderr == "error: REGISTERS_SQLITE_CACHE_MIB='0' must be a whole number of MiB, at least 1\n"
    assert not database.exists()


def test_a_command_sends_the_token_of_the_environment_to_a_remote(engine: Engine, db_url: str) -> None:
    service.create_register(engine, "territory", service.read_schema(str(ROOT / "schemas" / "territory.json")))
    secret = service.issue_token(engine, "territory", "Jane").secret
    app = create_app({"DATABASE_URL": db_url})
    runner = CliRunner()
    try:
        with serving(app) as base:
            add = ["--db", db_url, "add", "territory", "XQ", "name=Atlantis", "--remote", f"{base}/territory/"]
            missing = runner.invoke(main, add, env={"REGISTERS_TOKEN": ""})
            assert missing.exit_code == 1 and "--remote needs --token" in missing.stderr
            done = runner.invoke(main, add, env={"REGISTERS_TOKEN": secret})
            assert done.exit_code == 0, done.output
            assert done.stdout.startswith("territory: 1 added; root ")
    finally:
        state(app).close()
    [shown] = service.show_record(engine, "territory", "XQ")
    assert shown.change is not None and shown.change.by == "Jane"  # the token's holder made the change
