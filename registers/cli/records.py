"""Commands on records: create a register, add, amend, end, show, list; init with fixtures."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import TypeVar

import click

from .. import service
from ..core.errors import NoSigningKey, RegisterError
from ..core.items import hash_text
from .group import (
    RECEIPT,
    REMOTE,
    _author,
    _engine,
    _friendly,
    _remote,
    _remote_done,
    _settings,
    _write_receipt,
    main,
)

WHO = click.option("--as", "by", metavar="TEAM",
                   help="Who makes this change, a role or team (default: $REGISTERS_AS; one is needed). "
                        "Public for ever.")
WHY = click.option("--reason", metavar="WHY", help="Why (recorded with the change, shown in histories).")


def _done(ctx: click.Context, result: service.AppendResult, receipt: str | None) -> None:
    h = result.head
    click.echo(f"{result.register}: {result.added_user} added; root {h.user_size} {hash_text(h.user_root)}")
    _write_receipt(ctx, result, receipt)


@main.command()
@click.argument("name")
@click.option("--schema", "schema_file", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The register's definition (schemas/NAME.json).")
@click.option("--custodian", metavar="WHO", help="The custodian named in the register's metadata.")
@WHO
@WHY
@click.pass_context
@_friendly
def create(ctx: click.Context, name: str, schema_file: str, custodian: str | None, by: str | None,
           reason: str | None) -> None:
    """Create a register from its definition, or append what changed in the definition.

    \b
    Example:
      registers create country --schema schemas/country.json --as fcdo-data-team \\
        --custodian "Foreign, Commonwealth & Development Office"
    """
    definition = service.read_schema(schema_file)
    engine = _engine(ctx)
    author = _author(by)
    result = _keyed(ctx, [name], lambda: service.create_register(engine, name, definition, custodian=custodian,
                                                                  by=author, reason=reason))
    click.echo(f"{name}: {result.added_system} system entries added ({len(definition.fields)} fields)")


T = TypeVar("T")


def _keyed(ctx: click.Context, writes: Iterable[str], run: Callable[[], T]) -> T:
    """``run`` (a write that is all or nothing), making the first signing key only when it is
    refused for want of one on a fresh database. A write checks everything before it signs, so
    one refused for any other reason (a mirrored register, a bad definition) makes no key."""
    try:
        return run()
    except NoSigningKey:
        _first_key(ctx, writes)  # a fresh database: the key made; else NoSigningKey naming what is missing
    return run()


def _first_key(ctx: click.Context, writes: Iterable[str] = ()) -> None:
    """On a fresh database (no key recorded, no mirrored register), make the signing key and
    say where it went; refused first if one of ``writes`` is a mirrored register, or if the
    database is not fresh and no key can sign (see ``service.ensure_key``)."""
    made = service.ensure_key(_engine(ctx), writes)
    if made is not None:
        click.echo(f"signing key made: {made.vkey}", err=True)
        click.echo(f"its private key is in {made.path} (mode 0600): keep it secret, back it up", err=True)


def _change(ctx: click.Context, name: str, action: str, key: str, values: tuple[str, ...], by: str | None,
            reason: str | None, receipt: str | None, remote: str | None, token: str | None) -> None:
    """An add or amend from FIELD=VALUE arguments, parsed by the register's definition (the
    served register's, with --remote) into the change the service layer takes."""
    if remote:
        secret = _remote(name, remote, token, by)
        made = service.remote_parse_change(remote, action, key, list(values))
        return _remote_done(service.remote_change(remote, secret, made, reason=reason), receipt)
    author = _author(by)
    engine = _engine(ctx)
    made = service.parse_change(engine, name, action, key, list(values))
    _done(ctx, service.apply_change(engine, name, made, by=author, reason=reason), receipt)


@main.command()
@click.argument("name")
@click.argument("key")
@click.argument("values", nargs=-1, metavar="FIELD=VALUE...")
@WHO
@WHY
@RECEIPT
@REMOTE
@click.pass_context
@_friendly
def add(ctx: click.Context, name: str, key: str, values: tuple[str, ...], by: str | None, reason: str | None,
        receipt: str | None, remote: str | None, token: str | None) -> None:
    """Add a new record (the key field is filled in from KEY). A list field's values are
    joined by ';' (tags="a;b").

    \b
    Example:
      registers add local-authority-eng NNT name="North Northamptonshire" local-authority-type=UA \\
        --as mhclg-data-team --reason "new in 2021"
    """
    _change(ctx, name, "add", key, values, by, reason, receipt, remote, token)


@main.command()
@click.argument("name")
@click.argument("key")
@click.argument("values", nargs=-1, required=True, metavar="FIELD=VALUE...")
@WHO
@WHY
@RECEIPT
@REMOTE
@click.pass_context
@_friendly
def amend(ctx: click.Context, name: str, key: str, values: tuple[str, ...], by: str | None, reason: str | None,
          receipt: str | None, remote: str | None, token: str | None) -> None:
    """Change some fields of a record; the others are carried over (FIELD= removes a field; a
    list field's values are joined by ';').

    \b
    Example:
      registers amend country TR name=Türkiye official-name="The Republic of Türkiye" \\
        --as fcdo-data-team --reason "renamed in 2022"
    """
    _change(ctx, name, "amend", key, values, by, reason, receipt, remote, token)


