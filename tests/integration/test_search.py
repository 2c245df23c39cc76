"""Word search on each database's own full-text index: the grammar the README gives, the same
records on SQLite and PostgreSQL for a fixed corpus (every shipped register and hand-written
edge cases: punctuation, apostrophes, hyphens, digits, Welsh and French accents, other scripts),
kept by the one write path through amends, ends and large staged loads, paged by a cursor, and
built for databases made before it."""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine

from cli import main
from registers import service
from registers.core.definitions import load_definition
from registers.service import indexes
from registers.store import migrations, reads, search
from registers.store.engine import open_engine, snapshot
from registers.store.signing import generate_key
from tests.conftest import fresh_database, on_postgresql
from tests.integration.helpers import app_client, load

EDGE = "edge"
DEFINITION = {
    "fields": [
        {"cardinality": "1", "datatype": "string", "field": "edge", "phase": "beta", "register": "edge",
         "text": "The key."},
        {"cardinality": "1", "datatype": "string", "field": "name", "phase": "beta", "text": "A name."},
        {"cardinality": "1", "datatype": "string", "field": "street", "phase": "beta", "text": "A street."},
        {"cardinality": "n", "datatype": "string", "field": "tags", "phase": "beta", "text": "Tags."},
        {"cardinality": "1", "datatype": "datetime", "field": "end-date", "phase": "beta", "text": "The end."},
    ],
    "register": {"fields": ["edge", "name", "street", "tags", "end-date"], "phase": "beta", "register": "edge",
                 "registry": "test", "text": "Hand-written edge cases of word search."},
}
NAMES = [
    "St Andrew's Road", "Stoke-on-Trent", "Ffordd Glyndŵr", "Ynys Môn", "Hôtel de Ville", "Œuvre Française",
    "Straße", "Ødegaard", "Łódź", unicodedata.normalize("NFD", "Café Noir"), "CAFÉ NOIR", "Flat 12, 240 Acacia Avenue",
    "12a High Street", "M4 1AA", "O'Brien’s Bar", "Zoë", "🏠 Home", "…", "ＡＢＣ Ltd", "ﬁsh & chips", "Αθήνα", "Москва",
    "東京", "don’t", "a_b c-d", "info@example.gov.uk", "www.gov.uk", "x" * 150, "1.5 miles", "2001-01-01",
    "Llanfair­pwll", "Pen-y-bont ar Ogwr", "L'Île-d'Yeu", "naïve coöperation", "Ĳssel", "Þingvellir", "ᦰᦱ Lue",
    "Rhondda Cynon Taf", "Caerdydd", "Bro Morgannwg", "Wrecsam", "Sir Ddinbych", "Ceredigion", "Gŵyr", "Tŷ Gwyn",
]
QUERIES = [
    "", " ", "!!!", "'", "-", "…", "🏠", "st andrew", "andrew's", "st. andrews", "st andrews", "stoke-on", "stoke on trent",
    "trent-stoke", "glyndwr", "glyndŵr", "GLYNDŴR", "ynys mon", "môn", "hotel", "HÔTEL de", "oeuvre", "œuvre", "strasse",
    "straße", "odegaard", "ødegaard", "lodz", "łódź", "cafe", "café noir", "CAFE", "zoe", "zoë", "abc", "ＡＢＣ", "fish",
    "ﬁsh", "αθηνα", "αθήνα", "Αθ", "москва", "мос", "東京", "東", "dont", "don't", "don t", "a_b", "a b", "c d", "info",
    "example gov", "gov uk", "www", "1", "12", "12a", "240 acacia", "flat 12", "m4", "m4 1aa", "2001", "2001 01",
    "x" * 150, "x" * 100, "x" * 99, "xx", "london", "united kingdom", "kingdom united", "north", "e", "s", "t", "the",
    "of", "ba", "lon london", "llanfair", "llanfairpwll", "pwll", "pen y bont", "ile d yeu", "l ile", "yeu", "naive",
    "cooperation", "ijssel", "thingvellir", "lue", "ᦰ", "rhondda", "caer", "bro morg", "gwyr", "ty gwyn", "tŷ",
    "renamed", "shared", "tag1", "school", "primary school", "st mary", "mary's", "church of england", "c of e", "academy", "ward", "borough",
    "county durham", "isle", "saint", "department for", "hm revenue", "revenue customs", "office", "sir", "ddinbych",
    "wrexham", "wrecsam", "aberdeen", "glasgow city", "city of", "district", "zzzz", "q", "qu", "2", "20", "200",
    "a " * 1000, "the the the of of", "1 2 3 4 5 6 7 8 9 0 a b c d e f",
]
REGISTERS = ["country", "local-authority-eng", "local-authority-sct", "local-authority-nir", "government-organisation",
             "westminster-parliamentary-constituency", "registration-district", "territory", "school", EDGE]


