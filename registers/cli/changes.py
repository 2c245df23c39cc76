"""``registers changes``: who changed a register, when and why, change by change."""

from __future__ import annotations

import click

from .. import service
from .group import _engine, _friendly, main


@main.command()
@click.argument("name")
@click.option("--by", "author", metavar="WHO", help="Only the changes WHO made (a token's label, an --as name).")
@click.pass_context
@_friendly
def changes(ctx: click.Context, name: str, author: str | None) -> None:
    """List the recorded changes of register NAME, oldest first: when, the user entries each
    made, who made it and why (from the register's system log). With --by, only one author's:
    after a token leaks, revoke it, then list what was done with it.

    \b
    Examples:
      registers changes country
      registers changes country --by "custodian token for country"
    """
    found = service.list_changes(_engine(ctx, existing=True), name, author)
    for note in found:
        span = f"{note.first}" if note.first == note.last else f"{note.first}-{note.last}"
        click.echo(f"{note.timestamp}\tentries {span}\tby {note.by or '(not recorded)'}\t{note.reason}")
    if not found and author is not None:  # a typo must not read as "it did nothing"
        authors = sorted({n.by for n in service.list_changes(_engine(ctx, existing=True), name) if n.by})
        click.echo(f"no recorded change of '{name}' is by '{author}' (its authors: {', '.join(authors) or 'none'})",
                   err=True)
