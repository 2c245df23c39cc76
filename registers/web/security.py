"""The headers every answer carries, and the public address answers are built from.

- Every answer: ``Content-Security-Policy`` (nothing from elsewhere, nothing inline but GOV.UK
  Frontend's one-line ``js-enabled`` script, allowed by its hash: the pages' styles, scripts,
  fonts and images are the app's own ``/static/`` files; ``frame-ancestors 'none'``),
  ``X-Frame-Options: DENY`` for browsers without CSP, ``X-Content-Type-Options: nosniff`` and
  ``Referrer-Policy: no-referrer``.
- ``Vary: Accept`` on every answer of a URL whose representation the ``Accept`` header chooses
  (HTML for a browser, JSON for the rest): the code that reads ``Accept`` to choose says so by
  calling ``vary_on_accept()``.
- ``Location``: a path, or, with ``REGISTERS_SERVER_NAME``, that scheme and host and the path;
  never the request's ``Host`` (Werkzeug's own redirects, ``/country`` to ``/country/``, are made
  absolute from it, and are turned back into a path here). ``register.json``'s ``domain`` is
  ``public_domain()``.
- A query that is not percent-encoded ASCII, or holds CR or LF, is a 400 before any view sees
  it (``problems.py`` refuses NUL the same way); values that go into a ``Link`` are parsed ones
  (``answers.link_headers`` percent-encodes whatever a URI cannot hold all the same).
"""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import urlsplit, urlunsplit

from flask import Flask, Response, g, request

from .problems import answer
from .state import state

# GOV.UK Frontend's page template starts the body with this one inline script (it marks the page
# as having JavaScript before anything is drawn); the policy allows it by its hash and nothing
# else inline. test_govuk_frontend checks the pages carry exactly this script.
JS_ENABLED = ("document.body.className += ' js-enabled' + ('noModule' in HTMLScriptElement.prototype ? "
              "' govuk-frontend-supported' : '');")
JS_ENABLED_HASH = "sha256-" + base64.b64encode(hashlib.sha256(JS_ENABLED.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; script-src 'self' '{JS_ENABLED_HASH}'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; manifest-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_VARY = "registers_vary_accept"


def vary_on_accept() -> None:
    """Note that the answer to this request depends on its ``Accept`` header (``Vary: Accept``)."""
    setattr(g, _VARY, True)


def public_domain() -> str:
    """The host (and port) the server is reached at: that of ``REGISTERS_SERVER_NAME``, else
    ``REGISTERS_ORIGIN``; never a request's ``Host``."""
    settings = state().settings
    return urlsplit(settings.server_name).netloc if settings.server_name else settings.origin


def public_origin() -> str:
    """The scheme and host the pages' examples name (``https://registers.example.gov.uk``):
    ``REGISTERS_SERVER_NAME``, else ``https://`` and ``REGISTERS_ORIGIN``; never a request's ``Host``."""
    settings = state().settings
    return settings.server_name.rstrip("/") if settings.server_name else f"https://{settings.origin}"


def public_location(location: str) -> str:
    """``location`` as the ``Location`` header sends it: a URL of this server (a path, or one
    Werkzeug made absolute from the request's ``Host``) becomes the path, prefixed with
    ``REGISTERS_SERVER_NAME`` when it is set. A URL of another host is left as it is."""
    parts = urlsplit(location)
    if parts.scheme or parts.netloc:
        if parts.netloc.lower() != request.host.lower():
            return location
        location = urlunsplit(("", "", parts.path or "/", parts.query, parts.fragment))
    if location.startswith("//"):  # never a scheme-relative URL (another host)
        location = "/" + location.lstrip("/")
    server_name = state().settings.server_name
    return server_name + location if server_name and location.startswith("/") else location


def install(app: Flask) -> None:
    """Give every answer the headers above."""

    @app.before_request
    def _refuse_unsendable_query() -> Response | None:
        # a query is percent-encoded ASCII (RFC 3986); CR and LF have no place in a value, and an
        # answer that named one could not be sent (problems.py refuses NUL the same way)
        raw = request.query_string
        if not raw.isascii():
            return answer(400, "Bad request", "the query must be percent-encoded ASCII")
        if b"%0d" in raw.lower() or b"%0a" in raw.lower():
            return answer(400, "Bad request", "CR and LF characters are not allowed in a query")
        return None

    @app.after_request
    def _secure(response: Response) -> Response:
        for name, value in HEADERS.items():
            response.headers.setdefault(name, value)
        if g.get(_VARY):
            response.vary.add("Accept")
        location = response.headers.get("Location")
        if location is not None:
            response.headers["Location"] = public_location(location)
        return response
