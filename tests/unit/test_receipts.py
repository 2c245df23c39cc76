"""Receipts checked offline: the frontier rebuilds the signed root, and any change is named."""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registers.core.entries import Log, leaf_bytes
from registers.core.items import canonical_json, hash_text, item_digest
from registers.core.merkle import EMPTY_ROOT, MemoryTree, inclusion_path, leaf_hash, root_of_leaf_hashes
from registers.core.notes import Checkpoint, SignerKey, sign_checkpoint
from registers.core.receipts import (
    FORMAT,
    ReceiptError,
    frontier_positions,
    receipt_entry,
    root_from_frontier,
    verify_receipt,
)

SIGNER = SignerKey.generate("localhost")
KEYS = [SIGNER.verifier]
STAMP = "2024-01-02T03:04:05Z"


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(hashlib.sha256(i.to_bytes(4, "big")).digest()) for i in range(n)]


def _frontier(tree: MemoryTree, size: int) -> list[bytes]:
    return [tree.node(level, index) for level, index in frontier_positions(size)]


# --- the frontier ---------------------------------------------------------------------------


@pytest.mark.parametrize(("size", "positions"), [
    (0, []),
    (1, [(0, 0)]),
    (2, [(1, 0)]),
    (3, [(1, 0), (0, 2)]),
    (4, [(2, 0)]),
    (5, [(2, 0), (0, 4)]),
    (7, [(2, 0), (1, 2), (0, 6)]),
    (8, [(3, 0)]),
    (150, [(7, 0), (4, 8), (2, 36), (1, 74)]),
    (208, [(7, 0), (6, 2), (4, 12)]),
    (1023, [(9, 0), (8, 2), (7, 6), (6, 14), (5, 30), (4, 62), (3, 126), (2, 254), (1, 510), (0, 1022)]),
])
def test_frontier_positions_are_the_binary_decomposition(size: int, positions: list[tuple[int, int]]) -> None:
    assert frontier_positions(size) == positions
    covered = [i for level, index in positions for i in range(index << level, (index + 1) << level)]
    assert covered == list(range(size))  # left to right, every leaf once


def test_root_from_frontier_equals_the_in_memory_root_for_small_trees() -> None:
    leaves = _leaves(60)
    tree = MemoryTree(leaves)
    for previous in range(41):
        frontier = _frontier(tree, previous)
        for added in range(1, 21):
            size = previous + added
            got = root_from_frontier(previous, frontier, leaves[previous:size])
            assert got == tree.root(size) == root_of_leaf_hashes(leaves[:size]), (previous, added)


@settings(max_examples=60, deadline=None)
@given(previous=st.integers(0, 5000), added=st.integers(1, 400))
def test_root_from_frontier_equals_the_in_memory_root(previous: int, added: int) -> None:
    leaves = _leaves(previous + added)
    tree = MemoryTree(leaves)
    assert root_from_frontier(previous, _frontier(tree, previous), leaves[previous:]) == tree.root()


def test_root_from_frontier_of_nothing_added_is_the_old_root() -> None:
    leaves = _leaves(13)
    tree = MemoryTree(leaves)
    assert root_from_frontier(13, _frontier(tree, 13), []) == tree.root()
    assert root_from_frontier(0, [], []) == EMPTY_ROOT


def test_a_frontier_of_the_wrong_length_is_refused() -> None:
    leaves = _leaves(8)
    tree = MemoryTree(leaves)
    with pytest.raises(ReceiptError, match="a tree of 5 entries has 2 frontier hashes, not 1"):
        root_from_frontier(5, [tree.node(2, 0)], leaves[5:])
    with pytest.raises(ReceiptError, match="a tree of 5 entries has 2 frontier hashes, not 3"):
        root_from_frontier(5, [*_frontier(tree, 5), tree.node(0, 5)], leaves[5:])
    with pytest.raises(ReceiptError, match="a tree of 0 entries has 0 frontier hashes, not 1"):
        root_from_frontier(0, [tree.node(0, 0)], leaves)


# --- receipts built by hand -----------------------------------------------------------------


