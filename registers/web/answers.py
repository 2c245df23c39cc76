"""How the read API answers: one read transaction per request, whole numbers from the query
string, ``Link`` headers, conditional GETs and streamed answers (shared by the API's blueprints)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from flask import Response, request, stream_with_context
from sqlalchemy.engine import Connection

from ..core.errors import RegisterNotFound, StoredItemCorrupt
from ..store import reads
from ..store.engine import snapshot
from .problems import BadRequest, log_corrupt
from .state import state

CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Link, ETag, Location, Retry-After"}
IMMUTABLE = {**CORS, "Cache-Control": "public, max-age=31536000, immutable"}


@contextmanager
def reading(name: str) -> Iterator[tuple[Connection, int]]:
    """One read transaction on register ``name``."""
    with snapshot(state().engine) as conn:
        yield conn, register_id_of(conn, name)


def register_id_of(conn: Connection | None, name: str) -> int:
    """The id of register ``name``, remembered once read (ids never change); RegisterNotFound
    if there is none. ``conn`` is used only when the id is not known yet (None: open one)."""
    ids = state().ids
    reg_id = ids.get(name)
    if reg_id is None:
        if conn is None:
            with snapshot(state().engine) as fresh:
                return register_id_of(fresh, name)
        reg_id = reads.register_id(conn, name)
        if reg_id is None:
            raise RegisterNotFound(name)
        ids[name] = reg_id
    return reg_id


LARGEST = 2**62  # beyond any log; keeps numbers inside a 64-bit database integer


def whole_number(text: str | None, what: str, default: int, low: int = 1, high: int | None = None) -> int:
    """The whole number ``text`` (``default`` if absent) within ``low..high``; BadRequest otherwise."""
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or len(text) > 20:
        raise BadRequest(f"{what} must be a whole number, not '{text[:40]}'")
    value = int(text)
    if value > LARGEST:
        raise BadRequest(f"{what} is too large")
    if value < low or (high is not None and value > high):
        raise BadRequest(f"{what} must be between {low} and {high}" if high else f"{what} must be at least {low}")
    return value


_URL_SAFE = "/?#[]@!$&'()*+,;=:%-._~"  # RFC 3986's reserved and unreserved characters, escapes kept


def link_headers(pairs: list[tuple[str, str]]) -> dict[str, str]:
    """CORS headers and a ``Link`` naming each ``(rel, url)``. The URLs are built from parsed
    values; any character a URI cannot hold (``<``, ``>``, ``"``, a space, CR/LF, non-ASCII) is
    percent-encoded all the same, so a query value can never end a link or add one."""
    links = ", ".join(f'<{quote(url, safe=_URL_SAFE)}>; rel="{rel}"' for rel, url in pairs)
    return {**CORS, "Link": links} if links else dict(CORS)


def attachment(filename: str) -> dict[str, str]:
    """``Content-Disposition`` for a download: saved as ``filename`` (a register's name and a
    suffix: no quote, backslash or control character to escape)."""
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


def conditional(response: Response, identity: str) -> Response:
    """Give ``response`` a strong ETag from content identity; answer 304 when it matches.
    A streamed answer stays streamed (Werkzeug would otherwise read it whole to give it a length)."""
    response.set_etag(hashlib.sha256(identity.encode()).hexdigest()[:32])
    if response.is_streamed:
        response.implicit_sequence_conversion = False
    response.make_conditional(request)  # sets the status and headers of ``response`` itself
    # ...and a Date, but the server sends its own (Werkzeug's, which `registers serve` runs, always
    # did beside it: two went out; gunicorn drops the app's): one Date, the server's
    response.headers.pop("Date", None)
    return response


def streamed(chunks: Iterator[bytes], start: bool = False) -> Iterator[bytes]:
    """``chunks`` to be sent as they are made, in the request's context.

    A stored item found corrupt while they are sent is logged and raised on: the server then
    ends the chunked answer without its final chunk, so the client sees an incomplete transfer,
    never a whole file with changed bytes. With ``start``, the first chunk is made now, so that
    a fault in it is still answered as a problem (500, not stored by caches).
    """
    first = [next(chunks, b"")] if start else []

    def guarded() -> Iterator[bytes]:
        yield from first
        try:
            yield from chunks
        except StoredItemCorrupt as exc:
            log_corrupt(exc)
            raise

    return stream_with_context(guarded())
