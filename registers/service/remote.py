"""A custodian's changes sent to a served register instead of a local database."""

from __future__ import annotations

from typing import Any

from ..client import CustodianClient, RegisterClient
from ..core.changes import RecordChange, parse_assignments


def remote_load(url: str, token: str, path: str, reason: str | None = None, max_errors: int | None = None,
                ) -> dict[str, Any]:
    """Load the RSF file at ``path`` into the register at ``url``; the server's answer."""
    return CustodianClient(url, token).load_rsf(path, reason, max_errors)


def remote_load_table(
    url: str, token: str, path: str, fmt: str, *, history: bool = False, dry_run: bool = False,
    end_missing: str | None = None, max_end: int | None = None, reason: str | None = None,
    max_errors: int | None = None,
) -> dict[str, Any]:
    """Load the table at ``path`` into the register at ``url`` as a local load would (the
    server diffs it against its records); the server's answer, with the diff."""
    return CustodianClient(url, token).load_table(path, fmt, history=history, dry_run=dry_run,
                                                  end_missing=end_missing, max_end=max_end, reason=reason,
                                                  max_errors=max_errors)


def remote_parse_change(url: str, action: str, key: str, assignments: list[str]) -> RecordChange:
    """The change command-line ``FIELD=VALUE`` arguments ask for, parsed by the definition
    of the register served at ``url`` (as ``parse_change`` does with a local one)."""
    return RecordChange(action, key, parse_assignments(RegisterClient(url).definition(), assignments))


def remote_change(url: str, token: str, change: RecordChange, *, reason: str | None = None) -> dict[str, Any]:
    """Send ``change`` to the register at ``url``; the server's answer (with receipt)."""
    return CustodianClient(url, token).change(change, reason=reason)
