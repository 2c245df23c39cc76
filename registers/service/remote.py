"""A custodian's changes sent to a served register instead of a local database."""

from __future__ import annotations

from typing import Any

from ..client import CustodianClient


def remote_load(url: str, token: str, path: str, reason: str | None = None) -> dict[str, Any]:
    """Load the RSF file at ``path`` into the register at ``url``; the server's answer."""
    return CustodianClient(url, token).load_rsf(path, reason)


def remote_change(url: str, token: str, action: str, key: str, assignments: list[str], *,
                  date: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """Add, amend or end record ``key`` of the register at ``url`` with ``field=value``s."""
    fields: dict[str, Any] = {}
    for text in assignments:
        name, _sep, value = text.partition("=")
        fields[name] = value
    return CustodianClient(url, token).change(action, key, fields, date=date, reason=reason)
