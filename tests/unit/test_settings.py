"""Every ``REGISTERS_*`` variable is declared once (registers/settings.py) and read there: a bad
value is refused in one line naming the variable and the value, and the README's table of
settings is made from the declarations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from registers.settings import BEGIN, END, PREFIX, BadSetting, Settings, current, declared, markdown_table, with_table
from tests.conftest import ROOT

TEST_ONLY = {"REGISTERS_TEST_DATABASE_URL"}  # the test suite's own: never read by the platform


def test_unset_and_empty_variables_keep_the_defaults() -> None:
    defaults = Settings.from_environ({"REGISTERS_PAGE_SIZE": "", "HOME": "/x"})
    assert defaults == Settings()
    assert (defaults.database_url, defaults.read_database_url, defaults.page_size, defaults.max_page_size,
            defaults.max_upload, defaults.proposal_rate, defaults.proposal_rate_window,
            defaults.proposal_max_bytes, defaults.sqlite_cache_mib,
            defaults.origin, defaults.key_dir, defaults.trust_dir, defaults.actor, defaults.token) == (
        "sqlite:///registers.db", None, 100, 5000, 1 << 30, 10, 60, 16 * 1024, 16,
        "localhost", None, None, None, None)


def test_each_variable_is_read_as_its_kind() -> None:
    settings = Settings.from_environ({
        "REGISTERS_PAGE_SIZE": "7", "REGISTERS_PROPOSAL_RATE": "0", "REGISTERS_KEY_DIR": "/srv/keys",
        "REGISTERS_ORIGIN": "registers.example.gov.uk/", "REGISTERS_AS": "Jane", "REGISTERS_TOKEN": "t0ken",
    })
    assert (settings.page_size, settings.proposal_rate, settings.key_dir, settings.origin,
            settings.actor, settings.token) == (7, 0, Path("/srv/keys"), "registers.example.gov.uk", "Jane", "t0ken")


@pytest.mark.parametrize(("variable", "value", "message"), [
    ("PAGE_SIZE", "ten", "REGISTERS_PAGE_SIZE='ten' must be a whole number, at least 1"),
    ("MAX_PAGE_SIZE", "0", "REGISTERS_MAX_PAGE_SIZE='0' must be a whole number, at least 1"),
    ("MAX_UPLOAD", "-1", "REGISTERS_MAX_UPLOAD='-1' must be a whole number of bytes, at least 0"),
    ("SQLITE_CACHE_MIB", "1.5", "REGISTERS_SQLITE_CACHE_MIB='1.5' must be a whole number of MiB, at least 1"),
    ("PROPOSAL_RATE_WINDOW", "٦٠", "REGISTERS_PROPOSAL_RATE_WINDOW='٦٠' must be a whole number of seconds, at least 1"),
    ("ORIGIN", "https://registers.example.gov.uk",
     "REGISTERS_ORIGIN='https://registers.example.gov.uk' must be a name like 'registers.example.gov.uk' "
     "(no scheme, spaces or '+')"),
    ("ORIGIN", "a b", "REGISTERS_ORIGIN='a b' must be a name like 'registers.example.gov.uk' (no scheme, spaces or '+')"),
])
def test_a_bad_value_is_refused_in_one_line_naming_it(variable: str, value: str, message: str) -> None:
    with pytest.raises(BadSetting) as refused:
        Settings.from_environ({"REGISTERS_PAGE_SIZE": "20", f"REGISTERS_{variable}": value})
    assert str(refused.value) == message


def test_overrides_by_name_are_checked_as_the_variables_are() -> None:
    settings = Settings().overridden({"MAX_UPLOAD": 200_000, "DATABASE_URL": "sqlite:///x.db", "READ_DATABASE_URL": None})
    assert (settings.max_upload, settings.database_url, settings.read_database_url) == (200_000, "sqlite:///x.db", None)
    with pytest.raises(BadSetting, match=r"^REGISTERS_PAGE_SIZE='0' must be a whole number, at least 1$"):
        Settings().overridden({"PAGE_SIZE": 0})
    with pytest.raises(BadSetting, match="^there is no setting REGISTERS_PAGESIZE$"):
        Settings().overridden({"PAGESIZE": 10})


def test_a_secret_never_shows_in_the_settings_text() -> None:
    assert "s3cret" not in repr(Settings.from_environ({"REGISTERS_TOKEN": "s3cret"}))


def test_the_store_reads_the_environment_as_it_is_now(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REGISTERS_AS", "Jane")
    assert current().actor == "Jane"
    monkeypatch.setenv("REGISTERS_AS", "")
    assert current().actor is None


def test_the_readme_table_is_made_from_the_declarations() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert BEGIN in readme and END in readme, f"README.md lost its {BEGIN} ... {END} markers"
    assert with_table(readme) == readme, (
        "README.md's table of settings differs from registers/settings.py: "
        "regenerate it with `python -m registers.settings --readme README.md`"
    )
    assert markdown_table().count("\n") == len(declared()) + 2  # a row a setting, under the header


def _sources() -> list[Path]:
    return [ROOT / "cli.py", *sorted((ROOT / "registers").rglob("*.py"))]


def test_every_variable_the_code_and_docs_name_is_declared() -> None:
    known = {PREFIX + d.variable for d in declared()} | TEST_ONLY
    texts = [*_sources(), ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    named = {
        f"{path.relative_to(ROOT)}: {name}"
        for path in texts
        for name in re.findall(r"\bREGISTERS_[A-Z_]*[A-Z]", path.read_text(encoding="utf-8"))
        if name not in known
    }
    assert not named, "variables not declared in registers/settings.py:\n" + "\n".join(sorted(named))


def test_only_the_settings_module_reads_the_environment() -> None:
    """A new variable is a line in ``Settings``, never an ``os.environ`` read of its own (the
    checker only hands its environment on to the process it starts; the metrics read and set
    prometheus-client's own ``PROMETHEUS_MULTIPROC_DIR``, named ``MULTIPROCESS`` where they do)."""
    allowed = {ROOT / "registers" / "settings.py", ROOT / "registers" / "store" / "checker.py"}
    reading = re.compile(r"os\.environ|os\.getenv|getenv\(|envvar=|from_prefixed_env")
    found = [str(path.relative_to(ROOT)) for path in _sources()
             if path not in allowed and any(reading.search(line) and "MULTIPROCESS" not in line
                                            for line in path.read_text(encoding="utf-8").splitlines())]
    assert found == [], f"modules that read the environment themselves: {found}"
