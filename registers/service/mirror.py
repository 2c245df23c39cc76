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
  the new checkpoint, and beside it the origin keys trusted with their status.

Both trust the origin's keys alike. For a new checkpoint only these are trusted: the *current*
keys (those that verify the latest checkpoint accepted before, and those they handed over to),
keys reached from them through genuine handover notes (a key hands over once), and keys given
with ``--key`` that are new to the consumer (trust given out of band, as after ``keys rotate
--lost``). Every other key held is *superseded*: it verifies the checkpoints accepted before,
but never signs a new one, never hands over, and is not trusted again when given once more.
A key given that signs nothing accepted is not kept: it is trusted on the runs it is given (so a
key given before the origin starts signing with it, after ``keys rotate --lost``, is not locked
out), unless a key given after it (keys are given oldest first, as ``keys list`` prints them)
signs: it is then recorded, before that key, as superseded (a list of keys handed out with a
retired one in it cannot bring it back).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from ..client import RegisterClient, RemoteError, SignedHeads
from ..core.entries import Log, entry_json
from ..core.errors import IntegrityError, RegisterError
from ..core.handover import Handover
from ..core.items import hash_text
from ..core.notes import Checkpoint, NoteError, VerifierKey, open_checkpoint, signer_ids
from ..core.rsf import AddItem, AppendEntry, AssertRootHash, Command, read_rsf
from ..settings import current
from ..store import mirrors, reads
from ..store.append import append
from ..store.checks import Change
from ..store.engine import open_engine, snapshot
from ..store.signers import UNSIGNED, OriginSigned
from .registers import root_at, verify


@dataclass(frozen=True)
class Known:
    """The origin keys a consumer holds, oldest first: the ``current`` ones may sign new
    checkpoints (and hand over), the others are superseded (they only verify checkpoints
    accepted before); ``handovers``: those followed so far (a key hands over once)."""

    keys: tuple[VerifierKey, ...] = ()
    current: tuple[VerifierKey, ...] = ()
    handovers: tuple[Handover, ...] = ()

    @property
    def superseded(self) -> tuple[VerifierKey, ...]:
        """The keys held that are not current."""
        return tuple(k for k in self.keys if k not in self.current)

    def status(self, key: VerifierKey) -> str:
        """``current`` or ``superseded``."""
        return "current" if key in self.current else "superseded"


@dataclass(frozen=True)
class Mirrored:
    """What a mirror run did: the local heads before and after."""

    register: str
    before: reads.Head
    after: reads.Head
    signed: SignedHeads  # the checkpoints the copy now matches
    known: Known = Known()  # the origin keys held once the signed checkpoints are accepted

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


def mirror(engine: Engine, url: str, keys: list[VerifierKey], client: RegisterClient | None = None,
           known: Known | None = None) -> Mirrored:
    """Bring the local copy of the register at ``url`` up to its latest signed checkpoints.

    ``keys``: the origin's verifier keys, obtained out of band (needed the first time; later
    the keys recorded with the copy are used). ``known``: the keys held, when not those
    recorded with the copy (an audit's scratch copy). A new checkpoint is accepted only when a
    current key, a key it handed over to, or a key given that is new here signs it (see the
    module's doc): a checkpoint signed by a new origin key is accepted only through a handover
    note, the new key then recorded with it; a superseded key is refused, naming it. A key
    given is recorded once it signs the checkpoints accepted. Refused with RegisterError when
    the local register is this server's own or mirrors another URL. Raises RemoteError
    (server unreachable, a signature or proof that does not verify, history rewritten) or
    IntegrityError (the patches do not give the signed state); in every case nothing is
    applied or recorded.
    """
    client = client or RegisterClient(url)
    held = known if known is not None else _recorded_keys(engine, client)
    given = [k for k in dict.fromkeys(keys) if k not in held.keys]  # new here: trusted out of band
    trusted = [*held.current, *given]
    if not trusted:
        raise RemoteError(f"{client.base}: mirroring it needs --key (the origin's signing key, obtained out of band)")
    again = " (given with --key, but recorded here as superseded: it is not trusted again)"
    superseded = {k: again if k in keys else "" for k in held.superseded}
    heads = client.signed_heads(trusted, held.handovers, superseded)
    notes = [heads.user_note, heads.system_note]
    used = [k for k in given if _signs_any(notes, k) or any(h.old == k for h in heads.followed)]
    # given before a key given that signs (keys are given oldest first, as 'keys list' prints
    # them): older (say, retired as lost), so recorded, before it, as superseded
    last_used = max((given.index(k) for k in used), default=-1)
    beside = [k for k in given[:last_used] if k not in used]
    learnt: list[tuple[VerifierKey, str | None]] = [(h.new, h.note) for h in heads.followed]
    after = _known_after(held, [*beside, *used], heads)
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
        kept = [(k, None) for k in [*beside, *used]] + learnt
        if kept:  # keys given or learnt while the copy was current: recorded all the same
            signed = OriginSigned(client.base, heads.user_note, heads.system_note, tuple(kept))
            append(engine, client.name, [], extend=True, change=Change(strict=False), signed=signed)
        return Mirrored(client.name, before, before, heads, after)
    # the keys that sign what is accepted (already recorded, but not in an audit's scratch copy)
    signing: list[tuple[VerifierKey, str | None]] = [(k, None) for k in held.current if _signs_any(notes, k)]
    signing = [(k, None) for k in beside] + signing + [(k, None) for k in used]
    signed = OriginSigned(client.base, heads.user_note, heads.system_note, tuple(signing + learnt))
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
    return Mirrored(client.name, before, result.head, heads, after)


