"""Signing keys and signed checkpoints: which key signs, where private keys live, origins.

Keys are made only on purpose (``registers keys generate``, ``keys import``, ``keys rotate``,
and ``init``/``create`` on a fresh database: one recording no key and holding no mirrored
register): nothing here makes or adopts a key as a side effect of a write. The database
records every public key that has signed (``signing_key``), so checkpoints signed before a
rotation still verify; the newest key not retired signs, and its private key must be a file
(mode 0600) in the key directory: ``$REGISTERS_KEY_DIR``, else, for a SQLite database file,
``keys/`` beside it. A PostgreSQL database has no default key directory: several servers
share it, and each must find the same key. Any other ``*.key`` file in the directory is
ignored (and logged). With no signing key at hand a write is refused (NoSigningKey) and
reads go on.

Checkpoints are C2SP signed notes (core.notes) with origin ``<REGISTERS_ORIGIN>/<register>``
for the user log and ``<REGISTERS_ORIGIN>/<register>/system`` for the system log. A mirrored
register keeps its origin's notes and keys instead (store.mirrors).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.engine import Connection

from ..core.entries import Log, now_timestamp
from ..core.errors import CompromisedKey, IntegrityError, NoSigningKey, RegisterError
from ..core.handover import Handover, parse_handover, sign_handover
from ..core.notes import Checkpoint, NoteError, Signature, SignerKey, VerifierKey, open_checkpoint, sign_checkpoint
from ..settings import current
from .dialects import dialect_for
from .schema import mirror, signing_key

log = logging.getLogger("registers.signing")

# Public keys whose private keys were published and must never sign or be trusted (see
# docs/operations.md, "Compromised keys"): by Ed25519 public key, whatever name they carry.
COMPROMISED = {
    # localhost+c18994b6: written to keys/ by an early PostgreSQL benchmark and committed (de676c0)
    bytes.fromhex("9750eb437735cd19a0e24fe31134e7b164e6e39642e478791d1325d343382cfd"),
}


def refuse_compromised(key: VerifierKey) -> None:
    """CompromisedKey if ``key`` is one whose private key is known to be public."""
    if key.public_key in COMPROMISED:
        raise CompromisedKey(
            f"key {key.label} is compromised (its private key was published; see docs/operations.md): "
            "it can never sign or be trusted"
        )


def origin() -> str:
    """The platform's origin name: ``$REGISTERS_ORIGIN`` or ``localhost``; no scheme, spaces or '+'
    (registers.settings refuses any other)."""
    return current().origin


def log_origin(register: str, log: Log) -> str:
    """The checkpoint origin of one log of a register."""
    base = f"{origin()}/{register}"
    return base if log is Log.USER else base + "/system"


def key_dir(conn: Connection) -> Path | None:
    """Where private keys live for the database ``conn`` is connected to: the configured
    directory (a relative one taken from the working directory, and reported and used as the
    absolute path it names), else ``keys/`` beside a SQLite database file, else None (not
    configured)."""
    explicit = current().key_dir
    if explicit:
        return Path(os.path.abspath(explicit))
    database = dialect_for(conn).database_file(conn.engine.url)
    if database is not None:
        return database.resolve().parent / "keys"
    return None


def needed_key_dir(conn: Connection) -> Path:
    """The key directory, for a command that writes a private key there (generate, import,
    rotate, a migration's first key); NoSigningKey when none is configured (a database server
    has no default)."""
    directory = key_dir(conn)
    if directory is None:
        raise NoSigningKey(
            "REGISTERS_KEY_DIR is not set: it must be set to the directory where private keys are kept (a database "
            "server has no default key directory)"
        )
    return directory


def key_file(directory: Path, key: VerifierKey) -> Path:
    """The private key file of ``key`` in ``directory``."""
    return directory / f"{key.key_id.hex()}.key"


@dataclass(frozen=True)
class RecordedKey:
    """A public key recorded as this server's: when made, when retired (None: not retired) and
    the handover note it signed naming its successor."""

    key: VerifierKey
    created: str
    retired: str | None
    handover: str | None

    @property
    def status(self) -> str:
        """``compromised`` (its private key is known to be public: it never signs, whatever the
        database says), else ``retired`` or ``signing``."""
        if self.key.public_key in COMPROMISED:
            return "compromised"
        return "retired" if self.retired else "signing"


def recorded_keys(conn: Connection) -> list[RecordedKey]:
    """Every key recorded as this server's, oldest first."""
    k = signing_key.c
    rows = conn.execute(select(k.vkey, k.created, k.retired, k.handover).order_by(k.id))
    return [RecordedKey(VerifierKey.parse(r.vkey), r.created, r.retired, r.handover) for r in rows]


