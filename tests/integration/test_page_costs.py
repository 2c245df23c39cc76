"""Every anonymous list request costs about a page, at any depth, on a register of 20,000
records: the rows each request's statements read are counted by the database itself (on
PostgreSQL, EXPLAIN ANALYZE of every statement the request ran, replayed in its snapshot; on
SQLite, the virtual machine's instructions, counted by a progress handler while the request
runs), and a page deep in the register costs no more than twice the first page of its kind,
plus a constant. No statement uses OFFSET."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, insert, select, text

from registers import service
from registers.core.definitions import load_definition
from registers.service import indexes, quality
from registers.store.engine import open_engine
from registers.store.schema import proposal, register
from registers.store.search import LIVE, query_words
from registers.store.signing import generate_key
from registers.web import create_app
from registers.web.state import state
from tests.conftest import fresh_database, on_postgresql

RECORDS = 20_000
NAME = "place"
DEFINITION = {
    "fields": [
        {"cardinality": "1", "datatype": "string", "field": "place", "phase": "beta", "register": "place",
         "text": "The place's number."},
        {"cardinality": "1", "datatype": "string", "field": "name", "phase": "beta", "text": "Its name."},
        {"cardinality": "1", "datatype": "string", "field": "street", "phase": "beta", "text": "Its street."},
        {"cardinality": "1", "datatype": "string", "field": "kind", "phase": "beta", "text": "Its kind."},
        {"cardinality": "1", "datatype": "datetime", "field": "end-date", "phase": "beta", "text": "When it ended."},
    ],
    "register": {"fields": ["place", "name", "street", "kind", "end-date"], "phase": "beta", "register": "place",
                 "registry": "test", "text": "Places made up for counting reads."},
}
STREETS = [f"Street {i}" for i in range(400)]


@dataclass
class Counter:
    """What the app's statements cost while ``active``: the statements (for replay) and, on
    SQLite, the virtual machine instructions they ran (in units of 100)."""

    active: bool = False
    statements: list[tuple[str, Any]] = field(default_factory=list)
    steps: int = 0


@contextmanager
def counted_app(url: str) -> Iterator[tuple[FlaskClient, Counter]]:
    """A test client of the web app over ``url`` whose statements are recorded, and on SQLite
    counted in VM instructions, while its Counter is active."""
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    counter = Counter()
    app_engine = state(app).engine

    @event.listens_for(app_engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if counter.active:
            counter.statements.append((statement, parameters))

    if not on_postgresql():
        @event.listens_for(app_engine, "connect")
        def count_steps(dbapi: Any, _record: Any) -> None:
            def tick() -> int:
                if counter.active:
                    counter.steps += 1
                return 0
            dbapi.set_progress_handler(tick, 100)

        app_engine.dispose()  # connections made from here on count
    try:
        yield app.test_client(), counter
    finally:
        state(app).close()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlaskClient, Counter, Engine]]:
    """A register of 20,000 records (2,000 amended, 500 ended, street indexed and searched)
    served by the web app, with the app's statements counted."""
    tmp = tmp_path_factory.mktemp("costs")
    with pytest.MonkeyPatch.context() as m, fresh_database(tmp, "costs") as url:
        m.setenv("REGISTERS_KEY_DIR", str(tmp / "keys"))
        engine = open_engine(url)
        with engine.begin() as conn:
            generate_key(conn)
        service.create_register(engine, NAME, load_definition(json.dumps(DEFINITION)), by="test")
        service.index_field(engine, NAME, "street")
        indexes.search_field(engine, NAME, "street")  # word search reads it too, beside the key and name
        rng = random.Random(5)
        items = [(str(i), {"place": str(i), "name": f"Place {i}", "street": rng.choice(STREETS), "kind": "house"})
                 for i in range(1, RECORDS + 1)]
        service.append_items(engine, NAME, items)
        changed = rng.sample(range(1, RECORDS + 1), 2500)
        service.append_items(engine, NAME, [(str(i), {"place": str(i), "name": f"Place {i} renamed",
                                                      "street": rng.choice(STREETS), "kind": "house"})
                                            for i in changed[:2000]])
        service.append_items(engine, NAME, [(str(i), {"place": str(i), "name": f"Place {i}", "street": STREETS[0],
                                                      "kind": "house", "end-date": "2001-01-01"})
                                            for i in changed[2000:]])
        try:
            with counted_app(url) as (client, counter):
                yield client, counter, engine
        finally:
            engine.dispose()


