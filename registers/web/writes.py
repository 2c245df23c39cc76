"""Remote writes by custodians: each needs a bearer token issued for the register.

- ``POST /<register>/load-rsf``: the body is RSF (a patch or a dump); ``?reason=`` says why.
- ``POST /<register>/changes``: JSON ``{"action": "add"|"amend"|"end", "key": ..., "fields":
  {...}, "date": "YYYY-MM-DD" (end), "reason": ...}``; a field set to null is removed (amend).

Both go through the one write path, record the token's label as who made the change, and
answer with the new head and the change's receipt. No token or an unknown one: 401; another
register's token: 403; a refused change: 422 with the reason; nothing is stored then. The
token is never logged or echoed.
"""

from __future__ import annotations

import json
import tempfile
from typing import Any

from flask import Blueprint, Response, current_app, request
from werkzeug.exceptions import RequestEntityTooLarge

from .. import service
from ..core.items import hash_text
from .problems import BadRequest
from .representations import json_response

blueprint = Blueprint("writes", __name__)
CHUNK = 1 << 16


def _engine():  # type: ignore[no-untyped-def]
    """The primary database (reads may come from a replica; writes and their receipts may not)."""
    return current_app.extensions["registers.write_engine"]


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
    register holds are skipped; new system entries are held to the rules of ``registers
    create``, and a ``change`` entry or a system key the platform does not know is refused
    (422): who and why are the token's label and ``?reason=``, recorded by the platform."""
    by = service.authorise(_engine(), register, bearer_token())
    limit = current_app.config["MAX_UPLOAD"]
    with tempfile.NamedTemporaryFile(prefix="registers-upload-", suffix=".rsf") as spool:
        received = 0
        while chunk := request.stream.read(CHUNK):
            received += len(chunk)
            if received > limit:
                raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
            spool.write(chunk)
        spool.flush()
        result = service.load_rsf(_engine(), spool.name, register, by=by, reason=request.args.get("reason"),
                                  source="request body", create=False, authored=True)
    return _answer(result)


@blueprint.post("/<register>/changes")
def change(register: str) -> Response:
    """Add, amend or end one record of ``register``."""
    by = service.authorise(_engine(), register, bearer_token())
    try:
        body = json.loads(request.get_data(cache=False) or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"the body is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object with action, key and fields")
    action, key, reason = body.get("action"), body.get("key"), body.get("reason")
    fields = body.get("fields") or {}
    if not isinstance(key, str) or not key or not isinstance(fields, dict):
        raise BadRequest("the body needs a key (a string) and fields (an object)")
    if reason is not None and not isinstance(reason, str):
        raise BadRequest("reason must be a string")
    assignments = [f"{name}={_text(name, value)}" for name, value in fields.items()]
    engine = _engine()
    if action == "add":
        result = service.add_record(engine, register, key, assignments, by=by, reason=reason)
    elif action == "amend":
        result = service.amend_record(engine, register, key, assignments, by=by, reason=reason)
    elif action == "end":
        date = body.get("date")
        if not isinstance(date, str):
            raise BadRequest("an end needs a date (YYYY-MM-DD)")
        result = service.end_record(engine, register, key, date, by=by, reason=reason)
    else:
        raise BadRequest("action must be add, amend or end")
    return _answer(result)


def _text(name: str, value: Any) -> str:
    """A JSON field value as the CLI's ``field=value`` text (a list joined by ``;``, null removes)."""
    if value is None:
        return ""
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ";".join(value)
    if isinstance(value, str):
        return value
    raise BadRequest(f"field '{name}' must be a string, a list of strings or null")
