"""``registers propose``, ``registers proposals`` and ``registers check``: proposed changes, their
review by the custodian, and data-quality reports."""

from __future__ import annotations

import json
from typing import Any

import click

from .. import service
from ..service import quality
from ..settings import current
from .group import _author, _engine, _friendly, _settings, main
from .progress import progress
from .records import WHO

PROGRESS_FROM = 100_000  # records from which ``check`` shows how far it has read


@main.command()
@click.argument("name")
@click.argument("key")
@click.argument("assignments", nargs=-1, metavar="[FIELD=VALUE]...")
@click.option("--reason", required=True, help="Why the change is needed (shown with the proposal).")
@click.option("--contact", help="How the custodian can reach you (never shown publicly).")
@click.option("--end", "end_date", metavar="DATE", help="Propose ending the record on DATE instead.")
@click.pass_context
@_friendly
def propose(ctx: click.Context, name: str, key: str, assignments: tuple[str, ...], reason: str,
            contact: str | None, end_date: str | None) -> None:
    """Propose a change to record KEY of register NAME: an amend (or an add, for a new key) with
    the FIELD=VALUEs, or its end. Checked like a real change; the custodian decides.

    \b
    Examples:
      registers propose country GB official-name="The United Kingdom" --reason "the short form in use"
      registers propose local-authority-eng CAR --end 2023-04-01 --reason "now part of Cumberland"
    """
    engine = _engine(ctx)
    if end_date is not None:
        if assignments:
            raise click.BadParameter("an end proposal takes --end DATE and no FIELD=VALUE", param_hint="assignments")
        fields: dict[str, service.FieldValue] = {"end-date": end_date}
        action: str | None = "end"
    else:
        fields, action = service.parse_fields(engine, name, list(assignments)), None
    made = service.propose(engine, name, key, fields, reason, action=action, contact=contact,
                           source=_settings(ctx).actor or "anonymous")
    click.echo(f"proposal {made.id}: {made.action} {name} {key}, open for the custodian")
    for field, (now, proposed) in made.diff.items():
        click.echo(f"  {field}: {_shown(now)} -> {_shown(proposed)}")


class _ListByDefault(click.Group):
    """``registers proposals NAME`` lists; ``registers proposals show|approve|... NAME ID`` act."""

    def resolve_command(self, ctx: click.Context, args: list[str]):  # type: ignore[no-untyped-def]
        if args and args[0] not in self.commands:
            args.insert(0, "list")
        return super().resolve_command(ctx, args)


@main.group(cls=_ListByDefault, context_settings={"ignore_unknown_options": True})
def proposals() -> None:
    """Review proposed changes: list them (registers proposals NAME), show, approve, reject, recheck;
    purge deletes proposers' contacts once kept long enough.

    \b
    Examples:
      registers proposals country
      registers proposals country --status all
    """


@proposals.command("list")
@click.argument("name")
@click.option("--status", type=click.Choice(["open", "approved", "rejected", "all"]), default="open",
              show_default=True)
@click.pass_context
@_friendly
def list_(ctx: click.Context, name: str, status: str) -> None:
    """The proposals of register NAME, newest first: id, status, action, key, what changes
    ('registers proposals NAME' is short for 'registers proposals list NAME').

    \b
    Example:
      registers proposals list country --status approved
    """
    found = service.list_proposals(_engine(ctx, existing=True), name, None if status == "all" else status)
    for p in found:
        stale = " STALE (re-check)" if p.stale else ""
        changes = "; ".join(f"{f}: {_shown(a)} -> {_shown(b)}" for f, (a, b) in p.diff.items()) or "no difference now"
        click.echo(f"{p.id}\t{p.status}{stale}\t{p.action} {p.key}\t{changes}\t{p.reason}")
    if not found:
        click.echo(f"no {'' if status == 'all' else status + ' '}proposals for '{name}'", err=True)


@proposals.command()
@click.argument("name")
@click.argument("ident", type=int, metavar="ID")
@click.pass_context
@_friendly
def show(ctx: click.Context, name: str, ident: int) -> None:
    """Proposal ID of register NAME in full, with the proposer's contact (for the custodian).

    \b
    Example:
      registers proposals show country 1
    """
    engine = _engine(ctx, existing=True)
    found = service.get_proposal(engine, name, ident)
    shown = found.public() | {"contact": service.contact_of(engine, name, ident)}
    click.echo(json.dumps(shown, ensure_ascii=False, indent=1))


@proposals.command()
@click.argument("name")
@click.argument("ident", type=int, metavar="ID")
@click.option("--reason", required=True, help="Why it is approved (recorded with the change).")
@WHO
@click.option("--receipt", "receipt_file", type=click.Path(dir_okay=False, writable=True),
              help="Write the change's receipt to this file.")
@click.pass_context
@_friendly
def approve(ctx: click.Context, name: str, ident: int, reason: str, by: str | None,
            receipt_file: str | None) -> None:
    """Approve proposal ID: its change is appended through the one write path.

    \b
    Example:
      registers proposals approve country 1 --as fcdo-data-team --reason "confirmed with FCDO" --receipt approved.json
    """
    done, receipt = service.approve(_engine(ctx), name, ident, by=_author(by), reason=reason)
    if receipt_file:
        with open(receipt_file, "w", encoding="utf-8") as out:
            json.dump(receipt, out, indent=1)
    click.echo(f"proposal {ident} approved: entry {done.entry_number} of '{name}'")


