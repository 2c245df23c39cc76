"""Canonical item bytes and v1 item hashes."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registers.core.items import (
    InvalidItem,
    canonical_json,
    canonical_json_reference,
    hash_text,
    item_digest,
    item_hash,
    parse_canonical,
    parse_hash,
)
from tests.conftest import vector

VECTORS = vector("item-hashes.json")["items"]


@pytest.mark.parametrize("case", VECTORS, ids=[c["item-hash"][8:16] for c in VECTORS])
def test_item_hash_vectors(case: dict) -> None:
    assert canonical_json(case["item"]) == case["canonical_json"].encode("utf-8")
    assert item_hash(case["item"]) == case["item-hash"]
    assert parse_canonical(case["canonical_json"].encode("utf-8")) == case["item"]


def test_non_ascii_is_written_raw_and_slash_unescaped() -> None:
    item = {"name": "Côte d’Ivoire", "url": "https://example.gov.uk/a/b"}
    assert canonical_json(item) == '{"name":"Côte d’Ivoire","url":"https://example.gov.uk/a/b"}'.encode()


def test_control_characters_use_short_escapes_or_upper_case_hex() -> None:
    item = {"a": "tab\there\nnew\x01\x1f\\u00ab"}
    assert canonical_json(item) == b'{"a":"tab\\there\\nnew\\u0001\\u001F\\\\u00ab"}'


@pytest.mark.parametrize(
    "blob",
    [
        b'{ "a":"b"}',  # whitespace
        b'{"b":"1","a":"2"}',  # keys out of order
        b'{"a":"\\u00e9"}',  # escaped non-ASCII
        b'{"a":"\\u001f"}',  # lower-case hex
        b'{"a":"b","a":"c"}',  # duplicate key
        b'{"a":1}',  # not a string
        b'["a"]',  # not an object
        b'{"a":"\xff"}',  # not UTF-8
        b'{"a":',  # not JSON
    ],
)
def test_non_canonical_or_invalid_bytes_are_refused(blob: bytes) -> None:
    with pytest.raises(InvalidItem):
        parse_canonical(blob)


def test_lone_surrogate_is_refused() -> None:
    with pytest.raises(InvalidItem):
        canonical_json({"a": "\ud800"})


def test_hash_text_round_trip_and_bad_hashes() -> None:
    digest = item_digest(b"{}")
    assert parse_hash(hash_text(digest)) == digest
    for bad in ["sha-256:" + "A" * 64, "sha-256:abc", "md5:" + "0" * 64, "K3rfuFF1e"]:
        with pytest.raises(ValueError):
            parse_hash(bad)


values = st.one_of(st.text(), st.lists(st.text(), max_size=4))
items = st.dictionaries(st.text(min_size=1), values, max_size=6)


@given(items)
def test_canonical_bytes_parse_back_to_the_item(item: dict) -> None:
    try:
        blob = canonical_json(item)
    except InvalidItem:  # surrogates cannot be UTF-8
        return
    assert parse_canonical(blob) == item
    assert json.loads(blob) == item
    assert canonical_json(json.loads(blob)) == blob


@given(items)
def test_fast_canonical_bytes_equal_the_standard_library_reference(item: dict) -> None:
    try:
        reference = canonical_json_reference(item)
    except InvalidItem:
        with pytest.raises(InvalidItem):
            canonical_json(item)
        return
    assert canonical_json(item) == reference


def test_every_control_character_and_tricky_text_matches_the_reference() -> None:
    for code in [*range(0x20), 0x7F, 0x2028, 0x2029, 0xFEFF, 0x1F600]:
        item = {"k" + chr(code): ["a" + chr(code) + "\\u00ab", chr(code)]}
        assert canonical_json(item) == canonical_json_reference(item)
