"""``registers keys``: the Ed25519 keys that sign checkpoints."""

from __future__ import annotations

import click

from .. import service
from .group import _engine, _friendly, main


@main.group()
def keys() -> None:
    """The keys that sign every checkpoint (private keys stay in files, mode 0600)."""


@keys.command()
@click.option("--name", metavar="ORIGIN", help="The key's name (default: $REGISTERS_ORIGIN, else localhost).")
@click.pass_context
@_friendly
def generate(ctx: click.Context, name: str | None) -> None:
    """Make a key pair that signs from now on; print its public (verifier) key.

    Earlier checkpoints keep verifying with the keys that signed them (rotation).
    """
    made = service.generate_key(_engine(ctx), name)
    click.echo(made.vkey)
    click.echo(f"private key written to {made.path} (mode 0600); keep it secret", err=True)


@keys.command("list")
@click.pass_context
@_friendly
def list_(ctx: click.Context) -> None:
    """Every public key that has signed here, oldest first; the one that signs is marked."""
    engine = _engine(ctx)
    signer = service.signing_key(engine)
    for vkey in service.public_keys(engine):
        click.echo(f"{vkey}{'  (signs)' if vkey == signer else ''}")