@proposals.command()
@click.argument("name")
@click.argument("ident", type=int, metavar="ID")
@click.option("--reason", required=True, help="Why it is rejected (the proposer sees it).")
@WHO
@click.pass_context
@_friendly
def reject(ctx: click.Context, name: str, ident: int, reason: str, by: str | None) -> None:
    """Reject proposal ID, saying why (the proposer sees it); nothing is appended.

    \b
    Example:
      registers proposals reject local-authority-eng 2 --as mhclg-data-team --reason "the council asked for it already"
    """
    service.reject(_engine(ctx), name, ident, by=_author(by), reason=reason)
    click.echo(f"proposal {ident} rejected")


@proposals.command()
@click.argument("name")
@click.argument("ident", type=int, metavar="ID")
@click.pass_context
@_friendly
def recheck(ctx: click.Context, name: str, ident: int) -> None:
    """Check a stale proposal again against the record as it is now (a proposal is stale when
    its record changed after it was checked; it cannot be approved until checked again).

    \b
    Example:
      registers proposals recheck local-authority-eng 2
    """
    found = service.recheck(_engine(ctx), name, ident)
    click.echo(f"proposal {ident} still applies; it is current again")
    for field, (now, proposed) in found.diff.items():
        click.echo(f"  {field}: {_shown(now)} -> {_shown(proposed)}")


@proposals.command()
@click.option("--days", type=click.IntRange(0), metavar="N",
              help="Keep contacts N days after a decision (default: $REGISTERS_CONTACT_RETENTION_DAYS, 90).")
@click.pass_context
@_friendly
def purge(ctx: click.Context, days: int | None) -> None:
    """Delete proposers' contacts once their proposals were decided N days ago, and rate-limit
    counts whose window has passed, in every register. Open proposals keep their contacts.
    Run it from cron, daily.

    \b
    Examples:
      registers proposals purge
      registers proposals purge --days 30
    """
    kept = days if days is not None else current().contact_retention_days
    done = service.purge(_engine(ctx), kept)
    click.echo(f"purged {done.contacts} contact{'s' if done.contacts != 1 else ''} of proposals decided before "
               f"{done.before} and {done.rate_rows} rate-limit count{'s' if done.rate_rows != 1 else ''}")


@main.command("check")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON.")
@click.option("--propose", "file_fixes", is_flag=True, help="File each listed finding's fix as a proposal to review.")
@click.option("--limit", default=20, show_default=True, help="Findings listed per kind (all are counted).")
@click.option("--all", "every", is_flag=True, help="List every finding (memory grows with their number).")
@click.option("--no-store", "dry", is_flag=True, help="Print the report only; keep serving the last one stored.")
@click.pass_context
@_friendly
def check(ctx: click.Context, name: str, as_json: bool, file_fixes: bool, limit: int, every: bool, dry: bool) -> None:
    """Report what looks wrong in register NAME: likely duplicates, dangling links, values that
    break today's datatype rules, ended records still linked from live ones, and fields left
    empty where most records fill them. Every finding is counted; the first --limit of each kind
    are listed (and, with --propose, filed). The report, every finding of it, is stored in place
    of the last one: /NAME/quality serves it (a report is never made on request, as it reads the
    whole register). Run it from cron to keep the served report current. Memory stays flat
    whatever the register's size (a scratch file in the temporary folder holds what must be
    grouped, and the findings until they are stored). Exit status 0 either way (it is a report).

    \b
    Examples:
      registers check school
      registers check school --propose --all
      registers check address --json --limit 100 > address-quality.json
      registers check address --limit 0        # from cron: the counts; the report stored
    """
    engine = _engine(ctx)
    make = quality.check if dry else quality.make_report
    size = service.head(engine, name).user_records
    if size < PROGRESS_FROM:
        report = make(engine, name, listed=None if every else max(limit, 0))
    else:  # minutes for a register of millions: say how far it has read
        with progress(f"checking {name}", size, "records") as step:
            report = make(engine, name, listed=None if every else max(limit, 0), progress=step)
    if as_json:
        click.echo(json.dumps(report.as_json(), ensure_ascii=False, indent=1))
    else:
        counts = report.counts()
        click.echo(f"{name}: {report.records} records ({report.live} live); "
                   + ", ".join(f"{n} {kind}" for kind, n in counts.items()))
        for f in report.findings:
            fix = f"  [fix: {f.fix['action']} {json.dumps(f.fix['fields'], ensure_ascii=False)}]" if f.fix else ""
            click.echo(f"{f.kind}\t{f.register}:{f.key}\t{f.message}{fix}")
        unlisted = sum(counts.values()) - len(report.findings)
        if unlisted:
            click.echo(f"({unlisted} more not listed: --limit N or --all lists them)")
    if not dry:
        click.echo(f"report stored ({report.size} entries, {report.made}): served at /{name}/quality", err=True)
    if file_fixes:
        filed = quality.propose_fixes(engine, report)
        click.echo(f"{len(filed.filed)} proposals filed ({', '.join(map(str, filed.filed)) or 'none'}), "
                   f"{filed.already} already open, {len(filed.refused)} refused", err=True)
        for refusal in filed.refused:
            click.echo(f"  refused: {refusal}", err=True)


def _shown(value: Any) -> str:
    if value is None:
        return "(none)"
    return json.dumps(value, ensure_ascii=False) if isinstance(value, list) else str(value)  # a list as a list
