"""Commands on whole registers and their logs: load, root, list, export, proof, serve."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import click

from .. import service
from ..core.errors import RegisterError
from ..core.faults import DEFAULT_LIMIT
from ..core.items import hash_text
from .group import (
    RECEIPT,
    REMOTE,
    _author,
    _engine,
    _faults_as_json,
    _friendly,
    _print_findings,
    _print_json,
    _remote,
    _remote_done,
    _settings,
    _write_receipt,
    main,
)
from .progress import progress


@main.command()
@click.argument("file", type=click.Path(exists=True, allow_dash=True, dir_okay=False))
@click.option(
    "--register", "name", metavar="NAME", help="Register to load into (default: an RSF's name, else FILE's stem)."
)
@click.option(
    "--format", "fmt", type=click.Choice(["rsf", "csv", "tsv", "json", "jsonl"]), help="Default: FILE's suffix."
)
@click.option("--history", is_flag=True, help="Table: a key's rows are its history, oldest first.")
@click.option("--end-missing", metavar="DATE", help="Table: end records the table no longer holds, on DATE.")
@click.option("--dry-run", is_flag=True, help="Check everything and print the changes; store nothing.")
@click.option("--max-end", type=click.IntRange(0), metavar="N",
              help="Table: let --end-missing end up to N records (default: 10, or 1% of the records if more).")
@click.option("--allow-dangling", is_flag=True, help="Table: load links to records that do not exist yet (listed).")
@click.option("--strict", is_flag=True, help="RSF: refuse datatype and link findings instead of reporting them.")
@click.option("--as", "by", metavar="TEAM",
              help="Who makes this change, a role or team (default: $REGISTERS_AS; a table load needs one). "
                   "Public for ever.")
@click.option("--reason", metavar="WHY", help="Why (recorded with the change).")
@click.option("--max-errors", type=click.IntRange(1), default=DEFAULT_LIMIT, show_default=True, metavar="N",
              help="Name at most N faults (then count the rest).")
@click.option("--json", "as_json", is_flag=True, help="Print the faults as JSON lines on stdout.")
@RECEIPT
@REMOTE
@click.pass_context
@_friendly
@_faults_as_json
def load(ctx: click.Context, /, file: str, name: str | None, fmt: str | None, **options: Any) -> None:
    """Load a file into a register: an RSF dump or patch, or a CSV, TSV, JSON or JSONL table.

    An RSF creates the register if new; entries it already holds are skipped. A table goes
    into a register made with 'registers create': new and changed rows become entries,
    unchanged rows add nothing, so loading the same file twice adds 0.

    The whole file is checked first: every fault (a bad value, a key twice, a link to a
    missing record, a row that cannot be read) is named on its own line, file:line first,
    and then nothing is stored. With --remote URL --token T the file is sent to a served
    register, which loads it the same way (tables too: --history, --dry-run, --end-missing).

    \b
    Examples:
      registers load fixtures/rsf/country.rsf
      registers load fixtures/tsv/government-organisation.tsv --history --as cabinet-office-data --reason "2024 update"
      registers load fixtures/tsv/local-authority-eng.tsv --end-missing 2024-04-01 --dry-run
      registers load fixtures/tsv/territory.tsv --remote https://registers.example.gov.uk/territory/ --token rgt_...

    (rgt_... stands for the register's custodian token: 'registers token issue'.)
    """
    fmt = service.table_format(file, fmt)
    if options["remote"]:
        if file == "-":
            raise RegisterError("--remote sends a file: name it (standard input cannot be sent with its length)")
        token = _remote(name, options["remote"], options["token"], options["by"])
        if fmt == "rsf":
            answer = service.remote_load(options["remote"], token, file, options["reason"], options["max_errors"])
            return _remote_done(answer, options["receipt"])
        if options["allow_dangling"]:
            raise RegisterError("--allow-dangling is for local loads: a served register takes only links that resolve")
        answer = service.remote_load_table(
            options["remote"], token, file, fmt, history=options["history"], dry_run=options["dry_run"],
            end_missing=options["end_missing"], max_end=options["max_end"],
            reason=options["reason"] or f"load {os.path.basename(file)}",  # as a local load says, not "request body"
            max_errors=options["max_errors"])
        diff = answer["diff"]
        _print_diff(_Diff(diff), options["dry_run"] or bool(options["end_missing"]))
        if options["dry_run"]:
            added = diff["added"] + diff["changed"] + diff["ended"]
            click.echo(f"{answer['register']}: dry run: {added} entries would be appended; nothing stored")
            return None
        return _remote_done(answer, options["receipt"])
    engine = _engine(ctx)
    if fmt == "rsf":
        for table_only in ("history", "end_missing", "allow_dangling", "max_end"):
            if options[table_only]:
                raise RegisterError(f"--{table_only.replace('_', '-')} applies to tables, not RSF")
        size = os.path.getsize(file) if file != "-" else 0
        with _rsf_progress(file, size) as step:
            result = service.load_rsf(
                engine, file, name, strict=options["strict"], by=options["by"], reason=options["reason"],
                dry_run=options["dry_run"], max_errors=options["max_errors"], progress=step,
            )
        if options["dry_run"]:
            click.echo(f"{result.register}: dry run: {result.added} entries would be appended; nothing stored")
        else:
            _print_result(result)
            _write_receipt(ctx, result, options["receipt"])
        _print_findings(result.findings, file)
        return
    register = name or Path(file).stem
    author = _author(options["by"]) if not options["dry_run"] else options["by"] or _settings(ctx).actor
    with _open_input(file) as stream, _progress(file) as progress:
        load = service.load_table(
            engine, stream, fmt, register, source="<stdin>" if file == "-" else file,
            history=options["history"], end_missing=options["end_missing"], dry_run=options["dry_run"],
            allow_dangling=options["allow_dangling"], by=author, reason=options["reason"], progress=progress,
            max_errors=options["max_errors"], max_end=options["max_end"],
        )
    _print_diff(load.diff, options["dry_run"] or bool(options["end_missing"]))
    if options["dry_run"]:
        click.echo(f"{register}: dry run: {load.diff.appended} entries would be appended; nothing stored")
        _print_findings(load.result.findings, file, every_dangling=options["allow_dangling"])
        return
    _print_result(load.result)
    _write_receipt(ctx, load.result, options["receipt"])
    _print_findings(load.result.findings, file, every_dangling=options["allow_dangling"])


def _print_result(result: Any) -> None:
    h = result.head
    present = f", {result.present} already present" if result.present else ""
    click.echo(
        f"{result.register}: {result.added_user} added ({result.added_system} system){present}; "
        f"root {h.user_size} {hash_text(h.user_root)}"
    )


class _Diff:
    """A diff a server answered (JSON) read as a local TableDiff is."""

    def __init__(self, answered: dict[str, Any]) -> None:
        for kind in ("added", "changed", "unchanged", "vanished", "ended"):
            setattr(self, kind, int(answered.get(kind, 0)))
        self.examples = dict(answered.get("examples") or {})


def _print_diff(diff: Any, examples: bool) -> None:
    parts = [f"{diff.added} new", f"{diff.changed} changed", f"{diff.unchanged} unchanged", f"{diff.vanished} vanished"]
    if diff.ended:
        parts.append(f"{diff.ended} ended")
    click.echo("table: " + ", ".join(parts), err=True)
    if examples or diff.vanished:
        for kind in ("added", "changed", "vanished", "ended"):
            shown = diff.examples.get(kind)
            if shown and (examples or kind == "vanished"):
                click.echo(f"  {kind}: {', '.join(shown)}{' …' if getattr(diff, kind) > len(shown) else ''}", err=True)


@contextmanager
def _open_input(file: str) -> Iterator[BinaryIO]:
    if file == "-":
        yield sys.stdin.buffer
        return
    with open(file, "rb") as stream:
        yield stream


@contextmanager
def _rsf_progress(file: str, size: int) -> Iterator[Callable[[int], None] | None]:
    """Progress in bytes read for an RSF file over a few megabytes."""
    if file == "-" or size < 5_000_000:
        yield None
        return
    with progress(f"loading {os.path.basename(file)}", size, "bytes") as step:
        yield step


@contextmanager
def _progress(file: str) -> Iterator[Callable[[int], None] | None]:
    """Progress on stderr for tables over a few thousand rows (a bar on a terminal, else a line
    every few seconds: ``progress.progress``)."""
    if file == "-" or os.path.getsize(file) < 50_000:
        yield None
        return
    with open(file, "rb") as stream:
        rows = sum(1 for _ in stream) - 1
    if rows < 2000:
        yield None
        return
    with progress(f"loading {os.path.basename(file)}", rows) as step:
        yield step


@main.command()
@click.argument("name")
@click.option("--size", type=click.IntRange(min=0), default=None, help="The root after this many entries.")
@click.pass_context
@_friendly
def root(ctx: click.Context, name: str, size: int | None) -> None:
    """Print '<size> sha-256:<hex>' of a register's user log (now, or at --size).

    \b
    Examples:
      registers root country
      registers root country --size 200
    """
    engine = _engine(ctx, existing=True)
    if size is None:
        h = service.head(engine, name)
        click.echo(f"{h.user_size} {hash_text(h.user_root)}")
    else:
        click.echo(f"{size} {hash_text(service.root_at(engine, name, size))}")


@main.command("list")
@click.pass_context
@_friendly
def list_(ctx: click.Context) -> None:
    """List the registers with their sizes and roots.

    \b
    Example:
      registers list
    """
    for summary in service.list_registers(_engine(ctx, existing=True)):
        h = summary.head
        click.echo(f"{summary.name}\t{h.user_size}\t{hash_text(h.user_root)}")


@main.command()
@click.argument("name")
@click.option(
    "--format", "fmt", type=click.Choice(["rsf", "csv", "json", "jsonl"]), default="rsf", show_default=True,
    help="RSF (the log) or the current records as CSV, JSON or JSON lines.",
)
@click.option(
    "--from", "start", type=click.IntRange(min=0), default=0, help="Entries after this number (default 0: a full dump)."
)
@click.option("--to", "end", type=click.IntRange(min=0), default=None, help="Up to this entry (default: the latest).")
@click.pass_context
@_friendly
def export(ctx: click.Context, name: str, fmt: str, start: int, end: int | None) -> None:
    """Write a register to stdout: RSF (a full dump, or the patch --from N --to M), or its records.

    \b
    Examples:
      registers export country > country.rsf
      registers export country --from 200 > patch.rsf
      registers export country --format csv > country.csv
    """
    if fmt == "rsf":
        service.export_rsf(_engine(ctx, existing=True), name, sys.stdout.buffer, start, end)
    else:
        service.export_records(_engine(ctx, existing=True), name, fmt, sys.stdout.buffer)
    sys.stdout.buffer.flush()


@main.group()
def proof() -> None:
    """Print v1 Merkle proofs as JSON: that an entry is in the log, or that the log at one size
    is the log at a smaller size with entries appended.

    \b
    Examples:
      registers proof inclusion country 10 200
      registers proof consistency country 197 200
    """


@proof.command()
@click.argument("name")
@click.argument("number", type=int)
@click.argument("size", type=int)
@click.pass_context
@_friendly
def inclusion(ctx: click.Context, name: str, number: int, size: int) -> None:
    """The audit path of entry NUMBER in the tree of SIZE entries.

    \b
    Example:
      registers proof inclusion country 10 200
    """
    _print_json(service.inclusion_proof(_engine(ctx, existing=True), name, number, size))


@proof.command()
@click.argument("name")
@click.argument("first", type=int)
@click.argument("second", type=int)
@click.pass_context
@_friendly
def consistency(ctx: click.Context, name: str, first: int, second: int) -> None:
    """The consistency proof from the tree of FIRST entries to SECOND.

    \b
    Example:
      registers proof consistency country 197 200
    """
    _print_json(service.consistency_proof(_engine(ctx, existing=True), name, first, second))


@main.command()
@click.pass_context
@_friendly
def migrate(ctx: click.Context) -> None:
    """Bring the database's schema up to this version (back it up first; see docs/operations.md).

    \b
    Example:
      registers migrate
    """
    before, after = service.migrate(ctx.ensure_object(dict).get("db"))
    if before == after:
        click.echo(f"schema already at revision {after}")
    else:
        click.echo(f"schema migrated from revision {before or '(empty)'} to {after}")
    if before is not None and before < "0002":  # the upgrade to signed checkpoints made the first key
        made = service.signing_key_file(_engine(ctx))
        click.echo(f"signing key made: {service.signing_key(_engine(ctx))}; its private key is in {made} "
                   "(mode 0600): keep it secret, back it up", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.pass_context
@_friendly
def serve(ctx: click.Context, host: str, port: int) -> None:
    """Serve the v1 API and the pages for development, until stopped (production: gunicorn
    'registers.web:create_app()'). Without REGISTERS_SECRET_KEY, client addresses are kept
    under a secret made for this process.

    \b
    Example:
      registers serve
    """
    import secrets

    from werkzeug.serving import WSGIRequestHandler

    from ..settings import current
    from ..web import create_app

    class QuietRequests(WSGIRequestHandler):
        """The app logs each request itself (with its id, never its query): werkzeug's line, which
        holds the query, is left out."""

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            return None

    db = ctx.ensure_object(dict).get("db")
    config: dict[str, str] = {"DATABASE_URL": db} if db else {}
    if not current().secret_key:
        config["SECRET_KEY"] = secrets.token_hex(32)
        click.echo("REGISTERS_SECRET_KEY is not set: client addresses are kept under a secret made for this "
                   "process (rate limits start again with it); set one to keep them across restarts", err=True)
    app = create_app(config)
    settings = current()
    if settings.metrics and settings.metrics_port is not None:
        from ..web import metrics

        metrics.serve_on_port(settings.metrics_port, host)
        click.echo(f"metrics at http://{host}:{settings.metrics_port}/metrics", err=True)
    app.run(host=host, port=port, request_handler=QuietRequests)
