"""Locked dependencies (issue 27): constraints.txt pins every package the project installs,
and the environment the tests run in was installed from it (as .ci/run and the README install)."""

from __future__ import annotations

import configparser
import re
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9._-]+)==([^\s#]+)")


def _locked() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text(encoding="utf-8").splitlines():
        found = PIN.match(line)
        if found:
            pins[_normal(found[1])] = found[2]
    return pins


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _named_in_setup_cfg() -> set[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg", encoding="utf-8")
    lines = config["options"]["install_requires"].splitlines()
    for extra in config["options.extras_require"].values():
        lines += extra.splitlines()
    names = {_normal(re.split(r"[\[<>=!~; ]", line.strip(), maxsplit=1)[0]) for line in lines if line.strip()}
    return names - {"registers"}


def test_every_dependency_is_pinned_exactly() -> None:
    locked = _locked()
    assert len(locked) > 40
    assert _named_in_setup_cfg() - set(locked) == set(), "a dependency of setup.cfg is not in constraints.txt"
    build = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    requires = re.search(r"^requires = \[(.*)\]", build, re.M)
    assert requires is not None and all("==" in part for part in requires[1].split(",")), requires


def test_the_environment_was_installed_from_the_lock() -> None:
    """Every locked package that is installed here has exactly the locked version: CI installs
    with -c constraints.txt, so a drift (a newer release pulled in) fails here."""
    installed = {_normal(d.metadata["Name"]): d.version for d in metadata.distributions()}
    drift = {name: (version, installed[name]) for name, version in _locked().items()
             if name in installed and installed[name] != version}
    assert drift == {}, f"installed versions differ from constraints.txt (locked, installed): {drift}"
    assert {"flask", "sqlalchemy", "cryptography"} <= set(installed)
