"""What GOV.UK's own clients (the Ruby client, registers-cli, the frontend) need of the v1 API,
beyond the bytes (issue 24): every documented ``.json``/``.csv`` URL answers 200 itself (Ruby's
RestClient and open-uri raise on a redirect), a trailing slash 301s to the canonical path, a record
links its history, ``/register`` names the custodian, downloads are attachments, one ``Date``, and
``If-None-Match`` compares weakly everywhere. On SQLite and PostgreSQL."""

from __future__ import annotations

import http.client
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from werkzeug.serving import make_server

from registers import service
from registers.service import quality
from registers.web.openapi import document
from tests.conftest import ROOT
from tests.integration.helpers import app_client, load

JSON, CSV = "application/json", "text/csv;charset=UTF-8"


@pytest.fixture
def country(engine: Engine) -> Engine:
    """country-208 (two custodians in its system log, the latest David de Silva), a proposal
    against it and a stored quality report, so that every documented URL has something to serve."""
    load(engine, "country-208.rsf", "country")
    service.propose(engine, "country", "GB", {"name": "Great Britain"}, "a shorter name")
    quality.make_report(engine, "country")
    return engine


@pytest.fixture
def client(country: Engine, db_url: str) -> Iterator[FlaskClient]:
    with app_client(db_url) as made:
        yield made


def test_the_json_and_csv_lists_and_the_system_dump_answer_200_not_a_redirect(client: FlaskClient) -> None:
    # the URLs GOV.UK's clients fetch: the frontend prints `curl …/records.json?page-size=5000`
    for url, plain in [("/country/records.json?page-size=5000", "/country/records?page-size=5000"),
                       ("/country/entries.json", "/country/entries"),
                       ("/country/entries.json?start=201&limit=5", "/country/entries?start=201&limit=5"),
                       ("/country/system/download-rsf/0", "/country/system/download-rsf")]:
        answer = client.get(url)
        assert answer.status_code == 200, url
        assert "Location" not in answer.headers and "text/html" not in answer.content_type, url
        assert answer.data == client.get(plain).data, url  # the same answer as the URL without the defaults
    assert len(client.get("/country/records.json?page-size=5000").json) == 199


def test_a_trailing_slash_answers_301_to_the_canonical_path_never_the_host(
    client: FlaskClient, country: Engine, db_url: str,
) -> None:
    evil = {"Host": "evil.example"}
    for url, canonical in [("/country/records/", "/country/records"),
                           ("/country/entries/?start=3&limit=2", "/country/entries?start=3&limit=2"),
                           ("/country/records.json/?page-size=5", "/country/records.json?page-size=5"),
                           ("/country/register/", "/country/register"),
                           ("/country/system/entries/", "/country/system/entries"),
                           ("/country/records/GB/", "/country/records/GB"),
                           ("/index.json/", "/index.json")]:
        answer = client.get(url, headers=evil)
        assert answer.status_code == 301, url
        assert answer.headers["Location"] == canonical, url  # a path: the Host header plays no part
        assert client.get(canonical).status_code == 200, canonical
    for url in ["/country/nowhere/", "/country/download-rsf/x/"]:  # not served without the slash either
        assert client.get(url).status_code == 404, url
    with app_client(db_url, SERVER_NAME="https://registers.example.gov.uk") as public:
        answer = public.get("/country/records/?page-size=5", headers=evil)
        assert answer.headers["Location"] == "https://registers.example.gov.uk/country/records?page-size=5"


def test_a_record_links_its_version_history(client: FlaskClient) -> None:
    for url in ["/country/records/GB", "/country/records/GB.json", "/country/records/GB.csv"]:
        answer = client.get(url)
        assert answer.headers["Link"] == '</country/records/GB/entries>; rel="version-history"', url
        history = client.get("/country/records/GB/entries")
        assert history.status_code == 200 and history.json[-1]["key"] == "GB"
        unchanged = client.get(url, headers={"If-None-Match": answer.headers["ETag"]})
        assert unchanged.status_code == 304 and unchanged.headers["Link"] == answer.headers["Link"], url


