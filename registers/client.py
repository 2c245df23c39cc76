"""A client for registers served over HTTP (this platform's API, on requests).

It reads records, entries, signed checkpoints, proofs and patches, and checks what it reads
with core's verification: a checkpoint only counts once its signature verifies with a key the
caller trusts, and a proof only once it verifies against signed roots. Keeping a local copy
current (``service.mirror``) and auditing a remote register (``service.audit``) are built on it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from .core.changes import RecordChange
from .core.definitions import Definition
from .core.entries import Log
from .core.errors import RegisterError
from .core.faults import FaultLog, FaultsFound
from .core.handover import Handover, Walk, walk
from .core.items import parse_hash
from .core.merkle import verify_consistency
from .core.notes import Checkpoint, NoteError, VerifierKey, open_checkpoint, signer_ids

TIMEOUT = 60


class RemoteError(RegisterError):
    """The server could not be read, or what it served does not verify."""


@dataclass(frozen=True)
class SignedHeads:
    """The verified checkpoints of both logs of a remote register, and their notes."""

    user: Checkpoint
    system: Checkpoint
    user_note: str
    system_note: str
    followed: tuple[Handover, ...] = ()  # rotations followed to verify them (new keys trusted)

    def of(self, log: Log) -> Checkpoint:
        """The checkpoint of ``log``."""
        return self.user if log is Log.USER else self.system


class RegisterClient:
    """One register at ``url`` (``https://host/<register>/``)."""

    def __init__(self, url: str, session: requests.Session | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.path.strip("/"):
            raise RemoteError(f"'{url}' is not a register's URL (like https://host/country/)")
        self.base = url.rstrip("/")
        self.name = parts.path.rstrip("/").rsplit("/", 1)[-1]
        self.session = session or requests.Session()

    # -- reading --------------------------------------------------------------------------

    def get(self, path: str, **params: Any) -> requests.Response:
        """GET ``path`` below the register; RemoteError for anything but 200."""
        url = f"{self.base}/{path.lstrip('/')}"
        try:
            answer = self.session.get(url, params=params or None, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise RemoteError(f"{url}: {exc.__class__.__name__}: {exc}") from None
        if answer.status_code != 200:
            detail = answer.text.strip().splitlines()[0] if answer.text.strip() else ""
            raise RemoteError(f"{url}: HTTP {answer.status_code} {detail}".rstrip())
        return answer

    def record(self, key: str) -> dict[str, Any]:
        """The current record of ``key`` (the v1 record object)."""
        return dict(self.get(f"records/{key}").json()[key])

    def records(self, page_size: int = 5000) -> Iterator[dict[str, Any]]:
        """Every current record, newest first, following ``Link: next``."""
        answer = self.get("records", **{"page-size": page_size})
        while True:
            yield from answer.json().values()
            following = answer.links.get("next", {}).get("url")
            if not following:
                return
            answer = self.get("records" + following)

    def definition(self) -> Definition:
        """The register's definition, from its ``/register`` answer (fields in register order)."""
        info = self.get("register").json()
        try:
            return Definition.from_json({"register": info["register-record"], "fields": info["fields"]})
        except (KeyError, TypeError, RegisterError) as exc:
            raise RemoteError(f"{self.base}/register: no register definition served ({exc})") from None

    def entries(self, start: int = 1, limit: int = 5000) -> list[dict[str, Any]]:
        """Entries ``start..start+limit-1`` of the user log."""
        return list(self.get("entries", start=start, limit=limit).json())

    def notes(self) -> tuple[str, str]:
        """The latest signed checkpoint notes of the user and system logs, unverified."""
        return self.get("checkpoint").text, self.get("system/checkpoint").text

    def signed_heads(self, keys: list[VerifierKey], before: tuple[Handover, ...] = (),
                     superseded: Mapping[VerifierKey, str] | None = None) -> SignedHeads:
        """Both logs' latest checkpoints, each verified with ``keys`` and naming this register.

        When a checkpoint is signed by none of ``keys`` (the server rotated its key), the
        handover notes it serves are followed from ``keys``: a new key is trusted only through
        a note its predecessor signed (``followed`` lists them), and a key that handed over
        already (``before``: the handovers followed on earlier runs) never hands over to another.
        ``superseded``: keys the caller held once but trusts no more for new checkpoints, each
        with what to add to the refusal naming it (they never sign, hand over or are reached
        again). RemoteError naming the key the checkpoint would need, and why no note leads to
        it, otherwise."""
        user_note, system_note = self.notes()
        trusted = list(keys)
        retired = dict(superseded or {})
        walked = Walk((), {})
        if not self._verifies(user_note, trusted) or not self._verifies(system_note, trusted):
            walked = walk(trusted, self.handover_notes(), before, retired)
            trusted += [h.new for h in walked.followed]
        return SignedHeads(
            self.open_note(user_note, trusted, Log.USER, walked, retired),
            self.open_note(system_note, trusted, Log.SYSTEM, walked, retired),
            user_note, system_note, walked.followed,
        )

    @staticmethod
    def _verifies(note: str, keys: list[VerifierKey]) -> bool:
        try:
            open_checkpoint(note, keys)
        except NoteError:
            return False
        return True

    def handover_notes(self) -> list[str]:
        """The key handover notes the server serves for this register (``keys.json`` beside it,
        else at the server's root), unverified; none when it serves none."""
        parts = urlsplit(self.base)
        root = f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/').rsplit('/', 1)[0]}"
        for url in (f"{self.base}/keys.json", f"{root}/keys.json"):
            try:
                answer = self.session.get(url, timeout=TIMEOUT)
                listed = answer.json() if answer.status_code == 200 else None
            except (requests.RequestException, ValueError):
                continue
            if isinstance(listed, list):
                return [k["handover"] for k in listed if isinstance(k, dict) and isinstance(k.get("handover"), str)]
        return []

    def open_note(self, note: str, keys: list[VerifierKey], log: Log, walked: Walk | None = None,
                  superseded: Mapping[VerifierKey, str] | None = None) -> Checkpoint:
        """The checkpoint in ``note`` once its signature verifies and its origin names this
        register's ``log``; RemoteError otherwise, naming the key the note would need and why
        the handover notes served (``walked``) do not lead to it, or why a key that signed it
        is ``superseded``."""
        try:
            checkpoint, _opened = open_checkpoint(note, keys)
        except NoteError as exc:
            if str(exc) != "note has no verifiable signatures":
                raise RemoteError(f"{self.base}: the {log.label} checkpoint: {exc}") from None
            ids = signer_ids(note)
            signers = ", ".join(ids) or "no key"
            trusted = ", ".join(k.label for k in keys) or "none"
            retired = [(k, extra) for k, extra in (superseded or {}).items()
                       if k.label in ids and self._verifies(note, [k])]
            if retired:
                key, extra = retired[0]
                raise RemoteError(
                    f"{self.base}: the {log.label} checkpoint: {exc}: it is signed by {key.label}, a key superseded "
                    f"here{extra}: a superseded key still verifies the checkpoints it signed before, but never "
                    f"signs a new one (trusted: {trusted})"
                ) from None
            why = next(filter(None, (walked.why(label) for label in ids)), None) if walked else None
            handed = f"the handover note naming it is refused: {why}" if why else \
                "no handover note signed by a trusted key names it"
            raise RemoteError(
                f"{self.base}: the {log.label} checkpoint: {exc}: it is signed by {signers}, which is not a key "
                f"trusted here (trusted: {trusted}); {handed} (add the key that signs it with --key, obtained "
                "out of band)"
            ) from None
        suffix = f"/{self.name}" if log is Log.USER else f"/{self.name}/system"
        if not checkpoint.origin.endswith(suffix):
            raise RemoteError(f"{self.base}: the {log.label} checkpoint is for '{checkpoint.origin}'")
        return checkpoint

    def prove_extends(self, log: Log, old_size: int, old_root: bytes, new: Checkpoint) -> None:
        """Check with the server's consistency proof that the signed tree ``new`` extends the
        tree of ``old_size`` entries with ``old_root``; RemoteError (history rewritten) if not."""
        if new.size < old_size:
            raise RemoteError(
                f"{self.base}: the {log.label} log shrank from {old_size} to {new.size} entries (history rewritten)"
            )
        if old_size == 0:
            return
        prefix = "" if log is Log.USER else "system/"
        if old_size == new.size:
            proof: list[bytes] = []
        else:
            answer = self.get(f"{prefix}proof/consistency/{old_size}/{new.size}/merkle:sha-256").json()
            try:
                proof = [parse_hash(node) for node in answer["merkle-consistency-nodes"]]
            except (KeyError, TypeError, ValueError):
                raise RemoteError(f"{self.base}: a malformed {log.label} consistency proof") from None
        if not verify_consistency(old_size, new.size, old_root, new.root, proof):
            raise RemoteError(
                f"{self.base}: the {log.label} log at {new.size} entries is not an extension of the "
                f"{old_size} entries held here (history rewritten)"
            )

    def patch(self, start: int, end: int) -> bytes:
        """The RSF of user entries ``start+1..end`` (the v1 ``download-rsf/{start}/{end}``)."""
        return self.get(f"download-rsf/{start}/{end}").content

    def system_patch(self, start: int, end: int) -> bytes:
        """The RSF of system entries ``start+1..end`` and their items."""
        return self.get(f"system/download-rsf/{start}/{end}").content

    def server_keys(self) -> list[str]:
        """The verifier keys the server lists at ``/keys`` (to be trusted only by choice)."""
        parts = urlsplit(self.base)
        root = f"{parts.scheme}://{parts.netloc}"
        prefix = parts.path.rstrip("/").rsplit("/", 1)[0]
        try:
            answer = self.session.get(f"{root}{prefix}/keys", timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise RemoteError(f"{root}{prefix}/keys: {exc}") from None
        return [line for line in answer.text.splitlines() if line.strip()] if answer.ok else []


_TABLE_TYPES = {"csv": "text/csv", "tsv": "text/tab-separated-values", "json": "application/json",
                "jsonl": "application/jsonl"}


class CustodianClient(RegisterClient):
    """A register's custodian writing remotely with a bearer token (never logged or echoed)."""

    def __init__(self, url: str, token: str, session: requests.Session | None = None) -> None:
        super().__init__(url, session)
        self._token = token

    def _post(self, path: str, source: str | None = None, **kwargs: Any) -> dict[str, Any]:
        url = f"{self.base}/{path}"
        headers = {"Authorization": f"Bearer {self._token}", **kwargs.pop("headers", {})}
        try:
            answer = self.session.post(url, headers=headers, timeout=kwargs.pop("timeout", 3600), **kwargs)
        except requests.RequestException as exc:
            raise RemoteError(f"{url}: {exc.__class__.__name__}") from None
        if answer.status_code != 200:
            try:
                problem = answer.json()
                detail = problem.get("detail", "")
            except ValueError:
                problem, detail = {}, answer.text.strip().splitlines()[0] if answer.text.strip() else ""
            faults = _faults(problem) if answer.status_code == 422 and source else None
            if faults is not None:  # every fault the server found, named as in the file sent
                raise FaultsFound(faults, source)
            raise RemoteError(f"{url}: HTTP {answer.status_code}: {detail}")
        return dict(answer.json())

    def load_rsf(self, path: str, reason: str | None = None, max_errors: int | None = None) -> dict[str, Any]:
        """Send the RSF file at ``path`` (streamed) to be loaded; the server's answer (with
        receipt). A refusal with several faults raises FaultsFound naming ``path``."""
        params = {name: str(value) for name, value in (("reason", reason), ("max-errors", max_errors)) if value}
        with open(path, "rb") as body:
            return self._post("load-rsf", data=body, params=params or None,
                              headers={"Content-Type": "application/uk-gov-rsf"}, source=path)

    def load_table(
        self, path: str, fmt: str, *, history: bool = False, dry_run: bool = False, end_missing: str | None = None,
        max_end: int | None = None, reason: str | None = None, max_errors: int | None = None,
    ) -> dict[str, Any]:
        """Send the table at ``path`` (streamed, with its length and SHA-256, which the server
        checks before comparing anything) to be loaded as ``registers load`` loads a local one;
        the server's answer: the diff and, unless ``dry_run``, the new head and receipt."""
        digest = hashlib.sha256()
        with open(path, "rb") as body:
            while chunk := body.read(1 << 16):
                digest.update(chunk)
        params: dict[str, str] = {"format": fmt}
        for name, value in (("history", history), ("dry-run", dry_run)):
            if value:
                params[name] = "true"
        for name, given in (("end-missing", end_missing), ("max-end", max_end), ("reason", reason),
                            ("max-errors", max_errors)):
            if given is not None:
                params[name] = str(given)
        headers = {"Content-Type": _TABLE_TYPES[fmt], "Content-Length": str(os.path.getsize(path)),
                   "Content-Digest": f"sha-256=:{base64.b64encode(digest.digest()).decode('ascii')}:"}
        with open(path, "rb") as body:
            return self._post("load-table", data=body, params=params, headers=headers, source=path)

    def change(self, change: RecordChange, *, reason: str | None = None) -> dict[str, Any]:
        """Add, amend or end one record remotely; the server's answer (with receipt)."""
        body = change.as_json()
        if reason:
            body["reason"] = reason
        return self._post("changes", json=body)


def _faults(problem: Any) -> FaultLog | None:
    """The faults a 422 problem's ``errors`` (and ``more``) name, when it names more than one."""
    errors = problem.get("errors") if isinstance(problem, dict) else None
    more = problem.get("more", 0) if isinstance(problem, dict) else 0
    if not isinstance(errors, list) or not isinstance(more, int) or len(errors) + more < 2:
        return None
    log = FaultLog(limit=len(errors))
    for error in errors:
        if not isinstance(error, dict):
            return None
        log.add(error.get("line") if isinstance(error.get("line"), int) else None,
                str(error.get("message") or error.get("reason") or ""),
                error.get("key") if isinstance(error.get("key"), str) else None)
    log.count += more
    return log
