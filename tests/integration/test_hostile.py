"""Hostile input: any bytes into the RSF and table readers and into ``load`` give a clean
refusal (a RegisterError naming the line) or a valid load, never another exception and never a
partial write; hostile HTTP requests get a 4xx problem, never a 500."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from registers import service
from registers.core.definitions import load_definition
from registers.core.errors import LineError, RegisterError
from registers.core.items import canonical_json, item_digest
from registers.core.rsf import read_rsf
from registers.loaders.tables import read_rows
from tests.conftest import ROOT
from tests.integration.helpers import app_client, load, snapshot

FUZZ = settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))

_prefixes = st.sampled_from(
    [b"add-item\t", b"append-entry\tuser\t", b"append-entry\tsystem\t", b"assert-root-hash\t", b""]
)
_junk_lines = st.tuples(_prefixes, st.binary(max_size=100)).map(lambda pair: pair[0] + pair[1])


@st.composite
def _plausible_rsf(draw: st.DrawFn) -> bytes:
    """RSF that is mostly well formed, with the odd wrong hash, key, timestamp or line."""
    out = []
    for _ in range(draw(st.integers(0, 6))):
        value = {draw(st.sampled_from(["name", "country", "x"])): draw(st.text(max_size=12))}
        blob = canonical_json(value)
        digest = item_digest(blob)
        if draw(st.booleans()):
            out.append(b"add-item\t" + blob)
        key = draw(st.sampled_from(["GB", "FR", "a b", "", "k/1", "\u00e9"]))
        stamp = draw(st.sampled_from(["2020-01-01T00:00:00Z", "2020-13-01T00:00:00Z", "yesterday"]))
        hashed = draw(st.sampled_from([digest.hex(), "0" * 64, digest.hex()[:10]]))
        out.append(f"append-entry\t{draw(st.sampled_from(['user', 'system']))}\t{key}\t{stamp}\tsha-256:{hashed}"
                   .encode())
        if draw(st.integers(0, 5)) == 0:
            out.append(draw(_junk_lines))
    return b"\n".join(out) + draw(st.sampled_from([b"", b"\n", b"\r\n"]))


@FUZZ
@given(st.one_of(st.lists(_junk_lines, max_size=8).map(b"\n".join), _plausible_rsf(), st.binary(max_size=300)))
def test_the_rsf_reader_reads_or_names_the_line(data: bytes) -> None:
    try:
        list(read_rsf(io.BytesIO(data)))
    except LineError as exc:
        assert exc.line >= 1 and "\n" not in str(exc)


@pytest.fixture(scope="module")
def country_definition():  # type: ignore[no-untyped-def]
    return load_definition((ROOT / "schemas" / "country.json").read_text())


@FUZZ
@given(
    fmt=st.sampled_from(["csv", "tsv", "json", "jsonl"]),
    data=st.one_of(
        st.binary(max_size=300),
        st.lists(st.text(alphabet="country,name\t;\"\n\r{}[]:GBFR é\x00", max_size=40), max_size=6)
        .map(lambda rows: "\n".join(rows).encode("utf-8", "surrogatepass")),
    ),
)
def test_the_table_reader_reads_or_refuses(country_definition, fmt: str, data: bytes) -> None:  # type: ignore[no-untyped-def]
    try:
        list(read_rows(io.BytesIO(data), fmt, country_definition))
    except RegisterError as exc:
        assert "\n" not in str(exc)


@pytest.fixture
def small_country(engine: Engine) -> Engine:
    load(engine, "country-small.rsf", "country")
    return engine


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.one_of(_plausible_rsf(), st.lists(_junk_lines, max_size=6).map(b"\n".join)))
def test_load_is_a_valid_load_or_a_refusal_that_stores_nothing(small_country: Engine, tmp_path_factory, data: bytes) -> None:  # type: ignore[no-untyped-def]
    path: Path = tmp_path_factory.mktemp("fuzz") / "input.rsf"
    path.write_bytes(data)
    before = snapshot(small_country)
    try:
        result = service.load_rsf(small_country, str(path), "country")
    except RegisterError as exc:
        assert "\n" not in str(exc)
        assert snapshot(small_country) == before
        return
    assert service.verify(small_country, "country").head == result.head


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[FlaskClient]:
    load(engine, "country-small.rsf", "country")
    with app_client(db_url) as made:
        yield made


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/country/records?page-size=100000000000000000000", 400),
        ("/country/records?page-size=-1", 400),
        ("/country/entries?limit=99999999999999999999999&start=1", 400),
        ("/country/entries?start=99999999999999999999999", 400),
        ("/country/entries/99999999999999999999999999", 400),
        ("/country/records/" + "A" * 100_000, 404),
        ("/country/records/%00", 400),
        ("/country/records?q=%00", 400),
        ("/country/records/name/%00x", 400),
        ("/country/records/..%2F..%2Fetc%2Fpasswd", 404),
        ("/../../etc/passwd", 404),
        ("/country/items/sha-256:" + "g" * 64, 400),
        ("/country/proof/entries/1/99999999999999999999/merkle:sha-256", 400),
        ("/country/proof/consistency/1/99999999999999999999/merkle:sha-256", 400),
        ("/country/download-rsf/0/99999999999999999999", 400),
        ("/country/system/download-rsf/0/99999999999999999999", 400),
        ("/Country/records", 404),
        ("/country/records?as-of=abc", 400),
        ("/country/records?before=%F0%9F%92%A9", 400),
    ],
)
def test_hostile_requests_get_a_4xx_problem_never_a_500(client: FlaskClient, path: str, status: int) -> None:
    answer = client.get(path)
    assert answer.status_code == status, answer.data[:300]
    assert answer.content_type == "application/problem+json"
    problem = answer.get_json()
    assert problem["status"] == status and problem["title"] and problem["detail"]  # says what is wrong
    assert "\n" not in problem["detail"] and "Traceback" not in problem["detail"]  # one line, no internals


def test_an_oversized_line_is_refused_without_reading_it_whole(small_country: Engine, tmp_path: Path) -> None:
    from registers.core.rsf import MAX_LINE

    path = tmp_path / "huge.rsf"
    with open(path, "wb") as out:
        out.write(b'add-item\t{"name":"' + b"x" * (MAX_LINE * 4) + b'"}\n')
    before = snapshot(small_country)
    with pytest.raises(RegisterError, match=f"huge.rsf:1: line is longer than {MAX_LINE} bytes"):
        service.load_rsf(small_country, str(path), "country")
    assert snapshot(small_country) == before


def test_deeply_nested_json_is_refused_as_an_item(small_country: Engine, tmp_path: Path) -> None:
    path = tmp_path / "deep.rsf"
    path.write_bytes(b"add-item\t" + b"[" * 100_000 + b"]" * 100_000 + b"\n")
    with pytest.raises(RegisterError, match="deep.rsf:1: item is not valid JSON"):
        service.load_rsf(small_country, str(path), "country")


@pytest.mark.parametrize(("fmt", "data", "reason"), [
    ("csv", b"country,name\nGB," + b"x" * 300_000 + b"\n", "line 2: malformed CSV: field larger than field limit"),
    ("tsv", b"country\tname\nGB\t" + b"x" * 300_000 + b"\n", "line 2: malformed TSV: field larger than field limit"),
    ("json", b"[" * 100_000 + b"]" * 100_000, "not valid JSON: too deeply nested"),
    ("jsonl", b'{"country":"GB"}\n' + b"[" * 100_000 + b"\n", "line 2: not a JSON object: too deeply nested"),
])
def test_oversized_and_deep_tables_are_refused(country_definition, fmt: str, data: bytes, reason: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RegisterError, match=reason):
        list(read_rows(io.BytesIO(data), fmt, country_definition))
