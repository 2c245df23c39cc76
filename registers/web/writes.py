"""Remote writes by custodians: each needs a bearer token issued for the register.

- ``POST /<register>/load-rsf``: the body is RSF (a patch or a dump); ``?reason=`` says why.
- ``POST /<register>/load-table?format=csv|tsv|json|jsonl``: the body is a table, loaded as
  ``registers load`` loads a local one (``history``, ``dry-run``, ``end-missing``, ``max-end``);
  its length and SHA-256 (``Content-Digest``) are checked first.
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

import base64
import errno
import hashlib
import hmac
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import IO, Any

from flask import Blueprint, Response, current_app, g, request
from sqlalchemy import Engine
from werkzeug.exceptions import HTTPException, LengthRequired, RequestEntityTooLarge

from .. import service
from ..core.faults import DEFAULT_LIMIT
from ..core.items import hash_text
from ..logs import event
from .bodies import CHANGE, load_body
from .problems import BadRequest
from .representations import json_response
from .state import state

blueprint = Blueprint("writes", __name__)
CHUNK = 1 << 16
CHANGE_MAX_BYTES = 1 << 20  # one record's change: a JSON body read whole

# An upload is spooled to ``registers-upload-<pid>-<random>.rsf`` in the temporary directory
# (tempfile's: $TMPDIR, else /tmp) and removed when its load ends, however it ends. A worker
# killed outright (SIGKILL, the OOM killer) cannot remove its own: the next app to start sweeps
# every spool whose process is gone, and any older than a day (a pid the system reused).
SPOOL_PREFIX = "registers-upload-"
SPOOL_NAME = re.compile(re.escape(SPOOL_PREFIX) + r"(?:(\d+)-)?.*\.rsf")
SPOOL_MAX_AGE = 24 * 3600  # seconds: no load of a live process takes this long
UNNAMED_SPOOL_AGE = 3600  # seconds: a spool of an older version, named without its process
NO_ROOM = {errno.ENOSPC, errno.EDQUOT}


class InsufficientStorage(HTTPException):
    """HTTP 507: the spool directory is full, so the upload cannot be received."""

    code = 507
    description = "the server is out of room for uploads just now: try again later"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's process, alive
        return True
    return True


def sweep_spools(directory: str | None = None) -> list[Path]:
    """Remove the spool files (``registers-upload-*.rsf``) left in ``directory`` (tempfile's
    by default) by loads whose process died; one a live process may still be using is kept.
    Returns the files removed."""
    removed = []
    now = time.time()
    for path in Path(directory or tempfile.gettempdir()).glob(f"{SPOOL_PREFIX}*.rsf"):
        match = SPOOL_NAME.fullmatch(path.name)
        if match is None:
            continue
        try:
            if not path.is_file():
                continue
            age = now - path.stat().st_mtime
            if match[1] is None:
                stale = age > UNNAMED_SPOOL_AGE
            else:
                stale = age > SPOOL_MAX_AGE or not _alive(int(match[1]))
            if stale:
                path.unlink()
                removed.append(path)
        except OSError:  # gone meanwhile, or another user's
            continue
    return removed


@blueprint.record_once
def _sweep_at_start(setup: Any) -> None:
    for path in sweep_spools():
        event(setup.app.logger, logging.WARNING, "spool_removed", path=str(path))  # its process died


def _spool_body(limit: int, digest: Any = None) -> IO[bytes]:
    """The request body in a spool file (its caller removes it); 413 past ``limit`` bytes,
    507 when the spool directory is full (the partial file removed). ``digest`` (a hashlib
    object) is fed every byte on the way."""
    spool = tempfile.NamedTemporaryFile(prefix=f"{SPOOL_PREFIX}{os.getpid()}-", suffix=".rsf", delete=False)
    try:
        received = 0
        while chunk := request.stream.read(CHUNK):
            received += len(chunk)
            if received > limit:
                raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
            spool.write(chunk)
            if digest is not None:
                digest.update(chunk)
        spool.flush()
    except OSError as exc:
        _discard(spool)
        if exc.errno in NO_ROOM:
            event(current_app.logger, logging.ERROR, "upload_refused", reason=f"the spool directory is full ({exc})")
            raise InsufficientStorage() from None
        raise
    except BaseException:
        _discard(spool)
        raise
    return spool


def _discard(spool: IO[bytes]) -> None:
    """Close and remove a spool file (closing a full one may fail again: it is removed anyway)."""
    try:
        spool.close()
    except OSError:
        pass
    finally:
        Path(spool.name).unlink(missing_ok=True)


def _engine() -> Engine:
    """The primary database (reads may come from a replica; writes and their receipts may not)."""
    return state().write_engine


def authorised(register: str, engine: Engine | None = None) -> str:
    """The label of the request's token if it may write to ``register`` (401/403 otherwise);
    the token's use is recorded once the answer is a success (``_note_use``)."""
    secret = bearer_token()
    label = service.authorise(engine or _engine(), register, secret)
    g.registers_token_used = (engine or _engine(), secret)
    return label


@blueprint.after_app_request
def _note_use(response: Response) -> Response:
    used = g.pop("registers_token_used", None)
    if used is not None and response.status_code < 400:
        service.note_use(*used)
    return response