def verifier_keys(conn: Connection) -> list[VerifierKey]:
    """Every public key that has signed this server's checkpoints, oldest first."""
    return [VerifierKey.parse(text) for text in conn.execute(_ALL).scalars()]


def handovers(conn: Connection) -> list[str]:
    """Every handover note this server's keys signed, oldest first."""
    k = signing_key.c
    return list(conn.execute(select(k.handover).where(k.handover.is_not(None)).order_by(k.id)).scalars())


_SIGNING = (  # built once: building a statement costs more than running it (each write runs it)
    select(signing_key.c.vkey).where(signing_key.c.retired.is_(None)).order_by(signing_key.c.id.desc()).limit(1)
)
_ALL = select(signing_key.c.vkey).order_by(signing_key.c.id)


def holds_mirrors(conn: Connection) -> bool:
    """Whether the database holds any mirrored register (it is then no fresh database: init and
    create make no key there)."""
    return conn.execute(select(mirror.c.register_id).limit(1)).first() is not None


def signing_key_of(conn: Connection) -> VerifierKey | None:
    """The recorded key that signs: the newest not retired (None when none is recorded)."""
    text = conn.execute(_SIGNING).scalar()
    return None if text is None else VerifierKey.parse(text)


def current_signer(conn: Connection) -> SignerKey:
    """The private key that signs: the recorded signing key, read from its file in the key
    directory. NoSigningKey, naming where it looked, when no key is recorded, the directory
    is not configured, the file is missing or holds another key, or the key is compromised.
    Any other ``*.key`` file in the directory is logged (once) and never used."""
    key = signing_key_of(conn)
    directory = key_dir(conn)
    _log_strays(conn, directory, key)
    if key is None:
        where = f"key directory: {directory}" if directory is not None else "REGISTERS_KEY_DIR is not set"
        mirrored = " (it holds mirrored registers, so 'init' and 'create' make none here)" if holds_mirrors(conn) \
            else ""
        raise NoSigningKey(
            f"no signing key is configured: this database records none{mirrored}; make one with 'registers keys "
            f"generate' or record an existing one with 'registers keys import FILE' ({where})"
        )
    try:
        refuse_compromised(key)
    except CompromisedKey as exc:
        raise NoSigningKey(f"no signing key is configured: {exc}; 'registers keys rotate --lost' replaces it") from None
    if directory is None:
        raise NoSigningKey(
            f"no signing key is configured: key {key.label} signs here, but REGISTERS_KEY_DIR is not set (a "
            "database server has no default key directory: set it to the directory holding the private key)"
        )
    path = key_file(directory, key)
    if not path.exists():
        raise NoSigningKey(
            f"no signing key is configured: key {key.label} signs here, but its private key file {path} "
            "is missing (REGISTERS_KEY_DIR)"
        )
    try:
        return _read_private(path, key)
    except IntegrityError as exc:
        raise NoSigningKey(f"no signing key is configured: {exc}") from None


def can_sign(conn: Connection) -> bool:
    """Whether a write could be signed now (the signing key's private file is at hand)."""
    try:
        current_signer(conn)
    except NoSigningKey:
        return False
    return True


_SEEN: set[str] = set()  # key files looked at once: logged if stray, else a recorded (retired) key's


