"""Proposals and quality reports over HTTP.

- ``POST /<register>/proposals``: anyone proposes a change, JSON ``{"key", "fields", "reason",
  "contact"?, "action"?}`` (action defaults to amend for an existing record, else add; an end is
  ``{"action": "end", "fields": {"end-date": D}}``), sent as ``application/json`` only (415
  otherwise: a page on another site cannot make its visitors' browsers post one without a CORS
  preflight, which ``OPTIONS`` answers: POST with ``Content-Type``, any origin, no credentials).
  Checked like the real change: 422 with the reason if it could never apply; 413 past
  ``PROPOSAL_MAX_BYTES``; 429 (with Retry-After) past ``PROPOSAL_RATE`` requests in
  ``PROPOSAL_RATE_WINDOW`` seconds (default 10 a minute) from one client (its address as the
  outermost of ``TRUSTED_PROXIES`` saw it, kept only as an HMAC under ``SECRET_KEY``); 503 (with
  Retry-After) while the register holds ``PROPOSALS_OPEN_MAX`` open proposals. 201 with the
  proposal and its Location.
- ``GET /<register>/proposals`` (``?status=open|approved|rejected|all``, newest first, a page of
  ``page-size`` at a time; ``Link: next`` carries the keyset cursor ``before=<id>``; the HTML
  page's Previous link, ``after=<id>``, the page above a cursor, is read by the page only) and
  ``/<register>/proposals/<id>``: HTML or JSON, each with its diff against the current record,
  whether it is stale, and the custodian's decision and reason (and, approved, the entry it
  made and the change's receipt). Contact details never appear.
- ``POST /<register>/proposals/<id>/approve|reject|recheck``: the custodian, with the register's
  bearer token; JSON ``{"reason"}``. Approval answers with the change's receipt.
- ``GET /<register>/quality``: the last data-quality report ``registers check`` stored (HTML or
  JSON): when and at which size it was made, its counts, and its findings a page of one kind at
  a time (``?kind=K&after=N&page-size=M``; ``Link: next``), or the first page of every kind. It
  is never made on request; with none stored, a 404 says how to make one.
"""

from __future__ import annotations

from dataclasses import asdict

from flask import Blueprint, Response, render_template, request
from sqlalchemy import Engine
from werkzeug.exceptions import RequestEntityTooLarge, UnsupportedMediaType

from .. import service
from ..service import quality
from .answers import CORS, conditional, link_headers, whole_number
from .bodies import PROPOSAL, load_body, read_json
from .problems import BadRequest, NotFound
from .representations import json_response, wants_html
from .state import state
from .writes import authorised

blueprint = Blueprint("proposals", __name__, url_prefix="/<register>")
NO_STORE = {"Cache-Control": "no-store", **CORS}  # a script on another site may read Location
PREFLIGHT = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "POST",
             "Access-Control-Allow-Headers": "Content-Type", "Access-Control-Max-Age": "86400"}


def _read_engine() -> Engine:
    return state().engine


def _write_engine() -> Engine:
    return state().write_engine


@blueprint.route("/proposals", methods=["OPTIONS"], provide_automatic_options=False)
def preflight(register: str) -> Response:
    """CORS preflight: a form on another site may POST a JSON proposal (no credentials: anyone
    may propose, and nobody's cookies or tokens are wanted)."""
    return Response(status=204, headers={**PREFLIGHT, "Allow": "GET, HEAD, POST, OPTIONS"})


@blueprint.post("/proposals")
def propose(register: str) -> Response:
    """Anyone proposes a change to one record."""
    engine = _write_engine()
    settings = state().settings
    limit = settings.proposal_max_bytes
    if request.mimetype != "application/json":  # a form or text/plain: what any page can make a browser send
        raise UnsupportedMediaType(f"a proposal is sent as application/json, not '{request.mimetype or 'nothing'}'")
    if (request.content_length or 0) > limit:  # refused before it is read or counted
        raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
    client = service.client_hash(request.remote_addr or "unknown", settings.secret_key or "")
    service.check_rate(engine, client, "propose", settings.proposal_rate, settings.proposal_rate_window)
    body = load_body(PROPOSAL, limit)
    made = service.propose(
        engine, register, body["key"], body["values"], body["reason"], action=body.get("action"),
        contact=body.get("contact"), client=client, open_max=settings.proposals_open_max,
    )
    answer = json_response(made.public(), NO_STORE)
    answer.status_code = 201
    answer.headers["Location"] = f"/{register}/proposals/{made.id}"
    return answer


