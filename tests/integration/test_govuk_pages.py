"""The pages a browser opens, built from GOV.UK Design System components (issue 25): the
catalogue, a register's page, its records a page at a time by keyset cursors both ways, a
record with its links and history, entries, items, the system log, "verify this register" and
the error pages; each with breadcrumbs (``aria-current``) and its JSON and CSV twins, data
always shown as text. API clients (no ``Accept``, or JSON first) get what they always got."""

from __future__ import annotations

import hashlib
import json
import re
import shlex
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from registers import service
from registers.core.definitions import FieldDef, load_definition
from registers.core.items import hash_text
from registers.store import reads, records
from registers.store.engine import snapshot
from registers.web.browse import value_html
from tests.integration.helpers import app_client, load

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
PLACES = 250
DEFINITION = {
    "fields": [
        {"cardinality": "1", "datatype": "string", "field": "place", "phase": "beta", "register": "place",
         "text": "The place's code."},
        {"cardinality": "1", "datatype": "string", "field": "name", "phase": "beta", "text": "Its name."},
        {"cardinality": "1", "datatype": "string", "field": "country", "phase": "beta", "register": "country",
         "text": "Its country."},
        {"cardinality": "n", "datatype": "string", "field": "tags", "phase": "beta", "text": "Its tags."},
        {"cardinality": "1", "datatype": "url", "field": "website", "phase": "beta", "text": "Its website."},
        {"cardinality": "1", "datatype": "curie", "field": "twin", "phase": "beta", "text": "Its twin."},
        {"cardinality": "1", "datatype": "datetime", "field": "end-date", "phase": "beta", "text": "When it ended."},
    ],
    "register": {"fields": ["place", "name", "country", "tags", "website", "twin", "end-date"], "phase": "beta",
                 "register": "place", "registry": "test", "text": "Places made up for the pages."},
}


