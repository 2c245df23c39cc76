"""``registers token``: custodian tokens for remote writes to one register."""

from __future__ import annotations

import click

from .. import service
from ..core.entries import now_timestamp
from .group import _engine, _friendly, main


@main.group()
def token() -> None:
    """Bearer tokens that let a custodian change one register over HTTP (stored hashed).

    \b
    Example:
      registers token list country
    """


@token.command()
@click.argument("name")
@click.option("--label", metavar="TEAM",
              help="The team this token is for: recorded as who made each change, and public for ever "
                   "(a role or team, never a person's name).")
@click.option("--expires", metavar="WHEN",
              help="Nd (N days), a date YYYY-MM-DD, or never (default: $REGISTERS_TOKEN_EXPIRY_DAYS days, 90).")
@click.pass_context
@_friendly
def issue(ctx: click.Context, name: str, label: str | None, expires: str | None) -> None:
    """Issue a token for register NAME and print it, this once (only its hash is kept).

    The second example uses it (rgt_... stands for the token printed).

    \b
    Examples:
      registers token issue local-authority-eng --label mhclg-data-team --expires 90d
      registers end local-authority-eng COP --date 2023-04-01 \\
        --remote https://registers.example.gov.uk/local-authority-eng/ --token rgt_...
    """
    issued = service.issue_token(_engine(ctx), name, label, expires)
    click.echo(issued.secret)
    ends = f"expires {issued.expires}" if issued.expires else "never expires"
    click.echo(f"token {issued.id} for '{name}' ({issued.label}), {ends}; shown once: keep it secret", err=True)


@token.command("list")
@click.argument("name")
@click.pass_context
@_friendly
def list_(ctx: click.Context, name: str) -> None:
    """The tokens of register NAME: id, label, when issued, when it expires, when last used, and
    when revoked (never the tokens themselves). A token past its expiry is marked EXPIRED.

    \b
    Example:
      registers token list local-authority-eng
    """
    now = now_timestamp()
    for t in service.list_tokens(_engine(ctx, existing=True), name):
        ends = "never expires" if t.expires is None else (
            f"EXPIRED {t.expires}" if t.expires <= now else f"expires {t.expires}")
        used = f"last used {t.last_used}" if t.last_used else "never used"
        click.echo(f"{t.id}\t{t.label}\tissued {t.created}\t{ends}\t{used}"
                   + (f"\trevoked {t.revoked}" if t.revoked else ""))


@token.command()
@click.argument("name")
@click.argument("token_id", type=int, metavar="ID")
@click.pass_context
@_friendly
def revoke(ctx: click.Context, name: str, token_id: int) -> None:
    """Revoke token ID of register NAME; it stops working at once.

    \b
    Example:
      registers token revoke local-authority-eng 2
    """
    service.revoke_token(_engine(ctx), name, token_id)
    click.echo(f"token {token_id} of '{name}' revoked")
