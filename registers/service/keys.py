"""Signing keys: generating one (a rotation when others exist) and listing the public keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from ..core.errors import RegisterError
from ..core.notes import NoteError, VerifierKey
from ..store import signing
from ..store.engine import writer


@dataclass(frozen=True)
class NewKey:
    """A key that signs from now on: its public form and where its private key was written."""

    vkey: str
    path: Path


def generate_key(engine: Engine, name: str | None = None) -> NewKey:
    """Make an Ed25519 key pair named ``name`` (default: the origin) that signs every checkpoint
    from now on; earlier checkpoints keep verifying with the keys that signed them."""
    with writer(engine).begin() as conn:
        key = signing.generate_key(conn, name)
        return NewKey(key.verifier.text, signing.key_file(signing.key_dir(conn), key.verifier))


def signing_key(engine: Engine) -> str | None:
    """The public key that signs next, if one is at hand (None before the first key exists)."""
    with engine.connect() as conn:
        key = signing.signer_at_hand(conn)
    return None if key is None else key.text


def read_keys(values: list[str]) -> list[VerifierKey]:
    """Verifier keys from ``values``: each a C2SP key (``name+id+base64``) or the path of a file
    of keys, one a line (blank lines and ``#`` comments skipped; what follows a key on its line,
    such as the ``(signs)`` of 'registers keys list', ignored). Raises BadKey naming the value."""
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
                keys.append(VerifierKey.parse(text))
            except NoteError as exc:
                raise BadKey(f"{where}: {exc}") from None
    return keys


class BadKey(RegisterError):
    """A --key that is not a verifier key."""