class Page(HTMLParser):
    """A page's elements (tag, attributes) and its text."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def count(self, tag: str) -> int:
        return sum(1 for t, _ in self.tags if t == tag)

    def links(self, rel: str | None = None) -> list[str]:
        return [a.get("href") or "" for t, a in self.tags if t == "a" and (rel is None or a.get("rel") == rel)]

    def current_crumbs(self) -> int:
        return sum(1 for t, a in self.tags if t == "li" and a.get("aria-current") == "page")


@pytest.fixture
def site(engine: Engine, db_url: str) -> str:
    """The country register and a register of 250 places (one ended, lists, links, URLs)."""
    load(engine, "country.rsf", "country")
    service.create_register(engine, "place", load_definition(json.dumps(DEFINITION)), custodian="Test Office",
                            by="test")
    items = [(str(i), {"place": str(i), "name": f"Place {i}", "country": "GB", "tags": ["a", f"t{i}"],
                       "website": f"https://example.org/{i}", "twin": "country:FR"})
             for i in range(1, PLACES + 1)]
    service.append_items(engine, "place", items)
    service.end_record(engine, "place", "7", "2001-01-01", by="Ann", reason="it closed")
    return db_url


@pytest.fixture
def client(site: str) -> Iterator[FlaskClient]:
    with app_client(site) as made:
        yield made


def page(client: FlaskClient, path: str, status: int = 200) -> Page:
    answer = client.get(path, headers=HTML)
    assert answer.status_code == status, (path, answer.status_code)
    assert answer.content_type.startswith("text/html"), path
    found = Page(answer.get_data(as_text=True))
    assert found.count("h1") == 1, path
    return found


def _keys(found: Page, register: str = "place") -> list[str]:
    prefix = f"/{register}/records/"
    return [href[len(prefix):] for href in found.links() if href.startswith(prefix) and "?" not in href
            and "." not in href[len(prefix):]]


def test_the_register_page_shows_its_definition_downloads_and_links(client: FlaskClient) -> None:
    found = page(client, "/place/")
    text = " ".join(found.text)
    assert "Test Office" in text and "Open Government Licence" in text and "250" in text
    cells = {t.strip() for t in found.text}
    assert {"Datatype", "url", "curie", "a list of values", "Cardinality", "Links to"} <= cells
    links = found.links()
    for path in ("/place/proposals", "/place/quality", "/place/verify", "/place/suggest", "/place/download-rsf",
                 "/place/download-records.csv", "/place/register.json", "/country/"):
        assert path in links, path
    assert found.current_crumbs() == 1
    assert [a.get("scope") for t, a in found.tags if t == "th"][:5] == ["col"] * 5


def test_next_reaches_the_last_record_and_previous_comes_back(client: FlaskClient) -> None:
    path, seen, pages = "/place/", [], []
    while path:
        found = page(client, path)
        keys = _keys(found)[:100]
        seen += [k for k in keys if k.isdigit()]
        pages.append(path)
        nxt = found.links("next")
        path = nxt[0].replace("&amp;", "&") if nxt else ""
    assert len(pages) == 3 and "1" in seen and len(set(seen)) == PLACES
    # Previous from the last page gives the page before it, exactly
    last = page(client, pages[-1])
    [back] = last.links("prev")
    assert "after=" in back
    middle, again = page(client, back), page(client, pages[1])
    assert _keys(middle) == _keys(again)
    assert [a.get("aria-current") for t, a in middle.tags if t == "a" and "govuk-pagination__link" in (a.get("class") or "")
            ].count("page") == 1


def test_the_records_list_is_html_for_a_browser_and_json_for_the_rest(client: FlaskClient) -> None:
    api = client.get("/place/records")
    assert api.content_type == "application/json" and len(api.json) == 100
    assert "Accept" in api.headers.get("Vary", "")
    found = page(client, "/place/records?page-size=20")
    assert len([k for k in _keys(found) if k.isdigit()]) == 20
    assert "/place/records.json?page-size=20" in found.links() and "/place/records.csv?page-size=20" in found.links()
    # API clients' own Accept headers, Java's default among them, get the JSON they always got
    browsers = ["text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
                "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "text/html"]
    clients = ["*/*", "application/json", "application/json, text/html",
               "text/html, image/gif, image/jpeg, *; q=.2, */*; q=.2"]  # Java's HttpURLConnection
    for path in ("/place/records", "/place/entries", "/place/register", "/place/records/1/entries"):
        for accept in clients:
            got = client.get(path, headers={"Accept": accept})
            assert got.status_code == 200 and got.content_type == "application/json", (path, accept)
        for accept in browsers:
            got = client.get(path, headers={"Accept": accept})
            assert got.status_code == 200 and got.content_type.startswith("text/html"), (path, accept)
    ended = page(client, "/place/records?q=place+7")
    assert "Ended" in " ".join(ended.text)
    assert "7" not in _keys(page(client, "/place/records?q=place+7&current=true"))


def test_data_is_text_on_every_list_page(client: FlaskClient, engine: Engine) -> None:
    service.amend_record(engine, "place", "3", {"name": "<script>alert(1)</script>"}, by="<b>t</b>",
                         reason="<script>alert(1)</script>")
    for path in ("/place/", "/place/records", "/place/?q=script", "/place/records/3", "/place/records/3/entries",
                 "/place/system/entries", "/place/entries/252"):
        body = client.get(path, headers=HTML).get_data(as_text=True)
        assert "<script>alert" not in body and "&lt;script&gt;alert(1)&lt;/script&gt;" in body, path
        assert "<b>t</b>" not in body, path


def test_a_bad_cursor_is_a_400(client: FlaskClient) -> None:
    assert client.get("/place/records?before=x", headers=HTML).status_code == 400
    assert re.match(r"^application/problem\+json", client.get("/place/records?before=x").content_type)


def test_a_record_page_is_a_summary_list_with_links_and_lists(client: FlaskClient, engine: Engine) -> None:
    found = page(client, "/place/records/4")
    assert found.count("dl") == 1 and found.current_crumbs() == 1
    links = found.links()
    assert "/country/records/GB" in links and "/country/records/FR" in links  # a linked field and a CURIE
    assert [a.get("rel") for t, a in found.tags if t == "a" and a.get("href") == "https://example.org/4"] == ["nofollow"]
    assert {"/place/records/4.json", "/place/records/4.csv", "/place/records/4/entries",
            "/place/suggest/4"} <= set(links)
    body = client.get("/place/records/4", headers=HTML).get_data(as_text=True)
    assert re.search(r'<ul class="govuk-list">\s*<li>a</li>\s*<li>t4</li>\s*</ul>', body)
    # a change refuses such a URL, but a published RSF loads as published: only http(s) is a link
    website = FieldDef("website", "url")
    assert value_html("javascript:alert(1)", website) == "javascript:alert(1)"
    assert value_html("http://[broken", website) == "http://[broken" and value_html("https:x", website) == "https:x"
    assert value_html('https://a.example/"><script>', website) == (
        '<a class="govuk-link" href="https://a.example/&#34;&gt;&lt;script&gt;" rel="nofollow">'
        'https://a.example/&#34;&gt;&lt;script&gt;</a>')
    assert "Ended" in " ".join(page(client, "/place/records/7").text)
    assert "Ended" not in " ".join(page(client, "/place/records/4").text)


def test_the_history_link_opens_an_html_page_with_who_and_why(client: FlaskClient) -> None:
    [history] = [h for h in page(client, "/place/records/7").links() if h.endswith("/entries")]
    found = page(client, history)
    text = " ".join(found.text)
    assert "Ann" in text and "it closed" in text and "Entry 251" in text and "Entry 7" in text
    assert client.get(history).content_type == "application/json"  # an API client: as before


@pytest.mark.parametrize(("path", "status", "heading"), [
    ("/nowhere/", 404, "Page not found"), ("/place/records/nobody", 404, "Page not found"),
    ("/place/records?page-size=x", 400, "There is a problem with the request"),
    ("/place/records?q=a%0Db", 400, "There is a problem with the request"),
])
def test_errors_are_gov_uk_pages_for_browsers_and_problems_for_the_rest(
    client: FlaskClient, path: str, status: int, heading: str
) -> None:
    found = page(client, path, status)
    assert heading in " ".join(found.text) and found.current_crumbs() == 1
    assert "Accept" in client.get(path, headers=HTML).headers["Vary"]
    for headers in ({}, {"Accept": "application/json"}, {"Accept": "*/*"}):
        api = client.get(path, headers=headers)
        assert api.status_code == status and api.content_type == "application/problem+json", headers
        assert api.json["status"] == status
    # a suffix chooses JSON, even for a browser
    assert client.get("/place/records/nobody.json", headers=HTML).content_type == "application/problem+json"


def test_a_429_and_a_500_are_pages_with_their_headers(client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from registers.service.proposals import RateLimited
    from registers.web import api

    def limited(*args: object, **kwargs: object) -> None:
        raise RateLimited("too many", 30)

    monkeypatch.setattr(api, "_records_view", limited)
    found = client.get("/place/", headers=HTML)
    assert found.status_code == 429 and found.headers["Retry-After"] == "30"
    assert "too many requests" in found.get_data(as_text=True)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("/srv/secret/file broke")

    monkeypatch.setattr(api, "_records_view", broken)
    client.application.config["PROPAGATE_EXCEPTIONS"] = False
    failed = client.get("/place/", headers=HTML)
    assert failed.status_code == 500 and failed.content_type.startswith("text/html")
    assert "problem with the service" in failed.get_data(as_text=True) and "/srv/secret" not in failed.get_data(as_text=True)


def test_entries_and_the_system_log_are_numbered_pages(client: FlaskClient) -> None:
    first = page(client, "/place/entries")
    assert first.current_crumbs() == 1 and "/place/entries.json" in first.links()
    assert "/place/entries.csv" in first.links() and "/place/records/1" in first.links()
    [nxt] = first.links("next")
    assert nxt == "/place/entries?start=101&amp;limit=100" or nxt.replace("&amp;", "&") == "/place/entries?start=101&limit=100"
    middle = page(client, "/place/entries?start=101")
    pages = [a for t, a in middle.tags if t == "a" and "govuk-pagination__link" in (a.get("class") or "")]
    assert [a.get("aria-current") for a in pages].count("page") == 1
    last = page(client, "/place/entries?start=201")
    assert not last.links("next") and "/place/entries/251" in last.links()
    # far past the end: the page's number is found, not the list of every page before it counted
    beyond = page(client, "/place/entries?start=1099511627776&limit=1")
    numbers = [a.get("href") for t, a in beyond.tags if t == "a" and "govuk-pagination__link" in (a.get("class") or "")]
    assert "/place/entries?limit=1" in numbers and len(numbers) <= 5 and not beyond.links("next")
    assert client.get("/place/entries").content_type == "application/json"
    system = page(client, "/place/system/entries")
    text = " ".join(system.text)
    assert "Ann" in text and "it closed" in text and "/place/system/entries.json" in system.links()
    assert client.get("/place/system/entries.json", headers=HTML).content_type == "application/json"
    assert client.get("/place/system/entries").get_data() == client.get("/place/system/entries.json").get_data()


def test_entry_and_item_pages_show_their_fields(client: FlaskClient) -> None:
    entry = page(client, "/place/entries/4")
    assert entry.count("dl") == 2 and "/place/records/4" in entry.links() and "/place/entries/4.json" in entry.links()
    [item] = [h for h in entry.links() if h.startswith("/place/items/sha-256:")]
    found = page(client, item)
    assert "/country/records/GB" in found.links() and f"{item}.json" in found.links() and found.current_crumbs() == 1
    assert client.get(item).content_type == "application/json"
    assert client.get(item).get_data() == client.get(f"{item}.json", headers=HTML).get_data()


def test_the_catalogue_searches_and_filters_without_script(client: FlaskClient) -> None:
    found = page(client, "/")
    text = " ".join(found.text)
    assert "/place/" in found.links() and "/country/" in found.links() and "Test Office" in text
    assert "250" in text and [t for t, _ in found.tags].count("select") == 2
    assert [a.get("scope") for t, a in found.tags if t == "th"][:6] == ["col"] * 6
    only = page(client, "/?custodian=Test+Office")
    assert "/place/" in only.links() and "/country/" not in only.links()
    assert "/place/" not in page(client, "/?q=country").links()
    assert "/place/" not in page(client, "/?phase=alpha").links()
    listed = client.get("/index.json").json
    assert {"register", "name", "text", "custodian", "total-entries", "root-hash", "licence", "link"} == set(listed[0])


def test_verify_this_register_shows_the_checkpoint_keys_and_commands(client: FlaskClient) -> None:
    found = page(client, "/place/verify")
    text = " ".join(found.text)
    note = client.get("/place/checkpoint").get_data(as_text=True)
    [key] = client.get("/place/keys").get_data(as_text=True).split()
    assert note.strip() in text and key in text and found.current_crumbs() == 1
    assert f"registers verify https://localhost/place/ --key {shlex.quote(key)}" in text
    assert "registers verify place.rsf --checkpoint checkpoint" in text
    assert {"/place/checkpoint", "/place/keys", "/place/keys.json"} <= set(found.links())
    assert "/place/verify" in page(client, "/place/").links()


def test_search_results_page_both_ways_and_old_page_index_links_work(client: FlaskClient) -> None:
    first = page(client, "/place/?q=place&page-size=30")
    keys = _keys(first)
    [nxt] = first.links("next")
    second = page(client, nxt.replace("&amp;", "&"))
    [back] = second.links("prev")
    assert "after=" in back and _keys(page(client, back.replace("&amp;", "&"))) == keys
    assert not set(_keys(second)) & set(keys)
    old = page(client, "/place/?page-index=2&page-size=100")
    assert "Page 2" in " ".join(a.get("aria-label") or "" for t, a in old.tags if a.get("aria-current") == "page")
    assert _keys(old)[0] == "151" and old.links("prev")  # 7 was ended last: it leads page 1


def test_a_forwards_walk_gives_the_page_before_a_cursor(site: str, engine: Engine) -> None:
    """``record_page(after=N)`` (Previous) is exactly the page that Next from it came from: the
    records just newer than entry N, newest first, amended and ended records in their place."""
    service.amend_record(engine, "place", "100", {"name": "Moved"}, by="t", reason="t")
    with snapshot(engine) as conn:
        reg_id = reads.register_id(conn, "place")
        assert reg_id is not None
        whole = [r.entry.number for r in records.record_page(conn, reg_id, 10_000)]
        for after in (1, 50, 99, 100, 200, 249, 251, whole[0]):
            newer = [n for n in whole if n > after]
            got = [r.entry.number for r in records.record_page(conn, reg_id, 10, after=after)]
            assert got == newer[-10:], after
        assert [r.entry.number for r in records.record_page(conn, reg_id, 10, as_of=150, after=140)] == \
            [n for n in range(150, 140, -1)]


def test_a_system_key_a_loaded_rsf_held_shows_as_text(client: FlaskClient, engine: Engine, tmp_path: Path) -> None:
    """A published RSF may carry any system key (reported, not refused): the system log's page
    escapes it like any other value."""
    item = b'{"x":"y"}'
    digest = hashlib.sha256(item).hexdigest()
    root = hash_text(service.head(engine, "place").user_root)
    rsf = tmp_path / "odd.rsf"
    rsf.write_bytes(f"assert-root-hash\t{root}\n".encode() + b"add-item\t" + item + b"\n"
                    + f"append-entry\tsystem\t<img/src=x/onerror=alert(1)>\t2020-01-01T00:00:00Z\tsha-256:{digest}\n"
                    .encode())
    service.load_rsf(engine, str(rsf), "place")
    answer = client.get("/place/system/entries?start=1&limit=5000", headers=HTML)
    assert answer.status_code == 200
    assert "<img/src=x" not in answer.text and "&lt;img/src=x/onerror=alert(1)&gt;" in answer.text



def test_records_as_of_an_entry_are_a_page_too_and_the_twins_give_what_a_page_shows(client: FlaskClient) -> None:
    """``as-of=N`` shows the records as they stood after entry N, as the API gives them, paged
    both ways; bad values are 400 pages; each page's JSON twin gives the records it shows."""
    api = client.get("/place/records.json?as-of=120&page-size=50").get_json()
    first = page(client, "/place/records?as-of=120&page-size=50")
    assert [k for k in _keys(first) if k.isdigit()] == list(api)
    [nxt] = first.links("next")
    second = page(client, nxt.replace("&amp;", "&"))
    shown = [k for k in _keys(second) if k.isdigit()]
    assert "as-of=120" in nxt and shown and not set(shown) & set(api)
    [twin] = [href for href in second.links() if href.startswith("/place/records.json")]
    assert list(client.get(twin.replace("&amp;", "&")).get_json()) == shown
    [back] = second.links("prev")
    assert [k for k in _keys(page(client, back.replace("&amp;", "&"))) if k.isdigit()] == list(api)
    page(client, "/place/records?as-of=abc", 400)
    page(client, "/place/records?as-of=3&q=place", 400)
    empty = page(client, "/place/records?page-index=90&page-size=20")  # past the last record
    [twin] = [href for href in empty.links() if href.startswith("/place/records.json")]
    assert client.get(twin.replace("&amp;", "&")).get_json() == {}
