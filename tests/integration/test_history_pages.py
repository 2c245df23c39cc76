"""A record's history, a page at a time: the HTML timeline newest first with Next and Previous
over entry numbers, each line naming who made the change and why (found in a few index probes,
``service.change_for``); the JSON and CSV history as GOV.UK gave it, oldest first, with
``Link: next`` past the largest page. A deep page costs no more than the first."""

from __future__ import annotations

import io
import re
from pathlib import Path

from flask.testing import FlaskClient
from sqlalchemy import Engine

from registers import service
from registers.service.reading import _change_for
from registers.store import reads
from registers.store.engine import snapshot
from tests.conftest import on_postgresql
from tests.integration.helpers import app_client, export, load
from tests.integration.test_page_costs import Counter, _cost_with, counted_app

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
AMENDS = 45


def _amend_many(engine: Engine, key: str = "GB", times: int = AMENDS) -> None:
    """``times`` changes of ``key``, each its own change with its own author and reason; a
    change of two records in between."""
    for i in range(times):
        service.amend_record(engine, "country", key, {"official-name": f"Name {i}"}, by=f"team-{i % 4}",
                             reason=f"reason {i}")
        if i == 10:
            table = f"country,name,official-name\nFR,France,The French Republic 2\n{key},United Kingdom,Both\n"
            service.load_table(engine, io.BytesIO(table.encode()), "csv", "country", by="team-pair",
                               reason="two at once")


def _every_note_matches(engine: Engine) -> int:
    """Assert ``change_for`` agrees with the whole list of notes for every user entry; how many
    entries have a note."""
    with snapshot(engine) as conn:
        reg_id = reads.register_id(conn, "country")
        assert reg_id is not None
        notes = service.changes(conn, reg_id)
        size = reads.head(conn, reg_id).user_size
        for number in range(1, size + 1):
            assert service.change_for(conn, reg_id, number) == _change_for(notes, number), number
    return sum(n.last - n.first + 1 for n in notes)


def test_each_entry_is_given_the_change_that_made_it(engine: Engine, other_engine: Engine, tmp_path: Path) -> None:
    load(engine, "country-small.rsf", "country")
    _amend_many(engine, times=12)
    assert _every_note_matches(engine) == 12 + 2
    # the whole history loaded elsewhere in one go: its 12 notes are one change's (one checkpoint)
    rsf = tmp_path / "country.rsf"
    rsf.write_bytes(export(engine, "country"))
    service.load_rsf(other_engine, str(rsf), "country")
    assert _every_note_matches(other_engine) == 12 + 2


def _lines(page: str) -> list[tuple[int, str]]:
    """Each history line's entry number and its who-and-why text."""
    found = re.findall(r'/entries/(\d+)">Entry \d+</a>.*?<p class="govuk-body-s[^"]*">(.*?)</p>', page, re.S)
    return [(int(number), " ".join(text.split())) for number, text in found]


def _link(page: str, rel: str) -> str | None:
    found = re.findall(rf'href="([^"]*)" rel="{rel}"', page)
    return found[0].replace("&amp;", "&") if found else None


def test_the_history_page_walks_every_line_both_ways(engine: Engine, db_url: str) -> None:
    load(engine, "country-small.rsf", "country")
    _amend_many(engine)
    with app_client(db_url) as client:
        path: str | None = "/country/records/GB/entries"
        seen: list[tuple[int, str]] = []
        pages: list[str] = []
        while path is not None:
            answer = client.get(path, headers=HTML)
            assert answer.status_code == 200 and answer.content_type.startswith("text/html")
            text = answer.get_data(as_text=True)
            pages.append(path)
            seen += _lines(text)
            path = _link(text, "next")
        numbers = [n for n, _ in seen]
        assert numbers == sorted(numbers, reverse=True) and len(numbers) == len(set(numbers)) == AMENDS + 2
        assert len(pages) == 3  # 20 a page
        assert seen[0][1].endswith("by team-0 · why: reason 44"), seen[0]
        assert sum(t.endswith("by team-pair · why: two at once") for _, t in seen) == 1
        assert seen[-1][1].endswith("who and why were not recorded")  # GB as the dump gave it
        last = client.get(pages[-1], headers=HTML).get_data(as_text=True)
        back = client.get(_link(last, "prev") or "", headers=HTML).get_data(as_text=True)
        assert _lines(back) == seen[20:40] and _link(back, "prev") is not None
        assert 'aria-current="page"' in back and "(the record now)" not in back
        first = client.get(_link(back, "prev") or "", headers=HTML).get_data(as_text=True)
        assert _lines(first) == seen[:20] and _link(first, "prev") is None and "(the record now)" in first


def test_the_json_history_is_as_before_and_pages_past_the_largest_page(engine: Engine, db_url: str) -> None:
    load(engine, "country-small.rsf", "country")
    _amend_many(engine, times=7)
    with app_client(db_url) as client:
        whole = client.get("/country/records/GB/entries.json")
        assert whole.status_code == 200 and "Link" not in whole.headers
        entries = whole.get_json()
        assert [e["index-entry-number"] for e in entries] == sorted((e["index-entry-number"] for e in entries), key=int)
        assert len(entries) == 7 + 1
    with app_client(db_url, MAX_PAGE_SIZE=4, PAGE_SIZE=4) as client:
        got: list[dict[str, object]] = []
        path: str | None = "/country/records/GB/entries.json"
        while path is not None:
            answer = client.get(path)
            assert answer.status_code == 200
            got += answer.get_json()
            link = answer.headers.get("Link")
            path = "/country/records/GB/entries.json" + link[1:link.index(">")] if link else None
        assert got == entries
        csv = client.get("/country/records/GB/entries.csv")
        assert csv.status_code == 200 and csv.get_data(as_text=True).count("\n") == 5 and "Link" in csv.headers
        assert client.get("/country/records/NOWHERE/entries.json").status_code == 404


def test_a_deep_history_page_costs_no_more_than_the_first(engine: Engine, db_url: str) -> None:
    load(engine, "country-small.rsf", "country")
    _amend_many(engine)
    with counted_app(db_url) as (client, counter):
        served: tuple[FlaskClient, Counter, Engine] = (client, counter, engine)
        first_cost, first = _cost_with(served, "/country/records/GB/entries?page-size=10", HTML)
        deep_path = _link(first.get_data(as_text=True), "next")
        assert deep_path is not None
        for _ in range(3):
            deep_cost, deep = _cost_with(served, deep_path, HTML)
            deep_path = _link(deep.get_data(as_text=True), "next") or deep_path
        back_cost, back = _cost_with(served, _link(deep.get_data(as_text=True), "prev") or "", HTML)
        assert deep.status_code == back.status_code == 200
        slack = 100 if on_postgresql() else 250
        assert max(deep_cost, back_cost) <= 2 * first_cost + slack, (first_cost, deep_cost, back_cost)
