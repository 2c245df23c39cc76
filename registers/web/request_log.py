"""One log line per HTTP request, and the request's id.

Every request gets an id: the ``X-Request-Id`` it came with when that is short and safe (1 to
64 of ``A-Z a-z 0-9 . _ -``: a proxy's, say), else a new random one. The answer carries it back
as ``X-Request-Id``, and every line logged while the request is served carries it as
``request_id`` (``logs.REQUEST_ID``). When the answer's body is closed (the last byte sent, or
the client gone), one ``request`` event says: ``method``, ``route`` (the URL rule, such as
``/<register>/records/<key>``; null when none matched), ``path`` (never the query string, which
can carry data), ``status``, ``duration_ms`` (from the request's arrival to its last byte) and
``bytes`` (of the body sent). A write (POST, PUT, PATCH, DELETE) answered 401, 403 or 422 is
also a ``write_refused`` warning, and any 429 a ``rate_limited`` one.

Nothing a client sent is logged but the method, the path and a safe request id: no header (an
``Authorization`` token), no body (a proposer's contact), no query.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Iterable, Iterator
from typing import Any
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from flask import Flask, Response, request

from ..logs import REQUEST_ID, event

log = logging.getLogger(__name__)
SAFE_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ROUTE = "registers.route"  # the environ key the app notes the matched URL rule under


def request_id(given: str | None) -> str:
    """The id of a request that came with the ``X-Request-Id`` ``given`` (None: without one):
    ``given`` itself when it is 1 to 64 of ``A-Z a-z 0-9 . _ -``, else 32 random hex digits."""
    if given is not None and SAFE_ID.fullmatch(given):
        return given
    return secrets.token_hex(16)


class _Answer:
    """What the request log says of one request, written once, when the answer is done."""

    def __init__(self, environ: WSGIEnvironment, ident: str) -> None:
        self.environ = environ
        self.ident = ident
        self.started = time.perf_counter()
        self.status = 500  # unless the app starts an answer
        self.length: int | None = None  # its Content-Length, if it gave one
        self.logged = False

    def done(self, sent: int | None) -> None:
        if self.logged:
            return
        self.logged = True
        environ = self.environ
        event(log, logging.INFO, "request", request_id=self.ident, method=environ.get("REQUEST_METHOD"),
              route=environ.get(_ROUTE), path=environ.get("PATH_INFO", ""), status=self.status,
              duration_ms=round((time.perf_counter() - self.started) * 1000, 3),
              bytes=sent if sent is not None else self.length)
        REQUEST_ID.set(None)


class _Sent:
    """The answer's body, counted on its way out; the request is logged when it is closed."""

    def __init__(self, body: Iterable[bytes], answer: _Answer) -> None:
        self.body = body
        self.answer = answer
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.body:
            self.sent += len(chunk)
            yield chunk

    def close(self) -> None:
        try:
            close = getattr(self.body, "close", None)
            if close is not None:
                close()
        finally:
            self.answer.done(self.sent)


class RequestLog:
    """WSGI middleware: the request's id, and its ``request`` event once its answer is done."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        ident = request_id(environ.get("HTTP_X_REQUEST_ID"))
        REQUEST_ID.set(ident)
        answer = _Answer(environ, ident)

        def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answer.status = int(status.split(" ", 1)[0])
            kept = [(name, value) for name, value in headers if name.lower() != "x-request-id"]
            length = next((value for name, value in kept if name.lower() == "content-length"), None)
            answer.length = int(length) if length is not None and length.isdigit() else None
            return start_response(status, [*kept, ("X-Request-Id", ident)], exc_info)

        try:
            body = self.app(environ, start)
        except BaseException:
            answer.done(0)
            raise
        wrapper = environ.get("wsgi.file_wrapper")
        if isinstance(wrapper, type) and isinstance(body, wrapper):  # the server sends the file itself
            answer.done(None)
            return body
        return _Sent(body, answer)


def install(app: Flask) -> None:
    """Log every request of ``app`` (its ``wsgi_app`` wrapped) and its refused writes."""

    @app.after_request
    def _note(response: Response) -> Response:
        rule = request.url_rule
        route = rule.rule if rule is not None else None
        request.environ[_ROUTE] = route
        status = response.status_code
        register = (request.view_args or {}).get("register")
        if request.method in WRITES and status in (401, 403, 422):
            event(log, logging.WARNING, "write_refused", method=request.method, route=route, status=status,
                  register=register)
        elif status == 429:
            event(log, logging.WARNING, "rate_limited", method=request.method, route=route, register=register)
        return response

    app.wsgi_app = RequestLog(app.wsgi_app)  # type: ignore[method-assign]
