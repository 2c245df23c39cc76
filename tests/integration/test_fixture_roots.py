"""``init --with-fixtures`` loads each register GOV.UK published a dump of from that dump, byte for
byte: its root is the one the dump's final ``assert-root-hash`` states (read from the file here,
never copied into the test), and loading the dump again adds nothing. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine

from registers import service
from registers.cli import main
from registers.core.items import hash_text
from tests.conftest import ROOT

FIXTURES = ROOT / "fixtures"
MANIFEST = json.loads((FIXTURES / "fixtures.json").read_text())["registers"]
FROM_RSF = {spec["register"]: FIXTURES / spec["file"] for spec in MANIFEST if spec.get("file", "").endswith(".rsf")}


def published_root(path: Path) -> str | None:
    """The root the dump's last ``assert-root-hash`` line states (None: the dump asserts none)."""
    asserts = [line.split("\t")[1] for line in path.read_text().splitlines() if line.startswith("assert-root-hash\t")]
    return asserts[-1] if asserts else None


def dump_name(path: Path) -> str:
    """The register the dump names in its ``name`` system entry."""
    items, name = {}, ""
    for line in path.read_text().splitlines():
        fields = line.split("\t")
        if fields[0] == "add-item":
            items["sha-256:" + hashlib.sha256(fields[1].encode()).hexdigest()] = json.loads(fields[1])
        elif fields[0] == "append-entry" and fields[1:3] == ["system", "name"]:
            name = items[fields[4]]["name"]
    return name


def _mth(leaves: list[bytes]) -> bytes:  # RFC 6962 2.1, written out again here to check the store's trees
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    split = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _mth(leaves[:split]) + _mth(leaves[split:])).digest()


def entries_root(path: Path) -> tuple[int, str]:
    """The user log's size and root computed from the dump's own ``append-entry`` lines, by the v1
    leaf format and RFC 6962, independently of the store."""
    leaves = []
    for line in path.read_text().splitlines():
        fields = line.split("\t")
        if fields[0] == "append-entry" and fields[1] == "user":
            n = str(len(leaves) + 1)
            _, _, key, timestamp, hashes = fields
            leaf = {"index-entry-number": n, "entry-number": n, "entry-timestamp": timestamp, "key": key,
                    "item-hash": hashes.split(";")}
            leaves.append(json.dumps(leaf, separators=(",", ":"), ensure_ascii=False).encode())
    root = _mth(leaves) if leaves else hashlib.sha256(b"").digest()
    return len(leaves), "sha-256:" + root.hex()


def test_every_shipped_dump_of_a_fixture_register_is_what_init_loads_it_from() -> None:
    assert {"country", "industrial-classification", "school"} <= set(FROM_RSF)
    shipped = {spec["register"] for spec in MANIFEST}
    for path in sorted((FIXTURES / "rsf").glob("*.rsf")):
        name = dump_name(path)
        if name in shipped:
            assert FROM_RSF.get(name) == path, f"{name} is shipped as {path.name} but init does not load it from it"
    for name, path in FROM_RSF.items():
        published = published_root(path)
        if published is not None:  # the independent computation agrees with every root GOV.UK asserted
            assert entries_root(path)[1] == published, name


def test_init_gives_each_dump_its_published_root_and_reloading_adds_nothing(engine: Engine) -> None:
    loads = {load.register: load for load in service.init_fixtures(engine, by="test")}
    for spec in MANIFEST:
        if spec["register"] not in FROM_RSF and "file" in spec and not spec.get("allow_dangling"):
            assert loads[spec["register"]].findings == 0, spec  # tables' links (to these too) all resolve
    for name, path in FROM_RSF.items():
        size, computed = entries_root(path)
        stored = service.head(engine, name)
        assert (stored.user_size, hash_text(stored.user_root)) == (size, computed), name
        published = published_root(path)
        if published is None:  # only the 2017 school dump asserts no root: its root is what its entries give
            assert name == "school", f"{path.name} asserts no root"
        else:
            assert hash_text(stored.user_root) == published, name
        again = service.load_rsf(engine, str(path), name)
        assert (again.added, again.head.user_root) == (0, stored.user_root), name
    assert [load.added for load in service.init_fixtures(engine, by="test")] == [0] * len(MANIFEST)


def test_the_cli_prints_the_published_roots_after_init(db_url: str) -> None:
    run = CliRunner()
    init = run.invoke(main, ["--db", db_url, "init", "--with-fixtures"])
    assert init.exit_code == 0, init.output
    for name, path in FROM_RSF.items():
        size, computed = entries_root(path)
        root = run.invoke(main, ["--db", db_url, "root", name])
        assert root.stdout == f"{size} {published_root(path) or computed}\n", name
        load = run.invoke(main, ["--db", db_url, "load", str(path)])
        assert load.exit_code == 0 and load.stdout.startswith(f"{name}: 0 added (0 system)"), load.output
    again = run.invoke(main, ["--db", db_url, "init", "--with-fixtures"])
    assert again.exit_code == 0 and again.stdout.splitlines()[-1] == "0 entries added", again.output
