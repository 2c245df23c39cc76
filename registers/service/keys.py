"""Signing keys: generating one (a rotation when others exist) and listing the public keys."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

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
        directory = signing.key_dir(conn)
        for key in reversed(signing.verifier_keys(conn)):
            if signing.key_file(directory, key).exists():
                return key.text
    return None
