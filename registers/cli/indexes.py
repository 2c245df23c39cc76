"""``registers index``: the fields of a register indexed for lookups by value, or searched by word."""

from __future__ import annotations

import click
from sqlalchemy import Engine

from .. import service
from ..service import indexes
from .group import _engine, _friendly, main


@main.command("index")
@click.argument("name")
@click.argument("fields", nargs=-1)
@click.option("--drop", is_flag=True, help="Stop indexing FIELDS (lookups by them then scan the records).")
@click.option("--search", "searched", is_flag=True,
              help="Word search (?q=) reads FIELDS too, beside the key and name (with --drop: no longer).")
@click.pass_context
@_friendly
def index(ctx: click.Context, name: str, fields: tuple[str, ...], drop: bool, searched: bool) -> None:
    """Index FIELDS of register NAME, so that finding records by a value of one of them stays
    fast however many records there are: /address/records/postcode/SW1A 1AA in the API, or
    'registers records address --field postcode --value "SW1A 1AA"'. With no FIELDS, list the
    indexed fields.

    With --search, word search (/NAME/?q= and /NAME/records?q=) reads FIELDS too: every
    register's search reads the key and the name field, and the words of these fields are
    added to every current record's now (and to every later entry's). With no FIELDS, list the
    fields search reads.

    \b
    Examples:
      registers index address postcode street
      registers index address
      registers index address street --drop
      registers index address street town --search
      registers index address --search
    """
    engine = _engine(ctx)
    if searched:
        _search(engine, name, fields, drop)
        return
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


def _search(engine: Engine, name: str, fields: tuple[str, ...], drop: bool) -> None:
    """``registers index NAME [FIELD …] --search [--drop]``."""
    if not fields:
        for field in indexes.searched_fields(engine, name):
            click.echo(field)
        return
    for field in fields:
        if drop:
            changed = indexes.drop_search_field(engine, name, field)
            click.echo(f"{name}: '{field}' was not searched" if changed is None
                       else f"{name}: '{field}' no longer searched ({changed} records' words rewritten)")
        else:
            changed = indexes.search_field(engine, name, field)
            click.echo(f"{name}: '{field}' searched ({changed} records' words rewritten)")
