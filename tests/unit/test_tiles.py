"""Stored tiles give the same roots, nodes and proofs as the whole tree in memory."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from registers.core import merkle
from registers.core.merkle import MemoryTree, leaf_hash
from registers.core.tiles import TILE_WIDTH, TileBuilder, bottom_row, edge_positions, subtree_from_tiles


def _leaves(n: int) -> list[bytes]:
    return [leaf_hash(i.to_bytes(4, "big")) for i in range(n)]


def _store(builder: TileBuilder, tiles: dict[tuple[int, int], bytes]) -> None:
    for level, index, data in builder.take_tiles():
        tiles[(level, index)] = data


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 700), min_size=1, max_size=4))
def test_builder_restarted_from_edge_tiles_matches_memory(chunks: list[int]) -> None:
    """Appending in several transactions, each starting from the stored edge, gives one tree."""
    tiles: dict[tuple[int, int], bytes] = {}
    leaves = _leaves(sum(chunks))
    size = 0
    for count in chunks:
        edge = {level: tiles.get((level, index), b"") for level, index, _w in edge_positions(size)}
        builder = TileBuilder(size, edge)
        builder.extend(leaves[size : size + count])
        size += count
        _store(builder, tiles)
        assert builder.root() == merkle.root_of_leaf_hashes(leaves[:size])
    memory = MemoryTree(leaves)

    def read(level: int, index: int) -> bytes:
        return tiles.get((level, index), b"")

    for level in range(len(memory.levels)):
        for index in range(len(memory.levels[level])):
            assert subtree_from_tiles(level, index, read) == memory.node(level, index)


def test_tiles_hold_hashes_of_level_multiples_of_eight() -> None:
    n = TILE_WIDTH * TILE_WIDTH + 3
    leaves = _leaves(n)
    builder = TileBuilder()
    builder.extend(leaves)
    tiles = {(lvl, idx): data for lvl, idx, data in builder.take_tiles()}
    memory = MemoryTree(leaves)
    first = tiles[(0, 0)]
    assert bottom_row(first) == b"".join(leaves[:TILE_WIDTH])
    # above the bottom row, the tile holds levels 1..7 of its subtree: 128 + 64 + ... + 2 nodes
    assert first == b"".join(b"".join(memory.levels[k][: TILE_WIDTH >> k]) for k in range(8))
    assert bottom_row(tiles[(1, 0)]) == b"".join(memory.levels[8])  # 256 full subtrees of 256 leaves
    assert tiles[(2, 0)] == memory.levels[16][0]
    assert tiles[(0, TILE_WIDTH)] == b"".join(leaves[-3:]) + memory.levels[1][-1]
    assert builder.root() == memory.root()
    assert list(edge_positions(n)) == [(0, TILE_WIDTH, 3), (2, 0, 1)]


def test_empty_builder_has_the_empty_root() -> None:
    assert TileBuilder().root() == merkle.EMPTY_ROOT
