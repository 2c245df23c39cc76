"""The one write path: a batch of RSF commands appended to a register in one transaction.

Every change (an RSF file, a table load, an amend) arrives here as a stream of commands. Inside
one transaction holding the register's write lock the batch is checked line by line, its new
items and entries are stored, the current-record index and the Merkle tiles are extended, and a
checkpoint of both logs is recorded. Any error raises and the transaction leaves nothing behind.

A batch describes a stretch of log. Its first ``assert-root-hash`` (or, without one, the empty
tree) says which committed state it continues from; entries the log already holds must match
it exactly and are skipped, so loading the same file twice appends nothing.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from sqlalchemy import Engine, func, insert, select, text
from sqlalchemy.engine import Connection

from ..core.entries import REGISTER_NAME, Entry, Log, key_problem, leaf_bytes, now_timestamp, timestamp_problem
from ..core.errors import IntegrityError, InvalidName, InvalidRSF, LineError, RegisterError, RegisterNotFound
from ..core.faults import FaultsFound
from ..core.items import canonical_json, hash_text, item_digest
from ..core.merkle import EMPTY_ROOT, leaf_hash, verify_consistency
from ..core.notes import signer_ids
from ..core.rsf import AddItem, AppendEntry, AssertRootHash, Command
from ..core.tiles import TileBuilder
from ..logs import event
from . import reads, search, signing
from .bulk import BulkWriter, Chunk
from .checker import CheckerProcess
from .checks import Change, EntryChecks, LoadFindings
from .dialects import dialect_for
from .dialects.base import violates_integrity
from .engine import writer
from .pending import PendingItems
from .schema import checkpoint, entry, entry_key, register
from .signers import OWN_KEY, OwnKey, Signed
from .tree import StoredTree

logger = logging.getLogger(__name__)

CHUNK = 10_000  # entries or items held in memory before they are written
# A batch of this many entries, or of a tenth of the log (and at least 1,000), refreshes the
# planner's statistics itself where the database keeps them (PostgreSQL's autovacuum would, later)
ANALYZE_AFTER = 100_000
GOOD_TIMESTAMPS = 4096  # timestamps remembered as valid (files mostly repeat the last few)
# The platform's own top-level paths (a register of that name would shadow one over HTTP), and
# "system" (a register of that name would have the checkpoint origin ".../system", which only
# system logs may have).
RESERVED = frozenset(
    {"healthz", "readyz", "keys", "static", "openapi", "api", "search", "catalogue", "favicon", "system",
     "accessibility", "metrics"}
)
_NEW_REGISTER = text("INSERT INTO register (name, created) VALUES (:name, :created) ON CONFLICT (name) DO NOTHING")


@dataclass(frozen=True)
class AppendResult:
    """What a committed batch did."""

    register: str
    created: bool
    added_user: int
    added_system: int
    present: int  # entries of the batch the log already held
    head: reads.Head
    findings: LoadFindings = field(default_factory=LoadFindings)

    @property
    def added(self) -> int:
        """Entries appended to both logs."""
        return self.added_user + self.added_system


def check_register_name(name: str) -> str:
    """``name`` if it can name a register (lower-case letters, digits, single hyphens)."""
    if not REGISTER_NAME.fullmatch(name):
        raise InvalidName(f"'{name}' cannot name a register (lower-case letters, digits and single hyphens)")
    if name in RESERVED:
        raise InvalidName(f"'{name}' is one of the platform's own paths and cannot name a register")
    return name


Commands = Iterable[Command] | Callable[[Connection, int], Iterable[Command]]


def append(
    engine: Engine,
    name: str,
    commands: Commands,
    *,
    create: bool = True,
    extend: bool = False,
    change: Change | None = None,
    commit: bool = True,
    before_commit: Callable[[reads.Head], None] | None = None,
    also: Callable[[Connection, reads.Head], None] | None = None,
    signed: Signed = OWN_KEY,
) -> AppendResult:
    """Append ``commands`` to register ``name`` in one transaction; all or nothing.

    A batch read from a file says where it starts (its first assert, else the empty tree);
    with ``extend`` the batch simply continues from the register's current head (new entries
    made by the platform: amends, table loads). ``commands`` may be a function of the locked
    connection and register id, so that what to append is worked out under the write lock.
    ``change`` says who and why (recorded as a ``change`` system entry) and how strict to be.
    With ``commit`` false everything is checked and then rolled back (a dry run).
    ``before_commit`` sees the new head before anything is committed; raising there leaves
    nothing stored (a mirror checks that the result is exactly what was signed). ``also``
    writes rows of its own in the same transaction once the batch appended something (an
    approved proposal records the entry it made): they commit with the entries or not at all.

    ``signed`` says whose signed checkpoints the new state gets: this server's signing key
    (the default; NoSigningKey when none is at hand, ReadOnlyMirror for a mirrored register), a
    mirror's origin's notes (``OriginSigned``), or none (``UNSIGNED``: scratch databases only).
    A dry run signs nothing and needs no key.

    Creates the register when ``create`` is true and it does not exist. Raises InvalidRSF
    (naming the line) for anything that does not fit, RegisterNotFound when the register is
    missing and may not be created; in either case nothing is stored.
    """
    check_register_name(name)
    with writer(engine).connect() as conn, conn.begin() as transaction:
        reg_id, created = _lock_register(conn, name, create)
        signed.admit(conn, reg_id, name, created)
        # A stream of commands is written in the background while the next chunk is read; a
        # function of the connection (a table diff) reads the store as it goes, so it is not.
        batch = _Batch(
            conn, reg_id, name, reads.head(conn, reg_id), change or Change(), not callable(commands), not commit,
            signed,
        )
        if extend:
            batch.begin_at_head()
        failed = True
        try:
            for command in commands(conn, reg_id) if callable(commands) else commands:
                batch.apply(command)
            head = batch.finish(before_commit, also)
            failed = False
        except LineError:
            try:  # a refusal among the entries still being checked is of an earlier line: it comes first
                batch.checks.settle()
            except LineError as earlier:
                raise earlier from None
            except Exception:  # noqa: BLE001 - the refusal in hand stands
                pass
            raise
        except Exception as exc:
            if not violates_integrity(exc):
                raise
            # a row the checkpoint says is not there yet: the store was changed behind its back
            raise IntegrityError(
                f"register '{name}': the store does not match its latest checkpoint (a row to be written exists "
                f"already: {str(exc).splitlines()[0]}); run 'registers verify {name}', and restore from a "
                "backup if it fails"
            ) from None
        finally:
            batch.checks.close()
            batch.writer.close(failed)
        if not commit:
            transaction.rollback()
    added = batch.added
    grew = added[Log.USER] + added[Log.SYSTEM]
    if commit and grew:
        _log_committed(batch, head)
    if commit and (grew >= ANALYZE_AFTER or (grew >= 1000 and grew * 10 >= head.user_size)):
        dialect_for(engine).refresh_statistics(engine)
    return AppendResult(
        name, created, added[Log.USER], added[Log.SYSTEM], batch.present, head, batch.checks.findings
    )


def _log_committed(batch: _Batch, head: reads.Head) -> None:
    """The ``append`` event of a committed batch (who, how many, the sizes and user root after),
    and, when this server signed its checkpoints, ``checkpoint_signed`` naming the key."""
    event(logger, logging.INFO, "append", register=batch.name, user_entries_added=batch.added[Log.USER],
          system_entries_added=batch.added[Log.SYSTEM], user_size=head.user_size, system_size=head.system_size,
          root=hash_text(head.user_root), by=batch.change.by)
    if isinstance(batch.signed, OwnKey):
        event(logger, logging.INFO, "checkpoint_signed", register=batch.name, user_size=head.user_size,
              system_size=head.system_size, key=" ".join(signer_ids(batch.notes.get(Log.USER, ""))))


def _lock_register(conn: Connection, name: str, create: bool) -> tuple[int, bool]:
    """The register's id, its write lock held for this transaction (created if allowed)."""
    dialect = dialect_for(conn)
    reg_id = dialect.lock_register(conn, register.c.name == name)
    if reg_id is not None:
        return reg_id, False
    if not create:
        raise RegisterNotFound(name)
    conn.execute(_NEW_REGISTER, {"name": name, "created": now_timestamp()})  # unless another writer made it
    made = dialect.lock_register(conn, register.c.name == name)
    if made is None:  # pragma: no cover - the row was inserted or found just now
        raise RegisterNotFound(name)
    return made, True


