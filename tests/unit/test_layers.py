"""Imports point down only, and no two modules import each other (docs/architecture.md).

Every module of ``registers/`` and the top-level ``cli.py`` is parsed (never imported), and
every import it makes is an edge: top-level, in a function, or under ``TYPE_CHECKING``, with
relative imports resolved. ``from package import name`` is an edge to the module
``package.name`` when there is one, else to the package. The layers, lowest first:

- ``core`` imports nothing of ours, nor does ``logs`` (the log's JSON lines), which every layer
  above ``core`` may use;
- ``settings`` (the ``REGISTERS_*`` variables) imports ``core``;
- ``store`` imports ``core`` and ``settings``; ``loaders`` imports ``core`` and reads through ``store``;
- ``client`` imports ``core`` (it talks to a served register over HTTP, never to a database);
- ``service`` imports those five;
- ``web`` imports ``service`` and below;
- the CLI (``registers/cli/``, ``cli.py``) imports ``service`` and below, and ``web``
  (``registers serve`` runs the app).

The checker process a bulk load starts must not pay for the store's imports: it is checked by
running it.
"""

from __future__ import annotations

import ast
import pickle
import subprocess
import sys
from itertools import pairwise
from pathlib import Path

from tests.conftest import ROOT

ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "logs": set(),
    "settings": {"core"},
    "store": {"core", "logs", "settings"},
    "loaders": {"core", "logs", "store"},
    "client": {"core", "logs"},
    "service": {"core", "logs", "settings", "store", "loaders", "client"},
    "web": {"core", "logs", "settings", "store", "loaders", "client", "service"},
    "cli": {"core", "logs", "settings", "store", "loaders", "client", "service", "web"},
}


def _modules() -> dict[str, tuple[Path, bool]]:
    """Every module of ours by dotted name: its file and whether it is a package."""
    found: dict[str, tuple[Path, bool]] = {"cli": (ROOT / "cli.py", False)}
    for path in sorted((ROOT / "registers").rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if package else parts)] = (path, package)
    return found


def _ours(name: str, modules: dict[str, tuple[Path, bool]]) -> str | None:
    """The module of ours that importing ``name`` runs (the longest known prefix), if any."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def _imports(name: str, path: Path, package: bool, modules: dict[str, tuple[Path, bool]]) -> dict[str, int]:
    """The modules of ours that module ``name`` imports, each with the first line importing it."""
    here = name if package else name.rpartition(".")[0]
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            targets = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                       for alias in node.names]
        for target in targets:
            module = _ours(target, modules)
            if module is not None and module != name:
                found.setdefault(module, node.lineno)
    return found


def _graph() -> dict[str, dict[str, int]]:
    modules = _modules()
    return {name: _imports(name, path, package, modules) for name, (path, package) in modules.items()}


def _layer(module: str) -> str | None:
    """The layer of a module (None for the package root, which only holds the version)."""
    if module == "cli":
        return "cli"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _where(module: str, line: int) -> str:
    path, _package = _modules()[module]
    return f"{path.relative_to(ROOT)}:{line}"


def test_every_layer_is_known() -> None:
    layers = {_layer(module) for module in _graph()} - {None}
    assert layers == set(ALLOWED), f"a layer without a rule here: {sorted(layers - set(ALLOWED))}"


def test_imports_point_down() -> None:
    upward = [
        f"{module} -> {target} ({_where(module, line)}): {_layer(module)} may not import {_layer(target)}"
        for module, targets in _graph().items()
        for target, line in targets.items()
        if _layer(target) is not None
        and _layer(target) != _layer(module)
        and _layer(target) not in ALLOWED[_layer(module) or ""]
    ]
    assert not upward, "imports that point up:\n" + "\n".join(upward)


def test_no_import_cycles() -> None:
    graph = _graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in graph[module]:
            if state.get(target) == 1:
                cycles.append([*path[path.index(target):], target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    shown = [
        " -> ".join(cycle) + "  (" + ", ".join(_where(a, graph[a][b]) for a, b in pairwise(cycle)) + ")"
        for cycle in cycles
    ]
    assert not cycles, "modules that import each other:\n" + "\n".join(shown)


def test_the_graph_sees_every_kind_of_import() -> None:
    """The walk finds imports in functions, under TYPE_CHECKING and relative ones (so a cycle
    hidden in them is caught): the web app's serve command is imported inside a function."""
    graph = _graph()
    assert "registers.web" in graph["registers.cli.registers"]  # ``from ..web import create_app`` in serve
    assert "registers.core.checking" in graph["registers.store.checker"]
    assert "registers.cli" in graph["cli"]


def test_checker_process_imports_only_core() -> None:
    """The checker a bulk load starts (``python -m registers.store.checker``) answers a request
    with the standard library and ``core`` alone: no SQLAlchemy, no store, no web."""
    system = {
        "name": {"name": "thing"},
        "field:thing": {"field": "thing", "datatype": "string", "phase": "beta", "cardinality": "1"},
        "field:when": {"field": "when", "datatype": "datetime", "phase": "beta", "cardinality": "1"},
        "register:thing": {"register": "thing", "fields": ["thing", "when"], "phase": "beta"},
    }
    entries = [(1, "a", 1, b'{"thing":"a","when":"2020"}'), (2, "b", 2, b'{"thing":"b","when":"soon"}')]
    request = pickle.dumps((("thing", system), ("thing",), entries))
    child = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "registers.store.checker"],
        input=len(request).to_bytes(8, "big") + request, capture_output=True, cwd=ROOT, timeout=60,
    )
    assert child.returncode == 0, child.stderr.decode()
    findings, _links, values = pickle.loads(child.stdout[8:])
    assert findings == [(2, "field 'when': value 'soon' is not a valid datetime", 'b')]  # it did check (line, message, key)
    assert [name for name, _hashes, _numbers in values] == ["thing"]
    imported = {line.rpartition("|")[2].strip() for line in child.stderr.decode().splitlines() if "|" in line}
    ours = {name for name in imported if name.startswith("registers.")}
    assert ours, "no imports seen"
    outside = sorted(name for name in ours if name not in ("registers.store", "registers.store.checker")
                     and not name.startswith("registers.core"))
    assert outside == [], f"the checker process imports {outside}"
    assert not {name for name in imported if name.split(".")[0] in ("sqlalchemy", "flask", "psycopg")}