def build_corpus(engine: Engine) -> None:
    """Every shipped register (real data), and the edge register: a record per name, its street
    marked for search, a few amended and ended."""
    for _ in service.init_fixtures(engine, by="test"):
        pass
    service.create_register(engine, EDGE, load_definition(json.dumps(DEFINITION)), by="test")
    indexes.search_field(engine, EDGE, "street")
    indexes.search_field(engine, EDGE, "tags")
    items = [(f"e{i}", {"edge": f"e{i}", "name": name, "street": f"Street {i % 7}", "tags": [f"tag{i % 3}", "shared"]})
             for i, name in enumerate(NAMES)]
    service.append_items(engine, EDGE, items)
    service.amend_record(engine, EDGE, "e0", {"name": "St Andrews Road", "street": "Renamed Way"}, by="test")
    service.end_record(engine, EDGE, "e1", "2001-01-01", by="test")
    service.end_record(engine, EDGE, "e2", "2999-01-01", by="test")  # ending later: still current


def expected(engine: Engine, register: str, query: str) -> set[str]:
    """The keys the grammar says ``query`` finds, read from the records themselves (a blank ``q``
    is no search: every record)."""
    if not query.strip():
        return {rec.entry.key for rec in service.list_records(engine, register)}
    words = search.query_words(query)
    if not words:
        return set()
    fields = indexes.searched_fields(engine, register)
    keys = set()
    for rec in service.list_records(engine, register):
        held = search.record_text(rec.entry.key, rec.item, fields).split()
        if all(any(w.startswith(q) for w in held) for q in words):
            keys.add(rec.entry.key)
    return keys


def found(client: FlaskClient, register: str, query: str, size: int = 50) -> list[str]:
    """Every key ``/records?q=`` gives, following Link: next."""
    keys: list[str] = []
    path = f"/{register}/records?q={quote(query)}&page-size={size}"
    while path:
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.data[:300])
        keys += list(answer.get_json())
        link = answer.headers.get("Link", "")
        path = f"/{register}/records" + link.split("<", 1)[1].split(">", 1)[0] if 'rel="next"' in link else ""
    return keys


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, str]]:
    tmp = tmp_path_factory.mktemp("search")
    with pytest.MonkeyPatch.context() as m, fresh_database(tmp, "corpus") as url:
        m.setenv("REGISTERS_KEY_DIR", str(tmp / "keys"))
        engine = open_engine(url)
        with engine.begin() as conn:
            generate_key(conn)
        build_corpus(engine)
        try:
            yield engine, url
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def answers(corpus: tuple[Engine, str]) -> dict[tuple[str, str], list[str]]:
    """What the app answers for every register and query of the fixed set."""
    _engine, url = corpus
    with app_client(url) as client:
        return {(r, q): found(client, r, q) for r in REGISTERS for q in QUERIES}