class _Batch:
    """The state of one append transaction while its commands stream through."""

    def __init__(
        self,
        conn: Connection,
        reg_id: int,
        name: str,
        head: reads.Head,
        change: Change,
        background: bool = False,
        dry_run: bool = False,
        signed: Signed = OWN_KEY,
    ) -> None:
        self.conn = conn
        self.reg_id = reg_id
        self.name = name
        self.head = head
        self.change = change
        self.writer = BulkWriter(conn, reg_id, background, staged=background)
        self.checks = EntryChecks(
            conn, reg_id, name, change, CheckerProcess() if background else None, head.system_root, self.writer.wait
        )
        self.start: reads.Head | None = None  # the committed state the batch continues from
        self.pos = {Log.USER: 0, Log.SYSTEM: 0}  # the batch's place in each log
        self.trees = {log: self._builder(log) for log in Log}
        self.head_roots = {log: tree.root() for log, tree in self.trees.items()}  # of the stored edges
        self.stored: dict[Log, Iterator[Entry]] = {}
        self.added = {Log.USER: 0, Log.SYSTEM: 0}
        self.present = 0
        self.pending = PendingItems(conn, sync=self.writer.wait)  # items added but not yet used
        self.chunk_items: dict[bytes, bytes] = {}  # items added since the last write
        self.written_items: dict[bytes, bytes] = {}  # the items of the last write
        self.to_check: dict[bytes, int] = {}  # items used that must already be stored -> line
        self.entry_rows: list[tuple[int, int, str, str, bytes]] = []
        self.record_rows: dict[tuple[int, str], int] = {}
        self.good_timestamps: set[str] = set()  # recently checked (a cache: cleared as it fills)
        self.stored_size = {log: head.size(log) for log in Log}
        self.dry_run = dry_run  # checked and rolled back: signed by nobody, so it needs no key
        self.signed = signed
        self.search_fields = search.searched_fields(conn, reg_id)  # each new user entry's words are indexed
        self.notes: dict[Log, str] = {}  # the signed notes of the new checkpoint

    def _builder(self, log: Log) -> TileBuilder:
        size = self.head.size(log)
        return StoredTree(self.conn, self.reg_id, log, size).builder_at(size)

    # -- commands -------------------------------------------------------------------------

    def apply(self, command: Command) -> None:
        """Check one command against the register and the batch so far, and take it in."""
        if type(command) is AddItem:
            blob, digest, line = command
            chunk_items = self.chunk_items
            if digest not in chunk_items:
                chunk_items[digest] = blob
                self.pending.add(digest, line)
                if len(chunk_items) >= CHUNK:
                    self._write()
        elif type(command) is AppendEntry:
            if self.start is None:
                self._begin(None, command.line)
            self._append_entry(command)
        elif type(command) is AssertRootHash:
            if self.start is None:
                self._begin(command.digest, command.line)
            else:
                self._assert_root(command)
        else:  # pragma: no cover - the Command union is closed
            raise TypeError(command)

    def begin_at_head(self) -> None:
        """Start the batch at the register's current head."""
        self.start = self.head
        self.pos = {log: self.head.size(log) for log in Log}

    def _begin(self, root: bytes | None, line: int) -> None:
        self.writer.wait()
        if root is None or root == EMPTY_ROOT:
            start = reads.Head()
        elif root == self.head.user_root:
            start = self.head
        else:
            found = reads.state_with_root(self.conn, self.reg_id, root)
            if found is None:
                raise InvalidRSF(
                    f"the file continues from root {hash_text(root)}, which this register never had "
                    f"(it has {self.head.user_size} entries, root {hash_text(self.head.user_root)})",
                    line,
                )
            start = found
        self.start = start
        for log in Log:
            self.pos[log] = start.size(log)
            if start.size(log) < self.head.size(log):
                self.stored[log] = reads.iter_entries(
                    self.conn, self.reg_id, log, start.size(log) + 1, self.head.size(log)
                )

    def _append_entry(self, command: AppendEntry, recording: bool = False) -> None:
        """Check and take in one entry; ``recording``: the batch's own ``change`` entry."""
        log, key, timestamp, digests, line = command
        problem = key_problem(log, key)
        if timestamp not in self.good_timestamps:
            problem = problem or timestamp_problem(timestamp)
            if not problem:
                if len(self.good_timestamps) >= GOOD_TIMESTAMPS:
                    self.good_timestamps.clear()  # memory stays flat however long the file
                self.good_timestamps.add(timestamp)
        if problem and self.change.faults is not None and self.change.strict and log == Log.USER and line:
            self.change.faults.add(line, problem, key, InvalidRSF)  # the batch is refused at its end, with every fault
            return
        if problem:
            raise InvalidRSF(problem, line)
        pos = self.pos
        number = pos[log] + 1
        pos[log] = number
        if number <= self.stored_size[log]:
            self._match_stored(command, number)
            return
        use = self.pending.use
        for digest in digests:
            if not use(digest) and digest not in self.chunk_items:
                self.to_check.setdefault(digest, line)
        if log is Log.SYSTEM:
            value = json.loads(self._item_bytes(digests[0], line))
            self.checks.system_entry(key, value, line, recording)
        else:
            for digest in digests:
                self.checks.user_entry(line, key, digest, number)
        log_id = log.value
        entry_rows = self.entry_rows
        entry_rows.append((log_id, number, key, timestamp, digests[0] if len(digests) == 1 else b"".join(digests)))
        if not self.writer.staged:  # a staged batch's record index is merged from its entry keys
            self.record_rows[(log_id, key)] = number
        self.trees[log].append(leaf_hash(leaf_bytes(number, timestamp, key, digests)))
        self.added[log] += 1
        if len(entry_rows) >= CHUNK:
            self._write()

    def _match_stored(self, command: AppendEntry, number: int) -> None:
        self.writer.wait()
        stored = next(self.stored[command.log])
        if not stored.same_content(command.entry(number)):
            raise InvalidRSF(
                f"{command.log.label} entry {number} differs from the one the register holds "
                f"(key '{stored.key}', {stored.timestamp}): the file is another history",
                command.line,
            )
        for digest in command.digests:
            self.pending.use(digest)
        self.present += 1

    def _assert_root(self, command: AssertRootHash) -> None:
        size = self.pos[Log.USER]
        if size <= self.head.user_size:
            self.writer.wait()
            expected = StoredTree(self.conn, self.reg_id, Log.USER, self.head.user_size).root(size)
        else:
            expected = self.trees[Log.USER].root()
        if command.digest != expected:
            raise InvalidRSF(
                f"assert-root-hash {hash_text(command.digest)} is not the root after {size} "
                f"entries ({hash_text(expected)})",
                command.line,
            )

    def _item_bytes(self, digest: bytes, line: int) -> bytes:
        found = self._contents([digest])
        if digest not in found:
            raise InvalidRSF(f"append-entry names item {hash_text(digest)}, which is not in the register", line)
        return found[digest]

    def _contents(self, digests: list[bytes]) -> dict[bytes, bytes]:
        """Item bytes from this chunk, the chunk last written (perhaps still in flight) or,
        failing those, the store."""
        chunk, written = self.chunk_items, self.written_items
        found: dict[bytes, bytes] = {}
        rest = []
        for digest in digests:
            blob = chunk.get(digest) or written.get(digest)  # item bytes are never empty
            if blob is None:
                rest.append(digest)
            else:
                found[digest] = blob
        if rest:
            found.update(self._stored_contents(rest))
        return found

    def _stored_contents(self, digests: list[bytes]) -> dict[bytes, bytes]:
        """Item bytes from the store, or from the items this batch has written and staged."""
        self.writer.wait()
        found = reads.item_contents(self.conn, self.reg_id, digests)
        if len(found) < len(digests):
            found.update(self.writer.staged_contents([d for d in digests if d not in found]))
        return found

    # -- writing --------------------------------------------------------------------------

    def _write(self) -> None:
        """Write what the batch holds so far (still inside the transaction). The checks run
        while the previous chunk is still being written; they wait for it only to read the store."""
        if self.to_check:
            found = self._stored_contents(list(self.to_check))
            missing = [(line, d) for d, line in self.to_check.items() if d not in found]
            if missing:
                line, digest = min(missing)
                raise InvalidRSF(
                    f"append-entry names item {hash_text(digest)}, which is neither in the register "
                    "nor added earlier in the file",
                    line,
                )
            self.to_check = {}
        self.checks.validate_pending(self._contents)
        self.pending.flush()
        self.writer.submit(
            Chunk(
                items=list(self.chunk_items.items()),
                entries=self.entry_rows,
                records=[(log, key, n) for (log, key), n in self.record_rows.items()],
                tiles=[(log.value, lvl, idx, data) for log in Log for lvl, idx, data in self.trees[log].take_tiles()],
                fields=self.checks.take_field_rows(),
                search=search.entry_rows(self.entry_rows, self.chunk_items, self._contents, self.search_fields),
                # past the entries the register holds, a file's items are new (but for a few)
                probe_items=any(self.pos[log] < self.stored_size[log] for log in Log),
            )
        )
        self.written_items, self.chunk_items = self.chunk_items, {}
        self.entry_rows = []
        self.record_rows = {}

    def _write_settled(self) -> None:
        """Take in the checks still running in the checker process and write what they give."""
        self.checks.settle()
        rows = self.checks.take_field_rows()
        if rows:
            self.writer.submit(Chunk(fields=rows))

    def finish(
        self,
        before_commit: Callable[[reads.Head], None] | None = None,
        also: Callable[[Connection, reads.Head], None] | None = None,
    ) -> reads.Head:
        """Write the rest, refuse orphan items and dangling links, say who and why, let
        ``before_commit`` judge the new head, sign and record a checkpoint; the new head."""
        if self.start is None:
            self._begin(None, 0)
        if self.change.recorded and any(self.added.values()):
            self._record_change()  # written with the batch's last rows: one write for a small change
        self._write()
        self._write_settled()
        self.writer.wait()
        orphan = None if self.change.faults else self._first_orphan()  # a faulty row's item is left unused
        if orphan is not None:
            digest, line = orphan
            raise InvalidRSF(f"add-item {hash_text(digest)} is used by no entry in the file (an orphan item)", line)
        self.pending.close()
        staged_new_keys = self.writer.merge_staged()  # the record index is read from here on
        if staged_new_keys is None and self.added[Log.USER]:
            self.writer.supersede_written(self.head.user_size)  # the as-of index of a direct write
        self.checks.check_links()
        if self.change.faults:  # every fault of the batch, found: refuse it with all of them
            raise FaultsFound(self.change.faults)
        if not any(self.added.values()):
            if before_commit is not None:
                before_commit(self.head)
            return self.head
        new = reads.Head(
            self.trees[Log.USER].size,
            self.trees[Log.USER].root(),
            self.trees[Log.SYSTEM].size,
            self.trees[Log.SYSTEM].root(),
            self.head.user_records + (self._new_user_keys() if staged_new_keys is None else staged_new_keys),
        )
        if before_commit is not None:
            before_commit(new)
        try:
            notes = self.notes = self._sign(new)
        except RegisterError as exc:  # no key at hand, or the last checkpoint does not hold: nothing is stored
            event(logger, logging.ERROR, "signing_failed", register=self.name, reason=str(exc))
            raise
        self.conn.execute(
            insert(checkpoint).values(
                register_id=self.reg_id,
                user_size=new.user_size,
                user_root=new.user_root,
                system_size=new.system_size,
                system_root=new.system_root,
                user_records=new.user_records,
                user_note=notes[Log.USER],
                system_note=notes[Log.SYSTEM],
                timestamp=now_timestamp(),
            )
        )
        if also is not None:
            also(self.conn, new)
        return new

    def _sign(self, new: reads.Head) -> dict[Log, str]:
        """Both logs' signed checkpoints for ``new``, after proving each new tree consistent
        with the last signed checkpoint (whose signature must verify): two inconsistent
        checkpoints are never signed (nor, for a mirror, stored)."""
        keys = self.signed.keys(self.conn, self.reg_id)
        previous = reads.latest_notes(self.conn, self.reg_id)
        for log in Log:
            size, root = new.size(log), new.root(log)
            if previous is not None and previous[log]:
                what = f"the latest {log.label} checkpoint of '{self.name}'"
                signed = signing.open_stored(previous[log], keys, what)
                if not self._extends(log, signed.size, signed.root, size, root):
                    raise IntegrityError(
                        f"refusing to sign: the {log.label} log of '{self.name}' at size {size} is not "
                        f"consistent with its signed checkpoint at size {signed.size}"
                    )
        if self.dry_run:
            return {log: "" for log in Log}
        return self.signed.notes(self.conn, self.name, new, keys)

    def _extends(self, log: Log, signed_size: int, signed_root: bytes, size: int, root: bytes) -> bool:
        """Whether the log's new tree (``size``, ``root``) is consistent with its signed
        checkpoint. Signed at the size the batch grew from (the usual case), the stored right
        edge the batch's tree grew from must give the signed root: the new tree is that edge
        and the new leaves. Otherwise a consistency proof from the stored tiles decides."""
        if signed_size > size:
            return False
        if signed_size == 0:
            return True
        if signed_size == self.head.size(log):
            return self.head_roots[log] == signed_root
        proof = StoredTree(self.conn, self.reg_id, log, size).consistency_proof(signed_size, size)
        return verify_consistency(signed_size, size, signed_root, root, proof)

    def _new_user_keys(self) -> int:
        """How many keys this batch gave their first user entry: for each of the batch's user
        entries, whether the record index points at it and whether its key had an entry before
        (index probes, the batch's entries only). (Correlated scalar subqueries rather than
        joins or NOT EXISTS: those let a planner with stale statistics — PostgreSQL right
        after a bulk load — hash a whole table; a scalar subquery is one index probe per row.)"""
        e, k = entry.c, entry_key.c
        before = self.head.user_size
        query = select(func.count()).where(
            e.register_id == self.reg_id, e.log == int(Log.USER), e.number > before, reads.CURRENT
        )
        if before:
            first = (
                select(func.min(k.number))
                .where(k.register_id == e.register_id, k.log == e.log, k.key == e.key)
                .scalar_subquery()
            )
            query = query.where(first > before)
        return int(self.conn.execute(query).scalar_one())

    def _first_orphan(self) -> tuple[bytes, int] | None:
        """The earliest item added but used by no entry of the batch.

        An item added again after an entry already used it waits in ``pending`` once more; such
        items are found among the batch's entries here (rarely needed: only when some are left).
        """
        waiting = self.pending.unused()
        if not waiting or self.start is None:
            return None
        left = dict(waiting)
        for log in Log:
            for stored in reads.iter_entries(self.conn, self.reg_id, log, self.start.size(log) + 1):
                for digest in stored.digests:
                    left.pop(digest, None)
                if not left:
                    return None
        return min(left.items(), key=lambda pair: pair[1])

    def _record_change(self) -> None:
        """Append the ``change`` system entry: who, why, and which entries the change made."""
        value: dict[str, str] = {}
        if self.change.by:
            value["by"] = self.change.by
        if self.change.reason:
            value["reason"] = self.change.reason
        for log, label in ((Log.USER, "user-entries"), (Log.SYSTEM, "system-entries")):
            if self.added[log]:
                last = self.trees[log].size
                value[label] = f"{last - self.added[log] + 1}-{last}"
        blob = canonical_json(value)
        digest = item_digest(blob)
        self.pos[Log.SYSTEM] = self.trees[Log.SYSTEM].size  # after everything, whatever the file's place
        self.apply(AddItem(blob, digest))
        self._append_entry(AppendEntry(Log.SYSTEM, "change", now_timestamp(), (digest,)), recording=True)
