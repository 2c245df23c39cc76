"""RFC 6962 Merkle trees over SHA-256: hashes, roots, inclusion and consistency proofs.

Proofs are built from a *subtree oracle*: ``node(level, index)`` returns the hash of the perfect
subtree covering leaves ``[index * 2**level, (index + 1) * 2**level)``. Any store that can answer
that in O(1) reads (see ``tiles``) gets O(log n) roots and proofs. Verification follows the
RFC 9162 §2.1.3.2 and §2.1.4.2 algorithms exactly.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()
NodeOracle = Callable[[int, int], bytes]

_sha256 = hashlib.sha256


def leaf_hash(leaf: bytes) -> bytes:
    """SHA-256(0x00 ‖ leaf)."""
    return _sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return _sha256(b"\x01" + left + right).digest()


def split_point(n: int) -> int:
    """The largest power of two smaller than ``n`` (n ≥ 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_root(hashes: Sequence[bytes]) -> bytes:
    """The root of a perfect subtree whose 2**k bottom hashes are given in order."""
    level = list(hashes)
    while len(level) > 1:
        level = [node_hash(level[i], level[i + 1]) for i in range(0, len(level), 2)]
    return level[0]


def root_of_leaf_hashes(hashes: Sequence[bytes]) -> bytes:
    """The RFC 6962 root of a whole list of leaf hashes, computed in memory."""
    if not hashes:
        return EMPTY_ROOT
    stack: list[tuple[int, bytes]] = []  # (size, hash) of perfect subtrees, left to right
    for h in hashes:
        size, value = 1, h
        while stack and stack[-1][0] == size:
            left_size, left = stack.pop()
            size, value = size + left_size, node_hash(left, value)
        stack.append((size, value))
    value = stack[-1][1]
    for _, left in reversed(stack[:-1]):
        value = node_hash(left, value)
    return value


def range_root(lo: int, hi: int, node: NodeOracle) -> bytes:
    """The hash of leaves ``[lo, hi)`` as the RFC 6962 subtree they form.

    ``lo`` must be 0 or a multiple of the largest power of two ≤ ``hi - lo`` (as every range in
    the RFC 6962 recursion is); the range is folded from its perfect subtrees, right to left.
    """
    if hi <= lo:
        if lo == hi == 0:
            return EMPTY_ROOT
        raise ValueError(f"empty leaf range [{lo}, {hi})")
    parts: list[bytes] = []
    start, remaining = lo, hi - lo
    while remaining:
        level = remaining.bit_length() - 1
        parts.append(node(level, start >> level))
        start += 1 << level
        remaining -= 1 << level
    value = parts[-1]
    for left in reversed(parts[:-1]):
        value = node_hash(left, value)
    return value


def tree_root(size: int, node: NodeOracle) -> bytes:
    """The root of the tree of the first ``size`` leaves."""
    return range_root(0, size, node) if size else EMPTY_ROOT


def inclusion_path(index: int, size: int, node: NodeOracle) -> list[bytes]:
    """The RFC 6962 audit path of leaf ``index`` (0-based) in the tree of ``size`` leaves."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is not in a tree of {size}")
    path: list[bytes] = []
    lo, hi = 0, size
    while hi - lo > 1:
        k = split_point(hi - lo)
        if index - lo < k:
            path.append(range_root(lo + k, hi, node))
            hi = lo + k
        else:
            path.append(range_root(lo, lo + k, node))
            lo += k
    path.reverse()
    return path


def consistency_proof(old_size: int, size: int, node: NodeOracle) -> list[bytes]:
    """The RFC 6962 consistency proof between the trees of ``old_size`` and ``size`` leaves."""
    if not 0 < old_size <= size:
        raise ValueError(f"no consistency proof from {old_size} to {size}")
    proof: list[bytes] = []
    lo, hi, m, complete = 0, size, old_size, True
    while True:
        if m == hi - lo:
            if not complete:
                proof.append(range_root(lo, hi, node))
            break
        k = split_point(hi - lo)
        if m <= k:
            proof.append(range_root(lo + k, hi, node))
            hi = lo + k
        else:
            proof.append(range_root(lo, lo + k, node))
            lo, m, complete = lo + k, m - k, False
    proof.reverse()
    return proof


def verify_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes], root: bytes) -> bool:
    """RFC 9162 §2.1.3.2: does ``path`` prove leaf hash ``leaf`` at ``index`` under ``root``?"""
    if not 0 <= index < size or len(leaf) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, size: int, old_root: bytes, root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show the tree of ``old_size`` is a prefix of ``size``?

    A proof from the empty tree proves nothing and is refused, as the v1 API refuses it.
    """
    if old_size <= 0 or size < old_size:  # nothing is proved about the empty tree
        return False
    if old_size == size:
        return not proof and old_root == root
    if not proof or len(old_root) != HASH_SIZE or len(root) != HASH_SIZE:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # an exact power of two
        path.insert(0, old_root)
    fn, sn = old_size - 1, size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == root and sn == 0


class MemoryTree:
    """A whole tree held in memory (every level), for tests and small verifications."""

    def __init__(self, leaf_hashes: Sequence[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        for h in leaf_hashes:
            self.append(h)

    @property
    def size(self) -> int:
        """How many leaves the tree holds."""
        return len(self.levels[0])

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash at the right edge."""
        self.levels[0].append(leaf)
        level = 0
        while len(self.levels[level]) % 2 == 0:
            row = self.levels[level]
            if level + 1 == len(self.levels):
                self.levels.append([])
            self.levels[level + 1].append(node_hash(row[-2], row[-1]))
            level += 1

    def node(self, level: int, index: int) -> bytes:
        """The subtree oracle over this tree's perfect subtrees."""
        return self.levels[level][index]

    def root(self, size: int | None = None) -> bytes:
        """The root at ``size`` leaves (default: all)."""
        return tree_root(self.size if size is None else size, self.node)
