"""Receipts of committed changes: what ``service.receipt_for`` writes verifies offline with the
platform's public keys, for loads in steps, record changes, and loads too big for audit paths."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine

from registers import service
from registers.core.entries import Log
from registers.core.items import hash_text
from registers.core.notes import SignerKey, VerifierKey
from registers.core.receipts import AUDIT_PATHS_UP_TO, ReceiptError, frontier_positions, verify_receipt
from registers.core.rsf import read_rsf
from registers.store.append import AppendResult
from registers.store.engine import open_engine
from tests.conftest import ROOT, RSF, fresh_database
from tests.integration.helpers import load


def _keys(engine: Engine) -> list[VerifierKey]:
    return [VerifierKey.parse(k) for k in service.public_keys(engine)]


def _verified(engine: Engine, result: AppendResult) -> tuple[dict[str, Any], dict[Log, Any]]:
    """The receipt of ``result``, round-tripped through JSON as the CLI writes it, and what it proves."""
    receipt = service.receipt_for(engine, result)
    assert receipt is not None
    receipt = json.loads(json.dumps(receipt, ensure_ascii=False))
    proven = {p.log: p for p in verify_receipt(receipt, _keys(engine))}
    head = result.head
    for log, added in ((Log.USER, result.added_user), (Log.SYSTEM, result.added_system)):
        if not added:
            assert log.label not in receipt and log not in proven
            continue
        p = proven[log]
        assert (p.first, p.count) == (head.size(log) - added + 1, added)
        assert (p.checkpoint.size, p.checkpoint.root) == (head.size(log), head.root(log))
        part = receipt[log.label]
        assert part["previous-size"] == head.size(log) - added
        assert len(part["frontier"]) == len(frontier_positions(part["previous-size"]))
    return receipt, proven


def _first(tmp_path: Path, n: int) -> str:
    """A dump of the first ``n`` user entries of country-208 (its system entries first), made by
    loading the whole dump into a scratch database and exporting."""
    out = tmp_path / f"first-{n}.rsf"
    with fresh_database(tmp_path, f"scratch{n}") as url:
        scratch = open_engine(url)
        try:
            service.generate_key(scratch)  # a write signs: the scratch database needs a key of its own
            load(scratch, "country-208.rsf", "country")
            with open(out, "wb") as sink:
                service.export_rsf(scratch, "country", sink, 0, n)
        finally:
            scratch.dispose()
    return str(out)


def _dump_items() -> dict[int, dict[str, Any]]:
    """The items of country-208's user entries, by entry number."""
    from registers.core.rsf import AddItem, AppendEntry

    with open(RSF / "country-208.rsf", "rb") as source:
        commands = list(read_rsf(source))
    items = {c.digest: json.loads(c.blob) for c in commands if isinstance(c, AddItem)}
    entries = [c for c in commands if isinstance(c, AppendEntry) and c.log is Log.USER]
    return {n: items[e.digests[0]] for n, e in enumerate(entries, 1)}


def test_a_load_in_two_steps_gives_receipts_that_verify(engine: Engine, tmp_path: Path) -> None:
    first = service.load_rsf(engine, _first(tmp_path, 150), "country")
    assert (first.added_user, first.head.user_size) == (150, 150) and first.added_system
    receipt, proven = _verified(engine, first)
    assert receipt["user"]["previous-size"] == 0 and receipt["user"]["frontier"] == []
    assert [e["entry-number"] for e in receipt["user"]["entries"]] == [str(n) for n in range(1, 151)]
    assert all(e["merkle-audit-path"] for e in receipt["user"]["entries"][1:])

    second = load(engine, "country-208.rsf", "country")
    assert (second.added_user, second.present) == (58, 150 + first.added_system)
    receipt, proven = _verified(engine, second)
    user = receipt["user"]
    assert (user["previous-size"], len(user["entries"])) == (150, 58)
    assert len(user["frontier"]) == 4  # 150 = 128 + 16 + 4 + 2
    assert user["frontier"][0] == hash_text(service.root_at(engine, "country", 128))
    assert user["checkpoint"] == service.checkpoint_note(engine, "country")
    items = _dump_items()
    assert [e["item"] for e in user["entries"]] == [[items[n]] for n in range(151, 209)]
    assert hash_text(proven[Log.USER].checkpoint.root) == hash_text(second.head.user_root)

    again = load(engine, "country-208.rsf", "country")
    assert again.added == 0 and service.receipt_for(engine, again) is None


def test_a_receipt_is_only_as_good_as_the_keys(engine: Engine, other_engine: Engine) -> None:
    result = load(engine, "country-small.rsf", "country")
    receipt = service.receipt_for(engine, result)
    load(other_engine, "country-small.rsf", "country")  # the same entries, but signed by another key
    assert _keys(other_engine) != _keys(engine)
    with pytest.raises(ReceiptError, match="no verifiable signatures"):
        verify_receipt(receipt, _keys(other_engine))
    with pytest.raises(ReceiptError, match="no verifiable signatures"):
        verify_receipt(receipt, [SignerKey.generate("localhost").verifier])
    verify_receipt(receipt, [*_keys(other_engine), *_keys(engine)])


