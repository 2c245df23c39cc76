"""Every documented URL answers where it is asked; a stray trailing slash moves to the URL without it.

- Werkzeug answers a URL whose values equal another rule's defaults with a 308 to that rule
  (``/records.json`` to ``/records``, ``/system/download-rsf/0`` to ``/system/download-rsf``), with
  an HTML body: GOV.UK's Ruby clients (RestClient, open-uri) raise on it. That is turned off, so
  each of those URLs answers 200 itself.
- A GET of a path with a trailing slash that answers 404 (``/country/records/``) while the path
  without it is served answers 301 to that path, query kept, as GOV.UK's server did. The
  ``Location`` is a path, or built from ``REGISTERS_SERVER_NAME``: never from the request's ``Host``.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from .state import state

_PATH_SAFE = "/:@!$&'()*+,;=-._~"
_QUERY_SAFE = _PATH_SAFE + "?%"  # the query as the client sent it, its escapes kept


def install(app: Flask) -> None:
    """Serve the defaults' URLs directly, and 301 a trailing slash to the canonical path."""
    app.url_map.redirect_defaults = False

    @app.after_request
    def _drop_trailing_slash(response: Response) -> Response:
        if response.status_code != 404 or request.method not in ("GET", "HEAD"):
            return response
        path = request.path
        bare = path.rstrip("/")
        if bare == path or not bare or bare.startswith("//"):  # never a scheme-relative URL
            return response
        try:
            app.url_map.bind("localhost").match(bare, "GET")  # the Host header plays no part
        except HTTPException:  # not served, or only through a redirect of werkzeug's
            return response
        location = quote(request.script_root + bare, safe=_PATH_SAFE)
        if request.query_string:
            location += "?" + quote(request.query_string, safe=_QUERY_SAFE)
        response.status_code = 301
        response.headers["Location"] = (state().settings.server_name or "") + location
        response.set_data(b"")
        response.headers.pop("Content-Type", None)
        return response
