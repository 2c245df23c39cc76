"""What installing the package gives a user: the ``registers`` command, and PostgreSQL as an extra."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

from tests.e2e.test_cli import _registers_command

# Makes ``import psycopg`` fail as it does where the driver is not installed.
_NO_PSYCOPG = '''
import sys


class _NoPsycopg:
    def find_spec(self, name, path=None, target=None):
        if name == "psycopg" or name.startswith("psycopg."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoPsycopg())
'''


def test_the_command_is_the_package_cli(tmp_path: Path) -> None:
    """``registers`` runs ``registers.cli:main``; no top-level ``cli`` module is installed
    (``cli.py`` is the repository's shim, importable from its root only)."""
    try:
        dist = distribution("registers")
    except PackageNotFoundError:
        pytest.skip("the package is not installed")
    scripts = {e.name: e.value for e in dist.entry_points if e.group == "console_scripts"}
    assert scripts == {"registers": "registers.cli:main"}
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    elsewhere = subprocess.run(
        [sys.executable, "-c", "import importlib.util, registers; print(importlib.util.find_spec('cli'))"],
        capture_output=True, cwd=tmp_path, env=env, timeout=60,
    )
    assert elsewhere.stdout.decode() == "None\n", elsewhere.stderr.decode()


def test_postgresql_without_its_driver_names_the_extra(tmp_path: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(_NO_PSYCOPG)
    env = {k: v for k, v in os.environ.items() if k != "REGISTERS_DATABASE_URL"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [*_registers_command(), "--db", "postgresql://nobody@127.0.0.1:1/none", "list"],
        capture_output=True, env=env, timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.decode() == (
        "error: PostgreSQL needs the psycopg driver (No module named 'psycopg'): "
        "pip install 'registers[postgresql]'\n"
    )
