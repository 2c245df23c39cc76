"""Signed checkpoints, the public keys, and the system log beside the user log.

- ``/keys``: every verifier key that has signed checkpoints here, one per line (C2SP form).
- ``/keys.json``: the same keys with their status and dates, and the handover notes by which
  each retired key named its successor.
- ``/<register>/keys`` and ``/<register>/keys.json``: the same for the keys that verify one
  register: this server's, or for a mirrored register its origin's (with the handover notes
  the mirror followed), so a client can follow a rotation through a mirror too.
- ``/<register>/verify``: the page that says how to verify the register (HTML).
- ``/<register>/checkpoint`` and ``/<register>/system/checkpoint``: the latest signed
  checkpoint of each log (C2SP tlog-checkpoint, ``text/plain; charset=utf-8``).
- ``/<register>/system/...``: the system log's entries, proofs and RSF patches, shaped as the
  user log's are.
"""

from __future__ import annotations

import shlex

import orjson
from flask import Blueprint, Response, render_template, request
from sqlalchemy import Engine

from .. import service
from ..core.entries import Log, entry_json
from ..core.items import hash_text
from ..store import reads
from .answers import CORS, IMMUTABLE, attachment, conditional, link_headers, reading, streamed, whole_number
from .api import entries_page
from .representations import json_response, wants_html
from .security import public_origin
from .state import state

blueprint = Blueprint("signed", __name__)
NOTE_TYPE = "text/plain; charset=utf-8"
FRESH = {**CORS, "Cache-Control": "no-cache"}  # always revalidate: a checkpoint moves on


def _engine() -> Engine:
    return state().engine


@blueprint.get("/keys")
def keys() -> Response:
    """The verifier keys, oldest first, one per line."""
    text = "".join(key + "\n" for key in service.public_keys(_engine()))
    return conditional(Response(text, content_type=NOTE_TYPE, headers=FRESH), f"keys-{text}")


@blueprint.get("/keys.json")
def keys_json() -> Response:
    """Each key's status (signing, retired), dates and the handover note a retired key signed
    naming its successor, oldest first: what a client holding an old key follows."""
    response = json_response(service.keys_json(_engine()), FRESH)
    return conditional(response, "keys-json-" + response.get_data(as_text=True))


@blueprint.get("/<register>/keys")
def register_keys(register: str) -> Response:
    """The keys that verify this register's checkpoints, one per line: this server's, or for a
    mirrored register its origin's."""
    text = "".join(key["key"] + "\n" for key in service.register_keys_json(_engine(), register))
    return conditional(Response(text, content_type=NOTE_TYPE, headers=FRESH), f"keys-{text}")


@blueprint.get("/<register>/keys.json")
def register_keys_json(register: str) -> Response:
    """``/keys.json`` for the keys that verify this register (a mirror: its origin's, with the
    handover notes it followed)."""
    response = json_response(service.register_keys_json(_engine(), register), FRESH)
    return conditional(response, "keys-json-" + response.get_data(as_text=True))


@blueprint.get("/<register>/verify")
def verify_page(register: str) -> str:
    """"Verify this register" (HTML, for people): the latest signed checkpoint of its log, the
    keys that verify it, and the ``registers`` commands that check the served register, or a
    downloaded copy, against them."""
    engine = _engine()
    note = service.checkpoint_note(engine, register, Log.USER)
    keys = service.register_keys_json(engine, register)
    with reading(register) as (conn, reg_id):
        head = reads.head(conn, reg_id)
        try:
            title = service.definition_of(conn, reg_id, register).title or register
        except service.NoDefinition:
            title = register
    signing = next((k["key"] for k in keys if k["status"] == "signing"), keys[-1]["key"] if keys else "VKEY")
    signing = shlex.quote(signing)  # pasted into a shell: a mirrored origin chooses its keys' names
    return render_template("verify.html", register=register, title=title, note=note, keys=keys, head=head,
                           root=hash_text(head.user_root), signing=signing, origin=public_origin())


