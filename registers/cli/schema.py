"""``registers schema``: check register definition files before ``registers create`` reads them."""

from __future__ import annotations

import sys

import click

from ..core.definitions import check_definition_file
from .group import main


@main.group()
def schema() -> None:
    """Register definition files (schemas/NAME.json): the format is in docs/definitions.md.

    \b
    Example:
      registers schema check schemas/*.json
    """


@schema.command()
@click.argument("files", metavar="FILE...", nargs=-1, required=True, type=click.Path(dir_okay=False))
def check(files: tuple[str, ...]) -> None:
    """Check definition FILEs as 'registers create --schema FILE' reads them, and name every problem.

    Each problem is one line: the file, where in it (fields[1].datatype, register.fields[2],
    or a line and column when the JSON does not parse) and what is wrong. A file with none
    prints 'FILE: ok (register NAME, N fields)'. Warnings (a field left out of register.fields,
    no field named after the register, a phase v1 did not have) do not fail a file. Whether a
    linked register exists is not checked here: 'create' checks it against its database.

    Exit status: 0 when every file is ok, 1 when any has a problem. No database is opened.

    \b
    Examples:
      registers schema check schemas/country.json
      registers schema check schemas/*.json
    """
    failed = False
    for path in files:
        try:
            with open(path, encoding="utf-8") as stream:
                text = stream.read()
        except (OSError, UnicodeDecodeError) as exc:
            click.echo(f"{path}: cannot be read: {exc.strerror if isinstance(exc, OSError) else exc}")
            failed = True
            continue
        checked = check_definition_file(text)
        for problem in checked.problems:
            click.echo(f"{path}: {problem}")
        for warning in checked.warnings:
            click.echo(f"{path}: {warning.where}: warning: {warning.message}")
        if checked.definition is None:
            count = len(checked.problems)
            click.echo(f"{path}: {count} problem{'' if count == 1 else 's'}")
            failed = True
        else:
            d = checked.definition
            click.echo(f"{path}: ok (register {d.register}, {len(d.fields)} field{'' if len(d.fields) == 1 else 's'})")
    sys.exit(1 if failed else 0)
