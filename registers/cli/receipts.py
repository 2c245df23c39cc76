"""``registers verify-receipt``: check a change's receipt offline, with public keys only."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, NoReturn

import click

from .. import service
from ..core.items import hash_text
from ..core.notes import VerifierKey
from ..core.receipts import ReceiptError, verify_receipt
from .group import main


def _usage(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(1)


def _failed(file: str, reason: str) -> NoReturn:
    click.echo(f"{file}: FAILED: {reason}", err=True)
    sys.exit(1)


def _one_line(text: object) -> str:
    return " ".join(str(text).split())


def _keys(values: tuple[str, ...]) -> list[VerifierKey]:
    """The verifier keys of ``--key`` values (see ``service.read_keys``)."""
    if not values:
        _usage("give the public key to check with: --key <name+id+key> or --key <file of keys>")
    try:
        return service.read_keys(list(values))
    except service.BadKey as exc:
        _usage(_one_line(exc))


def _read(file: str) -> Any:
    """The JSON of ``file`` (``-``: standard input); FAILED when unreadable or not JSON."""
    try:
        raw = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        _failed(file, f"cannot read: {_one_line(exc.strerror or exc)}")
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        _failed(file, "not a receipt (not UTF-8 text)")
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, or numbers too long to read
        _failed(file, f"not a receipt (not JSON: {_one_line(exc)})")


@main.command("verify-receipt")
@click.argument("file", metavar="FILE")
@click.option("--key", "key_values", multiple=True, metavar="VKEY",
              help="A public key (name+id+key, as 'registers keys list' prints) or a file of them, "
                   "one a line. Repeat for more keys.")
def verify_receipt_(file: str, key_values: tuple[str, ...]) -> None:
    """Check a receipt offline: its entries are in the logs the checkpoints signed.

    A receipt (written by --receipt on load, add, amend or end) holds the new entries, their
    items, the signed checkpoint after the change and the hashes needed to rebuild its root.
    No database is used: only FILE (- for standard input) and the public keys. Prints one line
    per log on success; on any failure prints 'FILE: FAILED: <why>' and exits with status 1.

    In the last example localhost+1a2b3c4d+AW... stands for a public key as 'registers keys
    list' prints it.

    \b
    Examples:
      registers keys list > keys.txt
      registers amend country CV name="Cabo Verde" --as fcdo-data-team --receipt cv.json
      registers verify-receipt cv.json --key keys.txt
      registers verify-receipt cv.json --key localhost+1a2b3c4d+AW...
    """
    keys = _keys(key_values)
    receipt = _read(file)
    try:
        proven = verify_receipt(receipt, keys)
    except ReceiptError as exc:
        _failed(file, _one_line(exc))
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError) as exc:
        # verify_receipt raises ReceiptError for anything it refuses; this is a last guard
        _failed(file, f"not a receipt ({type(exc).__name__}: {_one_line(exc)})")
    for p in proven:
        signers = ", ".join(f"{s.name}+{s.key_id.hex()}" for s in p.signers)
        click.echo(
            f"{receipt['register']}: ok: {p.log.label} entries {p.first}-{p.first + p.count - 1} are in the "
            f"log signed at size {p.checkpoint.size} (root {hash_text(p.checkpoint.root)}) by {signers}"
        )
