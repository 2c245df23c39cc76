"""Errors as RFC 9457 ``application/problem+json`` answers with the right status; for a browser
(a GET whose ``Accept`` prefers HTML, of a path without a ``.json``/``.csv`` suffix) the same
status as a GOV.UK error page (``templates/error.html``), with the same headers. An API client
(no ``Accept``, or JSON first) gets the problem+json exactly as before; since the answer depends
on ``Accept``, it says so (``Vary: Accept``)."""

from __future__ import annotations

import logging
import os
import re

from flask import Flask, Response, current_app, json, render_template, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from ..core.errors import (
    IntegrityError,
    InvalidName,
    InvalidRange,
    LineError,
    NoSigningKey,
    ReadOnlyMirror,
    RegisterError,
    RegisterNotFound,
    StoredItemCorrupt,
)
from ..core.faults import Fault, FaultsFound
from ..logs import event
from ..service.proposals import InvalidProposal, OpenProposalsFull, ProposalConflict, ProposalNotFound, RateLimited
from ..service.tokens import Forbidden, Unauthorized

MEDIA_TYPE = "application/problem+json"


class NotFound(RegisterError):
    """A key, entry or item the register does not hold."""


class BadRequest(RegisterError):
    """A malformed number, range or parameter."""


class InvalidBody(RegisterError):
    """A JSON request body that does not fit its schema (HTTP 422): the message names the property."""


class TooLarge(RegisterError):
    """An answer too costly to make on request (HTTP 422, saying how to get it instead)."""


_STATUS: list[tuple[type[RegisterError], int, str]] = [
    (IntegrityError, 500, "Stored data does not verify"),
    (RegisterNotFound, 404, "Register not found"),
    (NotFound, 404, "Not found"),
    (InvalidRange, 400, "Bad range"),
    (BadRequest, 400, "Bad request"),
    (TooLarge, 422, "Too large to make on request"),
    (InvalidBody, 422, "Refused"),
    (InvalidName, 404, "Register not found"),
    (Unauthorized, 401, "Unauthorized"),
    (Forbidden, 403, "Forbidden"),
    (ProposalNotFound, 404, "Proposal not found"),
    (ProposalConflict, 409, "Conflict"),
    (ReadOnlyMirror, 409, "Read-only mirror"),
    (NoSigningKey, 503, "Writes unavailable"),
    (OpenProposalsFull, 503, "Too many open proposals"),  # a RateLimited: with Retry-After
    (RateLimited, 429, "Too many requests"),
    (InvalidProposal, 422, "Refused"),
    (LineError, 422, "Refused"),
]


