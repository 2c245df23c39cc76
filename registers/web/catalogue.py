"""``/``: the catalogue of registers (JSON and HTML), searchable by name and description."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, render_template, request

from ..core.items import hash_text
from ..service import NoDefinition, definition_of
from ..store import reads
from ..store.engine import snapshot
from ..store.system import system_records
from .representations import json_response
from .security import vary_on_accept
from .state import state

blueprint = Blueprint("catalogue", __name__)


def _registers(query: str) -> list[dict[str, Any]]:
    out = []
    licence = state().settings.licence  # REGISTERS_LICENCE
    with snapshot(state().engine) as conn:
        for name in reads.register_names(conn):
            reg_id = reads.register_id(conn, name)
            assert reg_id is not None
            head = reads.head(conn, reg_id)
            system = system_records(conn, reg_id)
            try:
                definition = definition_of(conn, reg_id, name)
                text, title = definition.text, definition.title
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
                out.append(entry)
    return out


@blueprint.get("/")
@blueprint.get("/index.json")
def catalogue() -> Response | str:
    """Every register with its size, root, custodian, licence and link; ``?q=`` searches."""
    query = request.args.get("q", "")
    registers = _registers(query)
    if request.path == "/":
        vary_on_accept()  # HTML for a browser, JSON for the rest
    wants_html = request.path == "/" and request.accept_mimetypes.accept_html and not request.args.get("format")
    if wants_html:
        return render_template("catalogue.html", registers=registers, query=query)
    return json_response(registers, {"Access-Control-Allow-Origin": "*"})
