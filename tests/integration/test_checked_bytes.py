"""Bytes are checked on the way out: an item whose stored bytes no longer hash to its digest is
never served, over HTTP (every GET rule of the app, walked from ``app.url_map``) or the CLI."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, text

from registers import service
from registers.cli import main
from registers.core.errors import RegisterNotFound, StoredItemCorrupt
from registers.loaders import record_files
from registers.service import quality
from registers.store import reads, records
from registers.store.engine import snapshot
from registers.web import create_app
from registers.web.state import state
from tests.conftest import RSF

# GM's current item (entries 69 and 206 of country.rsf): recent enough to be on the first page
# of every list, with a history, a field value to look up and a proposal against it
GOOD = b'{"citizen-names":"Gambian","country":"GM","name":"The Gambia","official-name":"The Republic of The Gambia"}'
DIGEST = hashlib.sha256(GOOD).digest()
HASH = "sha-256:" + DIGEST.hex()
BAD = GOOD.replace(b"The Gambia\"}", b"Atlantis\"}")  # still a valid item: only its hash betrays it
HTML = {"Accept": "text/html"}

OK, PROBLEM, SHORT, MOVED = "ok", "problem", "short", "moved"
# Every GET rule of the app: the requests that exercise it, and what each must answer once GM's
# item is corrupt. OK: 200 without the bad bytes (it does not serve that item); PROBLEM: a 500
# problem+json, never cached; SHORT: a stream that raises while it is read (gunicorn then cuts
# the chunked answer short); MOVED: a redirect to a path walked under its own rule.
WALK: dict[str, list[tuple[str, dict[str, str], str]]] = {
    "/": [("/", {}, OK), ("/", HTML, OK)],
    "/index.json": [("/index.json", {}, OK)],
    "/healthz": [("/healthz", {}, OK)],
    "/readyz": [("/readyz", {}, OK)],
    "/keys": [("/keys", {}, OK)],
    "/keys.json": [("/keys.json", {}, OK)],
    "/<register>/keys": [("/country/keys", {}, OK)],
    "/<register>/keys.json": [("/country/keys.json", {}, OK)],
    "/openapi.json": [("/openapi.json", {}, OK)],
    "/metrics": [("/metrics", {}, OK)],  # counts, no register data
    "/accessibility": [("/accessibility", HTML, OK)],
    "/static/<path:filename>": [],  # files, no register data
    "/<register>/": [("/country/", HTML, PROBLEM), ("/country/?q=GM", HTML, PROBLEM),
                     ("/country/?q=gambia", HTML, PROBLEM)],
    "/<register>/register": [("/country/register", {}, OK)],
    "/<register>/register.json": [("/country/register.json", {}, OK)],
    "/<register>/checkpoint": [("/country/checkpoint", {}, OK)],
    "/<register>/verify": [("/country/verify", HTML, OK)],
    "/<register>/entries": [("/country/entries?start=200", {}, OK), ("/country/entries?start=200", HTML, OK)],
    "/<register>/entries.<any(json,csv):fmt>": [("/country/entries.csv?start=200", {}, OK)],
    "/<register>/entries/<path:number>": [("/country/entries/206", {}, OK), ("/country/entries/206.csv", {}, OK),
                                          ("/country/entries/206", HTML, PROBLEM),
                                          ("/country/entries/202", HTML, OK)],  # GM's item before
    "/<register>/items/<path:digest>": [(f"/country/items/{HASH}", {}, PROBLEM), (f"/country/items/{HASH}", HTML, PROBLEM),
                                        (f"/country/items/{HASH}.json", {}, PROBLEM),
                                        (f"/country/items/{HASH}.csv", {}, PROBLEM)],
    "/<register>/records": [("/country/records", {}, PROBLEM), ("/country/records?current=true", {}, PROBLEM),
                            ("/country/records?as-of=206", {}, PROBLEM), ("/country/records?as-of=205", {}, OK),
                            ("/country/records", HTML, PROBLEM), ("/country/records?after=150", HTML, PROBLEM)],
    "/<register>/records.<any(json,csv):fmt>": [("/country/records.json", {}, PROBLEM),
                                                ("/country/records.csv", {}, PROBLEM),
                                                ("/country/records.csv?page-size=5000", {}, PROBLEM)],
    "/<register>/records/<path:rest>": [
        ("/country/records/GM", {}, PROBLEM), ("/country/records/GM.json", {}, PROBLEM),
        ("/country/records/GM.csv", {}, PROBLEM), ("/country/records/GM", HTML, PROBLEM),
        ("/country/records/GM/entries", {}, OK), ("/country/records/GM/entries.csv", {}, OK),
        ("/country/records/GM/entries", HTML, PROBLEM), ("/country/records/GB/entries", HTML, OK),
        ("/country/records/name/The Gambia", {}, PROBLEM),  # unindexed: found by a prefilter
        ("/country/records/name/The Gambia.csv", {}, PROBLEM),
        ("/country/records/citizen-names/Gambian", {}, PROBLEM),  # indexed
        ("/country/records/citizen-names/Gambian.csv", {}, PROBLEM),
        ("/country/records/GB", {}, OK),
    ],
    "/<register>/download-rsf": [("/country/download-rsf", {}, SHORT)],
    "/<register>/download-rsf/<int:start>": [("/country/download-rsf/205", {}, SHORT),
                                             ("/country/download-rsf/206", {}, OK)],
    "/<register>/download-rsf/<int:start>/<int:end>": [("/country/download-rsf/200/206", {}, SHORT),
                                                       ("/country/download-rsf/0/10", {}, OK)],
    "/<register>/download-register": [("/country/download-register", {}, SHORT)],
    "/<register>/download-records.<any(csv,jsonl):fmt>": [("/country/download-records.csv", {}, SHORT),
                                                          ("/country/download-records.jsonl", {}, SHORT)],
    "/<register>/proof/register/merkle:sha-256": [("/country/proof/register/merkle:sha-256", {}, OK)],
    "/<register>/proof/entries/<number>/<size>/merkle:sha-256": [
        ("/country/proof/entries/206/209/merkle:sha-256", {}, OK)],
    "/<register>/proof/consistency/<first>/<second>/merkle:sha-256": [
        ("/country/proof/consistency/200/209/merkle:sha-256", {}, OK)],
    "/<register>/record/<path:rest>": [("/country/record/GM", {}, MOVED)],
    "/<register>/entry/<path:rest>": [("/country/entry/206", {}, MOVED)],
    "/<register>/item/<path:rest>": [(f"/country/item/{HASH}", {}, MOVED)],
    "/<register>/proof/entry/<path:rest>": [("/country/proof/entry/206/209/merkle:sha-256", {}, MOVED)],
    "/<register>/proposals": [("/country/proposals", {}, PROBLEM), ("/country/proposals", HTML, PROBLEM)],
    "/<register>/proposals.json": [("/country/proposals.json?status=all", {}, PROBLEM)],
    "/<register>/proposals/<ident>": [("/country/proposals/1", {}, PROBLEM), ("/country/proposals/1", HTML, PROBLEM)],
    # the report 'registers check' stored before: it serves findings, never an item's bytes
    "/<register>/quality": [("/country/quality", HTML, OK)],
    "/<register>/suggest": [("/country/suggest", HTML, OK)],  # the register's fields, no record
    "/<register>/suggest/<path:key>": [("/country/suggest/GM", HTML, PROBLEM)],
    "/<register>/suggested/<int:ident>": [("/country/suggested/1", HTML, PROBLEM)],  # the proposal, as its page
    "/<register>/quality.json": [("/country/quality.json", {}, OK), ("/country/quality.json?kind=duplicate", {}, OK)],
    "/<register>/system/checkpoint": [("/country/system/checkpoint", {}, OK)],
    "/<register>/system/entries": [("/country/system/entries", {}, OK), ("/country/system/entries", HTML, OK)],
    "/<register>/system/entries.json": [("/country/system/entries.json", {}, OK)],
    "/<register>/system/proof/register/merkle:sha-256": [("/country/system/proof/register/merkle:sha-256", {}, OK)],
    "/<register>/system/proof/entries/<number>/<size>/merkle:sha-256": [
        ("/country/system/proof/entries/1/10/merkle:sha-256", {}, OK)],
    "/<register>/system/proof/consistency/<first>/<second>/merkle:sha-256": [
        ("/country/system/proof/consistency/5/10/merkle:sha-256", {}, OK)],
    "/<register>/system/download-rsf": [("/country/system/download-rsf", {}, OK)],
    "/<register>/system/download-rsf/<int:start>": [("/country/system/download-rsf/3", {}, OK)],
    "/<register>/system/download-rsf/<int:start>/<int:end>": [("/country/system/download-rsf/0/10", {}, OK)],
}


def corrupt(engine: Engine, new: bytes = BAD) -> None:
    """Change GM's stored item behind the platform's back, as a failing disk or an attacker would."""
    with engine.begin() as conn:
        changed = conn.execute(
            text("UPDATE item SET content = :new WHERE hash = :digest "
                 "AND register_id = (SELECT id FROM register WHERE name = 'country')"),
            {"new": new, "digest": DIGEST},
        )
        assert changed.rowcount == 1


@pytest.fixture
def country(engine: Engine) -> Engine:
    """The real country register, a field of it indexed, a proposal against GM, a quality report."""
    service.load_rsf(engine, str(RSF / "country.rsf"), "country")
    service.index_field(engine, "country", "citizen-names")
    service.propose(engine, "country", "GM", {"name": "Gambia"}, "its short name")
    quality.make_report(engine, "country")
    return engine


@pytest.fixture
def app(country: Engine, db_url: str) -> Iterator[Flask]:
    made = create_app({"DATABASE_URL": db_url, "TESTING": True})
    yield made
    state(made).close()


def _get_rules(app: Flask) -> set[str]:
    return {rule.rule for rule in app.url_map.iter_rules() if "GET" in (rule.methods or ())}


def _answer(client: FlaskClient, url: str, headers: dict[str, str]) -> tuple[Any, bytes]:
    answer = client.get(url, headers=headers)
    return answer, answer.get_data()


def test_every_get_rule_is_walked(app: Flask) -> None:
    assert _get_rules(app) == set(WALK), "classify every new GET rule in WALK"


def test_a_corrupt_item_is_never_served_by_any_get_rule(
    app: Flask, country: Engine, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # streams cut short: GM's record and item past the first chunk of each download
    monkeypatch.setattr(record_files, "RECORDS_PER_CHUNK", 2)  # GM is the fourth newest record...
    monkeypatch.setattr(records, "PAGE", 2)  # ...read in the second page of records
    monkeypatch.setattr(reads, "PAGE", 10)  # its item is the 24th: in the zip's third page of items
    client = app.test_client()
    for url, headers, _ in (c for cases in WALK.values() for c in cases):  # all good before
        answer, body = _answer(client, url, headers)
        assert answer.status_code in (200, 301, 308), url
    corrupt(country)
    for rule, cases in WALK.items():
        for url, headers, expected in cases:
            where = f"{rule}: {url} {headers}"
            caplog.clear()
            with caplog.at_level(logging.ERROR):
                if expected == SHORT:  # the answer starts, then raises while it is read
                    answer = client.get(url, headers=headers)
                    assert answer.status_code == 200, where
                    with pytest.raises(StoredItemCorrupt) as caught:
                        answer.get_data()
                        pytest.fail(f"{where}: read in full")
                    assert caught.value.digest == DIGEST and caught.value.register == "country", where
                    _assert_logged(caplog, app)
                    continue
                answer, body = _answer(client, url, headers)
            assert BAD not in body and b"Atlantis" not in body, where
            if expected == OK:
                assert answer.status_code == 200, where
            elif expected == MOVED:
                assert answer.status_code in (301, 308), where
            elif headers == HTML:  # a browser: the GOV.UK error page, never cached
                assert answer.status_code == 500, where
                assert answer.content_type.startswith("text/html"), where
                assert answer.headers["Cache-Control"] == "no-store", where
                assert "ETag" not in answer.headers and "immutable" not in str(answer.headers), where
                assert b"Sorry, there is a problem with the service" in body, where
                _assert_logged(caplog, app)
            else:
                assert answer.status_code == 500, where
                assert answer.content_type == "application/problem+json", where
                assert answer.headers["Cache-Control"] == "no-store", where
                assert "ETag" not in answer.headers and "immutable" not in str(answer.headers), where
                assert answer.json["title"] == "Stored data does not verify", where
                assert "stored data does not verify" in answer.json["detail"] and HASH in answer.json["detail"]
                _assert_logged(caplog, app)


def _assert_logged(caplog: pytest.LogCaptureFixture, app: Flask) -> None:
    """The app's log holds one error naming the register and the item."""
    logged = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR and r.name == app.logger.name]
    assert len(logged) == 1 and f"register=country item={HASH}" in logged[0], logged
    assert logged[0].startswith("verification_failed kind=stored_item"), logged