@blueprint.get("/proposals", defaults={"suffix": ""})
@blueprint.get("/proposals.json", defaults={"suffix": "json"})
def proposals(register: str, suffix: str) -> Response | str:
    """The register's proposals (open ones unless ``?status=`` says otherwise), newest first, a
    page at a time: ``Link: next`` names the next page by the keyset cursor ``before=<id>``."""
    status = request.args.get("status", "open")
    size = _page_size()
    before = whole_number(request.args.get("before"), "before", 0)
    html = _format(suffix) == "html"
    # a page's Previous link (HTML only): the page of those numbered nearest above its first
    after = whole_number(request.args.get("after"), "after", 0) if html and not before else 0
    listed = service.list_proposals(_read_engine(), register, None if status == "all" else status, limit=size + 1,
                                    before=before or None, after=after or None)
    if after:
        newer = len(listed) > size
        listed = listed[-size:]
        following = f"?status={status}&page-size={size}&before={listed[-1].id}" if listed else None
    else:
        following = f"?status={status}&page-size={size}&before={listed[size - 1].id}" if len(listed) > size else None
        listed = listed[:size]
        newer = bool(before)
    headers = {**NO_STORE, **link_headers([("next", following)] if following else [])}
    if html:
        # counted up to a page each ("more than 100 open"): the page costs no more as they pile up
        counts = service.count_proposals(_read_engine(), register, cap=size)
        preceding = (f"?status={status}&page-size={size}&after={listed[0].id}" if listed
                     else f"?status={status}&page-size={size}") if newer else None
        # the API's page holding what this page shows: from its first proposal on
        twin = f"?status={status}&page-size={size}" + (f"&before={listed[0].id + 1}" if newer and listed else "")
        page = render_template("proposals.html", register=register, proposals=listed, status=status, counts=counts,
                               counted_to=size, following=following, preceding=preceding, first=not newer,
                               twin=twin)
        return Response(page, headers=headers, content_type="text/html; charset=utf-8")
    return json_response([p.public() for p in listed], headers)


@blueprint.get("/proposals/<ident>")
def proposal(register: str, ident: str) -> Response | str:
    """One proposal: its change, diff, status and the custodian's reason."""
    bare, _, suffix = ident.partition(".")
    if not bare.isdigit() or len(bare) > 18:
        raise NotFound(f"there is no proposal '{bare}'")
    found = service.get_proposal(_read_engine(), register, int(bare))
    if _format(suffix) == "html":
        return render_template("proposal.html", register=register, proposal=found)
    answer = found.public()
    if found.status == "approved":  # the change's receipt: entries and signed checkpoints, public anyway
        answer["receipt"] = service.receipt_of(_read_engine(), register, found.id)
    return json_response(answer, NO_STORE)


@blueprint.post("/proposals/<int:ident>/<decision>")
def decide(register: str, ident: int, decision: str) -> Response:
    """The custodian approves, rejects or re-checks a proposal (bearer token of the register)."""
    engine = _write_engine()
    by = authorised(register, engine)
    if decision not in ("approve", "reject", "recheck"):
        raise NotFound(f"there is no '{decision}' for a proposal (approve, reject or recheck)")
    body = read_json(state().settings.proposal_max_bytes)
    if decision == "recheck":
        return json_response(service.recheck(engine, register, ident).public(), NO_STORE)
    reason = body.get("reason") if isinstance(body, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        raise BadRequest("'reason' must be a non-empty string")
    if decision == "reject":
        return json_response(service.reject(engine, register, ident, by=by, reason=reason).public(), NO_STORE)
    approved, receipt = service.approve(engine, register, ident, by=by, reason=reason)
    return json_response({**approved.public(), "receipt": receipt}, NO_STORE)


@blueprint.get("/quality", defaults={"suffix": ""})
@blueprint.get("/quality.json", defaults={"suffix": "json"})
def quality_report(register: str, suffix: str) -> Response:
    """The last quality report stored by ``registers check``: what in the register looked wrong,
    record by record, with the fixes it proposes. A page of one kind (``kind``, from the cursor
    ``after``) or the first page of every kind; it costs a page of rows at any depth."""
    fmt = _format(suffix)
    kind = request.args.get("kind") or None
    size = _page_size()
    after = whole_number(request.args.get("after"), "after", 0, 0)
    if after and kind is None:
        raise BadRequest("'after' is the cursor of one kind's findings: give 'kind' too")
    try:
        page = quality.report_page(_read_engine(), register, kind, after, size)
    except quality.NoReport as exc:
        if fmt == "json":
            raise NotFound(str(exc)) from None
        missing = render_template("quality.html", register=register, page=None, command=f"registers check {register}")
        return Response(missing, status=404, content_type="text/html; charset=utf-8", headers=NO_STORE)
    path = f"/{register}/quality{'.json' if suffix else ''}"
    following = {k: f"{path}?kind={k}&after={seq}&page-size={size}" for k, seq in page.more.items()}
    headers = link_headers([("next", following[kind])] if kind in following else [])
    if fmt == "html":
        answer = Response(render_template("quality.html", register=register, page=page, kind=kind, size=size,
                                          following=following, first=not after, after=after),
                          headers=headers, content_type="text/html; charset=utf-8")
    else:
        answer = json_response({**page.report.as_json(), "total-entries-now": page.entries_now, "kind": kind,
                                "page-size": size, "findings": [asdict(f) for f in page.findings],
                                "next": following}, headers)
    return conditional(answer, f"quality-{page.report.id}-{page.entries_now}-{request.query_string.decode()}-{fmt}")


def _page_size() -> int:
    settings = state().settings
    return whole_number(request.args.get("page-size"), "page-size", settings.page_size, 1, settings.max_page_size)


def _format(suffix: str) -> str:
    """``json`` for a ``.json`` suffix, else HTML for a browser and JSON for everyone else."""
    if suffix and suffix != "json":
        raise NotFound("proposals and quality reports are HTML or JSON (.json)")
    return "json" if suffix else ("html" if wants_html() else "json")
