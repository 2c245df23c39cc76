"""A custodian's changes sent to a served register instead of a local database."""

from __future__ import annotations

from typing import Any

from ..client import CustodianClient, RegisterClient
from ..core.changes import RecordChange, parse_assignments


def remote_load(url: str, token: str, path: str, reason: str | None = None) -> dict[str, Any]:
    """Load the RSF file at ``path`` into the register at ``url``; the server's answer."""
    return CustodianClient(url, token).load_rsf(path, reason)


def remote_parse_change(url: str, action: str, key: str, assignments: list[str]) -> RecordChange:
    """The change command-line ``FIELD=VALUE`` arguments ask for, parsed by the definition
    of the register served at ``url`` (as ``parse_change`` does with a local one)."""
    return RecordChange(action, key, parse_assignments(RegisterClient(url).definition(), assignments))


def remote_change(url: str, token: str, change: RecordChange, *, reason: str | None = None) -> dict[str, Any]:
    """Send ``change`` to the register at ``url``; the server's answer (with receipt)."""
    return CustodianClient(url, token).change(change, reason=reason)
