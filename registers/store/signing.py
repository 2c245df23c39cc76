"""Signing keys and signed checkpoints: which key signs, where private keys live, origins.

Private keys are files (mode 0600) in the key directory, never in the database, never logged
or served: ``$REGISTERS_KEY_DIR``, else ``keys/`` beside a SQLite database file, else ``./keys``.
The database keeps every public key that has signed (``signing_key``), so checkpoints signed
before a rotation still verify. The newest key whose private file is at hand signs; when none
is, a key file found in the directory is adopted, else a new key is generated.

Checkpoints are C2SP signed notes (core.notes) with origin ``<REGISTERS_ORIGIN>/<register>``
for the user log and ``<REGISTERS_ORIGIN>/<register>/system`` for the system log.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, insert, select
from sqlalchemy.engine import Connection

from ..core.entries import Log, now_timestamp
from ..core.errors import IntegrityError, RegisterError
from ..core.notes import Checkpoint, NoteError, SignerKey, VerifierKey, open_checkpoint, sign_checkpoint
from ..settings import current
from .dialects import dialect_for
from .schema import signing_key


def origin() -> str:
    """The platform's origin name: ``$REGISTERS_ORIGIN`` or ``localhost``; no scheme, spaces or '+'
    (registers.settings refuses any other)."""
    return current().origin


def log_origin(register: str, log: Log) -> str:
    """The checkpoint origin of one log of a register."""
    base = f"{origin()}/{register}"
    return base if log is Log.USER else base + "/system"


def key_dir(conn: Connection) -> Path:
    """Where private keys live for the database ``conn`` is connected to (an engine made with
    ``scratch_keys`` keeps its own)."""
    own = conn.get_execution_options().get("registers_key_dir")
    if own:
        return Path(own)
    explicit = current().key_dir
    if explicit:
        return explicit
    database = dialect_for(conn).database_file(conn.engine.url)
    if database is not None:
        return database.resolve().parent / "keys"
    return Path("keys")


def scratch_keys(engine: Engine, directory: Path) -> Engine:
    """``engine`` signing with keys of its own in ``directory`` (for scratch databases that
    must not create or use the custodian's keys)."""
    return engine.execution_options(registers_key_dir=str(directory))


def key_file(directory: Path, key: VerifierKey) -> Path:
    """The private key file of ``key`` in ``directory``."""
    return directory / f"{key.key_id.hex()}.key"


def verifier_keys(conn: Connection) -> list[VerifierKey]:
    """Every public key that has signed this database's checkpoints, oldest first."""
    rows = conn.execute(select(signing_key.c.vkey).order_by(signing_key.c.id)).scalars()
    return [VerifierKey.parse(text) for text in rows]


def generate_key(conn: Connection, name: str | None = None) -> SignerKey:
    """A new Ed25519 key named ``name`` (default: the origin) that signs from now on: its private
    key written to the key directory (mode 0600), its public key recorded."""
    key = SignerKey.generate(name or origin())
    _write_private(key_dir(conn), key)
    _record(conn, key.verifier)
    return key


def signer_at_hand(conn: Connection, keys: list[VerifierKey] | None = None) -> VerifierKey | None:
    """The newest recorded key (of ``keys``, the recorded keys if already read) whose private
    key file is in the key directory, if any."""
    directory = key_dir(conn)
    for key in reversed(verifier_keys(conn) if keys is None else keys):
        if key_file(directory, key).exists():
            return key
    return None


def trial_signer(conn: Connection, keys: list[VerifierKey] | None = None) -> SignerKey:
    """The key a dry run signs with: the signing key if one is at hand, else a throwaway key
    (neither written nor recorded: a dry run leaves no key file behind)."""
    recorded = signer_at_hand(conn, keys)
    if recorded is not None:
        return _read_private(key_file(key_dir(conn), recorded), recorded)
    return SignerKey.generate(origin())


def current_signer(conn: Connection, keys: list[VerifierKey] | None = None) -> SignerKey:
    """The key that signs: the newest recorded key (``keys``: the recorded keys, if already
    read) whose private file is at hand, else a key file in the directory (adopted), else a
    new key."""
    directory = key_dir(conn)
    recorded = signer_at_hand(conn, keys)
    if recorded is not None:
        return _read_private(key_file(directory, recorded), recorded)
    files = sorted(directory.glob("*.key"), key=lambda p: p.stat().st_mtime) if directory.is_dir() else []
    if files:
        adopted = _read_private(files[-1], None)
        _record(conn, adopted.verifier)
        return adopted
    return generate_key(conn)


def sign(signer: SignerKey, register: str, log: Log, size: int, root: bytes) -> str:
    """The signed checkpoint note of one log of ``register`` at ``size`` with ``root``."""
    return sign_checkpoint(Checkpoint(log_origin(register, log), size, root), signer)


def open_stored(note: str, keys: list[VerifierKey], what: str) -> Checkpoint:
    """The checkpoint of a stored signed note; IntegrityError naming ``what`` when its signature
    does not verify with the database's keys."""
    try:
        checkpoint, _opened = open_checkpoint(note, keys)
    except NoteError as exc:
        raise IntegrityError(f"{what}: {exc}") from None
    return checkpoint


def _record(conn: Connection, key: VerifierKey) -> None:
    if conn.execute(select(signing_key.c.id).where(signing_key.c.vkey == key.text)).first() is None:
        conn.execute(insert(signing_key).values(vkey=key.text, created=now_timestamp()))


def _write_private(directory: Path, key: SignerKey) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise RegisterError(
            f"the key directory {directory} (REGISTERS_KEY_DIR) cannot be made: {exc.strerror}"
        ) from None
    path = key_file(directory, key.verifier)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="ascii") as out:
        out.write(key.text + "\n")


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
