"""The ``registers`` command: a thin click layer over ``registers.service``.

It parses arguments, calls the library and prints; errors a user can cause become one line
on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click

from registers import service
from registers.core.errors import IntegrityError, RegisterError
from registers.core.items import hash_text

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(func: F) -> F:
    """Turn RegisterError into ``error: <one line>`` and exit status 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except RegisterError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _engine(ctx: click.Context):  # type: ignore[no-untyped-def]
    obj = ctx.ensure_object(dict)
    if "engine" not in obj:
        obj["engine"] = service.open_database(obj.get("db"))
    return obj["engine"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    metavar="URL",
    help="Database URL (default: $REGISTERS_DATABASE_URL, else sqlite:///registers.db).",
)
@click.version_option(package_name="registers")
@click.pass_context
def main(ctx: click.Context, db: str | None) -> None:
    """Keep verifiable registers: append-only, hash-chained logs of reference data.

    \b
    Examples:
      registers load fixtures/rsf/country.rsf
      registers root country
      registers proof inclusion country 10 200
      registers export country --from 200 --to 209 > patch.rsf
      registers --db postgresql://postgres@127.0.0.1/test list
    """
    ctx.ensure_object(dict)["db"] = db


@main.command()
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False))
@click.option(
    "--register", "name", metavar="NAME", help="Register to load into (default: the dump's name, else FILE's stem)."
)
@click.option("--strict", is_flag=True, help="Refuse datatype and link findings instead of reporting them.")
@click.option("--as", "by", metavar="WHO", help="Record who makes this change (a 'change' system entry).")
@click.option("--reason", metavar="WHY", help="Record why (a 'change' system entry).")
@click.pass_context
@_friendly
def load(ctx: click.Context, file: str, name: str | None, strict: bool, by: str | None, reason: str | None) -> None:
    """Load an RSF dump or patch into a register (created if new).

    Entries the register already holds are skipped, so loading twice adds 0. A patch must
    start from a root the register had. Any error loads nothing.

    \b
    Example:
      registers load country.rsf
      registers load country-update.rsf --register country
    """
    result = service.load_rsf(_engine(ctx), file, name, strict=strict, by=by, reason=reason)
    h = result.head
    present = f", {result.present} already present" if result.present else ""
    click.echo(
        f"{result.register}: {result.added_user} added ({result.added_system} system){present}; "
        f"root {h.user_size} {hash_text(h.user_root)}"
    )
    _print_findings(result.findings, file)


@main.command()
@click.argument("name")
@click.option("--size", type=click.IntRange(min=0), default=None, help="The root after this many entries.")
@click.pass_context
@_friendly
def root(ctx: click.Context, name: str, size: int | None) -> None:
    """Print '<size> sha-256:<hex>' of a register's user log (now, or at --size)."""
    engine = _engine(ctx)
    if size is None:
        h = service.head(engine, name)
        click.echo(f"{h.user_size} {hash_text(h.user_root)}")
    else:
        click.echo(f"{size} {hash_text(service.root_at(engine, name, size))}")


@main.command("list")
@click.pass_context
@_friendly
def list_(ctx: click.Context) -> None:
    """List the registers with their sizes and roots."""
    for summary in service.list_registers(_engine(ctx)):
        h = summary.head
        click.echo(f"{summary.name}\t{h.user_size}\t{hash_text(h.user_root)}")


@main.command()
@click.argument("name")
@click.option(
    "--from", "start", type=click.IntRange(min=0), default=0, help="Entries after this number (default 0: a full dump)."
)
@click.option("--to", "end", type=click.IntRange(min=0), default=None, help="Up to this entry (default: the latest).")
@click.pass_context
@_friendly
def export(ctx: click.Context, name: str, start: int, end: int | None) -> None:
    """Write a register as RSF to stdout: a full dump, or the patch --from N --to M."""
    service.export_rsf(_engine(ctx), name, sys.stdout.buffer, start, end)
    sys.stdout.buffer.flush()


@main.group()
def proof() -> None:
    """Print v1 Merkle proofs as JSON."""


@proof.command()
@click.argument("name")
@click.argument("number", type=int)
@click.argument("size", type=int)
@click.pass_context
@_friendly
def inclusion(ctx: click.Context, name: str, number: int, size: int) -> None:
    """The audit path of entry NUMBER in the tree of SIZE entries."""
    _print_json(service.inclusion_proof(_engine(ctx), name, number, size))


@proof.command()
@click.argument("name")
@click.argument("first", type=int)
@click.argument("second", type=int)
@click.pass_context
@_friendly
def consistency(ctx: click.Context, name: str, first: int, second: int) -> None:
    """The consistency proof from the tree of FIRST entries to SECOND."""
    _print_json(service.consistency_proof(_engine(ctx), name, first, second))


@main.command()
@click.argument("name")
@click.pass_context
def verify(ctx: click.Context, name: str) -> None:
    """Recompute a register from its log and check every stored hash, tile and checkpoint.

    Exits 0 and prints the root when everything holds; otherwise names the first bad entry
    and exits 1.
    """
    try:
        result = service.verify(_engine(ctx), name)
    except IntegrityError as exc:
        click.echo(f"{name}: FAILED: {exc}", err=True)
        sys.exit(1)
    except RegisterError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
    from registers.core.entries import Log

    h = result.head
    click.echo(
        f"{name}: ok: {result.entries[Log.USER]} user and {result.entries[Log.SYSTEM]} system entries, "
        f"{result.items} items; root {h.user_size} {hash_text(h.user_root)}"
    )


def _print_findings(findings: Any, source: str) -> None:
    """Report loaded-as-published findings on stderr: a count and the first examples."""
    if not findings.count:
        return
    dangling = f", {findings.dangling} of them links to missing records" if findings.dangling else ""
    click.echo(f"{findings.count} findings (loaded as published{dangling}); the first:", err=True)
    for example in findings.examples or []:
        click.echo(f"  {source}:{example}", err=True)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=1))


if __name__ == "__main__":
    main()
