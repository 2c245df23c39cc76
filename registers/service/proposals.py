"""Proposed changes: anyone proposes, the custodian decides, the one write path applies.

A proposal is checked as the real change would be (a dry run of the same append: datatypes,
key, links), so one that could never be applied is refused up front with the reason. It is
kept outside the log, with the key's latest entry number at the time: when the record changes
afterwards the proposal is *stale* and must be re-checked before it can be approved. Approval
appends the change (who approved and why recorded in the system log, as for any change) and
marks the proposal approved in the same transaction, with the entry it made and its receipt.
The proposer's contact is stored for the custodian and never served.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.engine import Connection

from ..core.changes import FieldValue, RecordChange, diff, new_item
from ..core.definitions import Definition
from ..core.entries import now_timestamp
from ..core.errors import InvalidEntry, RegisterError
from ..logs import event
from ..store import records as store_records
from ..store.engine import snapshot, writer
from ..store.schema import entry_key, proposal, rate_window
from .receipts import receipt_for
from .records import apply_change, definition_of
from .registers import register_id_of

MAX_REASON = 2_000
MAX_FIELDS = 50
MAX_VALUE = 2_000
STATUSES = ("open", "approved", "rejected")
logger = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")


class InvalidProposal(RegisterError):
    """A proposal that could never be applied (HTTP 422): the reason says why."""


class ProposalNotFound(RegisterError):
    """No such proposal in this register (HTTP 404)."""


class ProposalConflict(RegisterError):
    """The proposal cannot be decided as asked: already decided, or stale (HTTP 409)."""


class RateLimited(RegisterError):
    """Too many requests from one client this minute (HTTP 429)."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Proposal:
    """A proposal as the public sees it (never the contact), with the current state of its
    record: ``diff`` maps each field the change would alter to ``[now, proposed]`` (None where
    absent), and ``stale`` says the record changed since the proposal was checked."""

    id: int
    register: str
    key: str
    action: str
    fields: dict[str, Any]
    reason: str
    source: str
    status: str
    created: str
    checked: str
    stale: bool
    diff: dict[str, list[Any]]
    decided: str | None = None
    decided_by: str | None = None
    decision_reason: str | None = None
    entry_number: int | None = None

    @property
    def change(self) -> RecordChange:
        """The change this proposal asks for: what is shown, approved and receipted."""
        return RecordChange(self.action, self.key, self.fields)

    def public(self) -> dict[str, Any]:
        """The JSON served to anyone (the contact and the client are never in it)."""
        out: dict[str, Any] = {
            "id": self.id, "register": self.register, "key": self.key, "action": self.action,
            "fields": self.fields, "reason": self.reason, "source": self.source, "status": self.status,
            "created": self.created, "checked": self.checked, "stale": self.stale, "diff": self.diff,
        }
        if self.status != "open":
            out.update({"decided": self.decided, "decided-by": self.decided_by,
                        "decision-reason": self.decision_reason})
        if self.entry_number is not None:
            out["entry-number"] = self.entry_number
        return out


class OpenProposalsFull(RateLimited):
    """The register holds as many open proposals as it may (HTTP 503, with Retry-After): a new
    one waits until the custodian decides some."""


OPEN_FULL_RETRY = 3600  # seconds: custodians decide proposals in human time


def client_hash(address: str, secret: str) -> str:
    """How a client's address is kept: an HMAC-SHA-256 under the server's secret (rate limits
    need to tell clients apart, not who they are; without the secret the address cannot be
    recovered by hashing every IPv4 address, as a bare hash could)."""
    return hmac.new(secret.encode("utf-8", "surrogateescape"), client_of(address).encode("utf-8", "surrogateescape"),
                    hashlib.sha256).hexdigest()


def client_of(address: str) -> str:
    """The client an address counts as: an IPv4 address itself; an IPv6 address its /64 network
    (one host is given a /64, and could count as 2**64 clients otherwise), however it is
    spelt (``::1``, ``0:0::1``, ``[::1]``); anything else as it is."""
    try:
        found = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address
    if isinstance(found, ipaddress.IPv6Address):
        if found.ipv4_mapped is not None:
            return str(found.ipv4_mapped)
        return str(ipaddress.IPv6Network((found, 64), strict=False))
    return str(found)