def test_register_names_its_custodian_as_govuk_did(client: FlaskClient, engine: Engine, db_url: str) -> None:
    body = client.get("/country/register").json
    assert body["custodian"] == "David de Silva"  # the latest `custodian` system entry, a string
    members = list(body)  # GOV.UK's server: domain, totals, last-updated, register-record, custodian
    assert members.index("custodian") == members.index("register-record") + 1
    assert client.get("/country/register.json").json["custodian"] == "David de Silva"
    load(engine, "escaped-backslash.rsf", "bare")  # no system entries: no custodian, left out as GOV.UK did
    with app_client(db_url) as fresh:
        assert "custodian" not in fresh.get("/bare/register").json


@pytest.mark.parametrize(("url", "name"), [
    ("/country/download-rsf", "country.rsf"), ("/country/download-rsf/200", "country.rsf"),
    ("/country/download-rsf/0/10", "country.rsf"), ("/country/system/download-rsf", "country.rsf"),
    ("/country/system/download-rsf/0/5", "country.rsf"), ("/country/download-register", "country.zip"),
    ("/country/download-records.csv", "country.csv"), ("/country/download-records.jsonl", "country.jsonl"),
])
def test_downloads_are_attachments_named_after_the_register(client: FlaskClient, url: str, name: str) -> None:
    answer = _fetched(client, url)
    assert answer.status_code == 200
    assert answer.headers["Content-Disposition"] == f'attachment; filename="{name}"'


