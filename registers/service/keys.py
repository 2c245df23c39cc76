"""Signing keys: made, imported and rotated only on purpose; listed with their status."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine

from ..core.errors import RegisterError
from ..core.handover import Handover
from ..core.notes import NoteError, VerifierKey
from ..store import mirrors, reads, signing
from ..store.engine import snapshot, writer
from .registers import register_id_of


@dataclass(frozen=True)
class NewKey:
    """A key that signs from now on: its public form and where its private key is."""

    vkey: str
    path: Path


def generate_key(engine: Engine, name: str | None = None) -> NewKey:
    """Make an Ed25519 key pair named ``name`` (default: the origin) that signs every checkpoint
    from now on. Refused when a key signs already (``rotate_key`` replaces it)."""
    with writer(engine).begin() as conn:
        key, path = signing.generate_key(conn, name)
        return NewKey(key.verifier.text, path)


def ensure_key(engine: Engine, writes: Iterable[str] = ()) -> NewKey | None:
    """For ``init`` and ``create``, before they write to the registers named ``writes``: a new
    signing key on a fresh database (one that records no key and holds no mirrored register:
    the key made), else None once the recorded key is shown at hand.

    Refused before any key is made: ReadOnlyMirror when one of ``writes`` is a mirrored register
    (a write there is refused anyway), NoSigningKey when the database is not fresh and no key
    can sign (a database holding mirrors gets a key only from 'registers keys generate')."""
    with writer(engine).begin() as conn:
        signing.lock_keys(conn)  # another 'create' at once makes the one key, or this one does
        for name in writes:
            reg_id = reads.register_id(conn, name)
            if reg_id is not None:
                mirrors.refuse_write(conn, reg_id)
        if signing.signing_key_of(conn) is None and not signing.holds_mirrors(conn):
            key, path = signing.generate_key(conn)
            return NewKey(key.verifier.text, path)
        signing.current_signer(conn)  # NoSigningKey, naming what is missing, before anything is written
        return None


def import_key(engine: Engine, source: Path) -> NewKey:
    """Record the private key in file ``source`` as the key that signs here and install it in
    the key directory (see ``store.signing.import_key`` for what is refused)."""
    with writer(engine).begin() as conn:
        key, path = signing.import_key(conn, source)
        return NewKey(key.verifier.text, path)


@dataclass(frozen=True)
class Rotated:
    """A rotation: the handover note and where the new private key was written."""

    handover: Handover
    path: Path


def rotate_key(engine: Engine, name: str | None = None) -> Rotated:
    """Retire the signing key for a new one, the old key signing a handover note that names
    the new one; NoSigningKey when the signing key's private file is not at hand."""
    with writer(engine).begin() as conn:
        handover, path = signing.rotate_key(conn, name)
        return Rotated(handover, path)


@dataclass(frozen=True)
class Replaced:
    """A lost or leaked key retired with no handover note, and the key made in its place;
    ``old_file``: the retired key's private file when it is still in the key directory (it
    should be destroyed: a leaked key must never sign again)."""

    old: VerifierKey
    new: NewKey
    old_file: Path | None = None


def replace_lost_key(engine: Engine, name: str | None = None) -> Replaced:
    """Retire the signing key, lost or leaked, for a new one with no handover note (see
    ``store.signing.replace_lost_key``): clients must be given the new key out of band."""
    with writer(engine).begin() as conn:
        old, new, path = signing.replace_lost_key(conn, name)
    left = signing.key_file(path.parent, old)
    return Replaced(old, NewKey(new.verifier.text, path), left if left.exists() else None)


def signing_key(engine: Engine) -> str | None:
    """The public key that signs next (None before a key is made)."""
    with engine.connect() as conn:
        key = signing.signing_key_of(conn)
    return None if key is None else key.text


def signing_key_file(engine: Engine) -> Path | None:
    """Where the signing key's private file is expected (None without a key or key directory)."""
    with engine.connect() as conn:
        key, directory = signing.signing_key_of(conn), signing.key_dir(conn)
    return None if key is None or directory is None else signing.key_file(directory, key)


