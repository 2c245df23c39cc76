"""Every published dump loads with its roots; refused files leave the database as it was."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from registers import service
from registers.core.errors import InvalidRSF, RegisterError
from registers.core.items import hash_text
from tests.conftest import RSF, vector
from tests.integration.helpers import load, snapshot

DUMPS = sorted(p.name for p in RSF.glob("*.rsf") if p.name != "country-small-update.rsf")
COUNTRY = vector("country-proofs.json")


@pytest.mark.parametrize("name", DUMPS)
def test_every_dump_loads_with_its_asserts_and_loading_again_adds_nothing(engine: Engine, name: str) -> None:
    first = load(engine, name)
    user_entries = sum(1 for line in (RSF / name).read_bytes().splitlines() if line.startswith(b"append-entry"))
    assert first.added_user + first.added_system == user_entries
    again = load(engine, name)
    assert (again.added, again.present) == (0, user_entries)
    assert again.head == first.head
    assert service.verify(engine, first.register).head == first.head


def test_country_208_root_and_proofs_match_the_published_ones(engine: Engine) -> None:
    result = load(engine, "country-208.rsf", "country")
    assert (result.head.user_size, hash_text(result.head.user_root)) == (208, COUNTRY["register_proof"]["root-hash"])
    entry = service.inclusion_proof(engine, "country", 10, 200)
    assert entry["merkle-audit-path"] == COUNTRY["entry_proof"]["merkle-audit-path"]
    assert entry["entry-number"] == "10"
    consistency = service.consistency_proof(engine, "country", 197, 200)
    assert consistency["merkle-consistency-nodes"] == COUNTRY["consistency_proof"]["merkle-consistency-nodes"]
    assert service.register_proof(engine, "country") == {
        "proof-identifier": "merkle:sha-256",
        "root-hash": COUNTRY["register_proof"]["root-hash"],
        "total-entries": 208,
    }


def test_published_final_roots(engine: Engine) -> None:
    assert hash_text(load(engine, "country.rsf").head.user_root) == COUNTRY["final_roots"]["../data/rsf/country.rsf"]
    school = load(engine, "school-2017.rsf")
    assert hash_text(school.head.user_root) == "sha-256:df90ef6d055a141a1e5f99a372924172ed5dfdb5b6816ed2ddac46d145d5317d"


def test_2016_form_gives_the_same_root_as_the_current_form(engine: Engine, other_engine: Engine) -> None:
    old = load(engine, "country-small-2016-form.rsf", "country")
    new = load(other_engine, "country-small.rsf", "country")
    assert old.head.user_root == new.head.user_root
    assert hash_text(old.head.user_root).startswith("sha-256:401ce60c")


def test_patch_loads_only_on_top_of_the_register_it_continues(engine: Engine) -> None:
    with pytest.raises(InvalidRSF, match=r"country-small-update.rsf:1: the file continues from root sha-256:401ce60c"):
        load(engine, "country-small-update.rsf", "country")
    load(engine, "country-small.rsf", "country")
    patched = load(engine, "country-small-update.rsf", "country")
    assert (patched.added_user, patched.added_system, patched.head.user_size) == (2, 1, 9)
    assert hash_text(patched.head.user_root) == "sha-256:fa87bc961ed7fa6dde75db82cda8a6df8d8427da36bbf448fff6b177c2486cdb"
    again = load(engine, "country-small-update.rsf", "country")
    assert (again.added, again.present) == (0, 3)
    assert load(engine, "country-small.rsf", "country").added == 0


def test_another_history_is_refused(engine: Engine) -> None:
    load(engine, "country-small.rsf", "country")
    before = snapshot(engine)
    with pytest.raises(InvalidRSF, match="differs from the one the register holds"):
        load(engine, "country.rsf", "country")
    assert snapshot(engine) == before


@pytest.mark.parametrize(
    ("name", "line", "reason"),
    [
        ("non-canonical-item.rsf", 1, "not canonical"),
        ("orphan-item.rsf", 2, "orphan item"),
        ("wrong-root-hash.rsf", 1, "never had"),
        ("register-before-fields.rsf", 9, "names field 'register' before any 'field:register' entry"),
    ],
)
def test_invalid_files_are_refused_naming_the_line_and_store_nothing(
    engine: Engine, name: str, line: int, reason: str
) -> None:
    load(engine, "country-small.rsf", "country")
    before = snapshot(engine)
    with pytest.raises(InvalidRSF) as caught:
        load(engine, f"invalid/{name}", "fresh")
    assert caught.value.line == line
    assert reason in str(caught.value)
    assert str(caught.value).startswith(f"{RSF / 'invalid' / name}:{line}: ")
    assert "\n" not in str(caught.value)
    assert snapshot(engine) == before  # not even the new register's row is left


def test_a_false_assert_after_entries_is_refused(engine: Engine, tmp_path) -> None:
    lines = (RSF / "further-education-college-uk.rsf").read_bytes().splitlines()
    last = max(i for i, line in enumerate(lines) if line.startswith(b"assert-root-hash"))
    lines[last] = b"assert-root-hash\tsha-256:" + b"0" * 64
    bad = tmp_path / "country.rsf"
    bad.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(InvalidRSF, match=rf":{last + 1}: assert-root-hash sha-256:0+ is not the root after 312 entries"):
        service.load_rsf(engine, str(bad))
    assert service.list_registers(engine) == []


def test_an_entry_naming_an_item_added_later_is_refused(engine: Engine, tmp_path) -> None:
    item = b'add-item\t{"a":"b"}'
    from registers.core.items import item_digest

    digest = item_digest(b'{"a":"b"}').hex()
    entry = f"append-entry\tuser\tk\t2020-01-01T00:00:00Z\tsha-256:{digest}".encode()
    bad = tmp_path / "later.rsf"
    bad.write_bytes(entry + b"\n" + item + b"\n")
    with pytest.raises(InvalidRSF, match=r"later.rsf:1: append-entry names item sha-256:.* neither in the register"):
        service.load_rsf(engine, str(bad))


def test_a_large_batch_on_postgresql_refreshes_the_planner_statistics(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Right after a bulk load PostgreSQL takes the grown tables for empty ones until autovacuum
    analyses them (an amend then took 600 ms instead of 12 at 1M entries); a batch past
    ANALYZE_AFTER entries analyses them itself."""
    if engine.dialect.name != "postgresql":
        pytest.skip("planner statistics are PostgreSQL's")
    from registers.store import append as append_module

    monkeypatch.setattr(append_module, "ANALYZE_AFTER", 100)  # country-208 is a large batch, then
    load(engine, "country-208.rsf", "country")
    with engine.connect() as conn:
        analysed = set(conn.execute(text(
            "SELECT relname FROM pg_stat_user_tables WHERE schemaname = current_schema() AND last_analyze IS NOT NULL"
        )).scalars())
    assert {"item", "item_hash", "entry", "entry_key", "record", "merkle_tile", "field_value"} <= analysed


