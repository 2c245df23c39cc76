"""Every anonymous list request costs about a page, at any depth, on a register of 20,000
records: the rows each request's statements read are counted by the database itself (on
PostgreSQL, EXPLAIN ANALYZE of every statement the request ran, replayed in its snapshot; on
SQLite, the virtual machine's instructions, counted by a progress handler while the request
runs), and a page deep in the register costs no more than twice the first page of its kind,
plus a constant. No statement uses OFFSET."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine, event, text

from registers import service
from registers.core.definitions import load_definition
from registers.store.engine import open_engine
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


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FlaskClient, Counter, Engine]]:
    """A register of 20,000 records (2,000 amended, 500 ended, street indexed) served by the web
    app, with the app's statements counted."""
    tmp = tmp_path_factory.mktemp("costs")
    with pytest.MonkeyPatch.context() as m, fresh_database(tmp, "costs") as url:
        m.setenv("REGISTERS_KEY_DIR", str(tmp / "keys"))
        engine = open_engine(url)
        with engine.begin() as conn:
            generate_key(conn)
        service.create_register(engine, NAME, load_definition(json.dumps(DEFINITION)), by="test")
        service.index_field(engine, NAME, "street")
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
            yield app.test_client(), counter, engine
        finally:
            state(app).close()
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
