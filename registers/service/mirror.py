"""Keeping a local copy of a served register current, and auditing a served register.

Both read the signed checkpoints first and trust nothing else until it verifies:

- ``mirror``: prove with the server's consistency proofs that its signed logs extend the local
  copy, fetch the user and system patches up to the signed sizes, and apply them in one append
  transaction that is committed only if the result is exactly the signed state (every hash is
  recomputed on the way in). A server that rewrote history is refused with nothing applied.
  The copy keeps the origin's signed checkpoints as they are and its public keys (those given
  on purpose, and those learnt through handover notes the origin's old keys signed); it signs
  nothing and is read-only here.
- ``audit``: mirror the whole register into a scratch database (so every hash is recomputed),
  and, when a checkpoint of it was saved before in the trust store, check that the new one
  extends it (root recomputed at the old size, and the server's consistency proof); then save
  the new checkpoint.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from ..client import RegisterClient, RemoteError, SignedHeads
from ..core.entries import Log, entry_json
from ..core.errors import IntegrityError, RegisterError
from ..core.handover import Handover, parse_handover
from ..core.items import hash_text
from ..core.notes import Checkpoint, NoteError, VerifierKey, open_checkpoint
from ..core.rsf import AddItem, AppendEntry, AssertRootHash, Command, read_rsf
from ..settings import current
from ..store import mirrors, reads
from ..store.append import append
from ..store.checks import Change
from ..store.engine import open_engine, snapshot
from ..store.signers import UNSIGNED, OriginSigned
from .registers import root_at, verify


@dataclass(frozen=True)
class Mirrored:
    """What a mirror run did: the local heads before and after."""

    register: str
    before: reads.Head
    after: reads.Head
    signed: SignedHeads  # the checkpoints the copy now matches

    @property
    def followed(self) -> tuple[Handover, ...]:
        """The origin's key rotations followed (their new keys are trusted from now on)."""
        return self.signed.followed

    @property
    def summary(self) -> str:
        """One line for a log file."""
        b, a = self.before, self.after
        if (b.user_size, b.system_size) == (a.user_size, a.system_size):
            return f"{self.register}: up to date at {a.user_size} entries; root {hash_text(a.user_root)}"
        return (
            f"{self.register}: {b.user_size} -> {a.user_size} user entries, {b.system_size} -> {a.system_size} "
            f"system entries; root {hash_text(a.user_root)} verified against the signed checkpoint"
        )


def mirror(engine: Engine, url: str, keys: list[VerifierKey], client: RegisterClient | None = None) -> Mirrored:
    """Bring the local copy of the register at ``url`` up to its latest signed checkpoints.

    ``keys``: the origin's verifier keys, obtained out of band (needed the first time; later
    the keys recorded with the copy are used too). A checkpoint signed by a new origin key is
    accepted only through a handover note signed by a trusted key, and the new key is then
    recorded with the note; an origin key that handed over once never hands over again.
    Refused with RegisterError when the local register is this server's own or mirrors
    another URL. Raises RemoteError (server unreachable, a signature or proof that does not
    verify, history rewritten) or IntegrityError (the patches do not give the signed state);
    in every case nothing is applied or recorded.
    """
    client = client or RegisterClient(url)
    recorded, handed = _recorded_keys(engine, client)
    trusted = recorded + [k for k in keys if k not in recorded]
    if not trusted:
        raise RemoteError(f"{client.base}: mirroring it needs --key (the origin's signing key, obtained out of band)")
    heads = client.signed_heads(trusted, handed)
    trust = tuple([(k, None) for k in trusted if k not in recorded] + [(h.new, h.note) for h in heads.followed])
    signed = OriginSigned(client.base, heads.user_note, heads.system_note, trust)
    before = _local_head(engine, client.name)
    for log in Log:
        try:
            client.prove_extends(log, before.size(log), before.root(log), heads.of(log))
        except RemoteError as exc:
            if log is Log.USER and before.user_size:
                differs = _first_difference(engine, client, before.user_size)
                if differs:
                    raise RemoteError(f"{exc}; {differs}") from None
            raise
    if all(before.size(log) == heads.of(log).size for log in Log):
        if trust:  # keys learnt (or given) while the copy was current: recorded all the same
            append(engine, client.name, [], extend=True, change=Change(strict=False), signed=signed)
        return Mirrored(client.name, before, before, heads)
    commands = _patch_commands(client, before, heads)

    def exactly_signed(new: reads.Head) -> None:
        for log in Log:
            signed = heads.of(log)
            if (new.size(log), new.root(log)) != (signed.size, signed.root):
                raise IntegrityError(
                    f"{url}: the {log.label} patch gives {new.size(log)} entries with root "
                    f"{hash_text(new.root(log))}, not the signed {signed.size} with {hash_text(signed.root)}"
                )

    result = append(engine, client.name, commands, extend=True, change=Change(strict=False),
                    before_commit=exactly_signed, signed=signed)
    return Mirrored(client.name, before, result.head, heads)