def test_sqlite_page_cache_is_an_operator_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SQLite's page cache is the memory each connection keeps of the database:
    $REGISTERS_SQLITE_CACHE_MIB sets it (16 MiB by default); a value that is not a size is refused."""
    url = f"sqlite:///{tmp_path / 'cache.db'}"
    for setting, pages in ((None, -16 * 1024), ("64", -64 * 1024)):
        if setting is None:
            monkeypatch.delenv("REGISTERS_SQLITE_CACHE_MIB", raising=False)
        else:
            monkeypatch.setenv("REGISTERS_SQLITE_CACHE_MIB", setting)
        engine = service.open_database(url)
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA cache_size").scalar() == pages
        engine.dispose()
    monkeypatch.setenv("REGISTERS_SQLITE_CACHE_MIB", "0")
    with pytest.raises(RegisterError, match="REGISTERS_SQLITE_CACHE_MIB='0'"):
        service.open_database(url)


def test_postgresql_connections_do_not_jit_compile(engine: Engine) -> None:
    """A list of records is a short walk through indexes that PostgreSQL costs as a long scan;
    JIT-compiling it took ten times the query (measured at 300k records): connections turn it off,
    and keep it off after a transaction rolls back."""
    if engine.dialect.name != "postgresql":
        pytest.skip("JIT is PostgreSQL's")
    with engine.connect() as conn:
        conn.rollback()
        assert conn.exec_driver_sql("SHOW jit").scalar() == "off"