def test_a_corrupt_item_in_the_first_chunk_of_a_download_is_a_problem(app: Flask, country: Engine) -> None:
    corrupt(country)
    client = app.test_client()
    for url in ("/country/download-records.csv", "/country/download-records.jsonl", "/country/download-register"):
        answer = client.get(url)  # GM is in the first chunk: nothing has been sent yet
        assert (answer.status_code, answer.content_type) == (500, "application/problem+json")
        assert answer.headers["Cache-Control"] == "no-store"


def test_a_changed_hash_column_is_caught_as_well(app: Flask, country: Engine) -> None:
    """The whole dump reads items by their own ``hash`` column: the bytes are held to it."""
    with country.begin() as conn:
        conn.execute(text("UPDATE item SET hash = :other WHERE hash = :digest"),
                     {"other": hashlib.sha256(b"x").digest(), "digest": DIGEST})
    with pytest.raises(StoredItemCorrupt):
        app.test_client().get("/country/download-rsf").get_data()


@pytest.mark.parametrize(
    "args",
    [
        ["show", "country", "GM"],
        ["show", "country", "GM", "--history"],
        ["records", "country"],
        ["records", "country", "--field", "name", "--value", "The Gambia"],
        ["export", "country"],
        ["export", "country", "--from", "205"],
        ["export", "country", "--format", "csv"],
        ["export", "country", "--format", "json"],
        ["export", "country", "--format", "jsonl"],
        ["check", "country"],
    ],
)
def test_the_cli_names_register_and_hash_in_one_line(country: Engine, db_url: str, args: list[str]) -> None:
    assert CliRunner().invoke(main, ["--db", db_url, *args]).exit_code == 0
    corrupt(country)
    result = CliRunner().invoke(main, ["--db", db_url, *args])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "'country'" in errors[0] and HASH in errors[0], result.stderr
    assert "stored data does not verify" in errors[0] and "Traceback" not in result.stderr
    assert b"Atlantis" not in result.stdout_bytes