def key_statuses(engine: Engine) -> list[signing.RecordedKey]:
    """Every key recorded as this server's, oldest first, with its status."""
    with snapshot(engine) as conn:
        return signing.recorded_keys(conn)


def keys_json(engine: Engine) -> list[dict[str, Any]]:
    """The ``/keys.json`` answer: each key's public form, id, status, dates and the handover
    note it signed (retired keys), oldest first."""
    return [_key_json(r.key, r.status, r.created, r.retired, r.handover) for r in key_statuses(engine)]


def register_keys_json(engine: Engine, name: str) -> list[dict[str, Any]]:
    """``keys_json`` for the keys that verify register ``name``: this server's own, or for a
    mirrored register its origin's (see ``_origin_key_json``), each retired one with the
    handover note (learnt by the mirror) that names its successor. RegisterNotFound when there
    is no such register."""
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        if mirrors.mirrored_from(conn, reg_id) is None:
            own = signing.recorded_keys(conn)
            return [_key_json(r.key, r.status, r.created, r.retired, r.handover) for r in own]
        rows = mirrors.origin_key_status(conn, reg_id)
    return [_origin_key_json(row) for row in rows]


def _origin_key_json(row: mirrors.OriginKey) -> dict[str, Any]:
    """A mirrored register's origin key as ``/<register>/keys.json`` gives it: the origin's
    facts where the mirror knows them (``created``: when the handover note naming it as the
    successor was signed; ``retired``: when the one it signed naming its successor was; null
    when unknown, as for a key given on purpose or retired with no note), ``learnt``: when the
    mirror recorded it; ``signing`` for the current key, ``retired`` for one superseded (or
    that handed over)."""
    handed = row.handed_over
    return {"key": row.key.text, "id": row.key.label,
            "status": "signing" if row.current and handed is None else "retired",
            "created": row.learnt_from.at if row.learnt_from else None, "retired": handed.at if handed else None,
            "handover": handed.note if handed else None, "learnt": row.learnt}


@dataclass(frozen=True)
class MirroredKeys:
    """A mirrored register, the URL it copies and the origin keys recorded with it."""

    register: str
    url: str
    keys: list[mirrors.OriginKey]


def mirrored_keys(engine: Engine) -> list[MirroredKeys]:
    """Every mirrored register here, by name, with its origin keys, current or superseded."""
    with snapshot(engine) as conn:
        return [MirroredKeys(name, url, mirrors.origin_key_status(conn, reg_id))
                for name, url, reg_id in mirrors.mirrored_registers(conn)]


def _key_json(key: VerifierKey, status: str, created: str, retired: str | None, handover: str | None) -> dict[str, Any]:
    return {"key": key.text, "id": key.label, "status": status, "created": created, "retired": retired,
            "handover": handover}


def read_keys(values: list[str]) -> list[VerifierKey]:
    """Verifier keys from ``values``: each a C2SP key (``name+id+base64``) or the path of a file
    of keys, one a line (blank lines and ``#`` comments skipped; what follows a key on its line,
    such as the ``(signs)`` of 'registers keys list', ignored). Raises BadKey naming the value,
    CompromisedKey for a key known to be compromised."""
    keys: list[VerifierKey] = []
    for value in values:
        path = Path(value)
        if path.is_file():
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise BadKey(f"--key {value}: cannot read: {exc}") from None
            texts = [(f"{value}:{n}", line.split()[0]) for n, line in enumerate(lines, 1)
                     if line.strip() and not line.lstrip().startswith("#")]
            if not texts:
                raise BadKey(f"--key {value}: the file holds no keys")
        elif "+" not in value:
            raise BadKey(f"--key {value}: no such file, and not a key (name+id+key)")
        else:
            texts = [(f"--key {value}", value)]
        for where, text in texts:
            try:
                key = VerifierKey.parse(text)
            except NoteError as exc:
                raise BadKey(f"{where}: {exc}") from None
            signing.refuse_compromised(key)
            keys.append(key)
    return keys


class BadKey(RegisterError):
    """A --key that is not a verifier key."""
