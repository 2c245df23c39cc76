"""``registers keys``: the Ed25519 keys that sign checkpoints, made only on purpose."""

from __future__ import annotations

from pathlib import Path

import click

from .. import service
from ..core.notes import VerifierKey
from ..service.keys import mirrored_keys
from .group import _engine, _friendly, main


@main.group()
def keys() -> None:
    """The keys that sign every checkpoint (private keys stay in files, mode 0600).

    A key is made only by 'keys generate' (or 'init'/'create' on a fresh database: one with
    no key and no mirrored register), recorded from a file only by 'keys import', replaced
    only by 'keys rotate'. Any other *.key file in the key directory is ignored.

    \b
    Examples:
      registers keys list
      registers keys list > keys.txt
    """


@keys.command()
@click.option("--name", metavar="ORIGIN", help="The key's name (default: $REGISTERS_ORIGIN, else localhost).")
@click.pass_context
@_friendly
def generate(ctx: click.Context, name: str | None) -> None:
    """Make the key pair that signs here; print its public (verifier) key.

    Refused when a key signs already: 'registers keys rotate' replaces it.

    \b
    Example:
      registers --db sqlite:///new.db keys generate --name registers.example.gov.uk
    """
    made = service.generate_key(_engine(ctx), name)
    click.echo(made.vkey)
    click.echo(f"private key written to {made.path} (mode 0600); keep it secret, back it up", err=True)


@keys.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.pass_context
@_friendly
def import_(ctx: click.Context, file: Path) -> None:
    """Record the private key in FILE as the key that signs here, and install it in the key
    directory (mode 0600).

    Use it to give a second server the key the database records, or to sign with an existing
    key on a database with none. A key that is retired, compromised or unrelated to the one
    that signs is refused.

    The example installs the key that signs, from its file in keys/ (1a2b3c4d stands for its
    id, as 'registers keys list' prints it), in a second server's key directory.

    \b
    Example:
      REGISTERS_KEY_DIR=server2/keys registers keys import keys/1a2b3c4d.key
    """
    try:
        mode = file.stat().st_mode & 0o777  # as it was: the import may be making this very file 0600
    except OSError:
        mode = 0
    made = service.import_key(_engine(ctx), file)
    click.echo(made.vkey)
    click.echo(f"private key installed at {made.path} (mode 0600)", err=True)
    if mode & 0o044:
        click.echo(f"warning: {file} was readable by others (mode {mode:04o}): whoever could read it may hold the "
                   "private key (the copy in the key directory is mode 0600); if it may have leaked, "
                   "'registers keys rotate --lost' replaces it", err=True)


@keys.command()
@click.option("--name", metavar="ORIGIN", help="The new key's name (default: $REGISTERS_ORIGIN, else localhost).")
@click.option("--lost", is_flag=True,
              help="The signing key is lost or leaked: retire it with no handover note (none it signed could be "
                   "trusted); give consumers the new key out of band.")
@click.pass_context
@_friendly
def rotate(ctx: click.Context, name: str | None, lost: bool) -> None:
    """Replace the signing key: make a new one, and have the old one sign a handover note
    naming it (served at /keys.json), so clients and mirrors holding the old key can follow.

    Prints the new public key. Earlier checkpoints keep verifying with the old key; keep its
    private file (or destroy it, if it leaked: see docs/operations.md). Without the old key's
    private file, only --lost replaces it.

    \b
    Examples:
      registers keys rotate
      registers keys rotate --lost
    """
    if lost:
        replaced = service.replace_lost_key(_engine(ctx), name)
        new = VerifierKey.parse(replaced.new.vkey)
        click.echo(replaced.new.vkey)
        click.echo(f"{replaced.old.label} retired with no handover note; {new.label} signs from now on (private "
                   f"key written to {replaced.new.path}, mode 0600): give consumers the new key out of band",
                   err=True)
        if replaced.old_file is not None:
            click.echo(f"the retired key's private file {replaced.old_file} is still there: destroy it (a lost or "
                       "leaked key must never sign again)", err=True)
        return
    rotated = service.rotate_key(_engine(ctx), name)
    click.echo(rotated.handover.new.text)
    click.echo(f"{rotated.handover.old.label} retired; {rotated.handover.new.label} signs from now on "
               f"(private key written to {rotated.path}, mode 0600)", err=True)


@keys.command("list")
@click.pass_context
@_friendly
def list_(ctx: click.Context) -> None:
    """Every public key that has signed here, oldest first, with its status; then, for each
    mirrored register, the URL it copies and the origin keys it trusts: current (they may sign
    its next checkpoints) or superseded (they verify only those signed before).

    The output may be saved and given to --key: what follows a key on its line, and lines
    starting with '#', are ignored there. A key that signs nothing more (retired, compromised,
    superseded) is listed after '# ', so such a file hands out only the keys that sign now
    (remove the '# ' to verify old checkpoints with one).

    \b
    Examples:
      registers keys list
      registers keys list > keys.txt
    """
    engine = _engine(ctx, existing=True)
    for recorded in service.key_statuses(engine):
        dates = f"since {recorded.created}" + (f", retired {recorded.retired}" if recorded.retired else "")
        signs = recorded.status == "signing"
        marker = "(signs)" if signs else f"({recorded.status})"
        click.echo(f"{'' if signs else '# '}{recorded.key.text}  {marker} {dates}")
    for mirrored in mirrored_keys(engine):
        click.echo(f"# {mirrored.register} mirrors {mirrored.url}")
        for origin_key in mirrored.keys:
            handed = origin_key.handed_over
            after = f", handed over to {handed.new.label} at {handed.at}" if handed else ""
            hide = "" if origin_key.current else "# "
            click.echo(f"{hide}{origin_key.key.text}  (origin key, {origin_key.status}) learnt {origin_key.learnt}"
                       f"{after}")