def test_verify_still_names_the_first_bad_entry(country: Engine, db_url: str) -> None:
    corrupt(country)
    result = CliRunner().invoke(main, ["--db", db_url, "verify", "country"])
    assert result.exit_code == 1
    bad = "sha-256:" + hashlib.sha256(BAD).hexdigest()
    assert result.output == f"country: FAILED: user entry 206 (key 'GM'): item {HASH} is corrupt: its bytes hash to {bad}\n"


@contextmanager
def counting_selects(engine: Engine) -> Iterator[list[str]]:
    """Every SELECT sent on ``engine``'s connections (the pool's, and the record lookup's own)
    while the block runs: SQLite's trace callback, or psycopg cursors that count."""
    sent: list[str] = []

    def note(sql: Any) -> None:
        statement = (sql.decode() if isinstance(sql, bytes) else str(sql)).lstrip().upper()
        if statement.startswith(("SELECT", "WITH")):
            sent.append(statement)

    def hook(dbapi: Any, _record: Any) -> None:
        if engine.dialect.name == "sqlite":
            dbapi.set_trace_callback(note)
            return
        for attribute in ("cursor_factory", "server_cursor_factory"):
            base = getattr(dbapi, attribute)
            setattr(dbapi, attribute, type("Counting", (base,), {
                "execute": lambda self, query, *a, _base=base, **k: (note(query), _base.execute(self, query, *a, **k))[1],
            }))

    event.listen(engine, "connect", hook)
    engine.dispose()  # every connection from here on is a counted one
    try:
        yield sent
    finally:
        event.remove(engine, "connect", hook)
        engine.dispose()


