"""Signing keys and signed checkpoints: which key signs, where private keys live, origins.

Keys are made only on purpose (``registers keys generate``, ``keys import``, ``keys rotate``,
and ``init``/``create`` on a database with no key): nothing here makes or adopts a key as a
side effect of a write. The database records every public key that has signed
(``signing_key``), so checkpoints signed before a rotation still verify; the newest key not
retired signs, and its private key must be a file (mode 0600) in the key directory:
``$REGISTERS_KEY_DIR``, else, for a SQLite database file, ``keys/`` beside it. A PostgreSQL
database has no default key directory: several servers share it, and each must find the same
key. Any other ``*.key`` file in the directory is ignored (and logged). With no signing key
at hand a write is refused (NoSigningKey) and reads go on.

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
from ..core.notes import Checkpoint, NoteError, SignerKey, VerifierKey, open_checkpoint, sign_checkpoint
from ..settings import current
from .dialects import dialect_for
from .schema import signing_key

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
    directory, else ``keys/`` beside a SQLite database file, else None (not configured)."""
    explicit = current().key_dir
    if explicit:
        return explicit
    database = dialect_for(conn).database_file(conn.engine.url)
    if database is not None:
        return database.resolve().parent / "keys"
    return None


def needed_key_dir(conn: Connection) -> Path:
    """The key directory; NoSigningKey when none is configured (a database server)."""
    directory = key_dir(conn)
    if directory is None:
        raise NoSigningKey(
            "no signing key is configured: REGISTERS_KEY_DIR is not set (a database server has no default "
            "key directory: set it to the directory holding the private key)"
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
        """``signing`` or ``retired``."""
        return "retired" if self.retired else "signing"


def recorded_keys(conn: Connection) -> list[RecordedKey]:
    """Every key recorded as this server's, oldest first."""
    k = signing_key.c
    rows = conn.execute(select(k.vkey, k.created, k.retired, k.handover).order_by(k.id))
    return [RecordedKey(VerifierKey.parse(r.vkey), r.created, r.retired, r.handover) for r in rows]


def verifier_keys(conn: Connection) -> list[VerifierKey]:
    """Every public key that has signed this server's checkpoints, oldest first."""
    rows = conn.execute(select(signing_key.c.vkey).order_by(signing_key.c.id)).scalars()
    return [VerifierKey.parse(text) for text in rows]


def handovers(conn: Connection) -> list[str]:
    """Every handover note this server's keys signed, oldest first."""
    k = signing_key.c
    return list(conn.execute(select(k.handover).where(k.handover.is_not(None)).order_by(k.id)).scalars())


def signing_key_of(conn: Connection) -> VerifierKey | None:
    """The recorded key that signs: the newest not retired (None when none is recorded)."""
    k = signing_key.c
    text = conn.execute(
        select(k.vkey).where(k.retired.is_(None)).order_by(k.id.desc()).limit(1)
    ).scalar()
    return None if text is None else VerifierKey.parse(text)


def current_signer(conn: Connection) -> SignerKey:
    """The private key that signs: the recorded signing key, read from its file in the key
    directory. NoSigningKey, naming where it looked, when no key is recorded, the directory
    is not configured or the file is missing; IntegrityError when the file holds another key."""
    key = signing_key_of(conn)
    directory = key_dir(conn)
    if key is None:
        _log_strays(directory, None)
        where = f" (key directory: {directory})" if directory is not None else ""
        raise NoSigningKey(
            "no signing key is configured: this database records none; make one with 'registers keys "
            f"generate' or record an existing one with 'registers keys import FILE'{where}"
        )
    directory = needed_key_dir(conn)
    path = key_file(directory, key)
    if not path.exists():
        _log_strays(directory, key)
        raise NoSigningKey(
            f"no signing key is configured: key {key.label} signs here, but its private key file {path} "
            "is missing (REGISTERS_KEY_DIR)"
        )
    refuse_compromised(key)
    try:
        return _read_private(path, key)
    except IntegrityError as exc:
        raise NoSigningKey(f"no signing key is configured: {exc}") from None


def can_sign(conn: Connection) -> bool:
    """Whether a write could be signed now (the signing key's private file is at hand)."""
    try:
        current_signer(conn)
    except (NoSigningKey, CompromisedKey):
        return False
    return True


_WARNED: set[str] = set()


def _log_strays(directory: Path | None, key: VerifierKey | None) -> None:
    """Log (once each) the ``*.key`` files in ``directory`` that are not the signing key's."""
    if directory is None or not directory.is_dir():
        return
    want = None if key is None else key_file(directory, key).name
    for path in sorted(directory.glob("*.key")):
        if path.name != want and str(path) not in _WARNED:
            _WARNED.add(str(path))
            log.warning("ignoring key file %s: only a key recorded in the database signs "
                        "('registers keys import' records one on purpose)", path)


def generate_key(conn: Connection, name: str | None = None) -> tuple[SignerKey, Path]:
    """A new Ed25519 key named ``name`` (default: the origin) that signs from now on, and where
    its private key was written (mode 0600). Refused when a key signs here already (``rotate``
    replaces one, with a handover note)."""
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
    if path.exists():
        _read_private(path, key.verifier)  # refuses a file holding another key
    else:
        write_private_key(directory, key)
    if recorded is None:
        _record(conn, key.verifier)
    return key, path


def rotate_key(conn: Connection, name: str | None = None) -> tuple[Handover, Path]:
    """Retire the signing key for a new one (named ``name``, default: the origin): the new
    private key is written to the key directory, and the old key signs a handover note naming
    the new one (kept with the old key and served at /keys.json). The handover and the new
    key's path."""
    old = current_signer(conn)
    new = SignerKey.generate(name or origin())
    at = now_timestamp()
    note = sign_handover(old, new, at)
    path = write_private_key(needed_key_dir(conn), new)
    k = signing_key.c
    conn.execute(update(signing_key).where(k.vkey == old.verifier.text).values(retired=at, handover=note))
    _record(conn, new.verifier, at)
    return parse_handover(note), path


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
