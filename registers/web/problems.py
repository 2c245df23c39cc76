"""Errors as RFC 9457 ``application/problem+json`` answers with the right status."""

from __future__ import annotations

from flask import Flask, Response, current_app, json, request
from sqlalchemy.exc import OperationalError
from werkzeug.exceptions import HTTPException

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
from ..service.proposals import InvalidProposal, ProposalConflict, ProposalNotFound, RateLimited
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
    (RateLimited, 429, "Too many requests"),
    (InvalidProposal, 422, "Refused"),
    (LineError, 422, "Refused"),
]


def problem(status: int, title: str, detail: str) -> Response:
    """A problem+json response."""
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail})
    return Response(body, status=status, mimetype=MEDIA_TYPE, headers={"Access-Control-Allow-Origin": "*"})


def log_corrupt(exc: StoredItemCorrupt) -> None:
    """Tell the operator (the app's log, error level) which register and item do not verify."""
    current_app.logger.error("stored data does not verify: register '%s', item sha-256:%s (%s %s)",
                             exc.register, exc.digest.hex(), request.method, request.full_path.rstrip("?"))


def install(app: Flask) -> None:
    """Answer every error, ours and Werkzeug's, as problem+json."""

    @app.before_request
    def _refuse_nul() -> Response | None:
        # no key, value or name can hold NUL, and PostgreSQL text cannot carry it
        if "\x00" in request.path or "%00" in request.query_string.decode("latin-1"):
            return problem(400, "Bad request", "NUL characters are not allowed in a path or query")
        return None

    @app.errorhandler(RegisterError)
    def _register_error(exc: RegisterError) -> Response:
        for kind, status, title in _STATUS:
            if isinstance(exc, kind):
                detail = str(exc)
                if isinstance(exc, NoSigningKey):  # where the key was looked for is the operator's business
                    current_app.logger.error("write refused: %s", detail)
                    detail = "no signing key is configured"
                answer = problem(status, title, detail)
                if status == 401:
                    answer.headers["WWW-Authenticate"] = 'Bearer realm="registers"'
                if isinstance(exc, RateLimited):
                    answer.headers["Retry-After"] = str(exc.retry_after)
                if isinstance(exc, StoredItemCorrupt):
                    log_corrupt(exc)
                if status >= 500:  # never kept by a cache: the fault is the server's, and may be mended
                    answer.headers["Cache-Control"] = "no-store"
                return answer
        return problem(400, "Bad request", str(exc))

    @app.errorhandler(OperationalError)
    def _database_error(exc: OperationalError) -> Response:
        return problem(503, "Database unavailable", str(exc.orig).splitlines()[0])

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        return problem(exc.code or 500, exc.name, exc.description or exc.name)