@blueprint.get("/<register>/checkpoint", defaults={"system": False})
@blueprint.get("/<register>/system/checkpoint", defaults={"system": True})
def checkpoint(register: str, system: bool) -> Response:
    """The latest signed checkpoint of the user (or system) log."""
    note = service.checkpoint_note(_engine(), register, Log.SYSTEM if system else Log.USER)
    return conditional(Response(note, content_type=NOTE_TYPE, headers=FRESH), f"note-{note}")


@blueprint.get("/<register>/system/entries")
@blueprint.get("/<register>/system/entries.json")
def system_entries(register: str) -> Response:
    """System entries oldest first from ``start``, ``limit`` at a time (at most 5000); for a
    browser (``/system/entries`` asked for HTML), the page of them with their items' fields."""
    settings = state().settings
    limit = whole_number(request.args.get("limit"), "limit", settings.page_size, 1, settings.max_page_size)
    start = whole_number(request.args.get("start"), "start", 1, 1)
    html = request.path.endswith("/entries") and wants_html()
    with reading(register) as (conn, reg_id):
        size = reads.head(conn, reg_id).system_size
        found = list(reads.iter_entries(conn, reg_id, Log.SYSTEM, start, min(size, start + limit - 1)))
        if html:
            blobs = reads.item_contents(conn, reg_id, list({d for e in found for d in e.digests}))
            items = {digest: orjson.loads(blob) for digest, blob in blobs.items()}
            return entries_page(register, register, found, start, limit, size, True, items)  # type: ignore[return-value]
    pairs = [("next", f"?start={start + limit}&limit={limit}")] if start + limit <= size else []
    response = json_response([entry_json(e) for e in found], link_headers(pairs))
    return conditional(response, f"system-entries-{start}-{found[-1].number if found else 0}-{limit}")


@blueprint.get("/<register>/system/proof/register/merkle:sha-256")
def system_register_proof(register: str) -> Response:
    """The root hash and size of the system log."""
    body = service.register_proof(_engine(), register, Log.SYSTEM)
    return conditional(json_response(body, CORS), f"system-proof-{body['root-hash']}")


@blueprint.get("/<register>/system/proof/entries/<number>/<size>/merkle:sha-256")
def system_entry_proof(register: str, number: str, size: str) -> Response:
    """The audit path of a system entry in the system tree of ``size`` entries."""
    n, s = whole_number(number, "entry number", 1, 1), whole_number(size, "tree size", 1, 1)
    body = service.inclusion_proof(_engine(), register, n, s, Log.SYSTEM)
    return conditional(json_response(body, IMMUTABLE), f"system-entry-proof-{n}-{s}")


@blueprint.get("/<register>/system/proof/consistency/<first>/<second>/merkle:sha-256")
def system_consistency_proof(register: str, first: str, second: str) -> Response:
    """The consistency proof between two sizes of the system log."""
    m, n = whole_number(first, "first size", 1, 1), whole_number(second, "second size", 1, 1)
    body = service.consistency_proof(_engine(), register, m, n, Log.SYSTEM)
    return conditional(json_response(body, IMMUTABLE), f"system-consistency-{m}-{n}")


@blueprint.get("/<register>/system/download-rsf", defaults={"start": 0, "end": None})
@blueprint.get("/<register>/system/download-rsf/<int:start>", defaults={"end": None})
@blueprint.get("/<register>/system/download-rsf/<int:start>/<int:end>")
def system_download_rsf(register: str, start: int, end: int | None) -> Response:
    """The system log's entries ``start+1..end`` and the items they use, as RSF (no asserts:
    check it against ``/system/checkpoint``)."""
    chunks = service.system_patch(_engine(), register, start, end)
    headers = {**(IMMUTABLE if end is not None else CORS), **attachment(f"{register}.rsf")}
    # the first chunk is made now: a bad range or register is refused before the answer starts
    return Response(streamed(chunks, start=True), content_type="application/uk-gov-rsf", headers=headers)
