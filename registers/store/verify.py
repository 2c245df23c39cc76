"""Recompute a register from its log and check everything stored against it.

Every item's bytes must be canonical and hash to its stored hash; every entry must be numbered
without gaps, use stored items, and give the leaf hashes of the stored Merkle tiles; every
stored tile must be what the entries make; every checkpoint's root must be the recomputed
root at its size; and the record index must point at each key's latest entry. The first
thing that does not hold is raised as an IntegrityError naming the entry (or tile, or item).

An auditor who verified the register before can verify only what came since: from a
checkpoint of that earlier state, the stored tiles must still give its signed roots, and
everything after it is checked as above (the entries before it are taken as found then).

The keys are checked too: every checkpoint must be signed by a recorded key, and every
recorded handover note must be genuine (signed by the key it retires, for a key recorded
before the one it names). Given keys obtained out of band, the latest checkpoints must be
signed by one of them or by a key they hand over to through the recorded notes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection

from ..core.entries import Entry, Log, key_problem, timestamp_problem
from ..core.errors import IntegrityError, InvalidRange
from ..core.handover import Handover, open_handover, walk
from ..core.items import InvalidItem, hash_text, item_digest, parse_canonical
from ..core.merkle import leaf_hash
from ..core.notes import NoteError, VerifierKey, open_checkpoint, signer_ids
from ..core.tiles import HASH_SIZE, TILE_WIDTH, Tile, TileBuilder, bottom_row
from . import mirrors, reads, records, signing
from .schema import checkpoint, entry, entry_key, item, item_hash, merkle_tile, record, superseded
from .tree import StoredTree


@dataclass(frozen=True)
class Verified:
    """What a successful verification covered."""

    head: reads.Head
    items: int  # items recomputed
    entries: dict[Log, int]  # entries recomputed, per log
    since: reads.Head | None = None  # the earlier state taken as verified (None: from the start)
    given: tuple[VerifierKey, ...] = ()  # the keys the latest checkpoints were checked with (none given: ())
    followed: tuple[Handover, ...] = ()  # the handover notes followed from them to the key that signed


def verify_register(conn: Connection, reg_id: int, since: int = 0, *, signed: bool = True,
                    given: Sequence[VerifierKey] = ()) -> Verified:
    """Check register ``reg_id`` end to end; raises IntegrityError at the first fault.

    With ``since`` (the user-log size of a checkpoint that an earlier verification covered)
    only what came after that checkpoint is recomputed: every checkpoint's signature is still
    checked, the stored tiles at that checkpoint must still give its signed roots, and the
    entries, their items, the tiles and the records after it are checked as in a full
    verification. Raises InvalidRange when no checkpoint has that user size. With ``signed``
    false (a scratch database, whose checkpoints nobody signed) signatures are not checked.
    With ``given`` keys (obtained out of band), the latest user and system checkpoints must also
    be signed by one of them or by a key reached from them through the recorded handover notes.
    """
    head = reads.head(conn, reg_id)
    followed: tuple[Handover, ...] = ()
    if signed:
        _verify_key_history(conn, reg_id)
        _verify_signatures(conn, reg_id)  # first: the other checks trust the checkpoints' roots
    if given:
        followed = _verify_given_keys(conn, reg_id, given)
    start = _checkpoint_at(conn, reg_id, since) if since else None
    items = _verify_items(conn, reg_id) if start is None else 0
    counts = {}
    for log in Log:
        first = start.size(log) if start is not None else 0
        counts[log], recomputed = _verify_log(conn, reg_id, log, head, start)
        items += recomputed
        _verify_records(conn, reg_id, log, first)
    _verify_superseded(conn, reg_id, start.user_size if start is not None else 0)
    held = records.count_records(conn, reg_id)
    if held != head.user_records:
        raise IntegrityError(f"the user log has {held} records, but its latest checkpoint records {head.user_records}")
    return Verified(head, items, counts, start, tuple(given), followed)


def _checkpoint_at(conn: Connection, reg_id: int, user_size: int) -> reads.Head:
    """The earliest checkpoint whose user log has ``user_size`` entries."""
    found = next((h for h in reads.checkpoints(conn, reg_id) if h.user_size == user_size), None)
    if found is None:
        raise InvalidRange(f"no checkpoint of this register has {user_size} user entries to verify from")
    return found


def _verify_key_history(conn: Connection, reg_id: int) -> None:
    """Every recorded handover note is genuine: for this server's keys, each note is signed by
    the key it is kept with (and by the new key) and names exactly the key recorded next; for a
    mirrored register, each origin key learnt from a note was named by a note genuine for a key
    recorded before it. A key retired with no note (a lost key) is no fault; a key hands over
    once. (Keys are few: two signature checks a note.)"""
    if mirrors.mirrored_from(conn, reg_id) is not None:
        rows = mirrors.origin_key_rows(conn, reg_id)
        successor: dict[VerifierKey, VerifierKey] = {}
        for number, (key, _added, note) in enumerate(rows):
            if note is None:
                continue
            what = f"origin key {key.label}"
            try:
                handover = open_handover(note, [k for k, _a, _n in rows[:number]])
            except NoteError as exc:
                raise IntegrityError(f"{what}: the handover note it was learnt from is not genuine: {exc}") from None
            if handover.new != key:
                raise IntegrityError(f"{what}: it was learnt from a handover note naming {handover.new.label}")
            if successor.setdefault(handover.old, key) != key:
                raise IntegrityError(
                    f"{what}: {handover.old.label} handed over to {successor[handover.old].label} too (a key hands "
                    "over once)"
                )
        return
    recorded = signing.recorded_keys(conn)
    for number, row in enumerate(recorded):
        if row.handover is None:
            continue
        what = f"key {row.key.label}"
        try:
            handover = open_handover(row.handover, [row.key])
        except NoteError as exc:
            raise IntegrityError(f"{what}: its handover note is not genuine: {exc}") from None
        after = recorded[number + 1].key if number + 1 < len(recorded) else None
        if handover.at != row.retired:
            raise IntegrityError(
                f"{what}: its handover note is dated {handover.at}, but it was retired at {row.retired}"
            )
        if handover.new != after:
            recorded_next = f"the key recorded after it is {after.label}" if after else "no key is recorded after it"
            raise IntegrityError(f"{what}: its handover note names {handover.new.label}, but {recorded_next}")


def _verify_given_keys(conn: Connection, reg_id: int, given: Sequence[VerifierKey]) -> tuple[Handover, ...]:
    """The latest user and system checkpoints verify with a ``given`` key or one reached from
    them through the handover notes recorded here (this server's, or a mirror's origin's); the
    handovers followed. IntegrityError naming the key that signed and the keys given."""
    if mirrors.mirrored_from(conn, reg_id) is not None:
        notes = [note for _key, _added, note in mirrors.origin_key_rows(conn, reg_id) if note is not None]
    else:
        notes = signing.handovers(conn)
    walked = walk(given, notes)
    reached = [*given, *(h.new for h in walked.followed)]
    latest = reads.latest_notes(conn, reg_id)
    named = ", ".join(k.label for k in given)
    if latest is None:
        raise IntegrityError(f"the register has no signed checkpoint to check with the key(s) given ({named})")
    for log, note in latest.items():
        try:
            open_checkpoint(note, reached)
        except NoteError:
            signers = signer_ids(note)
            why = next((f"; the handover note naming it is refused: {walked.why(s)}" for s in signers
                        if walked.why(s)), "")
            raise IntegrityError(
                f"the latest {log.label} checkpoint is signed by {', '.join(signers) or 'no key'}, not by the key(s) "
                f"given ({named}) or a key they hand over to through the handover notes recorded here{why}"
            ) from None
    return walked.followed


def _verify_signatures(conn: Connection, reg_id: int) -> None:
    """Every checkpoint's two notes verify with a known key and sign exactly the sizes and roots
    the checkpoint records; sizes never shrink; and keys sign in the order they were recorded:
    once a key has signed, no key recorded before it signs again (a retired key's signature on
    a later checkpoint, even beside the right one, is a fault)."""
    keys = mirrors.register_keys(conn, reg_id)
    place = {(k.name, k.key_id): i for i, k in enumerate(keys)}
    newest = -1  # the place of the newest key that has signed so far
    c = checkpoint.c
    rows = conn.execute(
        select(c.user_size, c.user_root, c.system_size, c.system_root, c.user_note, c.system_note)
        .where(c.register_id == reg_id)
        .order_by(c.id)
    )
    last = {Log.USER: 0, Log.SYSTEM: 0}
    for number, row in enumerate(rows, 1):
        for log, note, size, root in (
            (Log.USER, row.user_note, row.user_size, bytes(row.user_root)),
            (Log.SYSTEM, row.system_note, row.system_size, bytes(row.system_root)),
        ):
            what = f"checkpoint {number} ({log.label} log)"
            signed, signers = signing.open_stored_by(note, keys, what)
            places = sorted(place[(sig.name, sig.key_id)] for sig in signers)
            if places[0] < newest:
                raise IntegrityError(
                    f"{what} is signed by {keys[places[0]].label}, but {keys[newest].label}, recorded after it, "
                    "signed an earlier checkpoint: a key that was replaced signs nothing more"
                )
            newest = places[-1]
            if (signed.size, signed.root) != (size, root):
                raise IntegrityError(
                    f"{what} records size {size} root {hash_text(root)}, but its signed note says "
                    f"size {signed.size} root {hash_text(signed.root)}"
                )
            if size < last[log]:
                raise IntegrityError(f"{what} shrinks the log from {last[log]} to {size} entries")
            last[log] = size


def _verify_items(conn: Connection, reg_id: int) -> int:
    """Every stored item is canonical and hashes to its digest, and the digest index
    (``item_hash``) holds each exactly once, pointing at it."""
    count = 0
    for digest, blob in reads.iter_stored_items(conn, reg_id):  # as stored: what is wrong is reported here
        count += 1
        problem = _item_problem(digest, blob)
        if problem:
            user = _first_entry_using(conn, reg_id, digest)
            where = f"{_describe(user)}: " if user else ""
            raise IntegrityError(f"{where}item {hash_text(digest)} is corrupt: {problem}")
    h, i = item_hash.c, item.c
    wrong = conn.execute(
        select(h.hash)
        .join_from(item_hash, item, i.id == h.item_id, isouter=True)
        .where(h.register_id == reg_id, or_(i.hash.is_(None), i.hash != h.hash, i.register_id != h.register_id))
        .limit(1)
    ).scalar()
    if wrong is not None:
        raise IntegrityError(f"the digest index points item {hash_text(bytes(wrong))} at another item")
    indexed = conn.execute(select(func.count()).where(h.register_id == reg_id)).scalar_one()
    if indexed != count:
        raise IntegrityError(f"the register stores {count} items, but its digest index holds {indexed}")
    return count


def _first_entry_using(conn: Connection, reg_id: int, digest: bytes) -> Entry | None:
    for log in Log:
        for candidate in reads.iter_entries(conn, reg_id, log):
            if digest in candidate.digests:
                return candidate
    return None


def _describe(e: Entry) -> str:
    return f"{e.log.label} entry {e.number} (key '{e.key}')"


def _verify_log(
    conn: Connection, reg_id: int, log: Log, head: reads.Head, start: reads.Head | None = None
) -> tuple[int, int]:
    """Recompute one log's tree (after ``start``, if given); checkpoints are the authority on
    which side is wrong. Returns the entries and the items recomputed (the items only from
    ``start``: a full verification checks every item first).

    A leaf that differs from the stored tiles is held back until a checkpoint root is checked:
    if the recomputed root then differs, the entry was changed; if every checkpoint holds, the
    stored tile is what was changed.
    """
    stored = StoredTree(conn, reg_id, log, head.size(log))
    builder = _builder_at(stored, log, start) if start is not None else TileBuilder()
    first = builder.size
    roots = {h.size(log): h.root(log) for h in reads.checkpoints(conn, reg_id)}
    tiles = _TileCheck(stored, log)
    page: list[Entry] = []
    items = 0
    for e in reads.iter_entries(conn, reg_id, log, first + 1):
        if e.number != builder.size + 1:
            raise IntegrityError(f"{log.label} entry {builder.size + 1} is missing (the next stored is {e.number})")
        problem = timestamp_problem(e.timestamp) or key_problem(log, e.key)
        if problem:
            raise IntegrityError(f"{_describe(e)}: {problem}")
        page.append(e)
        builder.append(leaf_hash(e.leaf()))
        if builder.size in roots and builder.root() != roots[builder.size]:
            tiles.compare(builder.take_tiles(), page)
            raise IntegrityError(
                tiles.changed_entry
                or f"{log.label} log: the root after entry {builder.size} is {hash_text(builder.root())}, "
                f"but the checkpoint recorded {hash_text(roots[builder.size])}"
            )
        if len(page) == reads.PAGE:
            items += _check_items_exist(conn, reg_id, page, recompute=start is not None)
            tiles.compare(builder.take_tiles(), page)
            page = []
    items += _check_items_exist(conn, reg_id, page, recompute=start is not None)
    tiles.compare(builder.take_tiles(), page, final=True)
    if builder.size < head.size(log):
        raise IntegrityError(
            f"{log.label} entry {builder.size + 1} is missing: the log holds {builder.size} entries "
            f"but its latest checkpoint records {head.size(log)}"
        )
    if builder.size > head.size(log):
        raise IntegrityError(
            f"{log.label} entry {head.size(log) + 1} was never committed: the log holds {builder.size} entries "
            f"but its latest checkpoint records {head.size(log)}"
        )
    if tiles.changed_tile:
        raise IntegrityError(tiles.changed_tile)
    _check_no_extra_tiles(conn, reg_id, log, builder.size)
    return builder.size - first, items


def _builder_at(stored: StoredTree, log: Log, start: reads.Head) -> TileBuilder:
    """A tree builder holding the stored right edge at ``start``, whose root must be the one
    signed there (so no stored tile the later tree is built on has changed)."""
    size = start.size(log)
    try:
        builder = stored.builder_at(size)
    except LookupError as exc:
        raise IntegrityError(f"{log.label} log: the stored Merkle tiles at size {size} are incomplete: {exc}") from None
    if builder.root() != start.root(log):
        raise IntegrityError(
            f"{log.label} log: the stored Merkle tiles at size {size} give root {hash_text(builder.root())}, "
            f"but the checkpoint signed {hash_text(start.root(log))}"
        )
    return builder


class _TileCheck:
    """Compares recomputed tiles with the stored ones, remembering the first difference."""

    def __init__(self, stored: StoredTree, log: Log) -> None:
        self.stored = stored
        self.log = log
        self.changed_entry: str | None = None  # as it would be reported if an entry changed
        self.changed_tile: str | None = None  # as it would be reported if a tile changed

    def compare(self, tiles: list[Tile], page: list[Entry], final: bool = False) -> None:
        for level, index, data in sorted(tiles):
            have = self.stored.read_tile(level, index)
            if have == data:
                continue
            mine = bottom_row(data)
            full = len(mine) == TILE_WIDTH * HASH_SIZE
            if not (full or final):  # an edge that later entries extend: its bottom row so far must agree
                try:
                    if bottom_row(have)[: len(mine)] == mine:
                        continue
                except LookupError:
                    pass
            if self.changed_tile is None:
                self.changed_tile = (
                    f"{self.log.label} log: stored Merkle tile ({level}, {index}) does not match the entries"
                )
            if level == 0 and self.changed_entry is None:
                try:
                    stored_row = bottom_row(have)
                except LookupError:
                    stored_row = b""
                self.changed_entry = self._first_changed_leaf(index, mine, stored_row, page)

    def _first_changed_leaf(self, index: int, data: bytes, have: bytes, page: list[Entry]) -> str | None:
        for offset in range(0, len(data), HASH_SIZE):
            if have[offset : offset + HASH_SIZE] != data[offset : offset + HASH_SIZE]:
                number = index * TILE_WIDTH + offset // HASH_SIZE + 1
                bad = next((e for e in page if e.number == number), None)
                what = _describe(bad) if bad else f"{self.log.label} entry {number}"
                return f"{what} has been changed: it no longer gives the leaf hash the tree was built from"
        return None


def _check_items_exist(conn: Connection, reg_id: int, page: list[Entry], recompute: bool = False) -> int:
    """Every item the entries of ``page`` use is stored (and, with ``recompute``, canonical and
    hashing to its digest); returns how many items were recomputed."""
    wanted = list({d for e in page for d in e.digests})
    found = reads.stored_item_contents(conn, reg_id, wanted)  # as stored: a bad one is named with its entry
    for e in page:
        for digest in e.digests:
            if digest not in found:
                raise IntegrityError(f"{_describe(e)}: item {hash_text(digest)} is not stored")
            if recompute:
                problem = _item_problem(digest, found[digest])
                if problem:
                    raise IntegrityError(f"{_describe(e)}: item {hash_text(digest)} is corrupt: {problem}")
    return len(found) if recompute else 0


def _item_problem(digest: bytes, blob: bytes) -> str | None:
    """Why ``blob`` is not the canonical item of ``digest``, or None."""
    problem = None
    try:
        parse_canonical(blob)
    except InvalidItem as exc:
        problem = str(exc)
    if item_digest(blob) != digest:
        problem = f"its bytes hash to {hash_text(item_digest(blob))}"
    return problem


def _check_no_extra_tiles(conn: Connection, reg_id: int, log: Log, size: int) -> None:
    t = merkle_tile.c
    rows = conn.execute(select(t.level, t.idx).where(t.register_id == reg_id, t.log == int(log)))
    for level, index in rows:
        hashes_at_level = size >> (8 * level)
        if index * TILE_WIDTH >= hashes_at_level:
            raise IntegrityError(f"{log.label} log: stored Merkle tile ({level}, {index}) lies beyond the log")


def _verify_entry_keys(conn: Connection, reg_id: int, log: Log, after: int = 0) -> None:
    """The key index (``entry_key``) holds every entry after ``after`` under its key, and no
    other entry after it. (A scalar subquery, an index probe per entry, as in _verify_records.)"""
    e, k = entry.c, entry_key.c
    indexed = (
        select(k.number)
        .where(k.register_id == e.register_id, k.log == e.log, k.key == e.key, k.number == e.number)
        .scalar_subquery()
    )
    missing = conn.execute(
        select(e.number, e.key)
        .where(e.register_id == reg_id, e.log == int(log), e.number > after, indexed.is_(None))
        .limit(1)
    ).first()
    if missing is not None:
        raise IntegrityError(f"{log.label} entry {missing.number} is missing from the key index (key '{missing.key}')")
    entries, keys = (
        conn.execute(select(func.count()).where(t.register_id == reg_id, t.log == int(log), t.number > after))
        .scalar_one()
        for t in (e, k)
    )
    if keys != entries:
        raise IntegrityError(
            f"the {log.label} key index holds {keys} entries after entry {after}, but the log holds {entries}"
        )


def _verify_records(conn: Connection, reg_id: int, log: Log, after: int = 0) -> None:
    """The record index holds, for every key of the log, its latest entry, and nothing else
    (with ``after``: for every record pointing past entry ``after`` and every key of an entry
    after it).

    Both checks are index probes per row (the latest entry of a record's key; the record of an
    entry's key), so they stay linear whatever the planner believes about table sizes (joining
    a grouped subquery instead made PostgreSQL with stale statistics compare every pair).
    """
    _verify_entry_keys(conn, reg_id, log, after)
    e, r, k = entry.c, record.c, entry_key.c
    latest = (
        select(func.max(k.number))
        .where(k.register_id == r.register_id, k.log == r.log, k.key == r.key)
        .scalar_subquery()
    )
    wrong = conn.execute(
        select(r.key, r.entry_number, latest.label("latest"))
        .where(r.register_id == reg_id, r.log == int(log), r.entry_number > after,
               r.entry_number.is_distinct_from(latest))
        .limit(1)
    ).first()
    if wrong is not None:
        if wrong.latest is None:
            raise IntegrityError(f"{log.label} record '{wrong.key}' has no entries")
        raise IntegrityError(
            f"{log.label} record '{wrong.key}' points at entry {wrong.entry_number}, "
            f"but its latest entry is {wrong.latest}"
        )
    indexed = (
        select(r.entry_number).where(r.register_id == e.register_id, r.log == e.log, r.key == e.key)
        .scalar_subquery()
    )
    missing = conn.execute(
        select(e.key, e.number, indexed.label("indexed"))
        .where(e.register_id == reg_id, e.log == int(log), e.number > after,
               or_(indexed.is_(None), indexed < e.number))
        .limit(1)
    ).first()
    if missing is not None and missing.indexed is not None:
        raise IntegrityError(
            f"{log.label} record '{missing.key}' points at entry {missing.indexed}, but entry {missing.number} "
            "is later"
        )
    if missing is not None:
        raise IntegrityError(
            f"{log.label} record '{missing.key}' is missing from the record index (entry {missing.number} has it)"
        )


def _verify_superseded(conn: Connection, reg_id: int, after: int = 0) -> None:
    """The as-of index holds, for every user entry a later entry for the same key replaced,
    exactly that later entry's number, and nothing else (with ``after``: the rows written by
    the entries after entry ``after``). Index probes per row, in the tables' own orders."""
    k, s, e = entry_key.c, superseded.c, entry.c
    later = (
        select(func.min(k.number))
        .where(k.register_id == e.register_id, k.log == e.log, k.key == e.key, k.number > e.number)
        .scalar_subquery()
    )
    wrong = conn.execute(
        select(s.number, s.by_number, later.label("later"))
        .join_from(superseded, entry, (e.register_id == s.register_id) & (e.log == int(Log.USER))
                   & (e.number == s.number), isouter=True)
        .where(s.register_id == reg_id, s.by_number > after, s.by_number.is_distinct_from(later))
        .limit(1)
    ).first()
    if wrong is not None:
        raise IntegrityError(
            f"the as-of index says user entry {wrong.number} was superseded by entry {wrong.by_number}, but "
            + (f"the next entry for its key is {wrong.later}" if wrong.later else "no later entry has its key")
        )
    previous = (
        select(func.max(k.number))
        .where(k.register_id == e.register_id, k.log == e.log, k.key == e.key, k.number < e.number)
        .scalar_subquery()
    )
    walked = (
        select(e.number, previous.label("previous"))
        .where(e.register_id == reg_id, e.log == int(Log.USER), e.number > after)
        .subquery()
    )
    missing = conn.execute(
        select(walked.c.number, walked.c.previous)
        .join_from(walked, superseded, (s.register_id == reg_id) & (s.number == walked.c.previous), isouter=True)
        .where(walked.c.previous.is_not(None), s.by_number.is_distinct_from(walked.c.number))
        .limit(1)
    ).first()
    if missing is not None:
        raise IntegrityError(
            f"the as-of index does not say that user entry {missing.previous} was superseded by entry "
            f"{missing.number} (the next entry for its key)"
        )
