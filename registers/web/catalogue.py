"""``/``: the catalogue of registers (JSON and HTML), searchable by name and description."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request

from ..core.entries import Log
from ..core.items import hash_text
from ..service import NoDefinition, definition_of
from ..store import reads
from ..store.engine import snapshot
from ..store.system import system_records
from .representations import json_response
from .security import vary_on_accept
from .state import state

blueprint = Blueprint("catalogue", __name__)


def _registers(query: str, more: bool = False) -> list[dict[str, Any]]:
    """Every register whose name, title or description holds each word of ``query``, as
    ``/index.json`` lists it; with ``more`` (the page), also its phase, its records and the time
    of its latest entry (``_phase``, ``_records``, ``_updated``: never in the JSON)."""
    out = []
    licence = state().settings.licence  # REGISTERS_LICENCE
    with snapshot(state().engine) as conn:
        for name in reads.register_names(conn):
            reg_id = reads.register_id(conn, name)
            assert reg_id is not None
            head = reads.head(conn, reg_id)
            system = system_records(conn, reg_id)
            phase = ""
            try:
                definition = definition_of(conn, reg_id, name)
                text, title, phase = definition.text, definition.title, definition.phase
            except NoDefinition:  # a register loaded without a definition is still listed
                text, title = "", ""
            entry = {
                "register": name,
                "name": title or name,
                "text": text,
                "custodian": system.get("custodian", {}).get("custodian", ""),
                "total-entries": head.user_size,
                "root-hash": hash_text(head.user_root),
                "licence": licence,
                "link": f"/{name}/",
            }
            haystack = f"{name} {title} {text}".lower()
            if all(word in haystack for word in query.lower().split()):
                if more:
                    latest = next(reads.iter_entries(conn, reg_id, Log.USER, head.user_size), None) \
                        if head.user_size else None
                    entry = {**entry, "_phase": phase, "_records": head.user_records,
                             "_updated": latest.timestamp if latest else ""}
                out.append(entry)
    return out


@blueprint.get("/")
@blueprint.get("/index.json")
def catalogue() -> Response | str:
    """Every register with its size, root, custodian, licence and link; ``?q=`` searches. For a
    browser, the page: the search, filters by phase and custodian (``phase=``, ``custodian=``: a
    GET form, no script), and each register's records, entries and latest update."""
    query = request.args.get("q", "")
    if request.path == "/":
        vary_on_accept()  # HTML for a browser, JSON for the rest
    wants_html = request.path == "/" and request.accept_mimetypes.accept_html and not request.args.get("format")
    if not wants_html:
        return json_response(_registers(query), {"Access-Control-Allow-Origin": "*"})
    listed = _registers(query, more=True)
    phase, custodian = request.args.get("phase", ""), request.args.get("custodian", "")
    phases = sorted({r["_phase"] for r in listed if r["_phase"]})
    custodians = sorted({r["custodian"] for r in listed if r["custodian"]})
    shown = [r for r in listed
             if (not phase or r["_phase"] == phase) and (not custodian or r["custodian"] == custodian)]
    return render_template("catalogue.html", registers=shown, query=query, phase=phase, custodian=custodian,
                           phases=phases, custodians=custodians, every=len(listed))
