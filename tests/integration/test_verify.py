"""verify recomputes a register from its log and names the first thing that was changed."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from registers import service
from registers.core.entries import Log
from registers.core.errors import IntegrityError
from tests.conftest import RSF
from tests.integration.helpers import load


@pytest.fixture
def country(engine: Engine) -> Engine:
    load(engine, "country-208.rsf", "country")
    load(engine, "country-small.rsf", "small")  # a neighbour that must stay untouched
    return engine


COUNTRY = "register_id = (SELECT id FROM register WHERE name = 'country')"


def _tamper(engine: Engine, sql: str, **params: object) -> None:
    """Change the stored data behind the platform's back, as an attacker with the database would."""
    with engine.begin() as conn:
        assert conn.execute(text(sql.replace("{COUNTRY}", COUNTRY)), params).rowcount == 1


def _failure(engine: Engine) -> str:
    with pytest.raises(IntegrityError) as caught:
        service.verify(engine, "country")
    assert service.verify(engine, "small").head.user_size == 7
    return str(caught.value)


def test_an_untouched_register_verifies(country: Engine) -> None:
    result = service.verify(country, "country")
    assert (result.head.user_size, result.entries[Log.USER], result.entries[Log.SYSTEM]) == (208, 208, 16)
    assert result.items == len({line for line in (RSF / "country-208.rsf").read_bytes().splitlines() if line.startswith(b"add-item")})


def test_an_edited_item_is_caught_and_its_entry_named(country: Engine) -> None:
    _tamper(
        country,
        "UPDATE item SET content = :new WHERE {COUNTRY} AND content = :old",
        old=b'{"citizen-names":"Andorran","country":"AD","name":"Andorra","official-name":"The Principality of Andorra"}',
        new=b'{"citizen-names":"Andorran","country":"AD","name":"Andorra!","official-name":"The Principality of Andorra"}',
    )
    assert "user entry 10 (key 'AD')" in _failure(country)


def test_an_edited_key_is_caught(country: Engine) -> None:
    _tamper(country, "UPDATE entry SET key = 'XX' WHERE {COUNTRY} AND log = 0 AND number = 37")
    assert _failure(country).startswith("user entry 37 (key 'XX') has been changed")


def test_an_edited_timestamp_is_caught(country: Engine) -> None:
    _tamper(country, "UPDATE entry SET timestamp = '2020-01-01T00:00:00Z' WHERE {COUNTRY} AND log = 1 AND number = 3")
    assert _failure(country).startswith("system entry 3 ")


def test_a_deleted_last_entry_is_caught(country: Engine) -> None:
    _tamper(country, "DELETE FROM entry WHERE {COUNTRY} AND log = 0 AND number = 208")
    assert "user entry 208 is missing" in _failure(country)


def test_two_reordered_entries_are_caught(country: Engine) -> None:
    with country.begin() as conn:
        reg = conn.execute(text("SELECT id FROM register WHERE name = 'country'")).scalar_one()
        for old, new in [(3, -3), (4, 3), (-3, 4)]:
            conn.execute(
                text("UPDATE entry SET number = :new WHERE register_id = :r AND log = 0 AND number = :old"),
                {"r": reg, "old": old, "new": new},
            )
    assert _failure(country).startswith("user entry 3 ")


def test_a_changed_stored_node_is_caught(country: Engine) -> None:
    with country.begin() as conn:
        reg = conn.execute(text("SELECT id FROM register WHERE name = 'country'")).scalar_one()
        tile = conn.execute(
            text("SELECT hashes FROM merkle_tile WHERE register_id = :r AND log = 0 AND level = 0 AND idx = 0"),
            {"r": reg},
        ).scalar_one()
        forged = bytes(tile[:64]) + bytes(32) + bytes(tile[96:])
        conn.execute(
            text("UPDATE merkle_tile SET hashes = :h WHERE register_id = :r AND log = 0 AND level = 0 AND idx = 0"),
            {"r": reg, "h": forged},
        )
    assert _failure(country) == "user log: stored Merkle tile (0, 0) does not match the entries"


def test_a_forged_checkpoint_is_caught(country: Engine) -> None:
    _tamper(country, "UPDATE checkpoint SET user_root = :root WHERE {COUNTRY} AND user_size = 208", root=bytes(32))
    assert _failure(country).startswith("checkpoint 1 (user log) records size 208 root sha-256:0000")


def test_a_forged_record_count_is_caught(country: Engine) -> None:
    head = service.head(country, "country")
    assert head.user_records == 199  # the published register's 199 keys
    _tamper(country, "UPDATE checkpoint SET user_records = 1000 WHERE {COUNTRY}")
    assert "the user log has 199 records, but its latest checkpoint records 1000" in _failure(country)


def test_a_record_index_pointing_at_an_old_entry_is_caught(country: Engine) -> None:
    # GB's latest entry is 7 in country-208; point its record at an earlier one
    _tamper(country, "UPDATE record SET entry_number = 1 WHERE {COUNTRY} AND log = 0 AND key = 'GB'")
    assert "user record 'GB' points at entry 1, but its latest entry is " in _failure(country)


def test_a_record_for_a_key_without_entries_is_caught(country: Engine) -> None:
    _tamper(country, "INSERT INTO record (register_id, log, key, entry_number) "
                     "SELECT register_id, 0, 'ZZ', 208 FROM record WHERE {COUNTRY} AND log = 0 AND key = 'GB'")
    assert "user record 'ZZ' has no entries" in _failure(country)


def test_a_key_missing_from_the_record_index_is_caught(country: Engine) -> None:
    _tamper(country, "DELETE FROM record WHERE {COUNTRY} AND log = 0 AND key = 'GB'")
    assert "user record 'GB' is missing from the record index" in _failure(country)
