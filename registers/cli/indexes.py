"""``registers index``: the fields of a register indexed for lookups by value."""

from __future__ import annotations

import click

from .. import service
from .group import _engine, _friendly, main


@main.command("index")
@click.argument("name")
@click.argument("fields", nargs=-1)
@click.option("--drop", is_flag=True, help="Stop indexing FIELDS (lookups by them then scan the records).")
@click.pass_context
@_friendly
def index(ctx: click.Context, name: str, fields: tuple[str, ...], drop: bool) -> None:
    """Index FIELDS of register NAME, so that finding records by a value of one of them
    (``records/postcode/SW1A 1AA``, ``registers records address --field postcode --value ...``)
    stays fast however many records there are. With no FIELDS, list the indexed fields.

    \b
    Examples:
      registers index address postcode street
      registers index address
      registers index address street --drop
    """
    engine = _engine(ctx)
    if not fields:
        for field in service.indexed_fields(engine, name):
            click.echo(field)
        return
    for field in fields:
        if drop:
            dropped = service.drop_field_index(engine, name, field)
            click.echo(f"{name}: '{field}' {'no longer indexed' if dropped else 'was not indexed'}")
        else:
            rows = service.index_field(engine, name, field)
            click.echo(f"{name}: '{field}' indexed ({rows} values of current records)")
