"""A streamed file stages its random-order index rows (item digests, entry keys, records,
indexed values) in temporary tables and merges them in index order at the end. Small chunks
make every published dump take that path many times over: the store must come out exactly as
a load in one chunk leaves it, and an item added twice must still be stored once."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import Engine, text

from registers import service
from registers.core.entries import Log
from registers.core.errors import IntegrityError
from registers.core.items import canonical_json, item_digest
from registers.core.merkle import EMPTY_ROOT
from registers.core.rsf import AddItem, AppendEntry, AssertRootHash, read_rsf, rsf_bytes
from registers.store import append as append_module
from registers.store.checks import Change
from tests.integration.helpers import export, load

# country-208 lists every item before any entry: with chunks of 7 each entry's item was
# written (and staged) chunks before, so validation reads items back from the stage
DUMPS = ["country-208.rsf", "country.rsf", "industrial-classification.rsf", "field-reused-items.rsf"]


def _count(engine: Engine, sql: str) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(sql)).scalar_one())


@pytest.mark.parametrize("name", DUMPS)
def test_a_load_in_small_chunks_stores_exactly_what_one_chunk_stores(
    engine: Engine, other_engine: Engine, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    whole = load(other_engine, name, "r")
    monkeypatch.setattr(append_module, "CHUNK", 7)
    chunked = load(engine, name, "r")
    assert chunked.head == whole.head
    assert export(engine, "r") == export(other_engine, "r")
    assert service.verify(engine, "r").head == whole.head
    for table in ("item", "item_hash", "entry", "entry_key", "record"):
        assert _count(engine, f"SELECT count(*) FROM {table}") == _count(other_engine, f"SELECT count(*) FROM {table}")


def _file_reusing_an_item(gap: int) -> bytes:
    """Item A added for k0, ``gap`` other items and entries, then A added again for k1."""
    a = canonical_json({"n": "a"})
    commands: list = [AssertRootHash(EMPTY_ROOT), AddItem(a, item_digest(a)),
                      AppendEntry(Log.USER, "k0", "2020-01-01T00:00:00Z", (item_digest(a),))]
    for i in range(gap):
        blob = canonical_json({"n": str(i)})
        commands += [AddItem(blob, item_digest(blob)),
                     AppendEntry(Log.USER, f"x{i}", "2020-01-01T00:00:00Z", (item_digest(blob),))]
    commands += [AddItem(a, item_digest(a)), AppendEntry(Log.USER, "k1", "2020-01-02T00:00:00Z", (item_digest(a),))]
    return rsf_bytes(commands)


def test_an_item_added_again_chunks_later_is_stored_once_in_its_first_place(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(append_module, "CHUNK", 5)
    data = _file_reusing_an_item(gap=40)
    result = append_module.append(engine, "reuse", read_rsf(io.BytesIO(data)), change=Change(strict=False))
    assert result.added_user == 42
    assert _count(engine, "SELECT count(*) FROM item") == _count(engine, "SELECT count(*) FROM item_hash") == 41
    dump = export(engine, "reuse")
    assert dump.count(b'add-item\t{"n":"a"}') == 1
    assert dump.index(b'add-item\t{"n":"a"}') < dump.index(b'add-item\t{"n":"0"}')  # the order first added
    assert service.verify(engine, "reuse").head == result.head
    assert [r.entry.key for r in service.list_records(engine, "reuse", field="n", value="a")] == ["k1", "k0"]


def test_a_file_past_the_head_reusing_items_the_register_holds_stores_each_once(
    engine: Engine, other_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamed file continuing from the head stores its items without probing for them (they
    are mostly new); those the register already held are dropped at the merge, first copy kept."""
    monkeypatch.setattr(append_module, "CHUNK", 5)
    first = append_module.append(engine, "reuse", read_rsf(io.BytesIO(_file_reusing_an_item(gap=12))),
                                 change=Change(strict=False))
    old = [canonical_json({"n": str(i)}) for i in range(12)]
    new = [canonical_json({"n": f"new{i}"}) for i in range(12)]
    commands: list = [AssertRootHash(first.head.user_root)]
    for i, blob in enumerate(old + new):  # every old item re-added (for new entries), then new ones
        commands += [AddItem(blob, item_digest(blob)),
                     AppendEntry(Log.USER, f"y{i}", "2020-01-03T00:00:00Z", (item_digest(blob),))]
    second = append_module.append(engine, "reuse", read_rsf(io.BytesIO(rsf_bytes(commands))),
                                  change=Change(strict=False))
    assert second.added_user == 24
    assert _count(engine, "SELECT count(*) FROM item") == _count(engine, "SELECT count(*) FROM item_hash") == 25
    dump = export(engine, "reuse")
    assert all(dump.count(b"add-item\t" + blob + b"\n") == 1 for blob in old + new)
    assert service.verify(engine, "reuse").head == second.head
    # the same two files in one chunk each, into another database: the same store
    monkeypatch.setattr(append_module, "CHUNK", 10_000)
    append_module.append(other_engine, "reuse", read_rsf(io.BytesIO(_file_reusing_an_item(gap=12))),
                         change=Change(strict=False))
    append_module.append(other_engine, "reuse", read_rsf(io.BytesIO(rsf_bytes(commands))),
                         change=Change(strict=False))
    assert export(other_engine, "reuse") == dump


@pytest.fixture
def country(engine: Engine) -> Engine:
    load(engine, "country-208.rsf", "country")
    return engine


def _tampered(engine: Engine, sql: str) -> str:
    with engine.begin() as conn:
        assert conn.execute(text(sql)).rowcount == 1
    with pytest.raises(IntegrityError) as caught:
        service.verify(engine, "country")
    return str(caught.value)


def test_an_entry_missing_from_the_key_index_is_caught(country: Engine) -> None:
    found = _tampered(country, "DELETE FROM entry_key WHERE log = 0 AND number = 208")
    assert "user entry 208 is missing from the key index (key '" in found


def test_an_extra_row_in_the_key_index_is_caught(country: Engine) -> None:
    found = _tampered(country, "INSERT INTO entry_key (register_id, log, key, number) "
                               "SELECT register_id, log, 'ZZ', 500 FROM entry_key WHERE log = 0 AND number = 208")
    assert "the user key index holds 209 entries after entry 0, but the log holds 208" in found


def test_a_digest_pointing_at_another_item_is_caught(country: Engine) -> None:
    found = _tampered(country, "UPDATE item_hash SET item_id = (SELECT min(id) FROM item) "
                               "WHERE item_id = (SELECT max(id) FROM item)")
    assert "the digest index points item sha-256:" in found and "at another item" in found


def test_an_item_missing_from_the_digest_index_is_caught(country: Engine) -> None:
    stored = _count(country, "SELECT count(*) FROM item")
    found = _tampered(country, "DELETE FROM item_hash WHERE item_id = (SELECT max(id) FROM item)")
    assert found == f"the register stores {stored} items, but its digest index holds {stored - 1}"
