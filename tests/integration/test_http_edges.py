"""Clean HTTP edges (issue 24): security headers and ``Vary: Accept``; nothing a request sends
is echoed into a header (``Host``, a query value) or unchecked into the store (NUL, a lone
surrogate); error answers never name the server's files, hosts or ports."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from registers import service
from registers.web import pages
from registers.web.security import JS_ENABLED
from registers.web.state import state
from tests.integration.helpers import app_client, load

PAGES = ["/", "/country/", "/country/records/GB", "/country/entries/5", "/country/proposals", "/country/quality"]
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
INJECTED = 'x>, <https://evil.example/>; rel="next"'
SERVER_NAME = "https://registers.example.gov.uk"


@pytest.fixture
def country(engine: Engine, db_url: str) -> str:
    load(engine, "country-208.rsf", "country")
    return db_url


@pytest.fixture
def client(country: str) -> Iterator[FlaskClient]:
    with app_client(country) as made:
        yield made


def _is_problem(answer, status: int) -> None:  # type: ignore[no-untyped-def]
    assert (answer.status_code, answer.content_type) == (status, "application/problem+json"), answer.data[:300]


def test_pages_carry_a_policy_with_nothing_inline_and_no_framing(client: FlaskClient) -> None:
    for path in PAGES:
        answer = client.get(path, headers=HTML)
        assert answer.content_type.startswith("text/html"), path
        policy = answer.headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy, path
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, path
        assert answer.headers["X-Frame-Options"] == "DENY", path
        assert answer.headers["X-Content-Type-Options"] == "nosniff", path
        assert answer.headers["Referrer-Policy"] in ("no-referrer", "strict-origin-when-cross-origin"), path
        page = answer.get_data(as_text=True)
        # scripts: GOV.UK Frontend's module from /static/, and its one-line snippet the policy names by hash
        scripts = re.findall(r"<script[^>]*>", page, re.I)
        assert scripts == ["<script>", f'<script type="module" src="/static/registers.js?v={pages.built_version()}">'], path
        assert f"<script>{JS_ENABLED}</script>" in page and "script-src 'self' 'sha256-" in policy, path
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=|javascript:", page, re.I), path
        assert f'<link rel="stylesheet" href="/static/govuk/registers.css?v={pages.built_version()}">' in page, path
    with client.get("/static/govuk/registers.css") as sheet:
        assert sheet.status_code == 200 and sheet.content_type.startswith("text/css") and b"font-family" in sheet.data
    assert client.get("/country/records.json").headers["X-Content-Type-Options"] == "nosniff"


def test_every_url_chosen_by_accept_says_vary_accept(client: FlaskClient) -> None:
    for path in ["/", "/country/records/GB", "/country/entries/5", "/country/proposals", "/country/quality"]:
        for headers in (HTML, {"Accept": "application/json"}, {}):
            answer = client.get(path, headers=headers)
            assert "Accept" in answer.vary, (path, headers, answer.status_code)
    assert "Accept" not in client.get("/country/records/GB.json").vary  # the suffix chooses: it does not vary


def test_the_host_header_is_never_reflected(client: FlaskClient) -> None:
    evil = {"Host": "evil.example"}
    for path, moved_to in [("/country", "/country/"), ("/country/record/GB", "/country/records/GB"),
                           ("/country//records/GB", "/country/records/GB")]:
        answer = client.get(path, headers=evil)
        assert answer.status_code in (301, 308) and answer.headers["Location"] == moved_to, path
    info = client.get("/country/register", headers=evil).json
    assert info["domain"] == state(client.application).settings.origin
    made = client.post("/country/proposals", json={"key": "GB", "fields": {"name": "X"}, "reason": "r"}, headers=evil)
    assert made.status_code == 201 and made.headers["Location"].startswith("/country/proposals/")


def test_redirects_and_domain_come_from_server_name(country: str) -> None:
    with app_client(country, SERVER_NAME=SERVER_NAME) as client:
        evil = {"Host": "evil.example"}
        assert client.get("/country", headers=evil).headers["Location"] == f"{SERVER_NAME}/country/"
        assert client.get("/country/item/x", headers=evil).headers["Location"] == f"{SERVER_NAME}/country/items/x"
        assert client.get("/country/register", headers=evil).json["domain"] == "registers.example.gov.uk"
        made = client.post("/country/proposals", json={"key": "GB", "fields": {"name": "X"}, "reason": "r"},
                           headers=evil)
        assert made.headers["Location"].startswith(f"{SERVER_NAME}/country/proposals/")


def test_a_query_value_cannot_add_a_link(client: FlaskClient) -> None:
    answer = client.get("/country/records", query_string={"current": INJECTED, "page-size": "1"})
    _is_problem(answer, 400)
    assert "Link" not in answer.headers and "evil" not in answer.get_data(as_text=True)
    # a search's words go into Link: next percent-encoded, never as they were sent
    found = client.get("/country/records", query_string={"q": 'republic >; <"', "page-size": "1"})
    assert found.status_code == 200
    link = found.headers["Link"]
    assert link.isascii() and link.count("<") == link.count(">") == 1 and "republic+%3E%3B+%3C%22&" in link


@pytest.mark.parametrize("query", [
    "current=a%0d%0aX-Evil:%201", "current=%E2%82%AC", "current=%C3%A9", "q=a%0aX-Evil:%201", "q=%0d",
])
def test_cr_lf_and_characters_a_header_cannot_hold_are_refused(client: FlaskClient, query: str) -> None:
    _is_problem(client.get(f"/country/records?{query}&page-size=1"), 400)


def test_unencoded_bytes_in_a_query_and_cr_lf_in_a_path_are_not_500(client: FlaskClient) -> None:
    # a query as WSGI gives it: its bytes as Latin-1 characters
    _is_problem(client.get("/country/records", environ_overrides={"QUERY_STRING": "page-size=1&q=\xff"}), 400)
    _is_problem(client.get("/country/record/GB", environ_overrides={"QUERY_STRING": "x=\xc3"}), 400)
    for path in ["/country/record/G%0d%0aX-Evil:%201", "/country/records/G%0d%0aX", "/country/G%0aX/"]:
        assert client.get(path).status_code == 404, path
    moved = client.get("/country/record/G<é>")
    assert moved.status_code == 301 and moved.headers["Location"] == "/country/records/G%3C%C3%A9%3E"
    found = client.get("/country/records", query_string={"q": "Ελλάδα république", "page-size": "1"})
    assert found.status_code == 200  # words in any script are searched for


@pytest.mark.parametrize("value", ["\\ud800", "a\\udfffb", "a\\u0000b"])
@pytest.mark.parametrize("where", ["value", "key", "reason", "field"])
def test_lone_surrogates_and_nul_in_a_body_are_400(client: FlaskClient, engine: Engine, value: str,
                                                    where: str) -> None:
    body = {"value": '{"key": "GB", "fields": {"name": "%s"}, "reason": "r"}',
            "key": '{"key": "G%sB", "fields": {"name": "X"}, "reason": "r"}',
            "reason": '{"key": "GB", "fields": {"name": "X"}, "reason": "r%s"}',
            "field": '{"key": "GB", "fields": {"na%sme": "X"}, "reason": "r"}'}[where] % value
    _is_problem(client.post("/country/proposals", data=body, content_type="application/json"), 400)
    secret = service.issue_token(engine, "country").secret
    change = body.replace('"reason"', '"action": "amend", "reason"')
    refused = client.post("/country/changes", data=change, content_type="application/json",
                          headers={"Authorization": f"Bearer {secret}"})
    _is_problem(refused, 400)
    assert service.list_proposals(engine, "country", "open") == []
    paired = client.post("/country/proposals", data='{"key": "GB", "fields": {"name": "\\ud83d\\ude00"}, "reason": "r"}',
                         content_type="application/json")
    assert paired.status_code == 201  # a pair is a character


def test_a_corrupt_key_file_is_not_named_to_the_client(client: FlaskClient, engine: Engine, key_dir: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    secret = service.issue_token(engine, "country").secret
    for path in key_dir.glob("*.key"):
        path.write_text("not a key\n")
    with caplog.at_level(logging.ERROR):
        answer = client.post("/country/changes", json={"action": "amend", "key": "GB", "fields": {"name": "X"}},
                             headers={"Authorization": f"Bearer {secret}"})
    _is_problem(answer, 503)
    assert str(key_dir) not in answer.get_data(as_text=True) and ".key" not in answer.json["detail"]
    assert "not a private key" in caplog.text and str(key_dir) in caplog.text  # the operator is told


def test_an_unreachable_database_is_not_named_to_the_client(country: str, caplog: pytest.LogCaptureFixture) -> None:
    # the reads go to a replica that does not answer: nothing listens on port 9 of this host
    with app_client(country, READ_DATABASE_URL="postgresql+psycopg://reader@127.0.0.1:9/replica") as client:
        with caplog.at_level(logging.ERROR):
            for path in ["/country/records", "/country/records/GB", "/", "/readyz"]:
                answer = client.get(path)
                _is_problem(answer, 503)
                text = answer.get_data(as_text=True)
                assert "127.0.0.1" not in text and "port" not in text and "9/replica" not in text, path
                assert answer.headers["Cache-Control"] == "no-store"
    assert "127.0.0.1" in caplog.text  # the operator is told where


def test_a_detail_keeps_urls_and_keys_but_not_the_servers_files(tmp_path: Path) -> None:
    from registers.web.problems import without_paths

    assert without_paths(f"{tmp_path}/keys/26ea020f.key: not a private key") == "…: not a private key"
    for kept in ["register 'country' has no record 'a/b'", "follow /country/records?before=5",
                 "register 'x' mirrors https://example.org/country/, not it"]:
        assert without_paths(kept) == kept


def test_an_old_singular_path_redirects_with_its_key_still_encoded(client: FlaskClient) -> None:
    """``/record/GB%3Fa=b%23c`` moved to ``/records/GB?a=b#c`` (another query, a fragment), and
    ``%2F..`` to a path that climbed out of the register: the key stays as it was sent."""
    moved = client.get("/country/record/GB%3Fa=b%23c")
    assert moved.status_code == 301 and moved.headers["Location"] == "/country/records/GB%3Fa=b%23c"
    climbed = client.get("/country/record/a%2F..%2F..%2Fkeys.json")
    assert climbed.status_code == 301 and ".." not in climbed.headers["Location"].replace("%2F..", "")