def _signs_any(notes: Iterable[str], key: VerifierKey) -> bool:
    """Whether ``key`` signed one of ``notes``."""
    return any(mirrors.signs(note, key) for note in notes)


def _known_after(held: Known, used: list[VerifierKey], heads: SignedHeads) -> Known:
    """The keys held once ``heads`` are accepted: those held before, the given ``used`` and
    those followed; current the ones that verify ``heads`` and those they handed over to."""
    keys = list(dict.fromkeys([*held.keys, *used, *(h.new for h in heads.followed)]))
    handovers = (*held.handovers, *heads.followed)
    current = mirrors.current_keys(keys, [heads.user_note, heads.system_note], handovers)
    return Known(tuple(keys), tuple(current), handovers)


def _recorded_keys(engine: Engine, client: RegisterClient) -> Known:
    """The origin keys recorded with the local copy of ``client``'s register, current or
    superseded, and the handovers through which some were learnt (none when there is no copy
    yet); RegisterError when the local register is not a mirror of it (checked again under the
    write lock by the append)."""
    with snapshot(engine) as conn:
        reg_id = reads.register_id(conn, client.name)
        if reg_id is None:
            return Known()
        url = mirrors.mirrored_from(conn, reg_id)
        if url is None:
            own = reads.head(conn, reg_id)
            if own.user_size or own.system_size:
                raise RegisterError(
                    f"register '{client.name}' is this server's own: it cannot become a mirror of {client.base}"
                )
            return Known()  # an empty register may become a mirror
        if url != client.base:
            raise RegisterError(f"register '{client.name}' here mirrors {url}, not {client.base}")
        rows = mirrors.origin_key_status(conn, reg_id)
    return Known(tuple(r.key for r in rows), tuple(r.key for r in rows if r.current),
                 tuple(r.learnt_from for r in rows if r.learnt_from is not None))


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
    the trust store, and save the new one, and beside it (``.keys``) the origin keys trusted
    with their status. ``keys`` are needed the first time only: later audits trust the keys
    saved as a mirror trusts those recorded with its copy (see the module's doc). Raises
    RegisterError when there is no key at all, RemoteError or IntegrityError naming what
    fails."""
    client = RegisterClient(url)
    store = trust_dir or default_trust_dir()
    stem = client.base.split("://", 1)[1].replace("/", "_")
    saved_file, keys_file = store / f"{stem}.checkpoint", store / f"{stem}.keys"
    held = _saved_keys(keys_file)
    if not keys and not held.keys:
        raise RegisterError(
            f"auditing a URL needs --key the first time (the server's signing key, obtained out of band); later "
            f"audits trust the keys saved in {keys_file}"
        )
    with tempfile.TemporaryDirectory(prefix="registers-audit-") as scratch:
        engine = open_engine(f"sqlite:///{Path(scratch) / 'audit.db'}")
        try:
            done = mirror(engine, url, keys, client, known=held)
            heads = done.signed
            previous = _saved(saved_file, [*held.keys, *keys, *(h.new for h in heads.followed)])
            if previous is not None:
                _check_extends(engine, client, previous, done.after)
        finally:
            engine.dispose()
    store.mkdir(parents=True, exist_ok=True)
    _write_atomically(keys_file, _keys_text(client.base, done.known))
    _write_atomically(saved_file, heads.user_note)
    return Audited(client.name, heads.user, heads.system, previous, heads.followed)


def _keys_text(base: str, known: Known) -> str:
    """The ``.keys`` file of an audit: one origin key a line with its status (and, for one that
    handed over, to which key and when), in a form ``--key FILE`` reads too."""
    handed = {h.old: h for h in known.handovers}
    lines = [f"# the origin keys 'registers verify {base}/' trusts: current ones may sign its next checkpoints, "
             "superseded ones only verify those saved before\n"]
    for key in known.keys:
        after = f", handed over to {handed[key].new.text} at {handed[key].at}" if key in handed else ""
        lines.append(f"{key.text} {known.status(key)}{after}\n")
    return "".join(lines)


def _saved_keys(path: Path) -> Known:
    """The origin keys an audit saved in ``path`` (none when there is no such file);
    IntegrityError naming the line that is not as saved."""
    if not path.exists():
        return Known()
    keys: list[VerifierKey] = []
    current: list[VerifierKey] = []
    handovers: list[Handover] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        words = line.replace(",", " ").split()
        if not words or words[0].startswith("#"):
            continue
        try:
            key = VerifierKey.parse(words[0])
            status = words[1]
            if status not in ("current", "superseded"):
                raise NoteError(f"'{status}' is no status")
            keys.append(key)
            if status == "current":
                current.append(key)
            if words[2:5] == ["handed", "over", "to"] and words[6:7] == ["at"]:
                handovers.append(Handover(key, VerifierKey.parse(words[5]), words[7], ""))
            elif words[2:]:
                raise NoteError("not a handover")
        except (NoteError, IndexError) as exc:
            raise IntegrityError(f"{path}:{number}: not an origin key and its status as an audit saves them ({exc})") \
                from None
    return Known(tuple(keys), tuple(current), tuple(handovers))


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file beside it and a rename, so that
    ``path`` holds either what it held or all of ``text``."""
    descriptor, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
            if str(exc) != "note has no verifiable signatures":
                raise IntegrityError(f"the checkpoint: {exc}") from None
            signers = ", ".join(signer_ids(note)) or "no key"
            given = ", ".join(k.label for k in keys or []) or "none"
            raise IntegrityError(
                f"the checkpoint: {exc}: it is signed by {signers}, not by a key given (given: {given}); after a key "
                "rotation, give the key that signed it"
            ) from None
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
