"""Proposing a change from the page: the HTML forms at /<register>/suggest and
/<register>/suggest/<key> post through the proposal service the JSON API uses, behind a
double-submitted CSRF token, with GOV.UK's error summary and values kept on error."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from registers import service
from registers.core.definitions import load_definition
from registers.service import quality
from registers.web.suggest import COOKIE
from tests.integration.helpers import app_client, load

HTML = {"Accept": "text/html"}


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[FlaskClient]:
    load(engine, "country-208.rsf", "country")
    with app_client(db_url, PROPOSAL_RATE=100) as made:
        yield made


def _token(client: FlaskClient, path: str) -> str:
    """Open the form (which sets the cookie) and read its token."""
    page = client.get(path, headers=HTML)
    assert page.status_code == 200, page.text
    assert page.headers["Cache-Control"] == "no-store"
    found = re.search(r'name="csrf-token" value="([^"]+)"', page.text)
    assert found and client.get_cookie(COOKIE) is not None
    return found[1]


def _errors(page: str) -> list[tuple[str, str]]:
    """The error summary's links: (href, text)."""
    summary = page.split('class="govuk-error-summary', 1)[1].split("</ul>", 1)[0]
    return [(href, " ".join(text.split())) for href, text in re.findall(r'<a href="([^"]+)"[^>]*>([^<]+)</a>', summary)]


def test_a_suggestion_with_a_bad_field_shows_the_error_then_succeeds_and_is_listed(client: FlaskClient,
                                                                                    engine: Engine) -> None:
    path = "/country/suggest/GB"
    token = _token(client, path)
    form = client.get(path, headers=HTML).text
    assert form.count("<h1") == 1
    assert 'value="United Kingdom"' in form  # the record's values, filled in
    for ident in ("field-name", "field-official-name", "field-start-date", "reason", "contact"):
        assert f'<label class="govuk-label govuk-label--s" for="{ident}">' in form, ident
    sent = {"csrf-token": token, "field-name": "United Kingdom", "field-official-name": "The UK & <NI>",
            "field-start-date": "not a date", "reason": "the short form", "contact": "me@example.org"}
    refused = client.post(path, data=sent, headers=HTML)
    assert refused.status_code == 422
    assert "<title>Error: " in refused.text
    errors = _errors(refused.text)
    assert [href for href, _ in errors] == ["#field-start-date"]
    assert "start-date" in errors[0][1] and "not a date" in errors[0][1]
    assert 'class="govuk-error-message"' in refused.text  # inline, beside the field
    assert "The UK &amp; &lt;NI&gt;" in refused.text and "the short form" in refused.text  # kept, escaped
    assert 'value="me@example.org"' in refused.text
    assert service.list_proposals(engine, "country") == []  # nothing stored
    sent["field-start-date"] = ""  # the record has none: not a change
    posted = client.post(path, data=sent, headers=HTML)
    assert posted.status_code == 303 and posted.headers["Location"] == "/country/suggested/1", posted.text
    made = client.get(posted.headers["Location"], headers=HTML)  # Post/Redirect/Get: a reload sends nothing
    assert made.status_code == 200 and "govuk-panel--confirmation" in made.text
    assert client.get("/country/suggested/99", headers=HTML).status_code == 404
    listed = service.list_proposals(engine, "country")
    assert len(listed) == 1 and listed[0].fields == {"official-name": "The UK & <NI>"}
    assert listed[0].action == "amend" and service.contact_of(engine, "country", listed[0].id) == "me@example.org"
    assert f'href="/country/proposals/{listed[0].id}"' in made.text
    page = client.get("/country/proposals", headers=HTML)
    assert f"/country/proposals/{listed[0].id}" in page.text and "The UK &amp; &lt;NI&gt;" in page.text