def cost(served: tuple[FlaskClient, Counter, Engine], path: str) -> tuple[int, Any]:
    """The rows (PostgreSQL) or hundreds of instructions (SQLite) the request for ``path``
    read, and its answer."""
    client, counter, engine = served
    counter.statements.clear()
    counter.steps = 0
    counter.active = True
    try:
        answer = client.get(path)
    finally:
        counter.active = False
    statements = list(counter.statements)
    assert not [s for s, p in statements if _skips(s, p)], path
    if not on_postgresql():
        return counter.steps, answer
    rows = 0
    with engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        assert raw is not None
        with raw.cursor() as cursor:
            for statement, parameters in statements:
                if not statement.lstrip().upper().startswith("SELECT"):
                    continue
                cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
                plan = cursor.fetchone()[0]
                rows += _rows_read(plan[0]["Plan"])
        conn.rollback()
    return rows, answer


def _skips(statement: str, parameters: Any) -> bool:
    """Whether ``statement`` skips rows with OFFSET (SQLAlchemy writes ``LIMIT ? OFFSET ?`` with
    an offset of 0 for every LIMIT on SQLite: that skips nothing)."""
    if " OFFSET " not in statement.upper():
        return False
    return not (statement.rstrip().endswith("OFFSET ?") and parameters[-1] == 0)


def _rows_read(node: dict[str, Any]) -> int:
    """The rows a plan's scans read: those they gave and those their filters removed."""
    own = 0
    if "Scan" in node["Node Type"]:
        loops = node.get("Actual Loops", 1)
        own = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
    return own + sum(_rows_read(child) for child in node.get("Plans", []))


def _deep(served: tuple[FlaskClient, Counter, Engine], path: str, size: int) -> tuple[str, int]:
    """The ``Link: next`` path of the page about 90% of the way down ``path``, and its depth."""
    _, answer = cost(served, path)
    first = list(answer.get_json())
    assert len(first) == size and "next" in answer.headers["Link"]
    return answer.headers["Link"], len(first)


@pytest.mark.parametrize("query", ["", "&current=true", "&as-of=19000", "&as-of=21500"])
def test_a_records_page_deep_in_the_register_costs_no_more_than_the_first(
    served: tuple[FlaskClient, Counter, Engine], query: str
) -> None:
    size = 100
    first_cost, first = cost(served, f"/{NAME}/records?page-size={size}{query}")
    assert first.status_code == 200 and len(first.get_json()) == size
    # the cursor near the end: the entry number of a record 90% of the way down
    with served[2].connect() as conn:
        total = conn.execute(text("SELECT max(number) FROM entry WHERE log = 0")).scalar_one()
    deep_cost, deep = cost(served, f"/{NAME}/records?page-size={size}&before={total // 10}{query}")
    assert deep.status_code == 200 and 0 < len(deep.get_json()) <= size
    assert deep_cost <= 2 * first_cost + 50, (query, first_cost, deep_cost)
    # and the Link: next chain carries on from a deep page without reading more
    link = deep.headers.get("Link", "")
    if "next" in link:
        nxt = link.split("<", 1)[1].split(">", 1)[0]
        next_cost, page = cost(served, f"/{NAME}/records{nxt}")
        assert page.status_code == 200 and next_cost <= 2 * first_cost + 50


