"""The ``registers`` command group and the helpers its commands share.

The commands themselves live by topic in the sibling modules, which add themselves to
``main``; ``registers.cli`` imports them all, so ``registers.cli.main`` is the whole command.
Errors a user can cause become one line on stderr and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

import click
from sqlalchemy.exc import DatabaseError

from .. import service
from ..core.errors import LineError, RegisterError
from ..core.faults import FaultLog, FaultsFound
from ..logs import configure
from ..settings import Settings, current
from ..store.engine import DatabaseMissing

F = TypeVar("F", bound=Callable[..., Any])


def _friendly(func: F) -> F:
    """Turn RegisterError into ``error: <one line>`` and exit status 1 (a load's faults: one
    line each, then ``error: N faults in FILE; nothing stored``)."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except FaultsFound as exc:  # every fault of a load, each on its line, then what it came to
            if exc.faults.count == 1:
                click.echo(f"error: {exc}", err=True)  # one fault: its line, as any refusal
                sys.exit(1)
            for line in exc.lines():
                click.echo(line, err=True)
            count = exc.faults.count
            click.echo(f"error: {count} fault{'s' if count != 1 else ''} in {exc.source or 'the input'}; "
                       "nothing stored", err=True)
            sys.exit(1)
        except RegisterError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except DatabaseError as exc:  # the database is unreachable, busy or damaged: say so in one line
            click.echo(f"error: database: {str(exc.orig).splitlines()[0]}", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _faults_as_json(func: F) -> F:
    """With ``--json`` (``as_json``): a load's faults as JSON lines on stdout, one object
    ``{file, line, key, field, value, reason, message}`` each (then ``{file, more}`` when more
    were counted than named), and ``error: N faults …`` on stderr, exit status 1."""

    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except LineError as exc:
            if not kwargs.get("as_json"):
                raise
            if not isinstance(exc, FaultsFound):  # one fault, or a problem with the whole file
                log = FaultLog(limit=1)
                log.add_error(exc)
                exc = FaultsFound(log, exc.source)
            for fault in exc.faults.kept:
                click.echo(json.dumps({"file": exc.source, **fault.record()}, ensure_ascii=False))
            if exc.faults.more:
                click.echo(json.dumps({"file": exc.source, "more": exc.faults.more}))
            count = exc.faults.count
            click.echo(f"error: {count} fault{'s' if count != 1 else ''} in {exc.source or 'the input'}; "
                       "nothing stored", err=True)
            sys.exit(1)

    return wrapper  # type: ignore[return-value]


def _engine(ctx: click.Context, existing: bool = False):  # type: ignore[no-untyped-def]
    """The command's database, opened once. A command that only reads passes ``existing``: a
    missing SQLite file is then refused in one line and none is created."""
    obj = ctx.ensure_object(dict)
    if "engine" not in obj:
        try:
            obj["engine"] = service.open_database(obj.get("db"), existing=existing)
        except DatabaseMissing as exc:
            raise RegisterError(f"{exc}: run 'registers init' to make one, or give --db") from None
        ctx.find_root().call_on_close(obj["engine"].dispose)  # its connections close with the command
    return obj["engine"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    metavar="URL",
    help="Database URL (default: $REGISTERS_DATABASE_URL, else sqlite:///registers.db).",
)
@click.version_option(package_name="registers")
@click.pass_context
@_friendly
def main(ctx: click.Context, db: str | None) -> None:
    """Keep verifiable registers: append-only, hash-chained logs of reference data.

    Every write is signed: 'init' and 'create' make the signing key on a new database (one
    with no key), 'keys generate' makes one on purpose. 'registers COMMAND --help' shows the
    command's examples; they run as written from the project folder, after 'registers init
    --with-fixtures'.

    Tab completion in bash: the last example, put in ~/.bashrc (zsh: zsh_source instead of
    bash_source, in ~/.zshrc).

    \b
    Examples:
      registers init --with-fixtures
      registers load fixtures/rsf/country.rsf
      registers root country
      registers proof inclusion country 10 200
      registers export country --from 200 --to 209 > patch.rsf
      registers --db postgresql://postgres@127.0.0.1/test list
      eval "$(_REGISTERS_COMPLETE=bash_source registers)"
    """
    configure(json_lines=False)  # the platform's warnings as text; its events are for servers' logs
    ctx.ensure_object(dict).update(db=db, settings=current())  # a bad setting is refused here


AUTHOR_NEEDED = (
    "say who makes this change: --as TEAM, or set REGISTERS_AS=TEAM (a role or team, such as "
    "'fcdo-data-team', not a person's name: it is published in the register's log for ever)"
)


def _author(by: str | None) -> str:
    """Who makes a local change: ``--as``, else ``REGISTERS_AS``; refused with neither (the
    login name is never used: it would be published for ever)."""
    who = (by or _settings(click.get_current_context()).actor or "").strip()
    if not who:
        raise RegisterError(AUTHOR_NEEDED)
    if any(ord(c) < 32 or ord(c) == 127 for c in who):
        raise RegisterError("--as and REGISTERS_AS name a team on one line: no tabs, newlines or other control "
                            "characters")
    return who


def _settings(ctx: click.Context) -> Settings:
    """The ``REGISTERS_*`` settings the command started with."""
    found: Settings = ctx.find_root().ensure_object(dict).get("settings") or current()
    return found


def _print_findings(findings: Any, source: str, every_dangling: bool = False) -> None:
    """Report findings on stderr: a count and the first examples, or every dangling link."""
    if not findings.count:
        return
    if every_dangling:
        click.echo(f"{findings.dangling} dangling links (loaded with --allow-dangling):", err=True)
        for text in findings.dangling_links:
            click.echo(f"  {source}:{text}", err=True)
        return
    dangling = f", {findings.dangling} of them links to missing records" if findings.dangling else ""
    click.echo(f"{findings.count} findings (loaded as published{dangling}); the first:", err=True)
    for example in findings.examples:
        click.echo(f"  {source}:{example}", err=True)


RECEIPT = click.option(
    "--receipt", metavar="FILE", type=click.Path(dir_okay=False, writable=True),
    help="Write a receipt: the new entries, their items and proofs, and the signed checkpoint "
    "(check it offline with 'registers verify-receipt').",
)


def REMOTE(func: F) -> F:  # noqa: N802 - a decorator named as the other option groups
    """``--remote URL --token T``: send the change to a served register instead."""
    func = click.option("--token", metavar="T",
                        help="The register's custodian token (default: $REGISTERS_TOKEN).")(func)
    return click.option("--remote", metavar="URL",
                        help="Send the change to the register served at URL (https://host/NAME/).")(func)


def _remote(name: str | None, url: str, token: str | None, by: str | None = None) -> str:
    """The token for a remote change to ``url`` (which must be register ``name``'s URL).

    ``--as`` is refused: the server records the change as made by the token's holder (the label
    it was issued with), never by a name the client claims."""
    if by:
        raise RegisterError("--as does not go with --remote: the server records the change as made by the "
                            "holder of the token (the label it was issued with)")
    token = token or _settings(click.get_current_context()).token
    if not token:
        raise RegisterError("--remote needs --token (or $REGISTERS_TOKEN): the register's custodian token")
    if name and not url.rstrip("/").endswith("/" + name):
        raise RegisterError(f"--remote {url} is not the URL of register '{name}'")
    return token


def _remote_done(answer: dict[str, Any], receipt: str | None) -> None:
    """Report a remote change as a local one is reported, and write its receipt."""
    click.echo(f"{answer['register']}: {answer['user-entries-added']} added; root {answer['total-entries']} "
               f"{answer['root-hash']}")
    if receipt and answer.get("receipt"):
        with open(receipt, "w", encoding="utf-8") as out:
            json.dump(answer["receipt"], out, ensure_ascii=False, indent=1)
            out.write("\n")
        click.echo(f"receipt written to {receipt}", err=True)


def _write_receipt(ctx: click.Context, result: Any, path: str | None) -> None:
    """Write the receipt of ``result`` to ``path`` (when given and the change appended anything)."""
    if not path:
        return
    receipt = service.receipt_for(_engine(ctx), result)
    if receipt is None:
        click.echo(f"no receipt written: {result.register} did not change", err=True)
        return
    with open(path, "w", encoding="utf-8") as out:
        json.dump(receipt, out, ensure_ascii=False, indent=1)
        out.write("\n")
    click.echo(f"receipt written to {path}", err=True)


def _print_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=1))
