"""Operations on whole registers and their two logs: open the database, list registers, load
RSF, export dumps and patches, heads, roots, proofs, signed checkpoints, verify.

Each function takes an Engine (see ``open_database``) and register names, and returns plain
values; user mistakes are raised as ``RegisterError`` subclasses with one-line messages.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from ..core.entries import Log, now_timestamp
from ..core.errors import IntegrityError, InvalidRSF, LineError, RegisterNotFound
from ..core.faults import DEFAULT_LIMIT, FaultLog, stopped
from ..core.items import canonical_json, hash_text, item_digest
from ..core.notes import VerifierKey
from ..core.rsf import AddItem, AppendEntry, Command, read_rsf
from ..loaders.rsf import export_rsf_chunks, export_system_chunks, open_rsf, register_name_in
from ..logs import event
from ..store import reads, signing
from ..store.append import AppendResult, append, check_register_name
from ..store.checks import Change
from ..store.dialects import dialect_for
from ..store.engine import open_engine, snapshot
from ..store.tree import StoredTree
from ..store.verify import Verified, verify_register

PROOF_ID = "merkle:sha-256"

logger = logging.getLogger(__name__)


def open_database(url: str | None = None, *, existing: bool = False) -> Engine:
    """The database at ``url``, else $REGISTERS_DATABASE_URL, else ./registers.db (created,
    unless ``existing``: then a missing SQLite file is refused, see ``open_engine``)."""
    return open_engine(url, existing=existing)


@dataclass(frozen=True)
class RegisterSummary:
    """A register's name and the size and root of its user log."""

    name: str
    head: reads.Head


def load_rsf(
    engine: Engine,
    path: str,
    register: str | None = None,
    *,
    strict: bool = False,
    by: str | None = None,
    reason: str | None = None,
    dry_run: bool = False,
    source: str | None = None,
    create: bool = True,
    authored: bool = False,
    max_errors: int = DEFAULT_LIMIT,
    progress: Callable[[int], None] | None = None,
) -> AppendResult:
    """Load an RSF file (``-`` for stdin) into a register, creating it if new (unless not
    ``create``). Errors name ``source`` (default: the path) and the line; a ``strict`` load
    goes on past datatype, key and link faults and is then refused with every one of them
    (``FaultsFound``, the first ``max_errors`` kept).

    The register is ``register``, else the dump's ``name`` system entry, else the file's stem.
    Entries the register already holds are skipped; a patch must continue from a root the
    register had. Hashes, asserts and order are always strict; datatype and link findings are
    reported in the result unless ``strict``. ``by`` and ``reason``, when given, are recorded
    as a ``change`` system entry. ``dry_run`` checks everything and stores nothing. Raises a
    LineError naming the file and line; nothing is stored then.

    A published file loads as published: its ``change`` entries and system keys the platform
    does not know are kept (the latter reported). ``authored`` (a custodian's upload over
    HTTP) holds its new system entries to the rules of ``registers create`` instead and
    refuses ``change`` entries and unknown keys in it (``Change.authored``).
    """
    name = register or _name_for(path)
    source = source or ("<stdin>" if path == "-" else path)
    stream: Any = open_rsf(path)
    if progress is not None:
        stream = _Counted(stream, progress)
    faults = FaultLog(max_errors) if strict else None
    change = Change(by=by, reason=reason, strict=strict, authored=authored, faults=faults)
    try:
        return append(engine, check_register_name(name), read_rsf(stream), change=change, commit=not dry_run,
                      create=create)
    except LineError as exc:
        raise stopped(exc, faults, source) from None
    finally:
        if path != "-":
            stream.close()


class _Counted:
    """A binary stream, read in blocks, that says every megabyte or so how many bytes it gave."""

    STEP = 1 << 20

    def __init__(self, stream: BinaryIO, progress: Callable[[int], None]) -> None:
        self.stream, self.progress, self.pending = stream, progress, 0

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        self.pending += len(data)
        if self.pending >= self.STEP or (not data and self.pending):
            self.progress(self.pending)
            self.pending = 0
        return data

    def close(self) -> None:
        self.stream.close()


def _name_for(path: str) -> str:
    if path == "-":
        raise InvalidRSF("name the register (--register) when reading RSF from standard input")
    return register_name_in(Path(path)) or Path(path).stem


def append_items(
    engine: Engine,
    name: str,
    keyed_items: Iterable[tuple[str, Mapping[str, Any]]],
    *,
    log: Log = Log.USER,
    timestamp: str | None = None,
    create: bool = False,
) -> AppendResult:
    """Append one entry per ``(key, item)`` at the register's head, all in one transaction."""
    stamp = timestamp or now_timestamp()

    def commands() -> Iterator[Command]:
        for key, item in keyed_items:
            blob = canonical_json(item)
            digest = item_digest(blob)
            yield AddItem(blob, digest)
            yield AppendEntry(log, key, stamp, (digest,))

    return append(engine, check_register_name(name), commands(), create=create, extend=True)


def register_id_of(conn: Connection, name: str) -> int:
    """The id of register ``name``; RegisterNotFound if there is none."""
    reg_id = reads.register_id(conn, name)
    if reg_id is None:
        raise RegisterNotFound(name)
    return reg_id


