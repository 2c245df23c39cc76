"""A list whose rows are mostly left out still costs about a page: under ``current=true`` a long
run of ended records (and, for a search, matches in ended records) is walked at most
``search.walk_limit`` rows a request; the page comes back short with a cursor to where the walk
stopped, and following the cursors gives every current record exactly once, both ways."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from registers import service
from registers.core.definitions import load_definition
from registers.store.search import walk_limit
from tests.integration.test_page_costs import DEFINITION, Counter, _cost_with, cost, counted_app

LIVE, ENDED = 300, 3000
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def served(engine: Engine, db_url: str) -> Iterator[tuple[FlaskClient, Counter, Engine]]:
    """300 current places, then 3,000 newer ones that have ended (so a ``current=true`` page
    must pass them all to reach the current ones)."""
    service.create_register(engine, "place", load_definition(json.dumps(DEFINITION)), by="test")
    service.append_items(engine, "place", [(str(i), {"place": str(i), "name": f"Place {i}", "kind": "house"})
                                           for i in range(1, LIVE + 1)])
    service.append_items(engine, "place", [
        (str(i), {"place": str(i), "name": f"Place {i}", "kind": "house", "end-date": "2001-01-01"})
        for i in range(LIVE + 1, LIVE + ENDED + 1)])
    with counted_app(db_url) as (client, counter):
        yield client, counter, engine


def _next(answer: object) -> str | None:
    link = answer.headers.get("Link", "")  # type: ignore[attr-defined]
    found = re.search(r'<([^>]*)>; rel="next"', link)
    return found.group(1) if found else None


@pytest.mark.parametrize("query", ["current=true", "current=true&q=place"])
def test_a_current_list_past_many_ended_records_is_walked_a_bounded_stretch_at_a_time(
    served: tuple[FlaskClient, Counter, Engine], query: str
) -> None:
    size = 20
    words = "&q=place" if "q=" in query else ""  # the same list without current=true, a walk's length a page
    plain_cost, _ = cost(served, f"/place/records?page-size={walk_limit(size + 1) + size}{words}")
    keys: list[str] = []
    path: str | None = f"/place/records?page-size={size}&{query}"
    requests = 0
    while path is not None:
        spent, answer = cost(served, path if path.startswith("/") else f"/place/records{path}")
        assert answer.status_code == 200 and len(answer.get_json()) <= size
        assert spent <= 2 * plain_cost + 500, (path, spent, plain_cost)  # never the whole run of ended records
        keys += list(answer.get_json())
        requests += 1
        path = _next(answer)
    assert sorted(keys, key=int) == [str(i) for i in range(1, LIVE + 1)] and len(set(keys)) == len(keys)
    assert requests >= ENDED // walk_limit(size + 1)  # short pages over the ended run, not one long walk


@pytest.mark.parametrize("query", ["current=true", "current=true&q=place"])
def test_the_html_pages_walk_the_same_way_both_ways(served: tuple[FlaskClient, Counter, Engine], query: str) -> None:
    size = 20
    words = "&q=place" if "q=" in query else ""  # the same list without current=true, a walk's length a page
    plain_cost, _ = cost(served, f"/place/records?page-size={walk_limit(size + 1) + size}{words}")
    keys: list[str] = []
    pages: list[str] = []
    path: str | None = f"/place/?page-size={size}&{query}"
    while path is not None:
        spent, answer = _cost_with(served, path, HTML)
        text = answer.get_data(as_text=True)
        assert answer.status_code == 200 and spent <= 2 * plain_cost + 800, (path, spent, plain_cost)
        keys += re.findall(r'<a class="govuk-link" href="/place/records/(\d+)">', text)
        pages.append(path)
        following = re.findall(r'href="([^"]*)" rel="next"', text)
        path = following[0].replace("&amp;", "&") if following else None
    assert sorted(keys, key=int) == [str(i) for i in range(1, LIVE + 1)] and len(set(keys)) == len(keys)
    back: list[str] = []  # from the last page back to the first by Previous
    path = pages[-1]
    while path is not None:
        spent, answer = _cost_with(served, path, HTML)
        text = answer.get_data(as_text=True)
        assert answer.status_code == 200 and spent <= 2 * plain_cost + 800, (path, spent, plain_cost)
        back = re.findall(r'<a class="govuk-link" href="/place/records/(\d+)">', text) + back
        previous = re.findall(r'href="([^"]*)" rel="prev"', text)
        path = previous[0].replace("&amp;", "&") if previous else None
    assert back == keys
