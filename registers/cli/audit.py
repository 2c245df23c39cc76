"""The auditor and the mirror: ``registers verify TARGET`` and ``registers mirror URL``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from .. import service
from ..core.entries import Log
from ..core.errors import IntegrityError, LineError, RegisterError
from ..core.items import hash_text
from .group import _engine, main

KEY = click.option("--key", "keys", multiple=True, metavar="VKEY",
                   help="A verifier key (name+id+base64) or a file of them; may repeat.")


def _say_followed(followed: tuple[Any, ...]) -> None:
    """Tell the user which new keys a rotation made trusted."""
    for handover in followed:
        click.echo(f"now trusting {handover.new.label}; add it to your configuration: {handover.new.text} "
                   f"(handed over by {handover.old.label} at {handover.at})", err=True)


def _fail(target: str, exc: Exception) -> None:
    message = str(exc)
    if target.startswith(("http://", "https://")):  # a URL said once: its fault names it again
        base = target.rstrip("/")
        if message.startswith(f"{base}: "):
            message = message[len(base) + 2:]
    click.echo(f"{target}: FAILED: {message}", err=True)
    sys.exit(1)


@main.command()
@click.argument("target")
@click.option("--checkpoint", "checkpoint_file", type=click.Path(exists=True, dir_okay=False),
              help="FILE.rsf: a signed checkpoint the dump must match.")
@click.option("--since", type=click.IntRange(min=0), default=0, metavar="SIZE",
              help="A local register: recompute only what came after its checkpoint of SIZE user entries "
                   "(verified before).")
@KEY
@click.pass_context
def verify(ctx: click.Context, target: str, checkpoint_file: str | None, since: int, keys: tuple[str, ...]) -> None:
    """Prove a register was only ever appended to and every byte is as signed.

    TARGET is a register in the local database (every hash, node, checkpoint signature and the
    consistency of consecutive checkpoints; with --since, only what came after an earlier
    audit's checkpoint), an RSF file (recomputed; with --checkpoint and
    --key, matched against a signed checkpoint), or a register's URL (downloaded and
    recomputed, its checkpoints' signatures checked with --key the first time, then with the
    origin keys the last audit saved, and shown to extend the checkpoint saved by the last
    audit, which it then replaces; see $REGISTERS_TRUST_DIR). A key that signed before but was
    superseded by a later one never signs a new checkpoint; a new key is trusted through a
    handover note, or given with --key (after 'keys rotate --lost').
    Exits 0 when everything holds; otherwise names the first fault and exits 1.

    In the examples localhost+1a2b3c4d+AW... stands for the origin's public key, as 'registers
    keys list' prints it, and keys.txt for a file of them ('registers keys list > keys.txt').

    \b
    Examples:
      registers verify country
      registers verify country --since 209
      curl -o country.rsf https://registers.example.gov.uk/country/download-rsf
      curl -o country.checkpoint https://registers.example.gov.uk/country/checkpoint
      registers verify country.rsf --checkpoint country.checkpoint --key localhost+1a2b3c4d+AW...
      registers verify https://registers.example.gov.uk/country/ --key keys.txt
    """
    try:
        if since and (target.startswith(("http://", "https://")) or Path(target).is_file()):
            raise RegisterError("--since is for a register in the local database")
        verifiers = service.read_keys(list(keys))
        if target.startswith(("http://", "https://")):
            audited = service.audit(target, verifiers)  # RegisterError with no key given nor saved
            _say_followed(audited.followed)
            saved = f"; extends the checkpoint saved before at {audited.previous.size}" if audited.previous else \
                "; first audit, checkpoint saved"
            click.echo(f"{target}: ok: {audited.user.size} user and {audited.system.size} system entries "
                       f"recomputed; root {hash_text(audited.user.root)} signed{saved}")
        elif Path(target).is_file():
            note = Path(checkpoint_file).read_text(encoding="utf-8") if checkpoint_file else None
            if note is not None and not verifiers:
                raise RegisterError("--checkpoint needs --key to check its signature")
            dump = service.verify_dump(target, note, verifiers)
            matched = f"; matches the signed checkpoint at {dump.checkpoint.size}" if dump.checkpoint else ""
            click.echo(f"{target}: ok: {dump.register}: {dump.head.user_size} entries; "
                       f"root {hash_text(dump.head.user_root)}{matched}")
        else:
            result = service.verify(_engine(ctx, existing=True), target, since, keys=verifiers)
            _say_followed(result.followed)
            h = result.head
            after = f" after the checkpoint at {since} (verified before)" if result.since else ""
            given = f" (the latest checked with the given key{'s' if len(result.given) > 1 else ''})" \
                if result.given else ""
            click.echo(
                f"{target}: ok: {result.entries[Log.USER]} user and {result.entries[Log.SYSTEM]} system entries"
                f"{after}, {result.items} items, every checkpoint signature{given}; root {h.user_size} "
                f"{hash_text(h.user_root)}"
            )
    except (IntegrityError, service.RemoteError, LineError) as exc:  # the target is at fault
        _fail(target, exc)
    except (RegisterError, OSError) as exc:  # the command is (a bad key, a missing file)
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)


@main.command()
@click.argument("url")
@KEY
@click.pass_context
def mirror(ctx: click.Context, url: str, keys: tuple[str, ...]) -> None:
    """Bring the local copy of the register at URL up to its latest signed checkpoints.

    Reads the signed checkpoints first (verified with --key the first time, then with the
    origin keys recorded with the copy), proves they extend the local copy, fetches the user
    and system patches, recomputes every hash and applies them only if the result is exactly
    what was signed. The copy keeps the origin's signed checkpoints as they are (it signs
    nothing and needs no private key) and is read-only here. When the origin rotates its key,
    the new key is trusted only through a handover note the current key signed, or given with
    --key (after 'keys rotate --lost'); a key superseded by a later one never signs a new
    checkpoint. Safe from cron: one summary line, exit status 0 when current, 1 on any failure
    (nothing applied).

    The copy is kept under the register's name in the local database (in the example, a
    database of its own: mirror.db); localhost+1a2b3c4d+AW... stands for the origin's public
    key, as 'registers keys list' prints it.

    \b
    Example:
      registers --db sqlite:///mirror.db mirror https://registers.example.gov.uk/country/ --key localhost+1a2b3c4d+AW...
    """
    try:
        verifiers = service.read_keys(list(keys))
        done = service.mirror(_engine(ctx), url, verifiers)
        _say_followed(done.followed)
        click.echo(done.summary)
    except (IntegrityError, service.RemoteError) as exc:
        _fail(url, exc)
    except RegisterError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