def test_page_index_works_to_its_depth_and_names_the_cursor_beyond(served: tuple[FlaskClient, Counter, Engine]) -> None:
    within_cost, within = cost(served, f"/{NAME}/records?page-size=100&page-index=101")
    assert within.status_code == 200 and len(within.get_json()) == 100
    beyond_cost, beyond = cost(served, f"/{NAME}/records?page-size=100&page-index=102")
    assert beyond.status_code == 422 and beyond.headers["Content-Type"] == "application/problem+json"
    assert "before=" in beyond.get_json()["detail"] and "Link: next" in beyond.get_json()["detail"]
    assert beyond_cost * 20 < within_cost  # refused before reading the records it would skip


def test_entries_and_system_entries_cost_a_page_at_any_depth(served: tuple[FlaskClient, Counter, Engine]) -> None:
    first_cost, first = cost(served, f"/{NAME}/entries?limit=100")
    deep_cost, deep = cost(served, f"/{NAME}/entries?start=22000&limit=100")
    assert first.status_code == deep.status_code == 200 and len(deep.get_json()) == 100
    assert deep_cost <= 2 * first_cost + 50
    system_cost, system = cost(served, f"/{NAME}/system/entries?start=2&limit=3")
    assert system.status_code == 200 and system_cost <= 2 * first_cost + 50


def test_a_field_lookup_honours_page_size_and_pages_with_a_cursor(served: tuple[FlaskClient, Counter, Engine]) -> None:
    street = STREETS[7]
    first_cost, first = cost(served, f"/{NAME}/records/street/{street}?page-size=10")
    assert first.status_code == 200 and len(first.get_json()) == 10
    seen = set(first.get_json())
    path = first.headers["Link"].split("<", 1)[1].split(">", 1)[0]
    pages = 1
    while path:
        page_cost, page = cost(served, f"/{NAME}/records/street/{street}{path}")
        assert page.status_code == 200 and page_cost <= 2 * first_cost + 50
        assert not seen & set(page.get_json())
        seen |= set(page.get_json())
        link = page.headers.get("Link", "")
        path = link.split("<", 1)[1].split(">", 1)[0] if "next" in link else ""
        pages += 1
    whole = service.list_records(served[2], NAME, field="street", value=street)
    assert seen == {r.entry.key for r in whole} and pages > 3


def test_a_lookup_by_a_field_without_an_index_is_refused_naming_the_command(
    served: tuple[FlaskClient, Counter, Engine]
) -> None:
    refused_cost, refused = cost(served, f"/{NAME}/records/kind/house?page-size=10")
    assert refused.status_code == 422 and refused.headers["Content-Type"] == "application/problem+json"
    assert f"registers index {NAME} kind" in refused.get_json()["detail"]
    indexed_cost, _ = cost(served, f"/{NAME}/records/street/{STREETS[3]}?page-size=10")
    assert refused_cost <= 2 * indexed_cost + 50


