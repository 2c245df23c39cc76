"""``registers init --with-fixtures``: every register we ship, created in link order and loaded.

A register GOV.UK published a dump of is loaded from that RSF as published (no schema step, so
its system entries are GOV.UK's too): its user root is the one the dump's final
``assert-root-hash`` states. The others are created from ``schemas/`` and filled from tables."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ..core.errors import InvalidRSF, RegisterError, RegisterNotFound
from ..store.append import AppendResult
from .records import create_register, load_table, read_schema
from .registers import append_items, head, load_rsf

PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class FixtureLoad:
    """One register of the fixtures: entries appended and findings reported."""

    register: str
    added: int
    size: int
    findings: int
    note: str = ""


def find_fixtures(directory: str | None = None) -> tuple[Path, Path]:
    """``(fixtures, schemas)`` folders: those under ``directory``, else the project's own (an
    editable install), else those of the working directory (an installed copy run in a checkout)."""
    roots = [Path(directory)] if directory else [PROJECT, Path.cwd()]  # an installed copy: the checkout here
    for root in roots:
        fixtures, schemas = root / "fixtures", root / "schemas"
        if (fixtures / "fixtures.json").exists() and schemas.is_dir():
            return fixtures, schemas
    where = " or ".join(str(root) for root in roots)
    raise RegisterError(
        f"no fixtures/fixtures.json and schemas/ under {where}: name the project folder with --project DIR"
    )


def init_fixtures(
    engine: Engine,
    directory: str | None = None,
    *,
    by: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> Iterator[FixtureLoad]:
    """Create and load every fixture register in manifest (link) order; running it again adds 0."""
    fixtures, schemas = find_fixtures(directory)
    manifest: list[dict[str, Any]] = json.loads((fixtures / "fixtures.json").read_text())["registers"]
    shipped = {spec["register"] for spec in manifest}
    for spec in manifest:
        name = spec["register"]
        if progress:
            progress(name)
        added = 0
        if "schema" in spec:
            definition = read_schema(str(schemas / spec["schema"]))
            # A definition may link only to registers that exist, and two shipped registers link
            # to each other (field -> register -> field): a shipped one linked to is made first
            # (empty) and gets its definition in its turn.
            for linked in sorted({f.register for f in definition.fields if f.register} & shipped - {name}):
                append_items(engine, linked, [], create=True)
            added += create_register(engine, name, definition, by=by, reason="create from the shipped schema").added
        if "file" not in spec:
            yield FixtureLoad(name, added, 0, 0, spec.get("note", ""))
            continue
        path = fixtures / spec["file"]
        if path.suffix == ".rsf":
            result = _load_published(engine, path, name, spec["file"], by)
            yield FixtureLoad(name, added + result.added, result.head.user_size, result.findings.count,
                              spec.get("note", ""))
            continue
        with path.open("rb") as stream:
            load = load_table(
                engine, stream, path.suffix[1:], name, source=str(path), history=bool(spec.get("history")),
                allow_dangling=bool(spec.get("allow_dangling")), by=by, reason=f"load fixture {spec['file']}",
            )
        result = load.result
        note = spec.get("note", "")
        yield FixtureLoad(name, added + result.added, result.head.user_size, result.findings.count, note)


def _load_published(engine: Engine, path: Path, name: str, file: str, by: str | None) -> AppendResult:
    """Load a published dump; a register that holds another history (an init before ``name`` came
    from GOV.UK's dump built it from a table) is refused, saying why and what to do."""
    try:
        existed = head(engine, name).user_size > 0
    except RegisterNotFound:
        existed = False
    try:
        return load_rsf(engine, str(path), name, by=by, reason=f"load fixture {file}" if by else None)
    except InvalidRSF as exc:
        if not existed:
            raise
        raise RegisterError(
            f"{exc}; if an earlier 'registers init' built '{name}' from a table, its root cannot become the "
            f"one GOV.UK published in fixtures/{file} here: run 'registers init --with-fixtures' on a new database"
        ) from None