def check_rate(engine: Engine, client: str, scope: str, limit: int, window: int = 60) -> None:
    """Count a request of ``client`` in the current ``window`` (seconds) of ``scope``;
    RateLimited past ``limit`` requests in it. Counted in the database, so the limit holds
    across every process serving it."""
    now = time.time()
    bucket, scope = int(now // window), f"{scope}/{window}"
    r = rate_window.c
    with writer(engine).begin() as conn:
        conn.execute(delete(rate_window).where(r.scope == scope, r.bucket < bucket))
        updated = conn.execute(
            update(rate_window).where(r.client_mac == client, r.scope == scope, r.bucket == bucket)
            .values(hits=r.hits + 1)
        ).rowcount
        if not updated:
            conn.execute(insert(rate_window).values(client_mac=client, scope=scope, bucket=bucket, hits=1))
        hits = conn.execute(
            select(r.hits).where(r.client_mac == client, r.scope == scope, r.bucket == bucket)
        ).scalar_one()
    if hits > limit:
        raise RateLimited(f"more than {limit} requests in {window} s from this client: try again later",
                          max(1, int(window - now % window)))


@dataclass(frozen=True)
class Purged:
    """What ``purge`` deleted: proposers' contacts, and rate-limit counts whose window had passed."""

    contacts: int
    rate_rows: int
    before: str  # contacts of proposals decided before this time were deleted


def purge(engine: Engine, days: int, now: datetime | None = None) -> Purged:
    """Delete the contact of every proposal decided more than ``days`` days before ``now``
    (open proposals keep theirs: the custodian may still need to ask), and every rate-limit
    count whose window has passed. Nothing else is touched; run from cron."""
    now = now or datetime.now(UTC)
    before = (now - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    p, r = proposal.c, rate_window.c
    with writer(engine).begin() as conn:
        contacts = conn.execute(
            update(proposal).where(p.decided.is_not(None), p.decided < before, p.contact.is_not(None))
            .values(contact=None)
        ).rowcount
        rate_rows = 0
        for scope in conn.execute(select(r.scope).distinct()).scalars().all():
            window = scope.rpartition("/")[2]
            if window.isdigit() and int(window) > 0:
                current = int(now.timestamp() // int(window))
                rate_rows += conn.execute(delete(rate_window).where(r.scope == scope, r.bucket < current)).rowcount
    return Purged(contacts, rate_rows, before)


def _outcome(name: str, outcome: str, **fields: Any) -> None:
    """The ``proposal`` event: what became of one (never its contact, fields or reason)."""
    event(logger, logging.INFO, "proposal", register=name, outcome=outcome, **fields)


def _refusals_logged(propose: Callable[P, R]) -> Callable[P, R]:
    @wraps(propose)
    def logged(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return propose(*args, **kwargs)
        except (InvalidProposal, OpenProposalsFull) as exc:  # the message may quote the values: not logged
            name = kwargs["name"] if "name" in kwargs else args[1] if len(args) > 1 else None
            _outcome(str(name), "refused", why="full" if isinstance(exc, OpenProposalsFull) else "invalid")
            raise

    return logged


@_refusals_logged
def propose(
    engine: Engine,
    name: str,
    key: str,
    fields: Mapping[str, FieldValue],
    reason: str,
    *,
    action: str | None = None,
    contact: str | None = None,
    source: str = "anonymous",
    client: str | None = None,
    open_max: int | None = None,
) -> Proposal:
    """Store a proposal to add, amend (``fields``) or end (``fields`` = ``{"end-date": D}``)
    record ``key``; ``action`` defaults to amend for an existing record, else add. The change
    is kept as the typed ``RecordChange`` it is, and checked as the real change (a dry run of
    the same append): InvalidProposal with the reason if it could never be applied.
    ``client``: the proposer's ``client_hash``. With ``open_max`` (the web app's cap),
    OpenProposalsFull when the register holds that many open proposals already (checked before
    the dry run, so concurrent proposals may pass it by at most one each)."""
    reason = (reason or "").strip()
    if not reason:
        raise InvalidProposal("a proposal needs a reason")
    if len(reason) > MAX_REASON:
        raise InvalidProposal(f"the reason is longer than {MAX_REASON} characters")
    if not isinstance(fields, Mapping) or len(fields) > MAX_FIELDS:
        raise InvalidProposal(f"fields must be an object of at most {MAX_FIELDS} fields")
    for value in fields.values():
        members = value if isinstance(value, list) else [value]
        if len(members) > MAX_FIELDS or any(isinstance(v, str) and len(v) > MAX_VALUE for v in members):
            raise InvalidProposal(
                f"a field value is longer than {MAX_VALUE} characters, or a list of more than {MAX_FIELDS}"
            )
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        if open_max is not None and _open_at_least(conn, reg_id, open_max):
            raise OpenProposalsFull(f"register '{name}' holds {open_max} open proposals, as many as it may, "
                                    "until its custodian decides some: try again later", OPEN_FULL_RETRY)
        current = store_records.current_records(conn, reg_id, [key]).get(key) if isinstance(key, str) else None
    try:
        change = RecordChange(action or ("amend" if current is not None else "add"), key, fields)
    except InvalidEntry as exc:
        raise InvalidProposal(exc.reason) from None
    _dry_run(engine, name, change)
    stamp = now_timestamp()
    with writer(engine).begin() as conn:
        new_id = conn.execute(
            insert(proposal).values(
                register_id=reg_id, key=change.key, action=change.action,
                fields=json.dumps(change.fields, ensure_ascii=False), reason=reason, contact=contact or None,
                source=source, client_mac=client, status="open",
                base_entry=current.entry.number if current is not None else None, created=stamp, checked=stamp,
            ).returning(proposal.c.id)
        ).scalar_one()
    _outcome(name, "made", proposal=int(new_id), action=change.action)
    return get_proposal(engine, name, int(new_id))


def _open_at_least(conn: Connection, reg_id: int, most: int) -> bool:
    """Whether the register holds ``most`` open proposals or more: the ``most``-th of a walk of
    the index by (register, status, id), one row read back whatever the count."""
    p = proposal.c
    return conn.execute(select(p.id).where(p.register_id == reg_id, p.status == "open")
                        .order_by(p.id).offset(max(most - 1, 0)).limit(1)).first() is not None


def _dry_run(engine: Engine, name: str, change: RecordChange) -> None:
    """Check the change as the append would make it, storing nothing."""
    try:
        apply_change(engine, name, change, by="proposal check", commit=False)
    except InvalidEntry as exc:
        raise InvalidProposal(f"this change could not be applied: {exc.reason}") from None


def _change(row: Any) -> RecordChange:
    """The change a stored proposal holds."""
    return RecordChange(row.action, row.key, json.loads(row.fields))


_UNREAD: Any = object()  # the record a proposal is about, not read yet


def _view(
    conn: Connection, name: str, row: Any, definition: Definition | None = None, current: Any = _UNREAD
) -> Proposal:
    """The public view of a stored proposal. Its diff comes from the one change it holds: for
    an open or rejected proposal, the item ``new_item`` makes of the record as it is now (no
    diff when the change cannot apply to it now); for an approved one, the item its entry
    appended against the record just before it. ``current``: that record, when the caller read
    it already (None: there is none)."""
    change = _change(row)
    if current is _UNREAD:
        current = store_records.current_records(conn, row.register_id, [row.key]).get(row.key)
    now_entry = current.entry.number if current is not None else None
    if row.entry_number is not None:
        history = [r for r in store_records.history_records(conn, row.register_id, row.key)
                   if r.entry.number <= row.entry_number]
        before = history[-2].item if len(history) > 1 else {}
        after = history[-1].item if history and history[-1].entry.number == row.entry_number else {}
        shown = diff(before, after)
    else:
        definition = definition or definition_of(conn, row.register_id, name)
        before = current.item if current is not None else {}
        try:
            shown = diff(before, new_item(change, definition, current.item if current is not None else None))
        except InvalidEntry:
            shown = {}
    return Proposal(
        id=int(row.id), register=name, key=row.key, action=row.action, fields=dict(change.fields),
        reason=row.reason, source=row.source, status=row.status, created=row.created, checked=row.checked,
        stale=row.status == "open" and now_entry != row.base_entry, diff=shown, decided=row.decided,
        decided_by=row.decided_by, decision_reason=row.decision_reason,
        entry_number=int(row.entry_number) if row.entry_number is not None else None,
    )


def get_proposal(engine: Engine, name: str, proposal_id: int) -> Proposal:
    """Proposal ``proposal_id`` of register ``name``; ProposalNotFound if there is none."""
    with snapshot(engine) as conn:
        return _view(conn, name, _row(conn, register_id_of(conn, name), proposal_id))


def contact_of(engine: Engine, name: str, proposal_id: int) -> str | None:
    """The proposer's contact, for the custodian (the CLI shows it; HTTP never does)."""
    with snapshot(engine) as conn:
        return _row(conn, register_id_of(conn, name), proposal_id).contact  # type: ignore[no-any-return]


def _row(conn: Connection, reg_id: int, proposal_id: int) -> Any:
    p = proposal.c
    row = conn.execute(select(proposal).where(p.register_id == reg_id, p.id == proposal_id)).first()
    if row is None:
        raise ProposalNotFound(f"there is no proposal {proposal_id} for this register")
    return row


def list_proposals(engine: Engine, name: str, status: str | None = "open", limit: int = 1000,
                   before: int | None = None, after: int | None = None) -> list[Proposal]:
    """The register's proposals with ``status`` (None: all), newest first: the first ``limit``,
    or with ``before``, the first ``limit`` numbered below it (the keyset cursor of a page), or
    with ``after`` (and no ``before``), the ``limit`` numbered nearest above it (the page before
    a page, for a Previous link). Each status is a walk of the index by (register, status, id)
    from the cursor, so a page costs ``limit`` rows per status and the records they are about,
    at any depth."""
    if status is not None and status not in STATUSES:
        raise RegisterError(f"status must be one of {', '.join(STATUSES)}")
    p = proposal.c
    upward = before is None and after is not None
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        rows: list[Any] = []
        for wanted in [status] if status is not None else STATUSES:
            query = select(proposal).where(p.register_id == reg_id, p.status == wanted)
            if before is not None:
                query = query.where(p.id < before)
            elif after is not None:
                query = query.where(p.id > after)
            rows += conn.execute(query.order_by(p.id.asc() if upward else p.id.desc()).limit(limit)).all()
        rows = sorted(rows, key=lambda row: int(row.id), reverse=not upward)[:limit]
        if upward:  # the nearest above the cursor, shown newest first like every page
            rows.reverse()
        if not rows:
            return []
        definition = definition_of(conn, reg_id, name)
        current = store_records.current_records(conn, reg_id, sorted({row.key for row in rows}))
        return [_view(conn, name, row, definition, current.get(row.key)) for row in rows]


def open_changes(engine: Engine, name: str) -> list[RecordChange]:
    """The change every open proposal of the register asks for (without their diffs)."""
    p = proposal.c
    found: list[RecordChange] = []
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        after = 0
        while rows := conn.execute(
            select(p.id, p.action, p.key, p.fields).where(p.register_id == reg_id, p.status == "open", p.id > after)
            .order_by(p.id).limit(1000)
        ).all():
            found += (_change(row) for row in rows)
            after = int(rows[-1].id)
    return found


def count_proposals(engine: Engine, name: str, cap: int | None = None) -> dict[str, int]:
    """How many proposals the register has in each status; with ``cap``, counted no further
    than ``cap + 1`` (more than ``cap``), so that counting costs no more as proposals pile up."""
    p = proposal.c
    counts: dict[str, int] = {}
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        for status in STATUSES:
            if cap is None:
                counts[status] = int(conn.execute(
                    select(func.count()).where(p.register_id == reg_id, p.status == status)).scalar_one())
            else:  # the ids themselves, few: an index walk that stops at cap + 1
                counts[status] = len(conn.execute(
                    select(p.id).where(p.register_id == reg_id, p.status == status).limit(cap + 1)).all())
    return counts


def recheck(engine: Engine, name: str, proposal_id: int) -> Proposal:
    """Check an open proposal again against the record as it is now; it is no longer stale.
    InvalidProposal (the proposal stays open and stale) if it could no longer be applied."""
    found = _open(engine, name, proposal_id)
    _dry_run(engine, name, found.change)
    with writer(engine).begin() as conn:
        reg_id = register_id_of(conn, name)
        current = store_records.current_records(conn, reg_id, [found.key]).get(found.key)
        conn.execute(update(proposal).where(proposal.c.id == proposal_id).values(
            base_entry=current.entry.number if current is not None else None, checked=now_timestamp()))
    return get_proposal(engine, name, proposal_id)


def approve(engine: Engine, name: str, proposal_id: int, *, by: str, reason: str) -> tuple[Proposal, dict[str, Any]]:
    """Apply an open, current proposal through the one write path, recording ``by`` and
    ``reason``; the proposal is marked approved, with the entry it made, in the same
    transaction. Returns the proposal and the change's receipt. ProposalConflict when it is
    decided already or stale; InvalidProposal if the change is refused now."""
    if not (reason or "").strip():
        raise InvalidProposal("an approval needs a reason")
    found = _open(engine, name, proposal_id)
    if found.stale:
        raise ProposalConflict(
            f"proposal {proposal_id} is stale: record '{found.key}' changed since it was checked; "
            f"re-check it first (registers proposals recheck {name} {proposal_id})"
        )
    with snapshot(engine) as conn:
        reg_id = register_id_of(conn, name)
        stored_base = _row(conn, reg_id, proposal_id).base_entry
    base = int(stored_base) if stored_base is not None else None

    def decide(conn: Connection, head: Any) -> None:
        """Under the write lock: the record is still as checked, and nobody decided meanwhile."""
        k, p = entry_key.c, proposal.c
        before = conn.execute(
            select(func.max(k.number)).where(k.register_id == reg_id, k.log == 0, k.key == found.key,
                                             k.number < head.user_size)
        ).scalar()
        if (int(before) if before is not None else None) != base:
            raise ProposalConflict(
                f"proposal {proposal_id} is stale: record '{found.key}' changed while it was being approved; "
                f"re-check it first (registers proposals recheck {name} {proposal_id})"
            )
        decided = conn.execute(
            update(proposal)
            .where(p.id == proposal_id, p.status == "open", _same_base(p.base_entry, base))
            .values(status="approved", decided=now_timestamp(), decided_by=by, decision_reason=reason.strip(),
                    entry_number=head.user_size)
        ).rowcount
        if decided != 1:  # decided or re-checked by someone else meanwhile: append nothing
            raise ProposalConflict(f"proposal {proposal_id} changed while it was being approved: look again")

    try:
        result = apply_change(engine, name, found.change, by=by, reason=f"{reason.strip()} (proposal {proposal_id})",
                              also=decide)
    except InvalidEntry as exc:
        raise InvalidProposal(f"proposal {proposal_id} cannot be applied now: {exc.reason}") from None
    receipt = receipt_for(engine, result) or {}
    with writer(engine).begin() as conn:
        conn.execute(update(proposal).where(proposal.c.id == proposal_id).values(receipt=json.dumps(receipt)))
    _outcome(name, "approved", proposal=proposal_id, by=by, entry=result.head.user_size)
    return get_proposal(engine, name, proposal_id), receipt


def receipt_of(engine: Engine, name: str, proposal_id: int) -> dict[str, Any] | None:
    """The receipt of an approved proposal's change (None before approval)."""
    with snapshot(engine) as conn:
        text = _row(conn, register_id_of(conn, name), proposal_id).receipt
    return json.loads(text) if text else None


def reject(engine: Engine, name: str, proposal_id: int, *, by: str, reason: str) -> Proposal:
    """Reject an open proposal, saying why (the proposer sees the reason); nothing is appended."""
    if not (reason or "").strip():
        raise InvalidProposal("a rejection needs a reason")
    _open(engine, name, proposal_id)
    p = proposal.c
    with writer(engine).begin() as conn:
        decided = conn.execute(
            update(proposal).where(p.id == proposal_id, p.status == "open")
            .values(status="rejected", decided=now_timestamp(), decided_by=by, decision_reason=reason.strip())
        ).rowcount
    if decided != 1:
        raise ProposalConflict(f"proposal {proposal_id} was decided meanwhile")
    _outcome(name, "rejected", proposal=proposal_id, by=by)
    return get_proposal(engine, name, proposal_id)


def _open(engine: Engine, name: str, proposal_id: int) -> Proposal:
    found = get_proposal(engine, name, proposal_id)
    if found.status != "open":
        raise ProposalConflict(f"proposal {proposal_id} is already {found.status}")
    return found


def _same_base(column: Any, base: int | None) -> Any:
    return column.is_(None) if base is None else column == base