def _log_strays(conn: Connection, directory: Path | None, key: VerifierKey | None) -> None:
    """Log (once each per process) the ``*.key`` files in ``directory`` that are no recorded
    key's: they never sign (the files of retired keys are kept on purpose, and not logged).
    A listing of the directory per write (~10 us); the database is asked only about new files."""
    if directory is None:
        return
    try:
        names = sorted(e.name for e in os.scandir(directory) if e.name.endswith(".key"))
    except OSError:
        return
    want = None if key is None else key_file(directory, key).name
    unseen = [directory / name for name in names if name != want and str(directory / name) not in _SEEN]
    if not unseen:
        return
    recorded = {key_file(directory, k).name for k in verifier_keys(conn)}
    for path in unseen:
        _SEEN.add(str(path))
        if path.name not in recorded:
            log.warning("ignoring key file %s: only a key recorded in the database signs "
                        "('registers keys import' records one on purpose)", path)


def lock_keys(conn: Connection) -> None:
    """In a write transaction: wait until no other process is changing the recorded keys (two
    'keys generate' at once must not both record a key). The schema lock serves: key changes
    are as rare, and as brief."""
    dialect_for(conn).lock_schema(conn)


def generate_key(conn: Connection, name: str | None = None) -> tuple[SignerKey, Path]:
    """A new Ed25519 key named ``name`` (default: the origin) that signs from now on, and where
    its private key was written (mode 0600). Refused when a key signs here already (``rotate``
    replaces one, with a handover note)."""
    lock_keys(conn)
    existing = signing_key_of(conn)
    if existing is not None:
        raise RegisterError(
            f"key {existing.label} signs here already: 'registers keys rotate' replaces it (with a handover "
            "note clients can follow)"
        )
    key = SignerKey.generate(name or origin())
    path = write_private_key(needed_key_dir(conn), key)
    _record(conn, key.verifier)
    return key, path


def import_key(conn: Connection, source: Path) -> tuple[SignerKey, Path]:
    """Record the private key in file ``source`` as the key that signs here, and install it in
    the key directory (mode 0600) if it is not there; the key and its path there. The key
    recorded as signing may be installed again (a second server); any other key is refused
    when one signs already, and a retired or compromised key always."""
    try:
        key = SignerKey.parse(source.read_text(encoding="ascii").strip())
    except (OSError, UnicodeDecodeError, NoteError) as exc:
        raise RegisterError(f"{source}: not a private key ({exc})") from None
    refuse_compromised(key.verifier)
    lock_keys(conn)
    known = {r.key: r for r in recorded_keys(conn)}
    signing = signing_key_of(conn)
    recorded = known.get(key.verifier)
    if recorded is not None and recorded.retired:
        raise RegisterError(
            f"{source}: key {key.verifier.label} was retired on {recorded.retired}; it cannot sign again"
        )
    if recorded is None and signing is not None:
        raise RegisterError(
            f"{source}: key {signing.label} signs here: 'registers keys rotate' replaces it (with a handover "
            "note); an unrelated key cannot take its place"
        )
    directory = needed_key_dir(conn)
    path = key_file(directory, key.verifier)
    if path.exists():  # copied there already (or imported before): it must hold this key, mode 0600
        _read_private(path, key.verifier)
        try:
            path.chmod(0o600)
        except OSError as exc:
            raise RegisterError(f"the private key file {path} cannot be made mode 0600: {exc.strerror}") from None
    else:
        write_private_key(directory, key)
    if recorded is None:
        _record(conn, key.verifier)
    return key, path


def rotate_key(conn: Connection, name: str | None = None) -> tuple[Handover, Path]:
    """Retire the signing key for a new one (named ``name``, default: the origin): the new
    private key is written to the key directory, and the old key signs a handover note naming
    the new one (kept with the old key and served at /keys.json). The handover and the new
    key's path. NoSigningKey when the old key's private file is not at hand or the key is
    compromised (``replace_lost_key`` is for that)."""
    lock_keys(conn)
    if signing_key_of(conn) is not None:
        needed_key_dir(conn)  # the new key must go somewhere: say so first (not that the old one is missing)
    try:
        old = current_signer(conn)
    except NoSigningKey as exc:
        if signing_key_of(conn) is None:
            raise
        raise NoSigningKey(
            f"{exc}; a rotation needs the old key to sign the handover note: restore its file ('registers keys "
            "import BACKUP'), or if it is lost or leaked, 'registers keys rotate --lost' replaces it without one"
        ) from None
    new = SignerKey.generate(name or origin())
    at = now_timestamp()
    note = sign_handover(old, new, at)
    path = _replace(conn, old.verifier, new, at, note)
    return parse_handover(note), path


