"""Merkle tiles: how a log's tree is stored so that any root or proof costs O(log n) reads.

The tree is cut into tiles of height 8, as in C2SP tlog-tiles. Tile ``(t, i)`` covers the
perfect subtrees at tree level ``8t`` with indexes ``256i .. 256i + 255`` (level 0 = leaf
hashes): its bottom row. Unlike tlog-tiles, the stored bytes also hold the rows above it inside
the tile (levels ``8t+1 .. 8t+7``, each complete node), so any perfect subtree hash is a slice of
one stored tile and a proof reads about ``log256(n)`` tiles and hashes nothing. Only the right
edge of each tile level is ever partial; a full tile never changes. The right-edge tiles alone
give the current root, which is all an append needs.
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
    """The 32-byte hashes in some bytes, in order."""
    return [tile[i : i + HASH_SIZE] for i in range(0, len(tile), HASH_SIZE)]


def _row_starts(width: int) -> list[int]:
    starts, total = [], 0
    for rise in range(TILE_HEIGHT + 1):
        starts.append(total)
        total += width >> rise
    return starts


# For a tile whose bottom row holds ``width`` hashes: where each row starts (in hashes); and
# from a tile's total number of hashes (strictly increasing in width), its width.
_ROW_STARTS = [_row_starts(width) for width in range(TILE_WIDTH + 1)]
_WIDTH_OF_TOTAL = {starts[TILE_HEIGHT]: width for width, starts in enumerate(_ROW_STARTS)}


def encode_tile(row: list[bytes]) -> bytes:
    """A tile's stored bytes: its bottom row, then each row of complete nodes above it (7 rows)."""
    parts = [b"".join(row)]
    current = row
    for _ in range(TILE_HEIGHT - 1):
        current = [node_hash(current[i], current[i + 1]) for i in range(0, len(current) - 1, 2)]
        parts.append(b"".join(current))
    return b"".join(parts)


def tile_width(tile: bytes) -> int:
    """How many hashes a stored tile's bottom row holds; LookupError if its length is not a tile's."""
    width = _WIDTH_OF_TOTAL.get(len(tile) // HASH_SIZE) if len(tile) % HASH_SIZE == 0 else None
    if width is None:
        raise LookupError(f"stored tile of {len(tile)} bytes is not a tile")
    return width


def bottom_row(tile: bytes) -> bytes:
    """The bottom-row hashes of a stored tile."""
    return tile[: tile_width(tile) * HASH_SIZE] if tile else b""


def subtree_from_tiles(level: int, index: int, read_tile: TileReader) -> bytes:
    """The hash of perfect subtree ``(level, index)``: a slice of the one tile that covers it.

    Raises LookupError if the tile is missing or does not hold the subtree.
    """
    tile_level, rise = divmod(level, TILE_HEIGHT)
    first = index << rise
    tile = read_tile(tile_level, first // TILE_WIDTH)
    width = tile_width(tile) if tile else 0
    position = (first % TILE_WIDTH) >> rise
    if position >= width >> rise:
        raise LookupError(f"tile ({tile_level}, {first // TILE_WIDTH}) does not hold node ({level}, {index})")
    start = (_ROW_STARTS[width][rise] + position) * HASH_SIZE
    return tile[start : start + HASH_SIZE]


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
            stored = bottom_row(edge.get(level, b""))
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
            tile = encode_tile(row)
            self._dirty[(level, index)] = tile
            self._full[level] = index + 1
            top = _ROW_STARTS[TILE_WIDTH][TILE_HEIGHT - 1] * HASH_SIZE  # the two nodes under the tile's root
            value = node_hash(tile[top : top + HASH_SIZE], tile[top + HASH_SIZE : top + 2 * HASH_SIZE])
            self._rows[level] = []
            level += 1

    def take_tiles(self) -> list[Tile]:
        """Every tile written since the last call (full ones, then the current edge)."""
        for level, row in enumerate(self._rows):
            if row:
                self._dirty[(level, self._full[level])] = encode_tile(row)
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