def _log_part(log: Log, register: str, previous: int, added: int, signer: SignerKey, origin: str,
              paths: bool = True) -> dict[str, Any]:
    """One log's part of a receipt for entries ``previous+1..previous+added``."""
    rows = []
    for number in range(1, previous + added + 1):
        if log is Log.USER:
            key = f"C{number}"
            item = {"country": key, "name": f"Country {number}"}
        else:
            key = "change"
            item = {"by": "Jane", "reason": f"change {number}"}
        rows.append((number, key, item))
    tree = MemoryTree([
        leaf_hash(leaf_bytes(n, STAMP, key, (item_digest(canonical_json(item)),))) for n, key, item in rows
    ])
    size = tree.size
    suffix = register if log is Log.USER else f"{register}/system"
    note = sign_checkpoint(Checkpoint(f"{origin}/{suffix}", size, tree.root()), signer)
    return {
        "checkpoint": note,
        "previous-size": previous,
        "frontier": [hash_text(h) for h in _frontier(tree, previous)],
        "entries": [
            receipt_entry(
                n, STAMP, key, (item_digest(canonical_json(item)),), [item],
                inclusion_path(n - 1, size, tree.node) if paths else None,
            )
            for n, key, item in rows[previous:]
        ],
    }


def _receipt(register: str = "country", previous: int = 20, added: int = 3, *, signer: SignerKey = SIGNER,
             origin: str = "localhost", user_origin: str | None = None, paths: bool = True) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "register": register,
        "user": _log_part(Log.USER, user_origin or register, previous, added, signer, origin, paths),
        "system": _log_part(Log.SYSTEM, register, 5, 1, signer, origin, paths),
    }


RECEIPT = _receipt()


def test_a_receipt_built_by_hand_verifies() -> None:
    user, system = verify_receipt(RECEIPT, KEYS)
    assert (user.log, user.first, user.count, user.checkpoint.size) == (Log.USER, 21, 3, 23)
    assert user.checkpoint.origin == "localhost/country"
    assert (system.log, system.first, system.count, system.checkpoint.size) == (Log.SYSTEM, 6, 1, 6)
    assert [(s.name, s.key_id) for s in user.signers] == [("localhost", SIGNER.key_id)]


@pytest.mark.parametrize(("previous", "added"), [(0, 1), (0, 7), (1, 1), (7, 9), (64, 1), (100, 28)])
def test_receipts_of_any_shape_verify_with_or_without_audit_paths(previous: int, added: int) -> None:
    for paths in (True, False):
        receipt = _receipt(previous=previous, added=added, paths=paths)
        user = verify_receipt(receipt, KEYS)[0]
        assert (user.first, user.count) == (previous + 1, added)


def test_one_log_is_enough_and_extra_keys_do_no_harm() -> None:
    receipt = copy.deepcopy(RECEIPT)
    del receipt["system"]
    assert [p.log for p in verify_receipt(receipt, [SignerKey.generate("other").verifier, *KEYS])] == [Log.USER]