def test_the_words_of_text(corpus: tuple[Engine, str]) -> None:
    assert search.words("St Andrew's Road") == ["st", "andrew", "s", "road"]
    assert search.words("Stoke-on-Trent") == ["stoke", "on", "trent"]
    assert search.words("Ffordd Glyndŵr, Tŷ Gwyn") == ["ffordd", "glyndwr", "ty", "gwyn"]
    assert search.words("Œuvre Straße Ødegaard Łódź Þing ﬁsh ＡＢＣ") == [
        "oeuvre", "strasse", "odegaard", "lodz", "thing", "fish", "abc"]
    assert search.words(unicodedata.normalize("NFD", "Café")) == search.words("CAFÉ") == ["cafe"]
    assert search.words("a_b 1.5 info@example.gov.uk 🏠 …") == ["a", "b", "1", "5", "info", "example", "gov", "uk"]
    assert search.words("x" * 150) == ["x" * 100]
    assert search.query_words("lon London LONDON st") == ["london", "st"]
    assert search.query_words("!!! - '") == [] and search.query_words("") == []
    with pytest.raises(search.QueryTooLong):
        search.query_words(" ".join(f"w{i}x" for i in range(17)))


def test_the_append_reads_plain_names_from_the_bytes_as_record_text_makes_them() -> None:
    """The append's shortcut (an ASCII name read from the canonical bytes, split by the database
    at ASCII punctuation) gives the very words ``record_text`` makes, ended or not."""
    from registers.core.items import canonical_json, item_digest

    items = [(f"K{i}", {"edge": f"K{i}", "name": name, **({"end-date": "2001-01-01"} if i % 3 else {})})
             for i, name in enumerate([*NAMES, "Flat 1, 2 The O'Neill-Smith Building", 'Say "hi"', "a\\b", "x" * 99])]
    items += [("k-x", {"edge": "k-x"}), ("k-list", {"edge": "k-list", "name": ["One", "Two"]})]
    blobs = {item_digest(canonical_json(v)): canonical_json(v) for _k, v in items}
    entries = [(0, n, key, "2001-01-01T00:00:00Z", item_digest(canonical_json(v))) for n, (key, v) in enumerate(items, 1)]
    read = dict(search.entry_rows(entries, blobs, lambda digests: {}, ("name",)))  # the batch's own items
    parsed = dict(search.entry_rows(entries, {}, lambda digests: {d: blobs[d] for d in digests}, ("name",)))
    for rows in (read, parsed):
        for number, (key, value) in enumerate(items, 1):
            rank = number if "end-date" in value else number + search.LIVE
            text = rows.get(rank, "")
            split = [w for w in re.split("[\x01-\x2f\x3a-\x60\x7b-\x7f]+", text) if w]
            assert split == search.record_text(key, value, ("name",)).split(), (key, value, text)


@pytest.mark.parametrize("register", REGISTERS)
def test_every_query_finds_what_the_grammar_says(
    corpus: tuple[Engine, str], answers: dict[tuple[str, str], list[str]], register: str
) -> None:
    engine, _url = corpus
    for query in QUERIES:
        keys = answers[(register, query)]
        assert len(keys) == len(set(keys)), (register, query)  # no record twice across pages
        assert set(keys) == expected(engine, register, query), (register, query)
    assert sum(len(answers[(register, q)]) for q in QUERIES) > 0


def test_the_corpus_finds_real_records(answers: dict[tuple[str, str], list[str]]) -> None:
    """The fixed set of queries is not vacuous: accents, apostrophes and hyphens find records."""
    for register, query, key in [
        ("country", "united kingdom", "GB"), ("country", "kingdom united", "GB"), ("edge", "glyndwr", "e2"),
        ("edge", "GLYNDŴR", "e2"), ("edge", "st andrews", "e0"), ("edge", "stoke-on", "e1"), ("edge", "ynys mon", "e3"),
        ("edge", "oeuvre", "e5"), ("edge", "café noir", "e9"), ("edge", "café noir", "e10"), ("edge", "don't", "e23"),
        ("edge", "αθηνα", "e20"), ("edge", "東京", "e22"), ("edge", "x" * 150, "e27"), ("edge", "renamed", "e0"),
        ("edge", "lue", "e36"), ("westminster-parliamentary-constituency", "ynys mon", None),
    ]:
        keys = answers[(register, query)]
        assert keys if key is None else key in keys, (register, query, keys)
    assert answers[("edge", "!!!")] == answers[("edge", "-")] == [] and len(answers[("edge", " ")]) == len(NAMES)
    assert answers[("edge", "st andrew")] == ["e0"]  # the amended name, not the one before


