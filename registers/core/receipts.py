"""Change receipts: what a change appended, proven against a signed checkpoint, checked offline.

A receipt (JSON) holds, for each log the change touched, the signed checkpoint after it, the
size before it, the *frontier* of the tree before it (the hashes of the perfect subtrees that
make up the first ``previous-size`` leaves, left to right: at most log2(n) of them), and the new
entries with their items. From the frontier and the new entries' leaves the tree of the
checkpoint is rebuilt: if its root is the signed root, every new entry is in the signed log, at
its number. Up to ``AUDIT_PATHS_UP_TO`` entries also carry their own RFC 6962 audit path, each
checked on its own as well.

Nothing here touches a database: ``verify_receipt`` needs only the receipt and a public key.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .entries import REGISTER_NAME, Log, key_problem, leaf_bytes, timestamp_problem
from .items import InvalidItem, canonical_json, hash_text, item_digest, parse_hash
from .merkle import leaf_hash, node_hash, perfect_root, tree_root, verify_inclusion
from .notes import Checkpoint, Signature, VerifierKey, open_checkpoint

FORMAT = "registers-receipt/1"
AUDIT_PATHS_UP_TO = 1000


class ReceiptError(ValueError):
    """A receipt that does not prove what it says; the message names what fails."""


def frontier_positions(size: int) -> list[tuple[int, int]]:
    """The ``(level, index)`` of each perfect subtree making up the first ``size`` leaves,
    left to right (the binary decomposition of ``size``)."""
    out, start = [], 0
    for level in range(size.bit_length() - 1, -1, -1):
        if size >> level & 1:
            out.append((level, start >> level))
            start += 1 << level
    return out


def root_from_frontier(previous: int, frontier: Sequence[bytes], leaves: Sequence[bytes]) -> bytes:
    """The RFC 6962 root of the tree of ``previous + len(leaves)`` leaves, from the frontier of
    the first ``previous`` leaves and the leaf hashes of the rest."""
    positions = frontier_positions(previous)
    if len(positions) != len(frontier):
        raise ReceiptError(f"a tree of {previous} entries has {len(positions)} frontier hashes, not {len(frontier)}")
    known = dict(zip(positions, frontier, strict=True))

    def node(level: int, index: int) -> bytes:
        lo, hi = index << level, (index + 1) << level
        if (level, index) in known:
            return known[(level, index)]
        if lo >= previous:
            return perfect_root(leaves[lo - previous : hi - previous])
        if level == 0 or hi <= previous:  # pragma: no cover - the decomposition never asks
            raise ReceiptError(f"no hash for leaves [{lo}, {hi})")
        return node_hash(node(level - 1, 2 * index), node(level - 1, 2 * index + 1))

    return tree_root(previous + len(leaves), node)


@dataclass(frozen=True)
class ProvenLog:
    """One log's part of a verified receipt."""

    log: Log
    checkpoint: Checkpoint
    first: int  # the first new entry's number
    count: int
    signers: tuple[Signature, ...] = ()  # the checkpoint's signatures that verified


def verify_receipt(receipt: dict[str, Any], keys: Iterable[VerifierKey]) -> list[ProvenLog]:
    """Check a receipt offline with the public ``keys``: the register's name, each checkpoint's
    signature and origin (the system log's is the user log's plus ``/system``), every entry's
    number, timestamp, key and items' hashes, the rebuilt root against the signed root, and each
    audit path given. Raises ReceiptError naming the first thing that fails, whatever the JSON."""
    if not isinstance(receipt, dict) or receipt.get("format") != FORMAT:
        raise ReceiptError(f"not a receipt (format is not {FORMAT})")
    register = receipt.get("register")
    if not isinstance(register, str) or not REGISTER_NAME.fullmatch(register):
        raise ReceiptError(f"the receipt's register {register!r} is not a register name")
    keys = list(keys)
    proven = []
    for log in Log:
        part = receipt.get(log.label)
        if part is not None:
            proven.append(_verify_log(register, log, part, keys))
    if not proven:
        raise ReceiptError("the receipt proves no entries")
    if len(proven) == 2 and proven[1].checkpoint.origin != proven[0].checkpoint.origin + "/system":
        raise ReceiptError(
            f"the system log's checkpoint is for '{proven[1].checkpoint.origin}', not "
            f"'{proven[0].checkpoint.origin}/system'"
        )
    return proven