def head(engine: Engine, name: str) -> reads.Head:
    """The committed size and root of both logs of register ``name``."""
    with snapshot(engine) as conn:
        return reads.head(conn, register_id_of(conn, name))


def root_at(engine: Engine, name: str, size: int, log: Log = Log.USER) -> bytes:
    """The root of the first ``size`` entries of a log (any size up to the current one)."""
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        return StoredTree(conn, reg_id, log, reads.head(conn, reg_id).size(log)).root(size)


def list_registers(engine: Engine) -> list[RegisterSummary]:
    """Every register with its head, by name."""
    with snapshot(engine) as conn:
        return [
            RegisterSummary(name, reads.head(conn, register_id_of(conn, name))) for name in reads.register_names(conn)
        ]


def export_rsf(engine: Engine, name: str, out: BinaryIO, start: int = 0, end: int | None = None) -> int:
    """Write the RSF of register ``name`` (entries ``start+1..end``) to ``out``; bytes written.

    Streams from one consistent read transaction, in constant memory for whole dumps.
    """
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        written = 0
        for chunk in export_rsf_chunks(conn, reg_id, reads.head(conn, reg_id), start, end):
            out.write(chunk)
            written += len(chunk)
        return written


def register_proof(engine: Engine, name: str, log: Log = Log.USER) -> dict[str, object]:
    """The v1 ``/proof/register/merkle:sha-256`` answer: root hash and total entries."""
    h = head(engine, name)
    return {"proof-identifier": PROOF_ID, "root-hash": hash_text(h.root(log)), "total-entries": h.size(log)}


def inclusion_proof(engine: Engine, name: str, number: int, size: int, log: Log = Log.USER) -> dict[str, object]:
    """The v1 entry proof: the audit path of entry ``number`` in the tree of ``size`` entries."""
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        tree = StoredTree(conn, reg_id, log, reads.head(conn, reg_id).size(log))
        path = tree.inclusion_proof(number, size)
    return {
        "proof-identifier": PROOF_ID,
        "entry-number": str(number),
        "merkle-audit-path": [hash_text(h) for h in path],
    }


def consistency_proof(engine: Engine, name: str, old_size: int, size: int, log: Log = Log.USER) -> dict[str, object]:
    """The v1 consistency proof between the trees of ``old_size`` and ``size`` entries."""
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        tree = StoredTree(conn, reg_id, log, reads.head(conn, reg_id).size(log))
        nodes = tree.consistency_proof(old_size, size)
    return {"proof-identifier": PROOF_ID, "merkle-consistency-nodes": [hash_text(h) for h in nodes]}


def verify(engine: Engine, name: str, since: int = 0, *, signed: bool = True,
           keys: Sequence[VerifierKey] = ()) -> Verified:
    """Recompute register ``name`` from its log; raises IntegrityError at the first fault.
    With ``since``, the user-log size of a checkpoint an earlier verification covered, only what
    came after that checkpoint is recomputed (see ``store.verify.verify_register``).
    The planner's statistics are refreshed first where the database keeps them and allows it
    (verify's queries read whole tables; with stale statistics a planner may pick quadratic plans).
    A mirrored register's checkpoints are checked with its origin's keys; ``signed`` false skips
    signatures (scratch databases nobody signed). With ``keys`` (obtained out of band), its
    latest checkpoints must also be signed by one of them or a key they hand over to through
    the handover notes recorded here."""
    dialect_for(engine).refresh_statistics(engine)
    try:
        with snapshot(engine) as conn:
            return verify_register(conn, register_id_of(conn, name), since, signed=signed, given=keys)
    except IntegrityError as exc:
        event(logger, logging.WARNING, "verification_failed", kind="verify", register=name, reason=str(exc))
        raise


def checkpoint_note(engine: Engine, name: str, log: Log = Log.USER) -> str:
    """The signed checkpoint (C2SP note) of one log of register ``name`` at its latest state;
    RegisterNotFound when the register has none yet."""
    with snapshot(engine) as conn:
        notes = reads.latest_notes(conn, register_id_of(conn, name))
    if notes is None:
        raise RegisterNotFound(name)
    return notes[log]


def public_keys(engine: Engine) -> list[str]:
    """Every verifier key (C2SP ``name+id+key``) that has signed this database's checkpoints,
    oldest first."""
    with snapshot(engine) as conn:
        return [key.text for key in signing.verifier_keys(conn)]


def system_patch(engine: Engine, name: str, start: int, end: int | None = None) -> Iterator[bytes]:
    """The system log's entries ``start+1..end`` (default: to its head) and their items, as RSF
    chunks, from one read transaction."""
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        current = reads.head(conn, reg_id)
        yield from export_system_chunks(conn, reg_id, current, start, current.system_size if end is None else end)


def migrate(url: str | None = None) -> tuple[str | None, str | None]:
    """Bring the database at ``url`` (see ``open_database``) to this version's schema; the
    schema revisions before and after (an empty database is created)."""
    from ..store import migrations

    engine = open_engine(url, create_tables=False)
    try:
        if migrations.current_revision_of(engine) is None and not migrations.has_tables(engine):
            engine.dispose()
            engine = open_engine(url)
            return None, migrations.HEAD
        return migrations.upgrade(engine)
    finally:
        engine.dispose()
