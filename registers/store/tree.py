"""The stored tree of one log: roots and proofs from ``merkle_tile`` in O(log n) reads."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.engine import Connection

from ..core import merkle
from ..core.entries import Log
from ..core.errors import IntegrityError, InvalidRange
from ..core.tiles import TILE_HEIGHT, TILE_WIDTH, TileBuilder, edge_positions, subtree_from_tiles
from .dialects import dialect_for
from .schema import merkle_tile

_PLACEHOLDER = bytes(32)


class StoredTree:
    """The Merkle tree of one log as stored, read through ``conn``.

    ``size`` is the log's committed size; roots and proofs may be asked for any size up to it.
    Tiles read are kept for the life of the object, so build one per request.
    """

    def __init__(self, conn: Connection, register_id: int, log: Log, size: int) -> None:
        self.conn = conn
        self.register_id = register_id
        self.log = log
        self.size = size
        self._tiles: dict[tuple[int, int], bytes] = {}

    def builder_at(self, size: int) -> TileBuilder:
        """A tree builder continuing from the log's first ``size`` leaves, holding the stored
        right edge at that size (LookupError when a stored edge tile is missing or short)."""
        positions = list(edge_positions(size))
        self._fetch({(level, index) for level, index, _w in positions})
        return TileBuilder(size, {level: self.read_tile(level, index) for level, index, _w in positions})

    def read_tile(self, level: int, index: int) -> bytes:
        """The stored tile ``(level, index)`` (empty bytes if none is stored)."""
        key = (level, index)
        if key not in self._tiles:
            t = merkle_tile.c
            data = self.conn.execute(
                select(t.hashes).where(
                    t.register_id == self.register_id, t.log == int(self.log), t.level == level, t.idx == index
                )
            ).scalar()
            self._tiles[key] = bytes(data) if data is not None else b""
        return self._tiles[key]

    def prefetch(self, compute: Callable[[merkle.NodeOracle], object]) -> None:
        """Read, in one query, every tile ``compute`` will need (found by a dry run of it)."""
        wanted: set[tuple[int, int]] = set()

        def record(level: int, index: int) -> bytes:
            tile_level, rise = divmod(level, TILE_HEIGHT)
            wanted.add((tile_level, (index << rise) // TILE_WIDTH))
            return _PLACEHOLDER

        compute(record)
        self._fetch(wanted)

    def _fetch(self, wanted: set[tuple[int, int]]) -> None:
        """Read, in one query, those of the ``wanted`` tiles not yet read."""
        missing = sorted(wanted - self._tiles.keys())
        if not missing:
            return
        # One round trip; each branch is an index range of its tile level. Written as SQL (the
        # placeholders only vary in number): building and compiling it as an expression took
        # most of a proof's time.
        mark = dialect_for(self.conn).placeholder
        branches, params = [], []
        for level in sorted({level for level, _ in missing}):
            indexes = [index for lvl, index in missing if lvl == level]
            branches.append(f"SELECT level, idx, hashes FROM merkle_tile WHERE register_id = {mark} AND log = {mark} "
                            f"AND level = {mark} AND idx IN ({', '.join([mark] * len(indexes))})")
            params += [self.register_id, int(self.log), level, *indexes]
        rows = self.conn.exec_driver_sql(" UNION ALL ".join(branches), tuple(params))
        found = {(row.level, row.idx): bytes(row.hashes) for row in rows}
        for key in missing:
            self._tiles[key] = found.get(key, b"")

    def node(self, level: int, index: int) -> bytes:
        """The subtree oracle over the stored tiles."""
        try:
            return subtree_from_tiles(level, index, self.read_tile)
        except LookupError as exc:
            raise IntegrityError(f"{self.log.label} log: {exc}") from None

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` entries (default: the whole log)."""
        size = self.size if size is None else size
        if not 0 <= size <= self.size:
            raise InvalidRange(f"tree size {size} is outside 0..{self.size}")
        self.prefetch(lambda node: merkle.tree_root(size, node))
        return merkle.tree_root(size, self.node)

    def inclusion_proof(self, number: int, size: int) -> list[bytes]:
        """The audit path of entry ``number`` (1-based) in the tree of ``size`` entries."""
        if not 1 <= number <= size <= self.size:
            raise InvalidRange(
                f"an inclusion proof needs 1 <= entry ({number}) <= size ({size}) <= {self.size}"
            )
        self.prefetch(lambda node: merkle.inclusion_path(number - 1, size, node))
        return merkle.inclusion_path(number - 1, size, self.node)

    def consistency_proof(self, old_size: int, size: int) -> list[bytes]:
        """The consistency proof from ``old_size`` entries to ``size`` entries."""
        if not 1 <= old_size <= size <= self.size:
            raise InvalidRange(
                f"a consistency proof needs 1 <= first ({old_size}) <= second ({size}) <= {self.size}"
            )
        if old_size == size:
            return []
        self.prefetch(lambda node: merkle.consistency_proof(old_size, size, node))
        return merkle.consistency_proof(old_size, size, self.node)
