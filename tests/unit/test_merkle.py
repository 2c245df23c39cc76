"""RFC 6962 trees and proofs against the golden vectors, and as properties."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from registers.core import merkle
from registers.core.merkle import MemoryTree, leaf_hash, node_hash
from tests.conftest import vector

KAT = vector("rfc6962_kat_8leaf.json")
VLOG = vector("merkle-verifiable-log.json")
PROBES = vector("transparency_dev_merkle_probes.json")


def kat_tree() -> MemoryTree:
    return MemoryTree([leaf_hash(bytes.fromhex(x)) for x in KAT["leaf_inputs_hex"]])


def test_hasher_vectors() -> None:
    for case in vector("rfc6962_hasher.json")["vectors"]:
        if case["op"] == "empty_root":
            got = merkle.EMPTY_ROOT
        elif case["op"] == "leaf":
            got = leaf_hash(case["input_ascii"].encode())
        else:
            got = node_hash(case["left_ascii"].encode(), case["right_ascii"].encode())
        assert got.hex() == case["want_hex"], case["desc"]


def test_known_answer_roots_and_nodes() -> None:
    tree = kat_tree()
    for size, root in KAT["roots_by_tree_size_hex"].items():
        assert tree.root(int(size)).hex() == root
    for level, hashes in KAT["node_hashes_by_level_hex"].items():
        assert [tree.node(int(level), i).hex() for i in range(len(hashes))] == hashes
    assert merkle.root_of_leaf_hashes(tree.levels[0]).hex() == KAT["roots_by_tree_size_hex"]["8"]


def test_known_answer_inclusion_proofs() -> None:
    tree = kat_tree()
    for case in KAT["inclusion_proofs"]:
        path = merkle.inclusion_path(case["leaf_index"], case["tree_size"], tree.node)
        assert [h.hex() for h in path] == case["audit_path_hex"]
        assert merkle.verify_inclusion(
            case["leaf_index"], case["tree_size"], bytes.fromhex(case["leaf_hash_hex"]), path,
            bytes.fromhex(case["root_hex"]),
        )


def test_known_answer_consistency_proofs() -> None:
    tree = kat_tree()
    for case in KAT["consistency_proofs"]:
        proof = merkle.consistency_proof(case["first"], case["second"], tree.node)
        assert [h.hex() for h in proof] == case["proof_hex"]
        assert merkle.verify_consistency(
            case["first"], case["second"], bytes.fromhex(case["first_root_hex"]),
            bytes.fromhex(case["second_root_hex"]), proof,
        )


def test_verifiable_log_vectors() -> None:
    tree = MemoryTree([leaf_hash(bytes.fromhex(x)) for x in VLOG["leaf_inputs_hex"]])
    assert merkle.tree_root(0, tree.node).hex() == VLOG["empty_root"]
    for size, root in VLOG["roots_by_tree_size"].items():
        assert tree.root(int(size)).hex() == root
    for case in VLOG["audit_paths"]:
        if case["tree_size"] == 0:  # v1: an audit path needs 1 <= entry <= size, else 400
            with pytest.raises(ValueError):
                merkle.inclusion_path(case["leaf_index"], 0, tree.node)
            continue
        path = merkle.inclusion_path(case["leaf_index"], case["tree_size"], tree.node)
        assert [h.hex() for h in path] == case["path"]
    for case in VLOG["consistency_proofs"]:
        proof = merkle.consistency_proof(case["first"], case["second"], tree.node)
        assert [h.hex() for h in proof] == case["proof"]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value) if value else b""


@pytest.mark.parametrize("probe", PROBES["inclusion"], ids=lambda p: p["file"])
def test_inclusion_probes(probe: dict) -> None:
    ok = merkle.verify_inclusion(
        probe["leafIdx"], probe["treeSize"], _b64(probe["leafHash"]),
        [_b64(p) for p in probe["proof"] or []], _b64(probe["root"]),
    )
    assert ok is not probe["wantErr"]


@pytest.mark.parametrize("probe", PROBES["consistency"], ids=lambda p: p["file"])
def test_consistency_probes(probe: dict) -> None:
    ok = merkle.verify_consistency(
        probe["size1"], probe["size2"], _b64(probe["root1"]), _b64(probe["root2"]),
        [_b64(p) for p in probe["proof"] or []],
    )
    assert ok is not probe["wantErr"]


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


@settings(max_examples=150)
@given(st.integers(1, 600).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))))
def test_inclusion_proofs_verify_and_fail_when_tampered(case: tuple[int, int]) -> None:
    size, index = case
    leaves = _leaves(size)
    tree = MemoryTree(leaves)
    root = tree.root()
    assert root == merkle.root_of_leaf_hashes(leaves)
    path = merkle.inclusion_path(index, size, tree.node)
    assert merkle.verify_inclusion(index, size, leaves[index], path, root)
    assert not merkle.verify_inclusion(index, size, leaf_hash(b"other"), path, root)
    if path:
        bad = list(path)
        bad[0] = bytes(32)
        assert not merkle.verify_inclusion(index, size, leaves[index], bad, root)
        assert not merkle.verify_inclusion(index, size, leaves[index], path[:-1], root)


@settings(max_examples=150)
@given(st.integers(1, 600).flatmap(lambda n: st.tuples(st.integers(1, n), st.just(n))))
def test_consistency_proofs_verify_and_fail_when_tampered(case: tuple[int, int]) -> None:
    old, size = case
    tree = MemoryTree(_leaves(size))
    proof = merkle.consistency_proof(old, size, tree.node)
    assert merkle.verify_consistency(old, size, tree.root(old), tree.root(), proof)
    assert not merkle.verify_consistency(old, size, leaf_hash(b"x"), tree.root(), proof)
    if proof:
        assert not merkle.verify_consistency(old, size, tree.root(old), tree.root(), proof[1:])