SPOTS = 20_000
PROPOSALS = 2_000
HTML = {"Accept": "text/html"}


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlaskClient, Counter, Engine]]:
    """In a database of its own (so the places' plans and counts are as they are without it): a
    register of 20,000 spots whose names come in pairs (10,000 likely duplicates) and which leave
    'kind' empty one in twenty (1,000 missing values), its quality report stored by the command
    that stores it, and 2,000 proposals against spots (one in four rejected), stored as
    ``service.propose`` stores them (made through it, each checked by a dry run of its change,
    they would take minutes), then three made through it; served by the web app, counted as
    ``served`` counts."""
    tmp = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as m, fresh_database(tmp, "reports") as url:
        m.setenv("REGISTERS_KEY_DIR", str(tmp / "keys"))
        engine = open_engine(url)
        with engine.begin() as conn:
            generate_key(conn)
        definition = {
            "fields": [
                {"cardinality": "1", "datatype": "string", "field": "spot", "phase": "beta", "text": "Its code."},
                {"cardinality": "1", "datatype": "string", "field": "name", "phase": "beta", "text": "Its name."},
                {"cardinality": "1", "datatype": "string", "field": "kind", "phase": "beta", "text": "Its kind."},
            ],
            "register": {"fields": ["spot", "name", "kind"], "phase": "beta", "register": "spot", "registry": "test",
                         "text": "Spots with findings and proposals, for counting the reads of their pages."},
        }
        service.create_register(engine, "spot", load_definition(json.dumps(definition)), by="test")
        service.append_items(engine, "spot", [
            (_letters(i), {"spot": _letters(i), "name": f"Spot {i // 2}", **({} if i % 20 == 0 else {"kind": "a"})})
            for i in range(SPOTS)
        ])
        report = quality.make_report(engine, "spot", listed=0)
        assert (report.counts()["duplicate"], report.counts()["missing-value"]) == (SPOTS // 2, SPOTS // 20)
        stamp = "2024-01-01T00:00:00Z"
        with engine.begin() as conn:
            reg_id = conn.execute(select(register.c.id).where(register.c.name == "spot")).scalar_one()
            conn.execute(insert(proposal), [
                {"register_id": reg_id, "key": _letters(i), "action": "amend", "reason": "a clearer name",
                 "fields": json.dumps({"name": f"Better {i}"}), "contact": None, "source": "anonymous", "client": None,
                 "status": "rejected" if i % 4 == 0 else "open", "base_entry": i, "created": stamp, "checked": stamp,
                 "decided": stamp if i % 4 == 0 else None, "decided_by": "custodian" if i % 4 == 0 else None,
                 "decision_reason": "no" if i % 4 == 0 else None}
                for i in range(1, PROPOSALS + 1)
            ])
        for i in (5001, 5002, 5003):
            service.propose(engine, "spot", _letters(i), {"kind": "b"}, "it is a b")
        try:
            with counted_app(url) as (client, counter):
                yield client, counter, engine
        finally:
            engine.dispose()


def _letters(number: int) -> str:
    """``number`` as a key: q, then a-j for its digits."""
    return "q" + str(number).translate(str.maketrans("0123456789", "abcdefghij"))


def _next(answer: Any) -> str:
    link = answer.headers.get("Link", "")
    return link.split("<", 1)[1].split(">", 1)[0] if 'rel="next"' in link else ""


def test_a_quality_report_page_costs_a_page_at_any_depth(reported: tuple[FlaskClient, Counter, Engine]) -> None:
    first_cost, first = cost(reported, "/spot/quality.json?kind=duplicate&page-size=100")
    assert first.status_code == 200 and len(first.get_json()["findings"]) == 100 and _next(first)
    assert first.get_json()["counts"]["duplicate"] == SPOTS // 2
    deep_cost, deep = cost(reported, "/spot/quality.json?kind=duplicate&page-size=100&after=9800")
    assert deep.status_code == 200 and len(deep.get_json()["findings"]) == 100
    assert deep_cost <= 2 * first_cost + 50, (first_cost, deep_cost)
    last_cost, last = cost(reported, _next(deep))  # the last page: the chain ends
    assert last.status_code == 200 and len(last.get_json()["findings"]) == 100 and not _next(last)
    assert last_cost <= 2 * first_cost + 50
    assert not {f["key"] for f in deep.get_json()["findings"]} & {f["key"] for f in last.get_json()["findings"]}
    # the first page of every kind (two kinds have findings), as JSON and as a page
    for path, headers in (("/spot/quality.json?page-size=100", {}), ("/spot/quality?page-size=100", HTML)):
        overview_cost, overview = _cost_with(reported, path, headers)
        assert overview.status_code == 200 and overview_cost <= 2 * first_cost + 50, (path, first_cost, overview_cost)


def _cost_with(served: tuple[FlaskClient, Counter, Engine], path: str, headers: dict[str, str]) -> tuple[int, Any]:
    """``cost`` of a request with ``headers`` (a browser's, for the HTML page)."""
    client, counter, engine = served

    class Asking:
        def get(self, path: str) -> Any:
            return client.get(path, headers=headers)

    return cost((Asking(), counter, engine), path)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["open", "all"])