def test_a_receipt_made_after_a_rotation_needs_the_new_key(engine: Engine, tmp_path: Path) -> None:
    first = service.load_rsf(engine, _first(tmp_path, 100), "country")
    old = _keys(engine)
    rotated = service.rotate_key(engine, "localhost")
    assert rotated.handover.old == old[-1]
    new = rotated.handover.new
    second = load(engine, "country-208.rsf", "country")
    verify_receipt(service.receipt_for(engine, first), old)
    verify_receipt(service.receipt_for(engine, second), [new])
    with pytest.raises(ReceiptError, match="no verifiable signatures"):
        verify_receipt(service.receipt_for(engine, second), old)
    _verified(engine, second)


def test_record_changes_give_receipts_that_verify(engine: Engine) -> None:
    definition = service.read_schema(str(ROOT / "schemas" / "country.json"))
    service.create_register(engine, "country", definition, by="Jane", reason="create from the shipped schema")
    with open(ROOT / "fixtures" / "tsv" / "country.tsv", "rb") as stream:
        loaded = service.load_table(engine, stream, "tsv", "country", history=True, by="Jane", reason="fixtures")
    receipt, _ = _verified(engine, loaded.result)
    assert len(receipt["user"]["entries"]) == loaded.result.added_user > 200

    added = service.add_record(engine, "country", "XQ", {"name": "Atlantis", "official-name": "The Lost Realm"},
                               by="Jane", reason="found")
    receipt, proven = _verified(engine, added)
    (entry,) = receipt["user"]["entries"]
    assert (entry["key"], entry["item"]) == ("XQ", [{"country": "XQ", "name": "Atlantis",
                                                      "official-name": "The Lost Realm"}])
    assert len(entry["merkle-audit-path"]) > 0
    (change,) = receipt["system"]["entries"]
    assert change["key"] == "change" and change["item"][0]["by"] == "Jane" and change["item"][0]["reason"] == "found"
    assert change["item"][0]["user-entries"] == f"{proven[Log.USER].first}-{proven[Log.USER].first}"

    amended = service.amend_record(engine, "country", "XQ", {"name": "Atlantis Rising"}, by="Joe", reason="renamed")
    receipt, _ = _verified(engine, amended)
    assert receipt["user"]["entries"][0]["item"][0]["name"] == "Atlantis Rising"
    assert receipt["user"]["entries"][0]["item"][0]["official-name"] == "The Lost Realm"

    ended = service.end_record(engine, "country", "XQ", "2025-01-01", by="Joe", reason="sank")
    receipt, proven = _verified(engine, ended)
    assert receipt["user"]["entries"][0]["item"][0]["end-date"] == "2025-01-01"
    assert proven[Log.USER].checkpoint.size == ended.head.user_size == added.head.user_size + 2
    assert receipt["user"]["checkpoint"] == service.checkpoint_note(engine, "country")

    # an earlier receipt still verifies after later changes: its checkpoint is the one it made
    verify_receipt(service.receipt_for(engine, added), _keys(engine))


@pytest.mark.parametrize(("dump", "register", "user_entries"), [
    ("school-2017.rsf", "school", AUDIT_PATHS_UP_TO),  # exactly as many: each still has its path
    ("industrial-classification.rsf", "sic", 1187),
])
def test_a_receipt_of_more_than_audit_paths_up_to_entries_has_no_paths_but_verifies(
        engine: Engine, dump: str, register: str, user_entries: int) -> None:
    result = load(engine, dump, register)
    assert result.added_user == user_entries
    receipt, proven = _verified(engine, result)
    with_paths = [("merkle-audit-path" in e) for e in receipt["user"]["entries"]]
    assert with_paths == [user_entries <= AUDIT_PATHS_UP_TO] * user_entries
    assert proven[Log.USER].count == result.added_user
    if result.added_system:  # the system log's few entries carry their paths
        assert all("merkle-audit-path" in e for e in receipt["system"]["entries"])
    tampered = json.loads(json.dumps(receipt))
    tampered["user"]["entries"][-1]["entry-timestamp"] = "2000-01-01T00:00:00Z"
    with pytest.raises(ReceiptError, match="give a root other than the signed"):
        verify_receipt(tampered, _keys(engine))


def test_a_change_that_appended_nothing_has_no_receipt(engine: Engine) -> None:
    load(engine, "country-small.rsf", "country")
    assert service.receipt_for(engine, load(engine, "country-small.rsf", "country")) is None
    assert service.receipt_for(engine, service.append_items(engine, "country", [])) is None