@main.command()
@click.argument("name")
@click.argument("key")
@click.option("--date", required=True, metavar="DATE", help="The end-date (YYYY-MM-DD).")
@WHO
@WHY
@RECEIPT
@REMOTE
@click.pass_context
@_friendly
def end(ctx: click.Context, name: str, key: str, date: str, by: str | None, reason: str | None,
        receipt: str | None, remote: str | None, token: str | None) -> None:
    """End a record: append an entry with its end-date (nothing is deleted).

    \b
    Example:
      registers end local-authority-eng ALL --date 2023-04-01 --as mhclg-data-team --reason "now part of Cumberland"
    """
    if remote:
        return _remote_done(service.remote_change(remote, _remote(name, remote, token, by),
                                                  service.RecordChange.end(key, date), reason=reason), receipt)
    author = _author(by)
    _done(ctx, service.end_record(_engine(ctx), name, key, date, by=author, reason=reason), receipt)


@main.command()
@click.argument("name")
@click.argument("key")
@click.option("--history", is_flag=True, help="Every entry for the key, oldest first, with who and why.")
@click.pass_context
@_friendly
def show(ctx: click.Context, name: str, key: str, history: bool) -> None:
    """Show a record as JSON (or, with --history, each of its entries with who and why).

    \b
    Examples:
      registers show country GB
      registers show country GB --history
    """
    for line in service.show_record(_engine(ctx, existing=True), name, key, history):
        e = line.record.entry
        if history:
            who = f"by {line.change.by}: {line.change.reason}" if line.change else "(no change recorded)"
            click.echo(f"entry {e.number}  {e.timestamp}  {who}")
            click.echo(f"  {json.dumps(line.record.item, ensure_ascii=False, sort_keys=True)}")
        else:
            click.echo(json.dumps(service.record_json(e, line.record.items), ensure_ascii=False, indent=1))


@main.command("records")
@click.argument("name")
@click.option("--field", metavar="FIELD", help="Only records whose FIELD holds --value.")
@click.option("--value", metavar="VALUE")
@click.option("--current", is_flag=True, help="Only records without an end-date in the past.")
@click.option("--as-of", type=click.IntRange(min=0), metavar="N", help="The records as they stood after entry N.")
@click.option("--limit", type=click.IntRange(min=1), metavar="N",
              help="At most N records; if more follow, the --before that lists them is said on stderr.")
@click.option("--before", type=click.IntRange(min=1), metavar="ENTRY",
              help="Start after the record whose entry number is ENTRY (the cursor --limit gives).")
@click.pass_context
@_friendly
def records_(ctx: click.Context, name: str, field: str | None, value: str | None, current: bool,
             as_of: int | None, limit: int | None, before: int | None) -> None:
    """List records as JSON lines, newest first (every one, streamed; or a page with --limit).

    \b
    Examples:
      registers records local-authority-eng --field local-authority-type --value MD --current
      registers records country --as-of 100
      registers records address --field postcode --value "SW1A 1AA" --limit 100
    """
    if (field is None) != (value is None):
        raise RegisterError("--field and --value go together")
    listed = service.list_records(_engine(ctx, existing=True), name, field=field, value=value, current=current,
                                  as_of=as_of, before=before)
    last = 0
    for count, rec in enumerate(listed):
        if limit is not None and count == limit:
            click.echo(f"more follow: add --before {last}", err=True)
            break
        click.echo(json.dumps(service.record_json(rec.entry, rec.items), ensure_ascii=False))
        last = rec.entry.number


@main.command()
@click.option("--with-fixtures", is_flag=True, required=True, help="Create and load every register we ship.")
@click.option("--project", metavar="DIR", help="Where fixtures/ and schemas/ are (default: this installation's).")
@WHO
@click.pass_context
@_friendly
def init(ctx: click.Context, with_fixtures: bool, project: str | None, by: str | None) -> None:
    """Create every shipped register in link order and load its real data (again: adds 0).

    On a new database (no signing key, no mirrored register) it makes the signing key first.

    \b
    Example:
      registers init --with-fixtures
    """
    total = 0
    fixtures, _schemas = service.find_fixtures(project)  # a wrong --project is refused before a key is made
    shipped = [spec["register"] for spec in json.loads((fixtures / "fixtures.json").read_text())["registers"]]
    _first_key(ctx, shipped)  # a mirrored one among them is refused before anything is made
    for load in service.init_fixtures(_engine(ctx), project, by=by or _settings(ctx).actor or "fixtures"):
        total += load.added
        findings = f"; {load.findings} findings reported: {load.note}" if load.findings else ""
        click.echo(f"{load.register}: {load.added} added, {load.size} entries{findings}")
    click.echo(f"{total} entries added")