def _set(path: tuple[Any, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(receipt: dict[str, Any]) -> None:
        target = receipt
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = value
    return change


def _swap(first: int, second: int, renumber: bool) -> Callable[[dict[str, Any]], None]:
    def change(receipt: dict[str, Any]) -> None:
        entries = receipt["user"]["entries"]
        entries[first], entries[second] = entries[second], entries[first]
        if renumber:
            entries[first]["entry-number"], entries[second]["entry-number"] = (
                entries[second]["entry-number"], entries[first]["entry-number"])
    return change


def _delete(path: tuple[Any, ...]) -> Callable[[dict[str, Any]], None]:
    def change(receipt: dict[str, Any]) -> None:
        target = receipt
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
    return change


OTHER_HASH = "sha-256:" + "ab" * 32
ROOT_DIFFERS = "user log: the entries on top of the frontier give a root other than the signed sha-256:"
SYSTEM_PART = _receipt("other")["system"]


@pytest.mark.parametrize(("change", "message"), [
    pytest.param(_set(("user", "entries", 0, "item", 0, "name"), "Atlantis"),
                 "user log: entry 21's item does not hash to sha-256:", id="item-value"),
    pytest.param(_set(("user", "entries", 1, "item", 0), {"country": "C22"}),
                 "user log: entry 22's item does not hash to", id="item-field-removed"),
    pytest.param(_set(("user", "entries", 2, "item-hash", 0), OTHER_HASH),
                 "user log: entry 23's item does not hash to " + OTHER_HASH, id="item-hash"),
    pytest.param(_set(("user", "entries", 0, "item"), []),
                 "user log: entry 21 has 1 item hashes but 0 items", id="item-missing"),
    pytest.param(_set(("user", "entries", 0, "entry-timestamp"), "2024-01-02T03:04:06Z"),
                 ROOT_DIFFERS, id="timestamp"),
    pytest.param(_set(("user", "entries", 0, "entry-timestamp"), "2024-01-02"),
                 "user log: entry 21: timestamp '2024-01-02' is not YYYY-MM-DDThh:mm:ssZ", id="timestamp-form"),
    pytest.param(_set(("user", "entries", 1, "key"), "C99"), ROOT_DIFFERS, id="key"),
    pytest.param(_set(("user", "entries", 1, "key"), 'C22","key":"C23'),
                 "user log: entry 22: key 'C22\",\"key\":\"C23' is not valid", id="key-form"),
    pytest.param(_delete(("user", "entries", 1, "key")), "user log: entry 22 has no timestamp or key", id="key-gone"),
    pytest.param(_swap(0, 1, renumber=False), "user log: entry 21 is numbered '22'", id="reordered"),
    pytest.param(_swap(0, 2, renumber=True), ROOT_DIFFERS, id="reordered-renumbered"),
    pytest.param(_set(("user", "entries", 1, "entry-number"), "99"), "user log: entry 22 is numbered '99'",
                 id="entry-number"),
    pytest.param(_set(("user", "entries", 1, "entry-number"), 22), "user log: entry 22 is numbered 22",
                 id="entry-number-not-text"),
    pytest.param(_set(("user", "frontier", 0), OTHER_HASH), ROOT_DIFFERS, id="frontier-hash"),
    pytest.param(_set(("user", "frontier"), []), "user log: a tree of 20 entries has 2 frontier hashes, not 0",
                 id="frontier-short"),
    pytest.param(_set(("user", "frontier", 1), "sha-256:XX"), "user log: 'sha-256:XX' is not a sha-256 hash",
                 id="frontier-not-a-hash"),
    pytest.param(_set(("user", "entries", 1, "merkle-audit-path", 2), OTHER_HASH),
                 "user log: entry 22's audit path does not lead to the signed root", id="audit-path-node"),
    pytest.param(_set(("user", "entries", 1, "merkle-audit-path"), []),
                 "user log: entry 22's audit path does not lead to the signed root", id="audit-path-empty"),
    pytest.param(_set(("system", "entries", 0, "merkle-audit-path", 0), OTHER_HASH),
                 "system log: entry 6's audit path does not lead to the signed root", id="system-audit-path"),
    pytest.param(_set(("system", "entries", 0, "item", 0, "by"), "Joe"),
                 "system log: entry 6's item does not hash to", id="system-item"),
    pytest.param(_set(("system", "entries", 0, "key"), "C 1"),
                 "system log: entry 6: system key 'C 1' is not well-formed", id="system-key"),
    pytest.param(_set(("user", "previous-size"), 19),
                 "user log: 19 + 3 entries is not the checkpoint's size 23", id="previous-size"),
    pytest.param(_set(("user", "previous-size"), "20"),
                 "user log: previous-size must be a whole number, not '20'", id="previous-size-text"),
    pytest.param(_set(("user", "entries"), []), "user log: no entries", id="no-entries"),
    pytest.param(_set(("register",), "territory"),
                 "user log: the checkpoint is for 'localhost/country', not register 'territory'", id="register"),
    pytest.param(_set(("register",), "country/system"),
                 "the receipt's register 'country/system' is not a register name", id="register-not-a-name"),
    pytest.param(_set(("system",), SYSTEM_PART),
                 "system log: the checkpoint is for 'localhost/other/system', not register 'country'",
                 id="system-of-another-register"),
    pytest.param(_set(("system", "checkpoint"), RECEIPT["user"]["checkpoint"]),
                 "system log: the checkpoint is for 'localhost/country', not register 'country'",
                 id="user-checkpoint-as-system"),
    pytest.param(_set(("user", "checkpoint"), RECEIPT["system"]["checkpoint"]),
                 "user log: the checkpoint is for 'localhost/country/system', not register 'country'",
                 id="system-checkpoint-as-user"),
    pytest.param(_set(("user", "checkpoint"), RECEIPT["user"]["checkpoint"].replace("\n23\n", "\n24\n")),
                 "user log: the checkpoint's signature: signature by localhost does not verify", id="size-edited"),
    pytest.param(_delete(("user", "checkpoint")), "user log: no checkpoint", id="no-checkpoint"),
    pytest.param(_set(("user", "checkpoint"), None), "user log: no checkpoint", id="null-checkpoint"),
    pytest.param(_set(("user", "checkpoint"), "localhost/country\n23\n"),
                 "user log: the checkpoint's signature: note has no blank line", id="unsigned-checkpoint"),
    pytest.param(_set(("user",), "yes"), "user log: not an object", id="log-not-an-object"),
    pytest.param(_delete(("user",)), None, id="no-user-part-is-fine"),
])
def test_a_changed_receipt_fails_naming_the_problem(change: Callable[[dict[str, Any]], None],
                                                    message: str | None) -> None:
    receipt = copy.deepcopy(RECEIPT)
    change(receipt)
    if message is None:
        verify_receipt(receipt, KEYS)
        return
    with pytest.raises(ReceiptError) as caught:
        verify_receipt(receipt, KEYS)
    assert str(caught.value).startswith(message), str(caught.value)


def test_a_checkpoint_for_another_register_fails() -> None:
    receipt = _receipt(user_origin="territory")  # signed for localhost/territory, claimed for country
    with pytest.raises(ReceiptError, match="user log: the checkpoint is for 'localhost/territory', "
                                           "not register 'country'"):
        verify_receipt(receipt, KEYS)


def test_both_checkpoints_must_come_from_the_same_origin() -> None:
    receipt = copy.deepcopy(RECEIPT)
    receipt["system"] = _receipt(origin="elsewhere.example")["system"]
    with pytest.raises(ReceiptError, match="the system log's checkpoint is for 'elsewhere.example/country/system', "
                                           "not 'localhost/country/system'"):
        verify_receipt(receipt, KEYS)


def test_the_wrong_key_fails() -> None:
    other = SignerKey.generate("localhost")
    with pytest.raises(ReceiptError, match="user log: the checkpoint's signature: note has no verifiable signatures"):
        verify_receipt(RECEIPT, [other.verifier])
    with pytest.raises(ReceiptError, match="no verifiable signatures"):
        verify_receipt(RECEIPT, [])
    forged = _receipt(signer=other)  # a well-formed receipt signed by a key not trusted
    with pytest.raises(ReceiptError, match="no verifiable signatures"):
        verify_receipt(forged, KEYS)


@pytest.mark.parametrize("value", [
    None, [], "a receipt", 7, {}, {"format": "registers-receipt/2", "register": "country"},
    {"register": "country", "user": RECEIPT["user"]},
])
def test_not_a_receipt_at_all(value: Any) -> None:
    with pytest.raises(ReceiptError, match="not a receipt"):
        verify_receipt(value, KEYS)


def test_a_receipt_of_no_log_proves_nothing() -> None:
    with pytest.raises(ReceiptError, match="the receipt proves no entries"):
        verify_receipt({"format": FORMAT, "register": "country"}, KEYS)
    with pytest.raises(ReceiptError, match="the receipt's register None is not a register name"):
        verify_receipt({"format": FORMAT, "user": RECEIPT["user"]}, KEYS)


# --- anything a receipt may hold ------------------------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.sampled_from([OTHER_HASH, "2024-01-02T03:04:05Z", "C21", "21", "country"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(_receipt(previous=5, added=2))[1:]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(path=st.sampled_from(PATHS), value=JSON)
def test_any_change_is_refused_with_a_receipt_error_or_proves_the_same(path: tuple[Any, ...], value: Any) -> None:
    receipt = _receipt(previous=5, added=2)
    expected = verify_receipt(receipt, KEYS)
    _set(path, value)(receipt)
    try:
        proven = verify_receipt(receipt, KEYS)
    except ReceiptError:
        return
    # what still verifies (an audit path or a whole log dropped) proves exactly the same
    assert [(p.log, p.first, p.count, p.checkpoint) for p in proven] == [
        (p.log, p.first, p.count, p.checkpoint) for p in expected if receipt[p.log.label] is not None]


def test_an_entry_of_several_items_verifies_and_each_item_counts() -> None:
    items = [{"name": "b", "x": "2"}, {"name": "a", "x": "1"}]
    digests = tuple(item_digest(canonical_json(item)) for item in items)
    tree = MemoryTree([leaf_hash(leaf_bytes(1, STAMP, "A1", digests))])
    note = sign_checkpoint(Checkpoint("localhost/multi", 1, tree.root()), SIGNER)
    receipt = {"format": FORMAT, "register": "multi", "user": {
        "checkpoint": note, "previous-size": 0, "frontier": [],
        "entries": [receipt_entry(1, STAMP, "A1", digests, items, [])],
    }}
    assert verify_receipt(receipt, KEYS)[0].count == 1
    swapped = copy.deepcopy(receipt)
    swapped["user"]["entries"][0]["item"].reverse()
    with pytest.raises(ReceiptError, match="user log: entry 1's item does not hash to"):
        verify_receipt(swapped, KEYS)
    both_swapped = copy.deepcopy(swapped)
    both_swapped["user"]["entries"][0]["item-hash"].reverse()  # items and hashes agree, the leaf does not
    with pytest.raises(ReceiptError, match="give a root other than the signed"):
        verify_receipt(both_swapped, KEYS)
    dropped = copy.deepcopy(receipt)
    del dropped["user"]["entries"][0]["item"][1]
    with pytest.raises(ReceiptError, match="user log: entry 1 has 2 item hashes but 1 items"):
        verify_receipt(dropped, KEYS)