def test_a_proposals_page_costs_a_page_at_any_depth(reported: tuple[FlaskClient, Counter, Engine], status: str) -> None:
    path = f"/spot/proposals.json?status={status}&page-size=100"
    first_cost, first = cost(reported, path)
    ids = [p["id"] for p in first.get_json()]
    assert first.status_code == 200 and len(ids) == 100 and ids == sorted(ids, reverse=True) and _next(first)
    deep_cost, deep = cost(reported, f"{path}&before={min(ids) - 1700}")
    deep_ids = [p["id"] for p in deep.get_json()]
    assert deep.status_code == 200 and len(deep_ids) == 100 and max(deep_ids) < min(ids) - 1700
    assert deep_cost <= 2 * first_cost + 50, (status, first_cost, deep_cost)
    html_cost, page = _cost_with(reported, f"/spot/proposals?status={status}&page-size=100&before={min(ids) - 1700}",
                                 HTML)
    assert page.status_code == 200 and b'rel="next"' in page.data and html_cost <= 2 * first_cost + 50
    # the page's Previous link (after=<id>): as deep, as cheap
    back_cost, back = _cost_with(reported, f"/spot/proposals?status={status}&page-size=100&after={min(ids) - 1700}",
                                 HTML)
    assert back.status_code == 200 and b'rel="prev"' in back.data and back_cost <= 2 * first_cost + 50
    # Link: next walks them all, newest first, each once, every page a page's cost
    seen, nxt = list(ids), _next(first)
    while nxt:
        page_cost, answer = cost(reported, f"/spot/proposals{nxt}")
        assert answer.status_code == 200 and page_cost <= 2 * first_cost + 50
        seen += [p["id"] for p in answer.get_json()]
        nxt = _next(answer)
    assert seen == sorted(seen, reverse=True) and len(seen) == len(set(seen))
    assert {p["status"] for p in deep.get_json()} == ({"open"} if status == "open" else {"open", "rejected"})
    assert len(seen) == (PROPOSALS - PROPOSALS // 4 + 3 if status == "open" else PROPOSALS + 3)


# PostgreSQL's GIN index gives matches in no order, so its planner either walks the rank index from
# the cursor, testing each row's words, or reads every match and keeps the highest. Where matches
# crowd among the newest entries (the renamed places; a prefix of the newest block of keys) the
# first page is a short walk, but a page deep below them, where they thin out or stop, reads every
# row below its cursor or every match: at most that, read twice (index and table), beyond the
# first page's cost. SQLite's FTS5 reads a term's rows in rank order: every case holds to the
# bound there.
CROWDED = {"renamed", "street 7", "pla 19"}


@pytest.mark.parametrize("query", ["place", "renamed", "place 1", "street 7", "pla 19", "place 12345", "nowhere"])
def test_a_search_page_deep_in_its_results_costs_no_more_than_the_first(
    served: tuple[FlaskClient, Counter, Engine], query: str
) -> None:
    """Word search (store/search.py): a page read from a cursor deep in the results (a rank
    about 90% of the way down the records without an end-date) and the page Link: next gives
    after it cost no more than the first page: common words (every record), words of the amended
    records (whose older entries, still in the index, are passed over), prefixes of thousands,
    of a thousand crowded into the newest entries, of one record and of none."""
    size = 100
    first_cost, first = cost(served, f"/{NAME}/records?q={query}&page-size={size}")
    assert first.status_code == 200
    with served[2].connect() as conn:
        total = conn.execute(text("SELECT max(e.number) FROM entry e JOIN register r ON r.id = e.register_id "
                                  "WHERE r.name = :name AND e.log = 0"), {"name": NAME}).scalar_one()
    bound = 2 * first_cost + 50
    if on_postgresql() and query in CROWDED:
        with served[2].connect() as conn:
            matches = conn.execute(text(
                "SELECT count(*) FROM search_text WHERE register_id = (SELECT id FROM register WHERE name = :name) "
                "AND words @@ CAST(:query AS tsquery)"),
                {"name": NAME, "query": " & ".join(f"'{w}':*" for w in query_words(query))}).scalar_one()
        bound += 2 * max(total // 10 + 500, matches)  # the rows below the cursor (ended ones too), or the matches
    deep_cost, deep = cost(served, f"/{NAME}/records?q={query}&page-size={size}&before={LIVE + total // 10}")
    assert deep.status_code == 200
    assert deep_cost <= bound, (query, first_cost, deep_cost)
    link = deep.headers.get("Link", "")
    if "next" in link:
        nxt = link.split("<", 1)[1].split(">", 1)[0]
        next_cost, page = cost(served, f"/{NAME}/records{nxt}")
        assert page.status_code == 200 and next_cost <= bound, (query, first_cost, next_cost)
        assert not set(page.get_json()) & set(deep.get_json())
    if query in ("place", "place 1"):  # thousands match: a page of them costs about a page of the list
        listed_cost, _listed = cost(served, f"/{NAME}/records?page-size={size}")
        assert len(first.get_json()) == len(deep.get_json()) == size
        assert first_cost <= 2 * listed_cost + 50, (query, listed_cost, first_cost)


@pytest.mark.parametrize("query", ["", "&current=true", "&q=place"])
def test_an_html_records_page_costs_a_page_at_any_depth_both_ways(
    served: tuple[FlaskClient, Counter, Engine], query: str
) -> None:
    """The pages a browser reads (the register's page and /records, issue 25): the first, one
    deep in the register by its Next cursor, and the one before it by its Previous cursor each
    cost no more than twice the API's first page of the same list, plus a constant (the
    register's page also reads its custodian and latest entry)."""
    size = 100
    api_cost, _ = cost(served, f"/{NAME}/records?page-size={size}{query}")
    bound = 2 * api_cost + (150 if on_postgresql() else 250)
    with served[2].connect() as conn:
        total = conn.execute(text("SELECT max(number) FROM entry WHERE log = 0")).scalar_one()
    deep = LIVE + total // 10 if "q=" in query else total // 10
    for base in (f"/{NAME}/", f"/{NAME}/records"):
        first_cost, first = _cost_with(served, f"{base}?page-size={size}{query}", HTML)
        assert first.status_code == 200 and b'rel="next"' in first.data
        deep_cost, page = _cost_with(served, f"{base}?page-size={size}&before={deep}&page=9{query}", HTML)
        assert page.status_code == 200 and b'rel="next"' in page.data
        assert max(first_cost, deep_cost) <= bound, (base, api_cost, first_cost, deep_cost)
        [previous] = re.findall(r'href="([^"]*)" rel="prev"', page.get_data(as_text=True))
        back_cost, back = _cost_with(served, previous.replace("&amp;", "&"), HTML)
        assert back.status_code == 200 and b'rel="prev"' in back.data and back_cost <= bound, (base, back_cost)


def test_html_entries_and_system_log_pages_cost_a_page_at_any_depth(
    served: tuple[FlaskClient, Counter, Engine]
) -> None:
    api_cost, _ = cost(served, f"/{NAME}/entries?limit=100")
    bound = 2 * api_cost + (150 if on_postgresql() else 250)
    for path in (f"/{NAME}/entries?limit=100", f"/{NAME}/entries?start=22000&limit=100",
                 f"/{NAME}/system/entries?limit=100", f"/{NAME}/system/entries?start=2&limit=3"):
        page_cost, page = _cost_with(served, path, HTML)
        assert page.status_code == 200 and page.content_type.startswith("text/html"), path
        assert page_cost <= bound, (path, api_cost, page_cost)
