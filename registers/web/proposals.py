"""Proposals and quality reports over HTTP.

- ``POST /<register>/proposals``: anyone proposes a change, JSON ``{"key", "fields", "reason",
  "contact"?, "action"?}`` (action defaults to amend for an existing record, else add; an end is
  ``{"action": "end", "fields": {"end-date": D}}``). Checked like the real change: 422 with the
  reason if it could never apply; 413 past ``PROPOSAL_MAX_BYTES``; 429 (with Retry-After) past
  ``PROPOSAL_RATE`` requests in ``PROPOSAL_RATE_WINDOW`` seconds (default 10 a minute) from one
  client. 201 with the proposal and its Location.
- ``GET /<register>/proposals`` (``?status=open|approved|rejected|all``) and
  ``/<register>/proposals/<id>``: HTML or JSON, each with its diff against the current record,
  whether it is stale, and the custodian's decision and reason (and, approved, the entry it
  made and the change's receipt). Contact details never appear.
- ``POST /<register>/proposals/<id>/approve|reject|recheck``: the custodian, with the register's
  bearer token; JSON ``{"reason"}``. Approval answers with the change's receipt.
- ``GET /<register>/quality``: the data-quality report (HTML or JSON).
"""

from __future__ import annotations

from flask import Blueprint, Response, render_template, request
from sqlalchemy import Engine
from werkzeug.exceptions import RequestEntityTooLarge

from .. import service
from ..service import quality
from .bodies import PROPOSAL, load_body, read_json
from .problems import BadRequest, NotFound, TooLarge
from .representations import json_response, wants_html
from .state import state
from .writes import bearer_token

blueprint = Blueprint("proposals", __name__, url_prefix="/<register>")
NO_STORE = {"Cache-Control": "no-store", "Access-Control-Allow-Origin": "*"}


def _read_engine() -> Engine:
    return state().engine


def _write_engine() -> Engine:
    return state().write_engine


@blueprint.post("/proposals")
def propose(register: str) -> Response:
    """Anyone proposes a change to one record."""
    engine = _write_engine()
    settings = state().settings
    limit = settings.proposal_max_bytes
    if (request.content_length or 0) > limit:  # refused before it is read or counted
        raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
    service.check_rate(engine, service.client_hash(request.remote_addr or "unknown"), "propose",
                       settings.proposal_rate, settings.proposal_rate_window)
    body = load_body(PROPOSAL, limit)
    made = service.propose(
        engine, register, body["key"], body["values"], body["reason"], action=body.get("action"),
        contact=body.get("contact"), client=service.client_hash(request.remote_addr or "unknown"),
    )
    answer = json_response(made.public(), NO_STORE)
    answer.status_code = 201
    answer.headers["Location"] = f"/{register}/proposals/{made.id}"
    return answer


@blueprint.get("/proposals", defaults={"suffix": ""})
@blueprint.get("/proposals.json", defaults={"suffix": "json"})
def proposals(register: str, suffix: str) -> Response | str:
    """The register's proposals (open ones unless ``?status=`` says otherwise)."""
    status = request.args.get("status", "open")
    listed = service.list_proposals(_read_engine(), register, None if status == "all" else status)
    if _format(suffix) == "html":
        counts = service.count_proposals(_read_engine(), register)
        return render_template("proposals.html", register=register, proposals=listed, status=status, counts=counts)
    return json_response([p.public() for p in listed], NO_STORE)


@blueprint.get("/proposals/<ident>")
def proposal(register: str, ident: str) -> Response | str:
    """One proposal: its change, diff, status and the custodian's reason."""
    bare, _, suffix = ident.partition(".")
    if not bare.isdigit() or len(bare) > 18:
        raise NotFound(f"there is no proposal '{bare}'")
    found = service.get_proposal(_read_engine(), register, int(bare))
    if _format(suffix) == "html":
        return render_template("proposals.html", register=register, proposals=[found], status=found.status,
                               counts=None)
    answer = found.public()
    if found.status == "approved":  # the change's receipt: entries and signed checkpoints, public anyway
        answer["receipt"] = service.receipt_of(_read_engine(), register, found.id)
    return json_response(answer, NO_STORE)


@blueprint.post("/proposals/<int:ident>/<decision>")
def decide(register: str, ident: int, decision: str) -> Response:
    """The custodian approves, rejects or re-checks a proposal (bearer token of the register)."""
    engine = _write_engine()
    by = service.authorise(engine, register, bearer_token())
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
def quality_report(register: str, suffix: str) -> Response | str:
    """What in the register looks wrong, record by record, with the fixes it proposes. Made on
    request only when it reads at most ``QUALITY_MAX_RECORDS`` records (the register's own, and
    those of registers it must read through for links to its ended records)."""
    limit = state().settings.quality_max_records
    try:
        report = quality.check(_read_engine(), register, budget=limit)
    except quality.ReportTooLarge as exc:
        raise TooLarge(str(exc)) from None
    if _format(suffix) == "html":
        return render_template("quality.html", register=register, report=report, counts=report.counts())
    return json_response(report.as_json(), {"Access-Control-Allow-Origin": "*"})


def _format(suffix: str) -> str:
    """``json`` for a ``.json`` suffix, else HTML for a browser and JSON for everyone else."""
    if suffix and suffix != "json":
        raise NotFound("proposals and quality reports are HTML or JSON (.json)")
    return "json" if suffix else ("html" if wants_html() else "json")