def test_a_new_record_through_the_form(client: FlaskClient, engine: Engine) -> None:
    token = _token(client, "/country/suggest")
    empty = client.post("/country/suggest", data={"csrf-token": token}, headers=HTML)
    assert empty.status_code == 422
    assert [href for href, _ in _errors(empty.text)] == ["#key", "#reason"]
    taken = client.post("/country/suggest", data={"csrf-token": token, "key": "GB", "field-name": "Britain",
                                                  "reason": "new"}, headers=HTML)
    assert taken.status_code == 422 and "already exists" in taken.text
    made = client.post("/country/suggest", data={"csrf-token": token, "key": "XQ", "field-name": "Atlantis",
                                                 "field-start-date": "2020-01-01", "reason": "found"}, headers=HTML)
    assert made.status_code == 303, made.text
    (found,) = service.list_proposals(engine, "country")
    assert (found.action, found.key, found.fields) == ("add", "XQ", {"name": "Atlantis", "start-date": "2020-01-01"})


@pytest.mark.parametrize("token", [None, "", "forged-token", "tök\u00e9n"])
def test_a_post_without_its_token_is_refused_and_stores_nothing(client: FlaskClient, engine: Engine,
                                                                token: str | None) -> None:
    good = _token(client, "/country/suggest/GB")
    sent = {"field-name": "Britain", "reason": "shorter"}
    if token is not None:
        sent["csrf-token"] = token
    refused = client.post("/country/suggest/GB", data=sent, headers=HTML)
    assert refused.status_code == 400
    assert "could not be sent" in refused.text and refused.text.count("<h1") == 1
    assert service.list_proposals(engine, "country") == []
    # a token without its cookie (another site's page cannot read or set it) is refused too
    client.delete_cookie(COOKIE)
    sent["csrf-token"] = good
    assert client.post("/country/suggest/GB", data=sent, headers=HTML).status_code == 400
    assert service.list_proposals(engine, "country") == []


def test_a_nul_in_a_value_is_refused(client: FlaskClient, engine: Engine) -> None:
    token = _token(client, "/country/suggest/GB")
    sent = {"csrf-token": token, "field-name": "Brit\x00ain", "reason": "shorter"}
    assert client.post("/country/suggest/GB", data=sent, headers=HTML).status_code == 400
    assert service.list_proposals(engine, "country") == []


def test_script_in_a_value_shows_as_text(client: FlaskClient) -> None:
    token = _token(client, "/country/suggest/FR")
    script = "<script>document.title='pwned'</script>"
    refused = client.post("/country/suggest/FR", data={"csrf-token": token, "field-name": script,
                                                              "reason": ""}, headers=HTML)
    assert refused.status_code == 422
    assert script not in refused.text and "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;" in refused.text


def test_the_rate_limit_applies_to_the_form_and_the_api_alike(engine: Engine, db_url: str) -> None:
    load(engine, "country-208.rsf", "country")
    with app_client(db_url, PROPOSAL_RATE=2) as client:
        token = _token(client, "/country/suggest/GB")
        sent = {"csrf-token": token, "field-name": "Britain", "reason": "shorter"}
        for _ in range(3):  # a form with errors is shown again without spending the budget
            wrong = client.post("/country/suggest/GB", data={**sent, "field-start-date": "soon"}, headers=HTML)
            assert wrong.status_code == 422 and "soon" in wrong.text
        assert client.post("/country/suggest/GB", data=sent, headers=HTML).status_code == 303
        assert client.post("/country/proposals", json={"key": "FR", "fields": {"name": "Gaul"},
                                                       "reason": "older"}).status_code == 201
        limited = client.post("/country/suggest/GB", data=sent, headers=HTML)
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert "too many suggestions" in limited.text and 'value="Britain"' in limited.text
        assert len(service.list_proposals(engine, "country")) == 2


def test_an_unknown_record_or_register_has_no_form(client: FlaskClient) -> None:
    assert client.get("/country/suggest/ZZZ", headers=HTML).status_code == 404
    assert client.get("/nothing/suggest", headers=HTML).status_code == 404


