"""Field indexes: lookups by value answer exactly as the scan does, before and after changes,
built after the data or kept while it loads, and a stray index row can never give a wrong answer."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, text

from cli import main
from registers import service
from registers.core.errors import RegisterError
from registers.core.field_values import value_hash
from registers.store.schema import field_value
from tests.conftest import RSF
from tests.integration.helpers import app_client, load

SIC = "industrial-classification"
PARENT = "parent-industrial-classification"
FIELDS = (PARENT, "name", "end-date")
SAMPLE = 25  # values looked up per field (each also scanned)


def found(engine: Engine, field: str, value: str) -> list[tuple[str, int]]:
    """(key, entry number) of the records a lookup finds, in the order given."""
    return [(r.entry.key, r.entry.number) for r in service.list_records(engine, SIC, field=field, value=value)]


def every_value(engine: Engine, field: str) -> Counter[str]:
    """How many current records hold each value of ``field`` (read from the records themselves)."""
    held = (r.item.get(field) for r in service.list_records(engine, SIC))
    return Counter(v for v in held if isinstance(v, str))


def index_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(field_value)).scalar_one())


@pytest.fixture
def sic(engine: Engine) -> Engine:
    load(engine, "industrial-classification.rsf")
    return engine


def test_indexed_lookups_answer_as_the_scan(sic: Engine) -> None:
    counts = {f: every_value(sic, f) for f in FIELDS}
    sample = {f: [v for v, _ in counts[f].most_common(SAMPLE)] for f in FIELDS}
    scanned = {f: {v: found(sic, f, v) for v in sample[f]} for f in FIELDS}
    assert max(counts[PARENT].values()) >= 9  # values shared by many records
    for field in FIELDS:
        assert service.index_field(sic, SIC, field) == sum(counts[field].values())
    assert service.indexed_fields(sic, SIC) == tuple(sorted(FIELDS))
    for field, values in scanned.items():
        for value, expected in values.items():
            assert found(sic, field, value) == expected, (field, value)
            assert len(expected) == counts[field][value]
    assert found(sic, PARENT, "no such value") == []


def test_index_kept_through_amends_ends_and_new_records(sic: Engine) -> None:
    service.index_field(sic, SIC, PARENT)
    under_c = found(sic, PARENT, "C")
    key = under_c[-1][0]
    service.amend_record(sic, SIC, key, {PARENT: "47"}, by="test")
    assert key not in [k for k, _ in found(sic, PARENT, "C")]
    assert len(found(sic, PARENT, "C")) == len(under_c) - 1
    assert found(sic, PARENT, "47")[0][0] == key  # newest first
    service.end_record(sic, SIC, key, "2020-01-01", by="test")
    assert found(sic, PARENT, "47")[0][0] == key  # an ended record is still a record
    service.add_record(sic, SIC, "99.99", {"name": "Test activities", PARENT: "C"}, by="test")
    service.amend_record(sic, SIC, key, {PARENT: "C"}, by="test")
    again = found(sic, PARENT, "C")
    assert [k for k, _ in again[:2]] == [key, "99.99"] and len(again) == len(under_c) + 1
    assert [n for _, n in again] == sorted((n for _, n in again), reverse=True)
    assert set(again) == {
        (r.entry.key, r.entry.number) for r in service.list_records(sic, SIC) if r.item.get(PARENT) == "C"
    }


def test_an_index_kept_while_loading_equals_one_built_afterwards(
    engine: Engine, other_engine: Engine, tmp_path: Path
) -> None:
    lines = (RSF / "industrial-classification.rsf").read_bytes().splitlines(keepends=True)
    system = [line for line in lines if line.startswith(b"append-entry\tsystem")]  # the definition
    used = {line.rstrip(b"\n").split(b"\t")[-1].removeprefix(b"sha-256:").decode() for line in system}
    items = [line for line in lines if line.startswith(b"add-item\t")
             and hashlib.sha256(line.rstrip(b"\n")[9:]).hexdigest() in used]
    definition = tmp_path / "definition.rsf"
    definition.write_bytes(b"".join([lines[0], *items, *system]))
    service.load_rsf(engine, str(definition), SIC)  # the definition first, so the field exists
    service.index_field(engine, SIC, PARENT)
    load(engine, "industrial-classification.rsf")  # continues from the definition: kept as the records load
    load(other_engine, "industrial-classification.rsf")
    service.index_field(other_engine, SIC, PARENT)  # built from the current records
    for value in every_value(engine, PARENT):  # both indexed: every value is cheap
        assert found(engine, PARENT, value) == found(other_engine, PARENT, value)
    # kept while loading, every entry's value has a row (history); built, the current records'
    assert index_rows(engine) > index_rows(other_engine) == sum(every_value(other_engine, PARENT).values())


def test_a_stray_index_row_never_gives_a_wrong_answer(sic: Engine) -> None:
    service.index_field(sic, SIC, PARENT)
    under_c = found(sic, PARENT, "C")
    other = found(sic, PARENT, "47")[0]
    with sic.begin() as conn:  # as if the value of a record under 47 hashed like "C"
        conn.execute(
            text("INSERT INTO field_value (register_id, field, value_hash, entry_number) "
                 f"SELECT id, '{PARENT}', :h, :n FROM register WHERE name = '{SIC}'"),
            {"h": value_hash("C"), "n": other[1]},
        )
    assert found(sic, PARENT, "C") == under_c


def test_refusals_and_dropping(sic: Engine) -> None:
    with pytest.raises(RegisterError, match=f"register '{SIC}' has no field 'postcode' .*its fields: .*{PARENT}"):
        service.index_field(sic, SIC, "postcode")
    with pytest.raises(RegisterError, match="no-such"):
        service.index_field(sic, "no-such", PARENT)
    before = service.verify(sic, SIC).head
    service.index_field(sic, SIC, PARENT)
    assert service.index_field(sic, SIC, PARENT) == 0  # already indexed
    expected = found(sic, PARENT, "C")
    assert service.drop_field_index(sic, SIC, PARENT) is True
    assert index_rows(sic) == 0 and service.indexed_fields(sic, SIC) == ()
    assert found(sic, PARENT, "C") == expected  # the scan answers the same
    assert service.drop_field_index(sic, SIC, PARENT) is False
    assert service.verify(sic, SIC).head == before  # indexing leaves the log as it was


@pytest.fixture
def client(sic: Engine, db_url: str) -> Iterator[FlaskClient]:
    with app_client(db_url) as made:
        yield made


def test_the_api_answers_the_same_with_and_without_the_index(sic: Engine, client: FlaskClient) -> None:
    values = [v for v, _ in every_value(sic, PARENT).most_common(SAMPLE)]
    before = {v: client.get(f"/{SIC}/records/{PARENT}/{v}.json") for v in values}
    runner, db = CliRunner(), sic.url.render_as_string(hide_password=False)
    done = runner.invoke(main, ["--db", db, "index", SIC, PARENT])
    assert done.exit_code == 0, done.output
    assert f"'{PARENT}' indexed" in done.output
    listed = runner.invoke(main, ["--db", db, "index", SIC])
    assert listed.output.split() == [PARENT]
    for value, answer in before.items():
        again = client.get(f"/{SIC}/records/{PARENT}/{value}.json")
        assert again.status_code == answer.status_code == 200
        assert json.loads(again.data) == json.loads(answer.data) and json.loads(answer.data)


def test_a_load_of_many_chunks_merges_its_staged_records_and_values(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A streamed file stages its record index updates and field values and merges them at the
    end: with chunks of 7 entries, keys changed in one chunk and again in a later one (country
    has 8 such) must end at their last entry, and every value lookup answer as the scan."""
    from registers.store import append

    lines = (RSF / "country.rsf").read_bytes().splitlines(keepends=True)
    system = [line for line in lines if line.startswith(b"append-entry\tsystem")]
    used = {line.rstrip(b"\n").split(b"\t")[-1].removeprefix(b"sha-256:").decode() for line in system}
    items = [line for line in lines if line.startswith(b"add-item\t")
             and hashlib.sha256(line.rstrip(b"\n")[9:]).hexdigest() in used]
    definition = tmp_path / "definition.rsf"
    definition.write_bytes(b"".join([lines[0], *items, *system]))
    service.load_rsf(engine, str(definition), "country")
    service.index_field(engine, "country", "name")
    monkeypatch.setattr(append, "CHUNK", 7)
    result = load(engine, "country.rsf")
    last: dict[str, int] = {}
    number = 0
    for line in lines:
        if line.startswith(b"append-entry\tuser"):
            number += 1
            last[line.split(b"\t")[2].decode()] = number
    records = {r.entry.key: r.entry.number for r in service.list_records(engine, "country")}
    assert records == last and len(last) == 199 < number == result.head.user_size == 209
    names = Counter(r.item["name"] for r in service.list_records(engine, "country"))
    for name in names:
        hits = [r.entry.key for r in service.list_records(engine, "country", field="name", value=name)]
        assert len(hits) == names[name] and all(records[k] for k in hits)
    assert service.verify(engine, "country").head == result.head
    with engine.connect() as conn:  # the temporary tables went with the batch
        tables = {name for (name,) in conn.execute(text(
            "SELECT name FROM sqlite_temp_master" if engine.dialect.name == "sqlite"
            else "SELECT tablename FROM pg_tables WHERE schemaname LIKE 'pg_temp%'"))}
    assert not tables & {"entry_stage", "field_stage", "item_stage"}