def _raw_get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """Status and every ``Date`` line (repeats kept) of a GET from a server on this machine."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        answer = conn.getresponse()
        answer.read()
        return answer.status, answer.msg.get_all("Date") or []
    finally:
        conn.close()


def test_conditional_answers_carry_one_date(client: FlaskClient) -> None:
    """The server sends a Date of its own (Werkzeug's, which ``registers serve`` runs, always; so
    does gunicorn, dropping the app's: tests/e2e/test_govuk_clients_http): the app adds none."""
    urls = ["/country/entries?limit=2", "/country/register", "/country/records/GB", "/country/records/GB.csv",
            "/country/proof/register/merkle:sha-256", "/country/checkpoint", "/keys.json"]
    for url in urls:
        answer = client.get(url)
        assert answer.status_code == 200 and "ETag" in answer.headers, url
        assert "Date" not in answer.headers, url
        unchanged = client.get(url, headers={"If-None-Match": answer.headers["ETag"]})
        assert unchanged.status_code == 304 and "Date" not in unchanged.headers, url
    server = make_server("127.0.0.1", 0, client.application, threaded=True)  # what `registers serve` runs
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        for url in urls:
            status, dates = _raw_get(server.server_port, url)
            assert status == 200 and len(dates) == 1, (url, dates)
            etag = client.get(url).headers["ETag"]
            status, dates = _raw_get(server.server_port, url, {"If-None-Match": etag})
            assert status == 304 and len(dates) == 1, (url, dates)
    finally:
        server.shutdown()
        thread.join()


# --- every documented URL, from the OpenAPI document and the README's API table ---------------

PATHS: dict[str, dict[str, Any]] = document()["paths"]
TYPES = {path: set(ops["get"]["responses"]["200"].get("content", {})) for path, ops in PATHS.items() if "get" in ops}


def _documented_suffixed() -> set[str]:
    """The documented ``.json``/``.csv`` URLs (as OpenAPI paths): those the OpenAPI document names,
    and under ``/{register}/`` the ``.json`` (``.csv``) form of every path that serves JSON (CSV)
    beside another representation ("A `.json` or `.csv` suffix picks the representation")."""
    out = {path for path in TYPES if path.endswith((".json", ".csv"))}
    for path, types in TYPES.items():
        if not path.startswith("/{register}/") or path.endswith(("/", ".json", ".csv")) or len(types) < 2:
            continue
        out |= {path + ".json"} if JSON in types else set()
        out |= {path + ".csv"} if CSV in types else set()
    return out


def _readme_suffixed() -> set[str]:
    """The ``.json``/``.csv`` paths the README's API table names, as OpenAPI paths."""
    text = (ROOT / "README.md").read_text()
    table = text[text.index("| path | answer |"):].split("\n\n", 1)[0]
    found = set()
    for row in table.splitlines()[2:]:
        cell = row.split(" | ", 1)[0]
        for token in re.findall(r"`([^`]+)`", cell):
            for part in token.split("\\|"):
                part = part.split("?", 1)[0].replace("/<register>/", "/{register}/")
                if not part.startswith("/") or not part.endswith((".json", ".csv")):
                    continue
                resolved = [p for p in (part, "/{register}" + part) if p in TYPES]
                assert resolved, f"the README names {part}, which the OpenAPI document does not"
                found.add(resolved[0])
    return found


def _values(client: FlaskClient) -> dict[str, str]:
    """A value for every path parameter the GET paths take (n = m = size, so every range holds)."""
    item = client.get("/country/entries/10").json[0]["item-hash"][0]
    proposal = client.get("/country/proposals.json").json[0]["id"]
    return {"register": "country", "key": "GB", "field": "name", "value": "France", "hash": item,
            "n": "10", "m": "10", "size": "10", "id": str(proposal)}


def _fetched(client: FlaskClient, url: str, headers: dict[str, str] | None = None) -> Any:
    """The answer to a GET of ``url``, read whole and closed (a streamed dump too)."""
    answer = client.get(url, headers=headers or {})  # never following a redirect
    answer.get_data()
    answer.close()
    return answer


def _url(path: str, values: dict[str, str]) -> str:
    def fill(match: re.Match[str]) -> str:
        assert match[1] in values, f"give the path parameter {match[1]} of {path} a value"
        return values[match[1]]

    return re.sub(r"\{([^}]+)\}", fill, path)


def test_every_documented_json_and_csv_url_answers_200_with_no_redirect(client: FlaskClient) -> None:
    readme = _readme_suffixed()
    assert {"/index.json", "/{register}/download-records.csv"} <= readme  # the table was read
    documented = _documented_suffixed() | readme
    assert {"/{register}/records.json", "/{register}/entries.json", "/{register}/records/{key}.csv"} <= documented
    values = _values(client)
    for path in sorted(documented):
        url = _url(path, values)
        answer = _fetched(client, url)
        assert answer.status_code == 200, (url, answer.status_code, answer.headers.get("Location"))
        assert "Location" not in answer.headers, url
        assert answer.content_type == (JSON if url.endswith(".json") else CSV), url


def test_if_none_match_compares_weakly_on_every_get_route(client: FlaskClient) -> None:
    """RFC 9110 §13.1.2: ``W/"x"`` matches an ETag ``"x"``; every GET the document names, and the
    ``.json``/``.csv`` forms, answers 304 to its own ETag, weak or strong."""
    values = _values(client)
    tagged, wrong = 0, []
    for path in sorted(set(TYPES) | _documented_suffixed()):
        url = _url(path, values)
        answer = _fetched(client, url)
        etag = answer.headers.get("ETag")
        if answer.status_code != 200 or etag is None:
            wrong += [] if answer.status_code == 200 else [(url, answer.status_code)]
            continue
        tagged += 1
        assert etag.startswith('"'), url  # strong: W/ is what a client (or a proxy) may send back
        for sent in [etag, f"W/{etag}", f'"other", W/{etag}', "*"]:
            if _fetched(client, url, {"If-None-Match": sent}).status_code != 304:
                wrong.append((url, sent))
        if _fetched(client, url, {"If-None-Match": 'W/"other"'}).status_code != 200:
            wrong.append((url, 'W/"other"'))
    assert wrong == []
    assert tagged >= 30