@pytest.mark.skipif(not on_postgresql(), reason="compares PostgreSQL's answers with SQLite's")
def test_sqlite_and_postgresql_find_the_same_records(
    answers: dict[tuple[str, str], list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REGISTERS_KEY_DIR", str(tmp_path / "sqlite-keys"))
    url = f"sqlite:///{tmp_path / 'same.db'}"
    engine = open_engine(url)
    with engine.begin() as conn:
        generate_key(conn)
    build_corpus(engine)
    with app_client(url) as client:
        for (register, query), keys in answers.items():
            assert set(found(client, register, query)) == set(keys), (register, query)
    engine.dispose()


def test_current_records_first_then_ended_each_newest_first(corpus: tuple[Engine, str]) -> None:
    engine, url = corpus
    with app_client(url) as client:
        keys = found(client, EDGE, "shared", size=7)
        assert set(keys) == {f"e{i}" for i in range(len(NAMES))}
        assert keys[-1] == "e1"  # ended: after every record without an end-date
        assert keys.index("e2") > keys.index("e0")  # an end-date to come still has one: with the ended
        assert keys[0] == "e0"  # the latest change first
        current = client.get(f"/{EDGE}/records?q=shared&current=true&page-size=100").get_json()
        assert "e1" not in current and "e2" in current and len(current) == len(NAMES) - 1
        csv = client.get(f"/{EDGE}/records.csv?q=glyndwr").data.decode()
        assert "Ffordd Glyndŵr" in csv and csv.count("\n") == 2
        page = client.get(f"/{EDGE}/?q=glyndwr", headers={"Accept": "text/html"}).data.decode()
        assert "Ffordd Glyndŵr" in page and "Street 2" in page


def test_search_answers_refuse_what_they_cannot_do(corpus: tuple[Engine, str]) -> None:
    _engine, url = corpus
    with app_client(url) as client:
        many = client.get(f"/{EDGE}/records?q=" + quote(" ".join(f"w{i}x" for i in range(17))))
        assert many.status_code == 400 and "at most 16 words" in many.get_json()["detail"]
        as_of = client.get(f"/{EDGE}/records?q=shared&as-of=3")
        assert as_of.status_code == 400 and "as-of" in as_of.get_json()["detail"]
        deep = client.get(f"/{EDGE}/records?q=shared&page-index=1000&page-size=100")
        assert deep.status_code == 422 and "before=" in deep.get_json()["detail"]
        second = client.get(f"/{EDGE}/records?q=shared&page-index=2&page-size=10").get_json()
        first = client.get(f"/{EDGE}/records?q=shared&page-index=1&page-size=10").get_json()
        assert len(second) == 10 and not set(first) & set(second)
        assert client.get(f"/{EDGE}/records?q=" + quote("a " * 1000)).status_code == 200


def test_amends_ends_and_marked_fields_keep_the_index(engine: Engine, db_url: str) -> None:
    service.create_register(engine, EDGE, load_definition(json.dumps(DEFINITION)), by="test")
    service.append_items(engine, EDGE, [("k1", {"edge": "k1", "name": "Old Mill", "street": "Acacia Avenue"}),
                                        ("k2", {"edge": "k2", "name": "New Barn", "tags": ["thatched", "listed"]})])
    with app_client(db_url) as client:
        def keys(query: str) -> list[str]:
            return found(client, EDGE, query)

        assert keys("mill") == ["k1"] and keys("acacia") == []  # street is not searched until marked
        service.amend_record(engine, EDGE, "k1", {"name": "Water Mill"}, by="test")
        assert keys("old") == [] and keys("water mill") == ["k1"]
        runner, db = CliRunner(), engine.url.render_as_string(hide_password=False)
        done = runner.invoke(main, ["--db", db, "index", EDGE, "street", "tags", "--search"])
        assert done.exit_code == 0 and "'street' searched (1 records' words rewritten)" in done.output, done.output
        assert runner.invoke(main, ["--db", db, "index", EDGE, "--search"]).output.split() == ["name", "street", "tags"]
        assert keys("acacia") == ["k1"] and keys("thatch listed") == ["k2"]
        service.amend_record(engine, EDGE, "k1", {"street": "Birch Grove"}, by="test")
        assert keys("acacia") == [] and keys("birch") == ["k1"]
        service.end_record(engine, EDGE, "k2", "2001-01-01", by="test")
        assert keys("barn") == ["k2"]  # an ended record is still found, after the others
        assert client.get(f"/{EDGE}/records?q=barn&current=true").get_json() == {}
        done = runner.invoke(main, ["--db", db, "index", EDGE, "street", "--search", "--drop"])
        assert done.exit_code == 0 and "no longer searched" in done.output, done.output
        assert keys("birch") == [] and keys("mill") == ["k1"]
        service.add_record(engine, EDGE, "k3", {"edge": "k3", "name": "Birch House", "street": "Birch Grove"}, by="test")
        assert keys("birch") == ["k3"]
        refused = runner.invoke(main, ["--db", db, "index", EDGE, "nowhere", "--search"])
        assert refused.exit_code != 0 and "has no field 'nowhere'" in refused.output


def test_a_large_staged_load_and_a_dry_run(engine: Engine, db_url: str) -> None:
    """A load of more than a chunk goes through the staged bulk path (and the checker process);
    a dry run leaves no row behind."""
    service.create_register(engine, EDGE, load_definition(json.dumps(DEFINITION)), by="test")
    items = [(f"k{i}", {"edge": f"k{i}", "name": f"House {i} {'Ended' if i % 10 == 0 else 'Open'}",
                        **({"end-date": "2001-01-01"} if i % 10 == 0 else {})}) for i in range(25_000)]
    service.append_items(engine, EDGE, items)
    with app_client(db_url) as client:
        assert len(found(client, EDGE, "house", size=5000)) == 25_000
        assert found(client, EDGE, "house 12345") == ["k12345"]
        ended = found(client, EDGE, "ended", size=1000)
        assert len(ended) == 2500 and ended[0] == "k24990"
        assert found(client, EDGE, "house open", size=1000)[0] == "k24999"
        dry = service.load_table(engine, _csv([("k1", "Dry Run")]), "csv", EDGE, dry_run=True)
        assert dry.diff is not None
        assert found(client, EDGE, "dry") == []


def _csv(rows: list[tuple[str, str]]) -> Any:
    import io

    return io.BytesIO(("edge,name\n" + "".join(f"{k},{n}\n" for k, n in rows)).encode())


def test_a_database_from_before_search_is_backfilled_by_the_migration(engine: Engine, db_url: str) -> None:
    load(engine, "country.rsf", "country")
    service.amend_record(engine, "country", "GB", {"name": "Britannia"}, by="test")
    migrations.downgrade(engine, "0007")
    engine.dispose()
    assert service.migrate(db_url) == ("0007", migrations.HEAD)
    migrated = open_engine(db_url)
    with app_client(db_url) as client:
        assert found(client, "country", "britannia") == ["GB"]
        assert found(client, "country", "gb") == ["GB"]
        assert found(client, "country", "united kingdom") == []
        assert set(found(client, "country", "korea")) == {"KR", "KP"}
    with snapshot(migrated) as conn:
        assert search.searched_fields(conn, reads.register_id(conn, "country") or 0) == ("name",)
    migrated.dispose()