def _recorded_keys(engine: Engine, client: RegisterClient) -> tuple[list[VerifierKey], tuple[Handover, ...]]:
    """The origin keys recorded with the local copy of ``client``'s register, and the
    handovers through which some were learnt (none when there is no copy yet); RegisterError
    when the local register is not a mirror of it (checked again under the write lock by the
    append)."""
    with snapshot(engine) as conn:
        reg_id = reads.register_id(conn, client.name)
        if reg_id is None:
            return [], ()
        url = mirrors.mirrored_from(conn, reg_id)
        if url is None:
            own = reads.head(conn, reg_id)
            if own.user_size or own.system_size:
                raise RegisterError(
                    f"register '{client.name}' is this server's own: it cannot become a mirror of {client.base}"
                )
            return [], ()  # an empty register may become a mirror
        if url != client.base:
            raise RegisterError(f"register '{client.name}' here mirrors {url}, not {client.base}")
        rows = mirrors.origin_key_rows(conn, reg_id)
    return [key for key, _added, _note in rows], tuple(parse_handover(note) for _k, _a, note in rows if note)


def _first_difference(engine: Engine, client: RegisterClient, size: int) -> str | None:
    """Which of the first ``size`` user entries held here the server now serves differently
    (its entries are read a page at a time until one differs)."""
    with snapshot(engine) as conn:
        reg_id = reads.register_id(conn, client.name)
        assert reg_id is not None
        start = 1
        while start <= size:
            try:
                served = client.entries(start, min(5000, size - start + 1))
            except RemoteError:
                return None
            held = list(reads.iter_entries(conn, reg_id, Log.USER, start, start + len(served) - 1))
            for mine, theirs in zip(held, served, strict=False):
                if entry_json(mine) != theirs:
                    return f"the first entry that differs is user entry {mine.number} (key '{mine.key}')"
            if len(served) < min(5000, size - start + 1):
                return f"the server no longer has user entry {start + len(served)}"
            start += len(served)
    return None


def _local_head(engine: Engine, name: str) -> reads.Head:
    with snapshot(engine) as conn:
        reg_id = reads.register_id(conn, name)
        return reads.Head() if reg_id is None else reads.head(conn, reg_id)


def _patch_commands(client: RegisterClient, before: reads.Head, heads: SignedHeads) -> list[Command]:
    """The system patch, then the user patch without its system entries and their items (a v1
    patch from 0 carries every system entry the server has when it answers, which may be more
    than the signed system size if its metadata changed meanwhile) and without its opening
    assert (the batch continues from the local head)."""
    system = list(read_rsf(client.system_patch(before.system_size, heads.system.size).splitlines(keepends=True)))
    served = list(read_rsf(client.patch(before.user_size, heads.user.size).splitlines(keepends=True)))
    used = {d for c in served if type(c) is AppendEntry and c.log is Log.USER for d in c.digests}
    user = [
        c for c in served
        if type(c) is AssertRootHash or (type(c) is AppendEntry and c.log is Log.USER)
        or (type(c) is AddItem and c.digest in used)
    ]
    if user and type(user[0]) is AssertRootHash:
        if user[0].digest != before.user_root:
            raise RemoteError(f"{client.base}: the patch starts from a root this copy does not have")
        user = user[1:]
    return system + user


@dataclass(frozen=True)
class Audited:
    """What an audit of a served register established."""

    register: str
    user: Checkpoint
    system: Checkpoint
    previous: Checkpoint | None  # the checkpoint saved before, now shown to be extended
    followed: tuple[Handover, ...] = ()  # key rotations followed (their new keys now trusted)


