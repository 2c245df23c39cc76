"""Propose a change from the page: the HTML forms, for people, beside the JSON API's ``POST
/<register>/proposals``.

- ``GET|POST /<register>/suggest``: suggest a new record (the key and the register's fields).
- ``GET|POST /<register>/suggest/<key>``: suggest a change to record ``key``: its
  fields, filled in with their values now; the fields changed (an emptied one is removed) are
  the proposal. The quality report's "propose this fix" buttons post here too, with the fix's
  fields and ``action`` (amend, or end), or to ``/<register>/suggest`` for an add.

A post goes through the very proposal service the JSON API uses (``service.propose``): a form
with errors is shown again at once (correcting it costs nothing); one without is sent after
the same rate limit (one budget for both: ``PROPOSAL_RATE`` in ``PROPOSAL_RATE_WINDOW``, the
client kept as an HMAC of its address) and under the same cap of open proposals. What is wrong
is shown as GOV.UK's error summary, each message linked to its field and repeated beside it,
the values as they were typed kept; what succeeds is redirected (303, so a reload sends
nothing again) to ``/<register>/suggested/<id>``, a panel linking to the proposal. No
JavaScript is needed.

Forms are protected from cross-site posts by a double-submitted token: a random nonce in an
HttpOnly, SameSite=Strict cookie (``registers-form``; over HTTPS ``__Host-registers-form``,
Secure), and in each form the HMAC-SHA-256 of it under ``REGISTERS_SECRET_KEY``. A post whose
token does not match its cookie (or without either) is refused with a 400 page, before anything
is counted or stored. A page that carries a token is never cached (``no-store``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Flask, Response, g, render_template, request
from werkzeug.exceptions import LengthRequired, RequestEntityTooLarge, UnsupportedMediaType

from .. import service
from ..core.changes import FieldValue, RecordChange, new_item
from ..core.definitions import Definition, FieldDef
from ..core.errors import InvalidEntry
from ..core.validation import validate_item
from ..service import NoDefinition, definition_of
from ..service.proposals import InvalidProposal, OpenProposalsFull, ProposalNotFound, RateLimited
from ..store import records
from .answers import reading
from .problems import BadRequest, NotFound
from .state import state

blueprint = Blueprint("suggest", __name__, url_prefix="/<register>")
COOKIE = "registers-form"  # over HTTPS: "__Host-registers-form" (``cookie_name``)
TOKEN = "csrf-token"  # the form field
NO_STORE = {"Cache-Control": "no-store"}
_NAMED = re.compile(r"field '([^']+)'")
HINTS = {
    "datetime": "A date as YYYY-MM-DD (or YYYY-MM, or YYYY), or a time as YYYY-MM-DDThh:mm:ssZ.",
    "integer": "A whole number.",
    "url": "A web address, starting https:// or http://.",
    "curie": "A link to a record of a register, as register:key (for example, country:GB).",
    "hash": "A hash, as sha-256:64 hexadecimal digits.",
    "period": "A period, as an ISO 8601 duration or interval.",
    "text": "",
    "string": "",
}


# --- the token ---------------------------------------------------------------------------------

def _mac(nonce: str) -> str:
    secret = (state().settings.secret_key or "").encode("utf-8", "surrogateescape")
    digest = hmac.new(secret, b"registers form\0" + nonce.encode("ascii", "replace"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def csrf_token() -> str:
    """The token a form of this page carries (a template global): the HMAC of the client's
    nonce, made now (and set as its cookie when this answer is sent) if it has none."""
    nonce = g.get("registers_form_nonce")
    if nonce is None:
        sent = request.cookies.get(cookie_name(), "")
        nonce = sent if _well_formed(sent) else secrets.token_urlsafe(32)
        g.registers_form_nonce = nonce
        g.registers_form_new = nonce != sent
    return _mac(nonce)


def cookie_name() -> str:
    """The form cookie's name: over HTTPS (directly, or through a trusted proxy) with the
    ``__Host-`` prefix, which browsers accept only from a secure origin, for the whole site
    (``Path=/``) and for this host alone (no ``Domain``), so no other site or subdomain (nor a
    plain-HTTP answer) can plant or overwrite the nonce."""
    return f"__Host-{COOKIE}" if request.is_secure else COOKIE


def _well_formed(nonce: str) -> bool:
    return 32 <= len(nonce) <= 64 and nonce.isascii() and all(c.isalnum() or c in "-_" for c in nonce)


def token_is_good() -> bool:
    """Whether the posted form carries the token of the nonce in its cookie."""
    nonce, given = request.cookies.get(cookie_name(), ""), request.form.get(TOKEN, "")
    return (_well_formed(nonce) and bool(given)
            and hmac.compare_digest(_mac(nonce).encode(), given.encode("utf-8", "surrogateescape")))


def install(app: Flask) -> None:
    """``csrf_token()`` in every template; the cookie set, and the page kept from caches,
    whenever a page was given a token."""
    app.jinja_env.globals["csrf_token"] = csrf_token

    @app.after_request
    def _form_cookie(response: Response) -> Response:
        if g.get("registers_form_nonce") is not None:
            response.headers["Cache-Control"] = "no-store"  # the token is this client's
            if g.get("registers_form_new"):
                response.set_cookie(cookie_name(), g.registers_form_nonce, path="/", secure=request.is_secure,
                                    httponly=True, samesite="Strict")
        return response

    app.register_blueprint(blueprint)


# --- the form ----------------------------------------------------------------------------------

@dataclass
class Form:
    """What a suggestion form shows: for record ``key`` (None: a new record), the fields with
    their values (as typed, or the record's), and the errors, each ``(id, message)``."""

    register: str
    definition: Definition
    key: str | None
    action: str
    current: dict[str, Any] | None
    fields: list[FieldDef]
    values: dict[str, str] = field(default_factory=dict)  # by field name
    typed_key: str = ""
    reason: str = ""
    contact: str = ""
    errors: list[tuple[str, str]] = field(default_factory=list)

    def error(self, ident: str) -> str | None:
        """The message beside input ``ident`` (the first, if several name it)."""
        return next((message for at, message in self.errors if at == ident), None)

    def hint(self, f: FieldDef) -> str:
        """What a field holds, as its hint."""
        said = [f.text] if f.text else []
        if f.register and f.datatype != "curie":
            said.append(f"A key of the {f.register} register.")
        elif HINTS.get(f.datatype):
            said.append(HINTS[f.datatype])
        if f.cardinality == "n":
            said.append("One value a line.")
        return " ".join(said)


def _shown(value: Any) -> str:
    """A stored value as a form shows it: a list one member a line."""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    return "" if value is None else str(value)


def _form(register: str, key: str | None) -> Form:
    """The form for a new record (``key`` None) or for record ``key`` (404 if there is none)."""
    with reading(register) as (conn, reg_id):
        try:
            definition = definition_of(conn, reg_id, register)
        except NoDefinition:  # a register loaded from a bare RSF: no fields to offer
            raise NotFound(f"register '{register}' has no definition: its fields are not known") from None
        current = None
        if key is not None:
            found = records.current_records(conn, reg_id, [key]).get(key)
            if found is None:
                raise NotFound(f"register '{register}' has no record '{key}'")
            current = dict(found.item)
    shown = [f for f in definition.fields if f.name != definition.key_field]
    form = Form(register, definition, key, "amend" if key is not None else "add", current, shown)
    if current is not None:
        form.values = {f.name: _shown(current.get(f.name)) for f in shown}
    return form


@blueprint.get("/suggest")
def suggest_record(register: str) -> Response:
    """The form to suggest a new record."""
    return _page(_form(register, None))


@blueprint.get("/suggest/<path:key>")
def suggest_change(register: str, key: str) -> Response:
    """The form to suggest a change to record ``key``."""
    return _page(_form(register, key))


@blueprint.post("/suggest")
def post_record(register: str) -> Response:
    """A suggested new record (or a quality fix's add, amend or end)."""
    return _post(register, None)


@blueprint.post("/suggest/<path:key>")
def post_change(register: str, key: str) -> Response:
    """A suggested change to record ``key``."""
    return _post(register, key)


def _refused_size() -> None:
    """Refuse a body that is not a plain form (415: a multipart part would be spooled to disk),
    without a length (411: read whole otherwise) or larger than a proposal may be (413)."""
    limit = state().settings.proposal_max_bytes
    if request.mimetype != "application/x-www-form-urlencoded":
        raise UnsupportedMediaType("a suggestion is sent as a form (application/x-www-form-urlencoded)")
    if request.content_length is None:  # chunked: a browser always sends a form's length
        raise LengthRequired("a suggestion is sent with its Content-Length")
    if request.content_length > limit:  # refused before the form is read
        raise RequestEntityTooLarge(f"the form is larger than {limit} bytes")


def _post(register: str, key: str | None) -> Response:
    _refused_size()
    if not token_is_good():
        page = render_template("form_refused.html", register=register, again=request.path)
        return Response(page, status=400, headers=NO_STORE, content_type="text/html; charset=utf-8")
    if any("\x00" in value for value in request.form.values()):  # PostgreSQL text cannot hold it
        raise BadRequest("the form holds a NUL character, which no name or value may hold")
    engine, settings = state().write_engine, state().settings
    form = _form(register, key)
    action = request.form.get("action", form.action)
    if action not in (("amend", "end") if key is not None else ("add",)):
        action = form.action
    form.action = action
    if action == "end":
        form.fields = [f for f in form.definition.fields if f.name == "end-date"] or form.fields
    form.values = {f.name: request.form.get(f"field-{f.name}", form.values.get(f.name, "")) for f in form.fields}
    form.reason, form.contact = request.form.get("reason", ""), request.form.get("contact", "").strip()
    form.typed_key = request.form.get("key", "") if key is None else key
    fields = _changed(form, {f.name for f in form.fields} & {n[6:] for n in request.form if n.startswith("field-")})
    _check(form, form.typed_key, fields, form.reason)
    if form.errors:  # shown before the budget is spent: correcting a form costs no suggestion
        return _page(form, 422)
    client = service.client_hash(request.remote_addr or "unknown", settings.secret_key or "")
    try:
        service.check_rate(engine, client, "propose", settings.proposal_rate, settings.proposal_rate_window)
    except RateLimited as exc:
        form.errors.append(("", f"You have sent too many suggestions for now. Try again in {exc.retry_after} "
                                "seconds."))
        return _page(form, 429, {"Retry-After": str(exc.retry_after)})
    try:
        made = service.propose(engine, register, form.typed_key, fields, form.reason, action=action,
                               contact=form.contact or None,
                               client=client, open_max=settings.proposals_open_max)
    except OpenProposalsFull as exc:
        form.errors.append(("", str(exc)[:1].upper() + str(exc)[1:] + "."))
        return _page(form, 503, {"Retry-After": str(exc.retry_after)})
    except InvalidProposal as exc:
        form.errors.append(_placed(form, str(exc)))
        return _page(form, 422)
    # Post/Redirect/Get: reloading the confirmation sends nothing again
    return Response(status=303, headers={"Location": f"/{quote(register, safe='')}/suggested/{made.id}"})


@blueprint.get("/suggested/<int:ident>")
def suggested(register: str, ident: int) -> Response:
    """The confirmation of a suggestion sent: a panel linking to the proposal it made (what the
    proposal's own page shows anyway)."""
    try:
        made = service.get_proposal(state().engine, register, ident)
    except ProposalNotFound:
        raise NotFound(f"register '{register}' has no proposal {ident}") from None
    page = render_template("suggested.html", register=register, proposal=made)
    return Response(page, content_type="text/html; charset=utf-8")


def _changed(form: Form, posted: set[str]) -> dict[str, FieldValue]:
    """The change's fields: of each field posted, its value when it differs from the record's
    (a new record: when it is given); a field emptied that the record holds is removed (None)."""
    out: dict[str, FieldValue] = {}
    current = form.current or {}
    for f in form.fields:
        if f.name not in posted:
            continue
        raw = form.values.get(f.name, "")
        value: FieldValue
        if f.cardinality == "n":
            members = [line.rstrip("\r") for line in raw.split("\n") if line.strip()]
            value = members or None
        else:
            value = raw if raw.strip() else None
        if form.action == "end":
            out[f.name] = value if value is not None else ""
        elif value is None:
            if f.name in current:
                out[f.name] = None
        elif value != current.get(f.name):
            out[f.name] = value
    return out


def _check(form: Form, key: str, fields: Mapping[str, FieldValue], reason: str) -> None:
    """Every problem the form can name at once (the service names one at a time): the key, the
    reason, and each field's value by the register's item rules."""
    if form.key is None and not key.strip():
        form.errors.append(("key", f"Enter the {form.definition.key_field or 'key'} of the new record."))
    if form.action != "end" and form.key is not None and not fields:
        form.errors.append(("", "Change at least one field: every value is as the record has it now."))
    if form.action == "add" and key.strip() and not any(v is not None for v in fields.values()):
        form.errors.append(("", "Give at least one field of the new record."))
    if form.action != "end" and key.strip() and fields:
        try:
            item = new_item(RecordChange(form.action, key, fields), form.definition, form.current)
        except InvalidEntry as exc:
            form.errors.append(_placed(form, exc.reason))
        else:
            for finding in validate_item(form.definition, key, item):
                form.errors.append(_placed(form, finding.message))
    if not reason.strip():
        form.errors.append(("reason", "Enter why the register should change."))


def _placed(form: Form, message: str) -> tuple[str, str]:
    """A message of the service's, at the input it is about: the field it names, the key, the
    reason; or none (the summary alone)."""
    text = message.removeprefix("this change could not be applied: ")
    named = _NAMED.search(text)
    if named and named[1] in {f.name for f in form.fields}:
        ident = f"field-{named[1]}"
    elif named and form.key is None and named[1] == form.definition.key_field:
        ident = "key"
    elif "reason" in text:
        ident = "reason"
    elif form.key is None and text.startswith("record '"):
        ident = "key"
    else:
        ident = ""
    return ident, text[:1].upper() + text[1:]


def _page(form: Form, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    page = render_template("suggest.html", register=form.register, form=form)
    return Response(page, status=status, headers={**NO_STORE, **(headers or {})},
                    content_type="text/html; charset=utf-8")