# The SELECTs each read sent before its bytes were checked (counted on that code, on SQLite and
# PostgreSQL alike): the check re-hashes what the read fetched, so the counts stay as they were.
# (A records page is a walk of plain index-range statements since issue 23: the first page of
# the real country register steps past amended entries once, one more statement than before; it
# reads each record's first item with its entry, one statement fewer than when items followed.
# The zip reads its newest entry's time first, one statement more.)
BEFORE_THE_CHECK = {
    "/country/records/GM": 1, "/country/records/GM.csv": 3, "/country/records?page-size=50": 3,
    "/country/records.csv": 4, "/country/records/name/The Gambia": 4, "/country/records/citizen-names/Gambian": 4,
    f"/country/items/{HASH}": 1, "/country/download-rsf": 6, "/country/download-rsf/200": 6,
    "/country/download-register": 5, "/country/download-records.jsonl": 2,
}


def test_the_check_reads_nothing_more(app: Flask) -> None:
    """The bytes are re-hashed as they are read: no statement is added to any read (the hot
    record GET stays one statement)."""
    engine = state(app).engine
    client = app.test_client()
    for url in BEFORE_THE_CHECK:
        client.get(url).get_data()  # ids and definitions remembered
    counts = {}
    with counting_selects(engine) as sent:
        for url in BEFORE_THE_CHECK:
            before = len(sent)
            answer = client.get(url)
            assert answer.status_code == 200 and answer.get_data()
            counts[url] = len(sent) - before
    assert counts == BEFORE_THE_CHECK