def audit(url: str, keys: list[VerifierKey], trust_dir: Path | None = None) -> Audited:
    """Download the register at ``url`` into a scratch database (every hash recomputed and
    checked against the signed checkpoints), check it extends the checkpoint saved before in
    the trust store, and save the new one. Raises RemoteError or IntegrityError naming what
    fails."""
    client = RegisterClient(url)
    store = trust_dir or default_trust_dir()
    saved_file = store / (client.base.split("://", 1)[1].replace("/", "_") + ".checkpoint")
    with tempfile.TemporaryDirectory(prefix="registers-audit-") as scratch:
        engine = open_engine(f"sqlite:///{Path(scratch) / 'audit.db'}")
        try:
            done = mirror(engine, url, keys, client)
            heads = done.signed
            previous = _saved(saved_file, keys + [h.new for h in heads.followed])
            if previous is not None:
                _check_extends(engine, client, previous, done.after)
        finally:
            engine.dispose()
    store.mkdir(parents=True, exist_ok=True)
    saved_file.write_text(heads.user_note, encoding="utf-8")
    return Audited(client.name, heads.user, heads.system, previous, heads.followed)


def default_trust_dir() -> Path:
    """Where audited checkpoints are saved: ``$REGISTERS_TRUST_DIR``, else ~/.registers/trust."""
    return current().trust_dir or Path.home() / ".registers" / "trust"


def _saved(path: Path, keys: list[VerifierKey]) -> Checkpoint | None:
    if not path.exists():
        return None
    try:
        return open_checkpoint(path.read_text(encoding="utf-8"), keys)[0]
    except NoteError as exc:
        raise IntegrityError(f"{path}: the saved checkpoint does not verify: {exc}") from None


def _check_extends(engine: Engine, client: RegisterClient, previous: Checkpoint, now: reads.Head) -> None:
    """The downloaded log, recomputed, has the saved root at the saved size; and the server's
    own consistency proof says so too."""
    if previous.size > now.user_size:
        raise IntegrityError(
            f"{client.base}: rewritten: it now has {now.user_size} entries, but a checkpoint saved before "
            f"signed {previous.size}"
        )
    if previous.size:
        root = root_at(engine, client.name, previous.size)
        if root != previous.root:
            raise IntegrityError(
                f"{client.base}: rewritten: its first {previous.size} entries now have root {hash_text(root)}, "
                f"but the checkpoint saved before signed {hash_text(previous.root)}"
            )
    client.prove_extends(Log.USER, previous.size, previous.root,
                         Checkpoint(previous.origin, now.user_size, now.user_root))


@dataclass(frozen=True)
class DumpVerified:
    """A dump that loads with every hash and assert holding, and the checkpoint it matched."""

    register: str
    head: reads.Head
    checkpoint: Checkpoint | None


def verify_dump(path: str, note: str | None = None, keys: list[VerifierKey] | None = None) -> DumpVerified:
    """Load the RSF dump at ``path`` into a scratch database (every item hash, leaf, root and
    assert recomputed) and, given a signed checkpoint ``note``, check its signature with
    ``keys`` and that the dump's first ``size`` entries have the signed root."""
    from ..loaders.rsf import register_name_in

    name = register_name_in(Path(path)) or Path(path).stem
    signed = None
    if note is not None:
        try:
            signed = open_checkpoint(note, keys or [])[0]
        except NoteError as exc:
            raise IntegrityError(f"the checkpoint: {exc}") from None
        if not signed.origin.endswith(f"/{name}"):
            raise IntegrityError(f"the checkpoint is for '{signed.origin}', not register '{name}'")
    with tempfile.TemporaryDirectory(prefix="registers-verify-") as scratch:
        engine = open_engine(f"sqlite:///{Path(scratch) / 'dump.db'}")
        try:
            with open(path, "rb") as stream:
                append(engine, name, read_rsf(stream), change=Change(strict=False), signed=UNSIGNED)
            head = verify(engine, name, signed=False).head
            if signed is not None:
                if signed.size > head.user_size:
                    raise IntegrityError(f"the dump holds {head.user_size} entries, the checkpoint signs {signed.size}")
                root = root_at(engine, name, signed.size)
                if root != signed.root:
                    raise IntegrityError(
                        f"the dump's first {signed.size} entries have root {hash_text(root)}, but the "
                        f"checkpoint signs {hash_text(signed.root)}: the register was rewritten"
                    )
        finally:
            engine.dispose()
    return DumpVerified(name, head, signed)
