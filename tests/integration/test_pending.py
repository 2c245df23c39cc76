"""Dumps that list every item before any entry load in bounded memory, orphans still refused."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import Engine

from registers.core.entries import Log
from registers.core.errors import InvalidRSF
from registers.core.items import canonical_json, item_digest
from registers.core.merkle import EMPTY_ROOT
from registers.core.rsf import AddItem, AppendEntry, AssertRootHash, read_rsf, rsf_bytes
from registers.store import append as append_module
from registers.store import pending
from registers.store.checks import Change
from tests.integration.helpers import snapshot


def _items_first_dump(n: int, orphan_at: int | None = None) -> bytes:
    items = [canonical_json({"n": str(i)}) for i in range(n)]
    commands: list = [AssertRootHash(EMPTY_ROOT)]
    commands += [AddItem(b, item_digest(b)) for b in items]
    commands += [AppendEntry(Log.USER, f"k{i}", "2020-01-01T00:00:00Z", (item_digest(b),))
                 for i, b in enumerate(items) if i != orphan_at]
    return rsf_bytes(commands)


@pytest.fixture
def small_memory(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Spill after 100 pending items, so a small dump exercises the temporary table."""
    monkeypatch.setattr(pending, "MEMORY_LIMIT", 100)
    monkeypatch.setattr(append_module, "CHUNK", 150)
    spills: list[int] = []
    original = pending.PendingItems._spill

    def counting(self: pending.PendingItems) -> None:
        spills.append(len(self.memory))
        original(self)

    monkeypatch.setattr(pending.PendingItems, "_spill", counting)
    return spills


def test_items_first_dump_spills_and_loads(engine: Engine, small_memory: list[int]) -> None:
    data = _items_first_dump(1000)
    result = append_module.append(engine, "big", read_rsf(io.BytesIO(data)), change=Change(strict=False))
    assert result.added_user == 1000
    assert len(small_memory) == 9 and max(small_memory) == 101  # never more than 101 in memory
    again = append_module.append(engine, "big", read_rsf(io.BytesIO(data)), change=Change(strict=False))
    assert again.added == 0


def test_an_orphan_among_spilled_items_is_found_and_nothing_stored(engine: Engine, small_memory: list[int]) -> None:
    before = snapshot(engine)
    with pytest.raises(InvalidRSF) as caught:
        append_module.append(engine, "big", read_rsf(io.BytesIO(_items_first_dump(1000, orphan_at=37))))
    assert caught.value.line == 2 + 37
    assert "orphan item" in str(caught.value)
    assert snapshot(engine) == before
    assert small_memory  # the orphan was found in the temporary table


def test_an_item_added_again_after_its_entry_is_not_an_orphan_wherever_chunks_fall(
    engine: Engine, small_memory: list[int]
) -> None:
    items = [canonical_json({"n": str(i)}) for i in range(400)]
    commands: list = []
    for i, blob in enumerate(items):
        commands += [AddItem(blob, item_digest(blob)), AppendEntry(Log.USER, f"k{i}", "2020-01-01T00:00:00Z", (item_digest(blob),))]
    commands.append(AddItem(items[0], item_digest(items[0])))  # re-added long after first use
    result = append_module.append(engine, "again", read_rsf(io.BytesIO(rsf_bytes(commands))), change=Change(strict=False))
    assert result.added_user == 400