def test_a_quality_fix_is_filed_by_its_button(client: FlaskClient, engine: Engine) -> None:
    service.add_record(engine, "country", "XF", {"name": "france"}, by="test")  # a duplicate of FR
    quality.make_report(engine, "country")
    page = client.get("/country/quality?kind=duplicate", headers=HTML)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert page.text.count("<h1") == 1 and "End record XF on" in page.text
    assert 'Propose this fix<span class="govuk-visually-hidden"> to XF (duplicate 1)</span>' in page.text
    form = re.search(r'<form method="post" action="(/country/suggest/XF)">(.*?)</form>', page.text, re.S)
    assert form is not None
    sent = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form[2]))
    assert sent["action"] == "end" and "field-end-date" in sent and sent["csrf-token"]
    sent["reason"] = sent["reason"].replace("&#39;", "'").replace("&amp;", "&")
    filed = client.post(form[1], data=sent, headers=HTML)
    assert filed.status_code == 303, filed.text
    (made,) = service.list_proposals(engine, "country")
    assert (made.action, made.key, made.fields) == ("end", "XF", {"end-date": sent["field-end-date"]})
    assert client.get("/country/quality.json?kind=duplicate").content_type == "application/json"


def test_proposals_pages_walk_back_and_forth_and_filter_by_status(client: FlaskClient, engine: Engine) -> None:
    for n, key in enumerate(["FR", "DE", "IT", "ES", "PT"]):
        service.propose(engine, "country", key, {"name": f"Name {n}"}, "renamed")
    token = service.issue_token(engine, "country").secret
    assert client.post("/country/proposals/1/reject", json={"reason": "no"},
                       headers={"Authorization": f"Bearer {token}"}).status_code == 200
    first = client.get("/country/proposals?status=all&page-size=2", headers=HTML).text
    assert first.count("<h1") == 1 and 'rel="prev"' not in first
    shown = re.findall(r'href="/country/proposals/(\d+)">Proposal', first)
    assert shown == ["5", "4"]
    pages = [shown]
    nxt = re.search(r'href="([^"]+)" rel="next"', first)
    while nxt:
        page = client.get("/country/proposals" + nxt[1].replace("&amp;", "&"), headers=HTML).text
        pages.append(re.findall(r'href="/country/proposals/(\d+)">Proposal', page))
        nxt = re.search(r'href="([^"]+)" rel="next"', page)
    assert pages == [["5", "4"], ["3", "2"], ["1"]]
    back = re.search(r'href="([^"]+)" rel="prev"', page)
    assert back is not None
    middle = client.get("/country/proposals" + back[1].replace("&amp;", "&"), headers=HTML).text
    assert re.findall(r'href="/country/proposals/(\d+)">Proposal', middle) == ["3", "2"]
    rejected = client.get("/country/proposals?status=rejected", headers=HTML).text
    assert re.findall(r'href="/country/proposals/(\d+)">Proposal', rejected) == ["1"]
    assert '<option value="rejected" selected>' in rejected
    detail = client.get("/country/proposals/1", headers=HTML).text
    assert detail.count("<h1") == 1 and "Rejected" in detail and "France" in detail and "Name 0" in detail
    # the JSON answers do not take the pages' Previous cursor
    assert [p["id"] for p in client.get("/country/proposals.json?status=all&after=3").json] == [5, 4, 3, 2, 1]


def test_a_list_field_is_one_value_a_line(engine: Engine, db_url: str) -> None:
    definition = {
        "fields": [
            {"cardinality": "1", "datatype": "string", "field": "shelf", "phase": "beta", "text": "Its code."},
            {"cardinality": "n", "datatype": "string", "field": "tags", "phase": "beta", "text": "Its tags."},
        ],
        "register": {"fields": ["shelf", "tags"], "phase": "beta", "register": "shelf", "registry": "test",
                     "text": "Shelves."},
    }
    service.create_register(engine, "shelf", load_definition(json.dumps(definition)), by="test")
    service.add_record(engine, "shelf", "A", {"tags": ["lending", "computers"]}, by="test")
    with app_client(db_url) as client:
        token = _token(client, "/shelf/suggest/A")
        form = client.get("/shelf/suggest/A", headers=HTML).text
        assert ">lending\ncomputers</textarea>" in form and "One value a line." in form
        sent = {"csrf-token": token, "field-tags": "lending\r\n\r\nmaps\r\n", "reason": "moved"}
        assert client.post("/shelf/suggest/A", data=sent, headers=HTML).status_code == 303
        (made,) = service.list_proposals(engine, "shelf")
        assert made.fields == {"tags": ["lending", "maps"]}
        assert made.diff == {"tags": [["lending", "computers"], ["lending", "maps"]]}