def bearer_token() -> str | None:
    """The token of the request's ``Authorization: Bearer`` header, if it has one."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def _body(result: Any, receipt: bool = True) -> dict[str, Any]:
    head = result.head
    return {
        "register": result.register,
        "user-entries-added": result.added_user,
        "system-entries-added": result.added_system,
        "total-entries": head.user_size,
        "root-hash": hash_text(head.user_root),
        "receipt": service.receipt_for(_engine(), result) if receipt else None,
    }


def _answer(result: Any) -> Response:
    return json_response(_body(result), {"Cache-Control": "no-store"})


@blueprint.post("/<register>/load-rsf")
def load_rsf(register: str) -> Response:
    """Load the RSF in the request body into ``register`` (all or nothing). Entries the
    register holds are skipped; new entries are the custodian's, so they are held to the rules
    of new data, refused (422) rather than reported: user entries as strictly as a table or an
    amend (datatypes, cardinality, keys, links), system entries to the rules of ``registers
    create``, and a ``change`` entry or a system key the platform does not know is refused: who
    and why are the token's label and ``?reason=``, recorded by the platform."""
    by = authorised(register)
    limit = state().settings.max_upload
    if request.content_length is not None and request.content_length > limit:  # refused before a byte is read
        raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
    try:
        spool = _spool_body(limit)
    except OSError as exc:  # the spool could not even be made
        if exc.errno in NO_ROOM:
            raise InsufficientStorage() from None
        raise
    try:
        max_errors = min(_whole(request.args.get("max-errors"), "max-errors") or DEFAULT_LIMIT, MAX_ERRORS) or 1
        result = service.load_rsf(_engine(), spool.name, register, by=by, reason=request.args.get("reason"),
                                  source="request body", create=False, authored=True, strict=True,
                                  max_errors=max_errors)
    finally:
        _discard(spool)
    return _answer(result)


TABLE_FORMATS = ("csv", "tsv", "json", "jsonl")
MAX_ERRORS = 1000  # the most faults a refusal names (``max-errors``): the rest are counted
_DIGEST = re.compile(r"(?:^|,)\s*sha-256=:([A-Za-z0-9+/]{43}=):\s*(?:,|$)")


@blueprint.post("/<register>/load-table")
def load_table(register: str) -> Response:
    """Load the table in the request body into ``register`` as ``registers load`` loads a
    local one: diffed against its current records under the write lock, through the one write
    path (all or nothing), every fault named (422 ``errors``). The query says how:
    ``format`` (csv, tsv, json, jsonl), ``history``, ``dry-run`` (the diff only, nothing
    stored), ``end-missing=DATE`` with ``max-end=N`` (the guard), ``reason``. The body must
    come with its ``Content-Length`` (411 without) and ``Content-Digest: sha-256=:…:`` (400
    without, or when the bytes received are not the bytes sent), both checked before anything
    is compared; past ``REGISTERS_MAX_UPLOAD``, 413 before a byte is read."""
    by = authorised(register)
    args = request.args
    fmt = args.get("format", "")
    if fmt not in TABLE_FORMATS:
        raise BadRequest(f"format must be one of {', '.join(TABLE_FORMATS)}")
    flags = {name: _flag(args.get(name), name) for name in ("history", "dry-run")}
    end_missing = args.get("end-missing") or None
    max_end = _whole(args.get("max-end"), "max-end")
    max_errors = min(_whole(args.get("max-errors"), "max-errors") or DEFAULT_LIMIT, MAX_ERRORS) or 1
    if request.content_length is None:
        raise LengthRequired("send the table with its Content-Length")
    limit = state().settings.max_upload
    if request.content_length > limit:
        raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
    claimed = _DIGEST.search(request.headers.get("Content-Digest", ""))
    if claimed is None:
        raise BadRequest("send the table's SHA-256 as Content-Digest: sha-256=:<base64>:")
    digest = hashlib.sha256()
    try:
        spool = _spool_body(limit, digest)
    except OSError as exc:
        if exc.errno in NO_ROOM:
            raise InsufficientStorage() from None
        raise
    try:
        size = os.path.getsize(spool.name)
        if size != request.content_length:
            raise BadRequest(f"received {size} bytes, not the {request.content_length} of Content-Length")
        if not hmac.compare_digest(base64.b64encode(digest.digest()).decode("ascii"), claimed[1]):
            raise BadRequest("the table received does not match its Content-Digest (sha-256): nothing was compared")
        with open(spool.name, "rb") as stream:
            load = service.load_table(
                _engine(), stream, fmt, register, source="request body", history=flags["history"],
                end_missing=end_missing, dry_run=flags["dry-run"], by=by, reason=args.get("reason") or None,
                max_end=max_end, max_errors=max_errors)
    finally:
        _discard(spool)
    diff = load.diff
    answer = _body(load.result, receipt=not flags["dry-run"])
    answer["dry-run"] = flags["dry-run"]
    answer["diff"] = {"added": diff.added, "changed": diff.changed, "unchanged": diff.unchanged,
                      "vanished": diff.vanished, "ended": diff.ended, "examples": diff.examples}
    return json_response(answer, {"Cache-Control": "no-store"})


def _flag(text: str | None, name: str) -> bool:
    if text in (None, "", "false"):
        return False
    if text == "true":
        return True
    raise BadRequest(f"{name} must be true or false")


def _whole(text: str | None, name: str) -> int | None:
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdigit()) or len(text) > 12:
        raise BadRequest(f"{name} must be a whole number")
    return int(text)


@blueprint.post("/<register>/changes")
def change(register: str) -> Response:
    """Add, amend or end one record of ``register``: the body (``bodies.ChangeBody``) is the
    typed change itself, passed on exactly as sent."""
    by = authorised(register)
    body = load_body(CHANGE, min(state().settings.max_upload, CHANGE_MAX_BYTES))
    return _answer(service.apply_change(_engine(), register, body["change"], by=by, reason=body["reason"]))