def test_an_item_rewritten_as_text_is_refused_as_changed_bytes(app: Flask, country: Engine, db_url: str) -> None:
    """``sqlite3 r.db "UPDATE item SET content = '...'"`` stores TEXT, not a BLOB: it is read
    as its UTF-8 bytes and refused like any other change, never a crash, and the server's
    later answers see later entries (no read left open by the fault)."""
    as_text = "CAST(:new AS TEXT)" if country.dialect.name == "sqlite" else "convert_to(:new, 'UTF8')"
    with country.begin() as conn:
        conn.execute(text(f"UPDATE item SET content = {as_text} WHERE hash = :digest"),
                     {"new": BAD.decode(), "digest": DIGEST})
    client = app.test_client()
    for url in ("/country/records/GM.json", "/country/records.csv", "/country/", f"/country/items/{HASH}"):
        answer = client.get(url)
        assert (answer.status_code, answer.json["title"]) == (500, "Stored data does not verify"), url
    with pytest.raises(StoredItemCorrupt):
        client.get("/country/download-rsf").get_data()
    result = CliRunner().invoke(main, ["--db", db_url, "verify", "country"])
    assert result.exit_code == 1 and "user entry 206 (key 'GM')" in result.output, result.output
    service.add_record(country, "country", "XZ", {"name": "Later"}, by="test")
    for _ in range(5):
        assert client.get("/country/proof/register/merkle:sha-256").json["total-entries"] == 210


def test_a_snapshot_that_fails_unforeseen_is_not_pooled_again(country: Engine) -> None:
    with pytest.raises(ZeroDivisionError), snapshot(country) as conn:
        raw = conn.connection.dbapi_connection
        conn.execute(text("SELECT 1"))
        1 / 0  # noqa: B018 - a fault nobody foresaw
    with pytest.raises(Exception):  # noqa: B017 - sqlite3 and psycopg each say "closed" their own way
        raw.cursor().execute("SELECT 1")  # type: ignore[union-attr]
    with pytest.raises(RegisterNotFound), snapshot(country) as conn:  # a user's mistake keeps its connection
        kept = conn.connection.dbapi_connection
        raise RegisterNotFound("nowhere")
    kept.cursor().execute("SELECT 1")  # type: ignore[union-attr]
