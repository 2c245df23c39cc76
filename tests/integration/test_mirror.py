"""The mirror and the auditor against registers served over real HTTP (loopback), on SQLite and
PostgreSQL: a copy follows the server through rounds of changes, and a server that rewrites
history, lies in its patches or signs with another key is refused with nothing applied."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine
from werkzeug.serving import make_server

from registers import service
from registers.core.entries import Log
from registers.core.errors import IntegrityError
from registers.core.items import canonical_json, item_digest
from registers.core.notes import SignerKey, VerifierKey
from registers.core.rsf import AddItem, AppendEntry, AssertRootHash, Command, read_rsf
from registers.store.append import append
from registers.store.checks import Change
from registers.web import create_app
from registers.web.state import state
from tests.conftest import RSF, fresh_database
from tests.integration.helpers import load, snapshot

WSGI = Callable[[dict[str, Any], Callable[..., Any]], Any]


@contextmanager
def serving(app: WSGI) -> Iterator[str]:
    """``app`` on a free loopback port, in a thread, until the block ends."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()


class Switchable:
    """A WSGI app that hands each request to ``app``, which a test may replace: the same
    address then serves another database (a mirror is bound to the URL it copies)."""

    def __init__(self, app: WSGI) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        return self.app(environ, start_response)


@contextmanager
def database(tmp_path: Path, name: str, *, key: Path | None = None,
             signed: bool = True) -> Iterator[tuple[str, Engine]]:
    """A fresh database: with a signing key made on purpose (as 'registers keys generate'
    makes it), or the private key in file ``key`` imported (another server signing with the
    same key), or with ``signed`` false none (a mirror needs none)."""
    with fresh_database(tmp_path, name) as url:
        engine = service.open_database(url)
        try:
            if key is not None:
                service.import_key(engine, key)
            elif signed:
                service.generate_key(engine)
            yield url, engine
        finally:
            engine.dispose()


def key_file(engine: Engine) -> Path:
    """The private key file of the key that signs ``engine``'s checkpoints (in the test's key
    directory)."""
    signing = service.signing_key(engine)
    assert signing is not None
    return Path(os.environ["REGISTERS_KEY_DIR"]) / f"{VerifierKey.parse(signing).key_id.hex()}.key"


@pytest.fixture
def make_app() -> Iterator[Callable[[str], Any]]:
    """Apps on given databases, their connections closed after the test."""
    made: list[Any] = []

    def make(url: str) -> Any:
        made.append(create_app({"DATABASE_URL": url}))
        return made[-1]

    yield make
    for app in made:
        state(app).close()


def _keys(engine: Engine) -> list[VerifierKey]:
    return [VerifierKey.parse(k) for k in service.public_keys(engine)]


def _state(engine: Engine, name: str = "country") -> tuple[int, bytes, int, bytes]:
    h = service.head(engine, name)
    return h.user_size, h.user_root, h.system_size, h.system_root


def _custodian(engine: Engine, who: str) -> None:
    """A metadata change on the source: a new custodian system entry."""
    blob = canonical_json({"custodian": who})
    digest = item_digest(blob)
    append(
        engine,
        "country",
        [AddItem(blob, digest), AppendEntry(Log.SYSTEM, "custodian", "2024-01-01T00:00:00Z", (digest,))],
        extend=True,
    )


