"""Remote writes by custodians: each needs a bearer token issued for the register.

- ``POST /<register>/load-rsf``: the body is RSF (a patch or a dump); ``?reason=`` says why.
- ``POST /<register>/changes``: JSON ``{"action": "add"|"amend"|"end", "key": ..., "fields":
  {...}, "date": "YYYY-MM-DD" (end), "reason": ...}`` (``bodies.ChangeBody``): each field's value
  is a string, a list of strings (a cardinality-n field) or null (removes it), stored exactly as
  sent or refused (422) naming the field.

Both go through the one write path, record the token's label as who made the change, and
answer with the new head and the change's receipt. No token or an unknown one: 401; another
register's token: 403; a refused change: 422 with the reason; nothing is stored then. The
token is never logged or echoed.
"""

from __future__ import annotations

import tempfile
from typing import Any

from flask import Blueprint, Response, request
from sqlalchemy import Engine
from werkzeug.exceptions import RequestEntityTooLarge

from .. import service
from ..core.items import hash_text
from .bodies import CHANGE, load_body
from .representations import json_response
from .state import state

blueprint = Blueprint("writes", __name__)
CHUNK = 1 << 16
CHANGE_MAX_BYTES = 1 << 20  # one record's change: a JSON body read whole


def _engine() -> Engine:
    """The primary database (reads may come from a replica; writes and their receipts may not)."""
    return state().write_engine


def bearer_token() -> str | None:
    """The token of the request's ``Authorization: Bearer`` header, if it has one."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _answer(result: Any) -> Response:
    head = result.head
    body = {
        "register": result.register,
        "user-entries-added": result.added_user,
        "system-entries-added": result.added_system,
        "total-entries": head.user_size,
        "root-hash": hash_text(head.user_root),
        "receipt": service.receipt_for(_engine(), result),
    }
    return json_response(body, {"Cache-Control": "no-store"})


@blueprint.post("/<register>/load-rsf")
def load_rsf(register: str) -> Response:
    """Load the RSF in the request body into ``register`` (all or nothing). Entries the
    register holds are skipped; new entries are the custodian's, so they are held to the rules
    of new data, refused (422) rather than reported: user entries as strictly as a table or an
    amend (datatypes, cardinality, keys, links), system entries to the rules of ``registers
    create``, and a ``change`` entry or a system key the platform does not know is refused: who
    and why are the token's label and ``?reason=``, recorded by the platform."""
    by = service.authorise(_engine(), register, bearer_token())
    limit = state().settings.max_upload
    with tempfile.NamedTemporaryFile(prefix="registers-upload-", suffix=".rsf") as spool:
        received = 0
        while chunk := request.stream.read(CHUNK):
            received += len(chunk)
            if received > limit:
                raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
            spool.write(chunk)
        spool.flush()
        result = service.load_rsf(_engine(), spool.name, register, by=by, reason=request.args.get("reason"),
                                  source="request body", create=False, authored=True, strict=True)
    return _answer(result)


@blueprint.post("/<register>/changes")
def change(register: str) -> Response:
    """Add, amend or end one record of ``register``: the body (``bodies.ChangeBody``) is the
    typed change itself, passed on exactly as sent."""
    by = service.authorise(_engine(), register, bearer_token())
    body = load_body(CHANGE, min(state().settings.max_upload, CHANGE_MAX_BYTES))
    return _answer(service.apply_change(_engine(), register, body["change"], by=by, reason=body["reason"]))