def _verify_log(register: str, log: Log, part: Any, keys: list[VerifierKey]) -> ProvenLog:
    where = f"{log.label} log"
    if not isinstance(part, dict):
        raise ReceiptError(f"{where}: not an object")
    note = part.get("checkpoint")
    if not isinstance(note, str):
        raise ReceiptError(f"{where}: no checkpoint")
    try:
        checkpoint, opened = open_checkpoint(note, keys)
    except ValueError as exc:  # NoteError, or a size too long for int()
        raise ReceiptError(f"{where}: the checkpoint's signature: {exc}") from None
    suffix = f"/{register}" if log is Log.USER else f"/{register}/system"
    if not checkpoint.origin.endswith(suffix):
        raise ReceiptError(f"{where}: the checkpoint is for '{checkpoint.origin}', not register '{register}'")
    previous = _whole(part.get("previous-size"), f"{where}: previous-size")
    entries = part.get("entries")
    if not isinstance(entries, list) or not entries:
        raise ReceiptError(f"{where}: no entries")
    if previous + len(entries) != checkpoint.size:
        raise ReceiptError(
            f"{where}: {previous} + {len(entries)} entries is not the checkpoint's size {checkpoint.size}"
        )
    leaves = [_leaf(where, log, previous + offset, e) for offset, e in enumerate(entries, 1)]
    frontier = [_digest(where, text) for text in _list(part.get("frontier", []), f"{where}: frontier")]
    try:
        root = root_from_frontier(previous, frontier, leaves)
    except ReceiptError as exc:
        raise ReceiptError(f"{where}: {exc}") from None
    if root != checkpoint.root:
        raise ReceiptError(
            f"{where}: the entries on top of the frontier give a root other than the signed "
            f"{hash_text(checkpoint.root)}"
        )
    for number, (e, leaf) in enumerate(zip(entries, leaves, strict=True), previous + 1):
        path = e.get("merkle-audit-path")
        if path is not None and not verify_inclusion(
            number - 1, checkpoint.size, leaf,
            [_digest(where, p) for p in _list(path, f"{where}: entry {number}'s audit path")], checkpoint.root,
        ):
            raise ReceiptError(f"{where}: entry {number}'s audit path does not lead to the signed root")
    return ProvenLog(log, checkpoint, previous + 1, len(entries), opened.verified)


def _leaf(where: str, log: Log, number: int, e: Any) -> bytes:
    """The leaf hash of one receipt entry, after checking its number, timestamp, key and items."""
    if not isinstance(e, dict):
        raise ReceiptError(f"{where}: entry {number} is not an object")
    if e.get("entry-number") != str(number):
        raise ReceiptError(f"{where}: entry {number} is numbered {e.get('entry-number')!r}")
    digests = tuple(_digest(where, h) for h in _list(e.get("item-hash", []), f"{where}: entry {number}'s item-hash"))
    items = _list(e.get("item", []), f"{where}: entry {number}'s item")
    if len(items) != len(digests):
        raise ReceiptError(f"{where}: entry {number} has {len(digests)} item hashes but {len(items)} items")
    for digest, value in zip(digests, items, strict=True):
        try:
            blob = canonical_json(value)
        except InvalidItem as exc:
            raise ReceiptError(f"{where}: entry {number} has an item that is not an item: {exc}") from None
        if item_digest(blob) != digest:
            raise ReceiptError(f"{where}: entry {number}'s item does not hash to {hash_text(digest)}")
    timestamp, key = e.get("entry-timestamp"), e.get("key")
    if not isinstance(timestamp, str) or not isinstance(key, str):
        raise ReceiptError(f"{where}: entry {number} has no timestamp or key")
    # The platform stores only valid timestamps and keys; checking them here also keeps the
    # leaf's JSON unambiguous (the timestamp is written into it unescaped).
    problem = timestamp_problem(timestamp) or key_problem(log, key)
    if problem:
        raise ReceiptError(f"{where}: entry {number}: {problem}")
    return leaf_hash(leaf_bytes(number, timestamp, key, digests))


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ReceiptError(f"{what} is not a list")
    return value


def _digest(where: str, text: Any) -> bytes:
    try:
        return parse_hash(text)
    except (ValueError, TypeError, AttributeError):
        raise ReceiptError(f"{where}: {text!r} is not a sha-256 hash") from None


def _whole(value: Any, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ReceiptError(f"{what} must be a whole number, not {value!r}")
    return value


def receipt_entry(
    number: int, timestamp: str, key: str, digests: tuple[bytes, ...], items: list[Any],
    audit_path: list[bytes] | None,
) -> dict[str, Any]:
    """One entry as a receipt lists it: the v1 entry, its items, and its audit path if given."""
    out: dict[str, Any] = {
        "entry-number": str(number),
        "entry-timestamp": timestamp,
        "key": key,
        "item-hash": [hash_text(d) for d in digests],
        "item": items,
    }
    if audit_path is not None:
        out["merkle-audit-path"] = [hash_text(h) for h in audit_path]
    return out

