"""The settings at start-up: the web app and every command read the ``REGISTERS_*`` variables
when they start and refuse a bad one in one line; the app serves with the values it read, and
a command finds the custodian token there."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from registers import service
from registers.cli import main
from registers.core.errors import RegisterError
from registers.settings import BadSetting
from registers.web import create_app
from registers.web.state import state
from tests.conftest import ROOT
from tests.integration.helpers import app_client, load
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


@pytest.mark.parametrize(("environ", "said"), [
    ({"REGISTERS_DATABASE_URL": "nonsense"}, "'nonsense' is not a database URL (REGISTERS_DATABASE_URL, or --db)"),
    ({"REGISTERS_PAGE_SIZE": "9" * 19}, f"REGISTERS_PAGE_SIZE='{'9' * 19}' must be a whole number, at least 1 "
                                        "(at most 18 digits)"),
    ({"REGISTERS_PAGE_SIZE": "200", "REGISTERS_MAX_PAGE_SIZE": "100"},
     "REGISTERS_PAGE_SIZE=200 is larger than REGISTERS_MAX_PAGE_SIZE=100"),
])
def test_an_operators_mistake_is_one_line_naming_the_setting(environ: dict[str, str], said: str,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 1 and result.output.startswith(f"error: {said}"), result.output
    assert result.output.count("\n") == 1 and "Traceback" not in result.output


def test_a_key_directory_that_is_a_file_is_one_line(db_url: str, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    monkeypatch.setenv("REGISTERS_KEY_DIR", str(blocker))
    result = CliRunner().invoke(main, ["--db", db_url, "create", "country", "--schema",
                                       str(ROOT / "schemas" / "country.json")])
    assert result.exit_code == 1, result.output
    assert result.output == f"error: the key directory {blocker} (REGISTERS_KEY_DIR) cannot be made: File exists\n"


def test_fixtures_are_found_in_the_working_directory_of_an_installed_copy(monkeypatch: pytest.MonkeyPatch,
                                                                          tmp_path: Path) -> None:
    from registers.service import fixtures

    monkeypatch.setattr(fixtures, "PROJECT", tmp_path / "site-packages")  # as a plain install sees it
    monkeypatch.chdir(ROOT)
    assert fixtures.find_fixtures() == (Path.cwd() / "fixtures", Path.cwd() / "schemas")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(RegisterError, match="name the project folder with --project DIR"):
        fixtures.find_fixtures()


@pytest.mark.parametrize(("config", "served"), [({}, True), ({"METRICS": "false"}, False),
                                                 ({"METRICS_PORT": "9100"}, False)])
def test_metrics_are_at_their_path_unless_the_settings_say_otherwise(engine: Engine, db_url: str,
                                                                     config: dict[str, str], served: bool) -> None:
    load(engine, "country-small.rsf", "country")
    with app_client(db_url, **config) as client:
        client.get("/country/records/GB").close()  # a request is counted when its answer is closed (sent)
        answer = client.get("/metrics", follow_redirects=True)  # else /metrics/, a register's path
        openmetrics = client.get("/metrics", headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    if not served:  # REGISTERS_METRICS_PORT: gunicorn's master (or `registers serve`) serves them on that port
        assert answer.status_code == 404
        return
    assert answer.status_code == 200 and answer.headers["Cache-Control"] == "no-store"
    assert answer.content_type == "text/plain; version=0.0.4; charset=utf-8" and answer.headers["Vary"] == "Accept"
    assert openmetrics.content_type.startswith("application/openmetrics-text; version=1.0.0")
    samples = {(s.name, s.labels.get("route"), s.labels.get("status")): s.value
               for family in text_string_to_metric_families(answer.get_data(as_text=True)) for s in family.samples}
    assert samples[("registers_http_requests_total", "/<register>/records/<path:rest>", "200")] >= 1