def replace_lost_key(conn: Connection, name: str | None = None) -> tuple[VerifierKey, SignerKey, Path]:
    """Retire the signing key, lost or leaked, for a new one with no handover note (none signed
    by a lost or leaked key is worth trusting: clients must be given the new key out of band).
    The retired key, the new one and its path."""
    lock_keys(conn)
    old = signing_key_of(conn)
    if old is None:
        raise RegisterError("no key signs here yet: 'registers keys generate' makes the first one")
    needed_key_dir(conn)
    new = SignerKey.generate(name or origin())
    path = _replace(conn, old, new, now_timestamp(), None)
    return old, new, path


def _replace(conn: Connection, old: VerifierKey, new: SignerKey, at: str, note: str | None) -> Path:
    """Write ``new``'s private key file, retire ``old`` at ``at`` (with handover ``note``) and
    record ``new``; the new file's path."""
    path = write_private_key(needed_key_dir(conn), new)
    k = signing_key.c
    conn.execute(update(signing_key).where(k.vkey == old.text).values(retired=at, handover=note))
    _record(conn, new.verifier, at)
    return path


def sign(signer: SignerKey, register: str, log: Log, size: int, root: bytes) -> str:
    """The signed checkpoint note of one log of ``register`` at ``size`` with ``root``."""
    return sign_checkpoint(Checkpoint(log_origin(register, log), size, root), signer)


def open_stored(note: str, keys: list[VerifierKey], what: str) -> Checkpoint:
    """The checkpoint of a stored signed note; IntegrityError naming ``what`` when its signature
    does not verify with ``keys``."""
    try:
        checkpoint, _opened = open_checkpoint(note, keys)
    except NoteError as exc:
        raise IntegrityError(f"{what}: {exc}") from None
    return checkpoint


def open_stored_by(note: str, keys: list[VerifierKey], what: str) -> tuple[Checkpoint, tuple[Signature, ...]]:
    """``open_stored``, and the signatures of ``keys`` that verified (at least one)."""
    try:
        checkpoint, opened = open_checkpoint(note, keys)
    except NoteError as exc:
        raise IntegrityError(f"{what}: {exc}") from None
    return checkpoint, opened.verified


def _record(conn: Connection, key: VerifierKey, at: str | None = None) -> None:
    if conn.execute(select(signing_key.c.id).where(signing_key.c.vkey == key.text)).first() is None:
        conn.execute(insert(signing_key).values(vkey=key.text, created=at or now_timestamp()))


def write_private_key(directory: Path, key: SignerKey) -> Path:
    """Write ``key`` to a new file in ``directory`` (made mode 0700 if missing), mode 0600; its path."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise RegisterError(
            f"the key directory {directory} (REGISTERS_KEY_DIR) cannot be made: {exc.strerror}"
        ) from None
    path = key_file(directory, key.verifier)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise RegisterError(f"the private key file {path} cannot be written: {exc.strerror}") from None
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(key.text + "\n")
    return path


_READ: dict[tuple[str, int, int, int], SignerKey] = {}  # key files parsed, by path, inode, mtime and size


def _read_private(path: Path, expected: VerifierKey | None) -> SignerKey:
    """The key in file ``path`` (parsed again whenever the file is replaced or changed)."""
    try:
        stat = path.stat()
        ident = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
        key = _READ.get(ident)
        if key is None:
            key = SignerKey.parse(path.read_text(encoding="ascii").strip())
            if len(_READ) >= 64:
                _READ.clear()
            _READ[ident] = key
    except (OSError, UnicodeDecodeError, NoteError) as exc:
        raise IntegrityError(f"{path}: not a private key ({exc})") from None
    if expected is not None and key.verifier != expected:
        raise IntegrityError(f"{path}: holds another key than {expected.text}")
    return key