def test_a_form_sent_chunked_or_not_as_a_form_is_refused_before_it_is_read(client: FlaskClient, engine: Engine) -> None:
    """A chunked body has no length to refuse by (Werkzeug would read it whole); a multipart part
    would be spooled to disk: neither is read, nothing is stored."""
    token = _token(client, "/country/suggest")
    chunked = client.post("/country/suggest", input_stream=io.BytesIO(b"csrf-token=" + token.encode()),
                          headers={**HTML, "Content-Type": "application/x-www-form-urlencoded",
                                   "Transfer-Encoding": "chunked"})
    assert chunked.status_code == 411
    multipart = client.post("/country/suggest", data={"csrf-token": token, "file": (io.BytesIO(b"x" * 1000), "f")},
                            headers=HTML, content_type="multipart/form-data")
    assert multipart.status_code == 415
    for refused in (chunked, multipart):  # a person's form: a GOV.UK page, not problem+json
        assert refused.content_type.startswith("text/html") and "Your form could not be sent" in refused.text
    too_long = client.post("/country/suggest/GB", data={"csrf-token": token, "reason": "x" * 70_000}, headers=HTML)
    assert too_long.status_code == 413 and "Your form is too long to send" in too_long.text
    api = client.post("/country/proposals", data=b"x" * 10, headers={"Content-Type": "text/plain"})
    assert api.status_code == 415 and api.content_type == "application/problem+json"
    assert service.list_proposals(engine, "country") == []


def test_the_suggest_form_does_not_shadow_a_lookup_by_a_field_value(client: FlaskClient) -> None:
    """``/records/{field}/suggest`` is a lookup of the records whose field holds 'suggest'."""
    answer = client.get("/country/records/name/suggest")
    assert answer.status_code == 200 and answer.content_type == "application/json" and answer.get_json() == {}


def test_over_https_the_form_cookie_is_a_secure_host_cookie(client: FlaskClient, engine: Engine) -> None:
    """Over HTTPS the nonce is ``__Host-registers-form``, Secure: no subdomain nor plain-HTTP
    answer can plant it; a plain-named cookie is not taken for it there."""
    https = "https://localhost"
    page = client.get("/country/suggest/GB", headers=HTML, base_url=https)
    cookie = page.headers["Set-Cookie"]
    assert cookie.startswith(f"__Host-{COOKIE}=") and "Secure" in cookie and "Path=/" in cookie
    assert "Domain" not in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie
    token = re.search(r'name="csrf-token" value="([^"]+)"', page.text)
    assert token is not None
    sent = {"csrf-token": token[1], "field-official-name": "The UK", "reason": "short"}
    nonce = client.get_cookie(f"__Host-{COOKIE}", domain="localhost")
    assert nonce is not None
    client.set_cookie(COOKIE, nonce.value, domain="localhost")  # the same nonce under the plain name
    client.delete_cookie(f"__Host-{COOKIE}", domain="localhost")
    assert client.post("/country/suggest/GB", data=sent, headers=HTML, base_url=https).status_code == 400
    client.set_cookie(f"__Host-{COOKIE}", nonce.value, domain="localhost")
    assert client.post("/country/suggest/GB", data=sent, headers=HTML, base_url=https).status_code == 303
    assert len(service.list_proposals(engine, "country")) == 1
