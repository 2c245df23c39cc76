"""Merkle tiles: how a log's tree is stored so that any root or proof costs O(log n) reads.

The tree is cut into tiles of height 8, as in C2SP tlog-tiles. Tile ``(t, i)`` holds, in order,
the hashes of the perfect subtrees at tree level ``8t`` with indexes ``256i .. 256i + 255``
(level 0 = leaf hashes). Only the right edge of each tile level is ever partial; a full tile
never changes. Any perfect subtree at level ``8t + b`` is the root of ``2**b`` consecutive
hashes of one tile, so a proof reads about ``log256(n)`` tiles and hashes at most 255 nodes per
subtree. The right-edge tiles alone give the current root, which is all an append needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from .merkle import EMPTY_ROOT, node_hash, perfect_root

TILE_HEIGHT = 8
TILE_WIDTH = 1 << TILE_HEIGHT
HASH_SIZE = 32

Tile = tuple[int, int, bytes]  # (tile level, tile index, concatenated hashes)
TileReader = Callable[[int, int], bytes]


def edge_positions(size: int) -> Iterator[tuple[int, int, int]]:
    """``(level, index, width)`` of every non-empty right-edge (partial) tile of a tree."""
    level = 0
    count = size  # hashes present at tree level 8 * level
    while count:
        width = count % TILE_WIDTH
        if width:
            yield level, count // TILE_WIDTH, width
        count //= TILE_WIDTH
        level += 1


def split_hashes(tile: bytes) -> list[bytes]:
    """The 32-byte hashes a tile's bytes hold, in order."""
    return [tile[i : i + HASH_SIZE] for i in range(0, len(tile), HASH_SIZE)]


def subtree_from_tiles(level: int, index: int, read_tile: TileReader) -> bytes:
    """The hash of perfect subtree ``(level, index)``, from the one tile that covers it.

    Raises LookupError if the tile is missing or too short to hold the subtree.
    """
    tile_level, rise = divmod(level, TILE_HEIGHT)
    first = index << rise
    tile = read_tile(tile_level, first // TILE_WIDTH)
    start = (first % TILE_WIDTH) * HASH_SIZE
    end = start + (HASH_SIZE << rise)
    if len(tile) < end:
        raise LookupError(f"tile ({tile_level}, {first // TILE_WIDTH}) does not hold node ({level}, {index})")
    if rise == 0:
        return tile[start:end]
    return perfect_root(split_hashes(tile[start:end]))


class TileBuilder:
    """Extends a tree leaf by leaf, knowing only its right-edge tiles.

    Start it from the stored edge tiles of a tree of ``size`` leaves; ``append`` leaf hashes;
    then ``take_tiles`` returns every tile that changed (completed tiles and the new edge), ready
    to be written over the stored ones, and ``root`` gives the new root.
    """

    def __init__(self, size: int = 0, edge: dict[int, bytes] | None = None) -> None:
        self.size = size
        self._rows: list[list[bytes]] = []
        self._dirty: dict[tuple[int, int], bytes] = {}
        edge = edge or {}
        for level, _index, width in edge_positions(size):
            stored = edge.get(level, b"")
            if len(stored) < width * HASH_SIZE:
                raise LookupError(f"edge tile at level {level} holds {len(stored) // HASH_SIZE} of {width} hashes")
            while len(self._rows) <= level:
                self._rows.append([])
            self._rows[level] = split_hashes(stored[: width * HASH_SIZE])
        # Tile counts per level, so a completed tile knows its index.
        self._full = [(size >> (TILE_HEIGHT * lvl)) // TILE_WIDTH for lvl in range(len(self._rows) + 8)]

    def append(self, leaf: bytes) -> None:
        """Add one leaf hash."""
        self.size += 1
        self._push(0, leaf)

    def extend(self, leaves: list[bytes]) -> None:
        """Add several leaf hashes in order."""
        for leaf in leaves:
            self.size += 1
            self._push(0, leaf)

    def _push(self, level: int, value: bytes) -> None:
        while True:
            if level == len(self._rows):
                self._rows.append([])
            if level >= len(self._full):
                self._full.append(0)
            row = self._rows[level]
            row.append(value)
            if len(row) < TILE_WIDTH:
                return
            index = self._full[level]
            self._dirty[(level, index)] = b"".join(row)
            self._full[level] = index + 1
            value = perfect_root(row)
            self._rows[level] = []
            level += 1

    def take_tiles(self) -> list[Tile]:
        """Every tile written since the last call (full ones, then the current edge)."""
        for level, row in enumerate(self._rows):
            if row:
                self._dirty[(level, self._full[level])] = b"".join(row)
        tiles = [(level, index, data) for (level, index), data in self._dirty.items()]
        self._dirty = {}
        return tiles

    def root(self) -> bytes:
        """The root of the tree as it now stands."""
        value: bytes | None = None
        for row in self._rows:  # lower tile levels lie to the right of higher ones
            pos = len(row)
            for rise in range(TILE_HEIGHT):
                if len(row) >> rise & 1:
                    part = perfect_root(row[pos - (1 << rise) : pos])
                    pos -= 1 << rise
                    value = part if value is None else node_hash(part, value)
        return EMPTY_ROOT if value is None else value
