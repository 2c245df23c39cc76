"""Receipts for committed changes (see core.receipts), written by the CLI's ``--receipt``."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, select

from ..core.entries import Log
from ..core.items import hash_text
from ..core.receipts import AUDIT_PATHS_UP_TO, FORMAT, frontier_positions, receipt_entry
from ..store import reads
from ..store.append import AppendResult
from ..store.engine import snapshot
from ..store.schema import checkpoint
from ..store.tree import StoredTree
from .registers import register_id_of


def receipt_for(engine: Engine, result: AppendResult) -> dict[str, Any] | None:
    """The receipt of the committed change ``result``: for each log it grew, the signed
    checkpoint it made, the frontier before it, the new entries with their items and (for up
    to AUDIT_PATHS_UP_TO entries) their audit paths. None when the change appended nothing."""
    if not result.added:
        return None
    head = result.head
    out: dict[str, Any] = {"format": FORMAT, "register": result.register}
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, result.register)
        c = checkpoint.c
        row = conn.execute(
            select(c.user_note, c.system_note)
            .where(c.register_id == reg_id, c.user_size == head.user_size, c.system_size == head.system_size)
            .order_by(c.id.desc())
            .limit(1)
        ).one()
        notes = {Log.USER: row.user_note, Log.SYSTEM: row.system_note}
        current = reads.head(conn, reg_id)
        for log, added in ((Log.USER, result.added_user), (Log.SYSTEM, result.added_system)):
            if not added:
                continue
            size = head.size(log)
            previous = size - added
            tree = StoredTree(conn, reg_id, log, current.size(log))
            entries = list(reads.iter_entries(conn, reg_id, log, previous + 1, size))
            contents = reads.item_contents(conn, reg_id, list({d for e in entries for d in e.digests}))
            with_paths = added <= AUDIT_PATHS_UP_TO
            out[log.label] = {
                "checkpoint": notes[log],
                "previous-size": previous,
                "frontier": [hash_text(tree.node(level, index)) for level, index in frontier_positions(previous)],
                "entries": [
                    receipt_entry(
                        e.number, e.timestamp, e.key, e.digests,
                        [json.loads(contents[d]) for d in e.digests],
                        tree.inclusion_proof(e.number, size) if with_paths else None,
                    )
                    for e in entries
                ],
            }
    return out