def test_a_mirror_follows_a_served_register_through_rounds_of_changes(
    tmp_path: Path, engine: Engine, make_app: Callable[[str], Any]
) -> None:
    with database(tmp_path, "source") as (url, source), serving(make_app(url)) as base:
        rounds: list[Callable[[], object]] = [
            lambda: load(source, "country-small.rsf", "country"),
            lambda: load(source, "country-small-update.rsf", "country"),  # a new custodian too
            lambda: _custodian(source, "Jane Doe"),  # metadata only
            lambda: service.append_items(source, "country", [("XK", {"country": "XK", "name": "Kosovo"})]),
            lambda: None,  # nothing new: up to date
        ]
        summaries = []
        for change in rounds:
            change()
            done = service.mirror(engine, f"{base}/country/", _keys(source))  # the source's public key
            summaries.append(done.summary)
            assert _state(engine) == _state(source)  # both logs: sizes and roots
            assert service.verify(engine, "country").head == service.head(engine, "country")
        assert all(" -> " in line for line in summaries[:-1]), summaries  # every change was carried over
        assert summaries[-1].startswith("country: up to date at ")
        assert service.show_record(engine, "country", "XK") == service.show_record(source, "country", "XK")


def test_a_first_mirror_racing_a_metadata_change_copies_the_signed_state(
    tmp_path: Path, engine: Engine, make_app: Callable[[str], Any]
) -> None:
    """The source's metadata changes after the mirror read its checkpoints and before it asks for
    the user patch, which (from 0, as in v1) then carries the new system entry and its item:
    the copy is the signed state all the same, and the next run brings the change."""
    with database(tmp_path, "source") as (url, source):
        load(source, "country-small.rsf", "country")
        signed = _state(source)
        app = make_app(url)
        raced: list[str] = []

        def racing(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            if environ["PATH_INFO"].startswith("/country/download-rsf/") and not raced:
                raced.append(environ["PATH_INFO"])
                _custodian(source, "Racer")
            return app(environ, start_response)

        with serving(racing) as base:
            service.mirror(engine, f"{base}/country/", _keys(source))
            assert raced and _state(engine) == signed != _state(source)
            assert service.verify(engine, "country").head == service.head(engine, "country")
            service.mirror(engine, f"{base}/country/", _keys(source))
            assert _state(engine) == _state(source)


def _fork(engine: Engine, keep: int) -> None:
    """country-small's first ``keep`` entries, then a different history."""
    user_seen = 0
    kept: list[Command] = []
    for c in read_rsf((RSF / "country-small.rsf").read_bytes().splitlines(keepends=True)):
        if type(c) is AppendEntry and c.log is Log.USER:
            user_seen += 1
            if user_seen > keep:
                continue
        if type(c) is AssertRootHash and kept:  # only the opening assert: the file's roots are of all 7
            continue
        kept.append(c)
    used = {d for c in kept if type(c) is AppendEntry for d in c.digests}
    kept = [c for c in kept if type(c) is not AddItem or c.digest in used]
    append(engine, "country", kept, change=Change(strict=False))
    service.append_items(
        engine, "country", [(k, {"country": k, "name": f"Forged {k}"}) for k in ("Q1", "Q2", "Q3", "Q4", "Q5", "Q6")]
    )


def test_a_server_that_rewrote_history_is_refused_with_nothing_applied(
    tmp_path: Path, engine: Engine, make_app: Callable[[str], Any]
) -> None:
    with database(tmp_path, "honest") as (honest_url, honest), \
            database(tmp_path, "forked", key=key_file(honest)) as (forked_url, forked):
        load(honest, "country-small.rsf", "country")
        server = Switchable(make_app(honest_url))
        with serving(server) as base:
            service.mirror(engine, f"{base}/country/", _keys(honest))
            _fork(forked, 4)  # signed with the same key (its holder rewrote history)
            keys = _keys(honest)
            assert keys == _keys(forked)[: len(keys)]
            before = snapshot(engine)
            server.app = make_app(forked_url)  # the same address now serves the rewrite
            with pytest.raises(service.RemoteError, match=r"history rewritten\); the first entry that differs is "
                               r"user entry 5 \(key '"):
                service.mirror(engine, f"{base}/country/", _keys(forked))
        assert snapshot(engine) == before


def test_patches_that_do_not_give_the_signed_state_are_refused_with_nothing_applied(
    tmp_path: Path, engine: Engine, make_app: Callable[[str], Any]
) -> None:
    """A test double: checkpoints and proofs from the honest log, patches from a fork that
    shares the copy's prefix."""
    with database(tmp_path, "honest") as (honest_url, honest), database(tmp_path, "forked") as (forked_url, forked):
        load(honest, "country-small.rsf", "country")
        load(forked, "country-small.rsf", "country")
        honest_app, forked_app = make_app(honest_url), make_app(forked_url)
        server = Switchable(honest_app)
        with serving(server) as base:
            service.mirror(engine, f"{base}/country/", _keys(honest))
            service.append_items(honest, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
            service.append_items(forked, "country", [("XK", {"country": "XK", "name": "Forged"})])

            def lying(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
                app = forked_app if "download-rsf" in environ["PATH_INFO"] else honest_app
                return app(environ, start_response)

            before = snapshot(engine)
            server.app = lying
            with pytest.raises(IntegrityError, match="not the signed 8"):
                service.mirror(engine, f"{base}/country/", _keys(honest))
        assert snapshot(engine) == before


def test_a_checkpoint_signed_by_another_key_is_refused(
    tmp_path: Path, engine: Engine, make_app: Callable[[str], Any]
) -> None:
    with database(tmp_path, "source") as (url, source):
        load(source, "country-small.rsf", "country")
        stranger = SignerKey.generate("localhost").verifier
        with serving(make_app(url)) as base:
            with pytest.raises(service.RemoteError, match="no verifiable signatures|does not verify"):
                service.mirror(engine, f"{base}/country/", [stranger])
        assert service.list_registers(engine) == []


def test_the_auditor_saves_checkpoints_and_catches_a_rewrite(tmp_path: Path, make_app: Callable[[str], Any]) -> None:
    trust = tmp_path / "trust"
    with database(tmp_path, "honest") as (honest_url, honest), \
            database(tmp_path, "forked", key=key_file(honest)) as (forked_url, forked):
        load(honest, "country-small.rsf", "country")
        _fork(forked, 4)
        server = {"app": make_app(honest_url)}
        with serving(lambda environ, start: server["app"](environ, start)) as base:
            first = service.audit(f"{base}/country/", _keys(honest), trust)
            assert first.previous is None and first.user.size == 7
            service.append_items(honest, "country", [("XK", {"country": "XK", "name": "Kosovo"})])
            second = service.audit(f"{base}/country/", _keys(honest), trust)
            assert second.previous is not None and (second.previous.size, second.user.size) == (7, 8)
            server["app"] = make_app(forked_url)  # the same address now serves a rewrite
            with pytest.raises(IntegrityError, match="rewritten: its first 8 entries now have root"):
                service.audit(f"{base}/country/", _keys(forked), trust)


def test_a_dump_verifies_against_its_signed_checkpoint_and_a_rewrite_does_not(
    tmp_path: Path, engine: Engine, make_app: Callable[[str], Any]
) -> None:
    load(engine, "country-small.rsf", "country")
    note = service.checkpoint_note(engine, "country")
    keys = _keys(engine)
    dump = tmp_path / "country.rsf"
    with open(dump, "wb") as out:
        service.export_rsf(engine, "country", out)
    result = service.verify_dump(str(dump), note, keys)
    assert result.checkpoint is not None and result.head.user_size == result.checkpoint.size == 7
    with database(tmp_path, "forked") as (_url, forked):
        _fork(forked, 4)
        with open(tmp_path / "forked.rsf", "wb") as out:
            service.export_rsf(forked, "country", out)
    with pytest.raises(IntegrityError, match="rewritten"):
        service.verify_dump(str(tmp_path / "forked.rsf"), note, keys)
    edited = dump.read_bytes().replace(b"United Kingdom", b"United Kingdon", 1)
    (tmp_path / "edited.rsf").write_bytes(edited)
    with pytest.raises(Exception, match=r"line \d+"):
        service.verify_dump(str(tmp_path / "edited.rsf"), note, keys)