def problem(status: int, title: str, detail: str, extra: dict[str, object] | None = None) -> Response:
    """A problem+json response (``extra``: its extension members)."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail, **(extra or {})})
    return Response(body, status=status, mimetype=MEDIA_TYPE, headers={
        "Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After"})


_SUFFIXES = (".json", ".csv", ".jsonl", ".rsf", ".zip")
# What an error page says: its heading, and whether the problem's detail helps the reader.
_PAGES = {
    400: ("There is a problem with the request", True),
    404: ("Page not found", True),
    411: ("Your form could not be sent", True),
    413: ("Your form is too long to send", True),
    415: ("Your form could not be sent", True),
    429: ("Sorry, there have been too many requests", False),
    500: ("Sorry, there is a problem with the service", False),
    503: ("Sorry, the service is unavailable", False),
}


def _choosing() -> bool:
    """Whether the representation of this error depends on ``Accept`` (a GET or HEAD of a path
    whose suffix does not choose it)."""
    return request.method in ("GET", "HEAD") and not request.path.endswith(_SUFFIXES)


def _for_a_browser() -> bool:
    form_post = request.method == "POST" and "/suggest" in request.path  # a person's form, sent from a page
    if not (_choosing() or form_post) or "Accept" not in request.headers:
        return False
    return request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html"


def answer(status: int, title: str, detail: str, extra: dict[str, object] | None = None) -> Response:
    """The error as a page for a browser, else as problem+json (``problem``, with ``extra``)."""
    if _for_a_browser():
        heading, show = _PAGES.get(status, (title, status < 500))  # a server fault's detail is for its log
        try:
            body = render_template("error.html", status=status, heading=heading, title=title,
                                   detail=detail if show else None)
        except Exception:  # noqa: BLE001 - a page that cannot be drawn (no database, say): the problem
            current_app.logger.exception("error page %s not drawn", status)
        else:
            page = Response(body, status=status, mimetype="text/html")
            page.vary.add("Accept")
            return page
    made = problem(status, title, detail, extra)
    if _choosing():
        made.vary.add("Accept")
    return made


# an absolute path of two or more parts, not the path of a URL (after a host) or within a key
_FILE_PATH = re.compile(r"(?<![\w.~:/%-])/([\w.~@+-]+)/[\w.~@+/-]*")


def without_paths(detail: str) -> str:
    """``detail`` with any path of the server's files (one under a directory at the root of its
    file system: ``/tmp/…``, ``/srv/…``) replaced by ``…``: the log has them, the client has no
    business with them (a URL's path, ``/country/records``, is kept)."""
    return _FILE_PATH.sub(lambda found: "…" if os.path.isdir("/" + found[1]) else found[0], detail)


def _faults(exc: LineError) -> dict[str, object]:
    """A refused input's faults as the problem's ``errors``: ``[{line, key, field, value,
    reason, message}]`` (every one a load found, up to its limit; then ``more``, how many more)."""
    if isinstance(exc, FaultsFound):
        found: dict[str, object] = {"errors": [fault.record() for fault in exc.faults.kept]}
        if exc.faults.more:
            found["more"] = exc.faults.more
        return found
    return {"errors": [Fault.of(exc.line, exc.reason).record()]}


def log_corrupt(exc: StoredItemCorrupt) -> None:
    """Tell the operator (the app's log, error level) which register and item do not verify."""
    event(current_app.logger, logging.ERROR, "verification_failed", kind="stored_item", register=exc.register,
          item=f"sha-256:{exc.digest.hex()}", method=request.method, path=request.path)


def install(app: Flask) -> None:
    """Answer every error, ours and Werkzeug's, as problem+json."""

    @app.before_request
    def _refuse_nul() -> Response | None:
        # no key, value or name can hold NUL, and PostgreSQL text cannot carry it
        if "\x00" in request.path or "%00" in request.query_string.decode("latin-1"):
            return answer(400, "Bad request", "NUL characters are not allowed in a path or query")
        return None

    @app.errorhandler(RegisterError)
    def _register_error(exc: RegisterError) -> Response:
        for kind, status, title in _STATUS:
            if isinstance(exc, kind):
                detail = str(exc)
                if isinstance(exc, NoSigningKey):  # where the key was looked for: the log's signing_failed says
                    detail = "no signing key is configured"
                elif isinstance(exc, IntegrityError) and not isinstance(exc, StoredItemCorrupt):
                    # it may name a file of the server's (a key's): the log says which, the answer does not
                    event(current_app.logger, logging.ERROR, "verification_failed", kind="integrity",
                          method=request.method, path=request.path, reason=detail)
                    detail = "stored data does not verify (the server's log says where)"
                made = answer(status, title, detail, _faults(exc) if isinstance(exc, LineError) else None)
                if status == 401:
                    made.headers["WWW-Authenticate"] = 'Bearer realm="registers"'
                if isinstance(exc, RateLimited):
                    made.headers["Retry-After"] = str(exc.retry_after)
                if isinstance(exc, StoredItemCorrupt):
                    log_corrupt(exc)
                if status >= 500:  # never kept by a cache: the fault is the server's, and may be mended
                    made.headers["Cache-Control"] = "no-store"
                return made
        return answer(400, "Bad request", without_paths(str(exc)))

    @app.errorhandler(OperationalError)
    def _database_error(exc: OperationalError) -> Response:
        # the driver's message names the server's host and port, or its file: for the log only
        event(current_app.logger, logging.ERROR, "database_unavailable", method=request.method, path=request.path,
              reason=str(exc.orig).strip())
        made = answer(503, "Database unavailable", "the database did not answer (the server's log says why)")
        made.headers["Cache-Control"] = "no-store"
        return made

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        made = answer(exc.code or 500, exc.name, exc.description or exc.name)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:  # RFC 9110 §15.5.6: say which are
            made.headers["Allow"] = ", ".join(exc.valid_methods)
        return made
