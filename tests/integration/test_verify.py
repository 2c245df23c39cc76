"""verify recomputes a register from its log and names the first thing that was changed."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, text

from registers import service
from registers.core.entries import Log
from registers.core.errors import IntegrityError, InvalidRange
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


# -- verifying only what came since an earlier verification --------------------------------


@pytest.fixture
def grown(country: Engine) -> Engine:
    """country after an audit at 208 entries: two amends since (entries 209 and 210)."""
    service.verify(country, "country")
    service.amend_record(country, "country", "GB", {"name": "Great Britain"}, by="a test")
    service.amend_record(country, "country", "FR", {"name": "The French Republic"}, by="a test")
    return country


def _failure_since(engine: Engine, since: int = 208) -> str:
    with pytest.raises(IntegrityError) as caught:
        service.verify(engine, "country", since=since)
    return str(caught.value)


def test_verifying_since_a_checkpoint_recomputes_only_what_came_after(grown: Engine) -> None:
    result = service.verify(grown, "country", since=208)
    assert result.since is not None and result.since.user_size == 208
    # two amends: two user entries and each its 'change' system entry, four new items
    assert (result.head.user_size, result.entries[Log.USER], result.entries[Log.SYSTEM], result.items) == (
        210, 2, 2, 4)
    assert service.verify(grown, "country").entries[Log.USER] == 210


def test_a_changed_entry_after_the_checkpoint_is_caught(grown: Engine) -> None:
    _tamper(grown, "UPDATE entry SET key = 'XX' WHERE {COUNTRY} AND log = 0 AND number = 210")
    assert _failure_since(grown).startswith("user entry 210 (key 'XX') has been changed")


def test_an_edited_item_after_the_checkpoint_is_caught(grown: Engine) -> None:
    with grown.connect() as conn:
        digest = conn.execute(text(f"SELECT item_hashes FROM entry WHERE {COUNTRY} AND log = 0 AND number = 209"))
        digest = bytes(digest.scalar_one())
    _tamper(grown, "UPDATE item SET content = :new WHERE {COUNTRY} AND hash = :digest",
            digest=digest, new=b'{"country":"GB","name":"Great Britain!"}')
    assert _failure_since(grown).startswith("user entry 209 (key 'GB'): item sha-256:")


def test_a_changed_tile_under_the_checkpoint_is_caught(grown: Engine) -> None:
    # the later tree is built on the stored edge at 208: it must still give the signed root
    with grown.begin() as conn:
        reg = conn.execute(text("SELECT id FROM register WHERE name = 'country'")).scalar_one()
        where = "WHERE register_id = :r AND log = 0 AND level = 0 AND idx = 0"
        tile = conn.execute(text(f"SELECT hashes FROM merkle_tile {where}"), {"r": reg}).scalar_one()
        conn.execute(text(f"UPDATE merkle_tile SET hashes = :h {where}"), {"r": reg, "h": bytes(32) + bytes(tile[32:])})
    assert _failure_since(grown).startswith("user log: the stored Merkle tiles at size 208 give root sha-256:")


def test_a_record_left_at_an_entry_before_the_checkpoint_is_caught(grown: Engine) -> None:
    _tamper(grown, "UPDATE record SET entry_number = 7 WHERE {COUNTRY} AND log = 0 AND key = 'GB'")
    assert _failure_since(grown) == "user record 'GB' points at entry 7, but entry 209 is later"


def test_entries_before_the_checkpoint_are_left_to_the_earlier_verification(grown: Engine) -> None:
    _tamper(grown, "UPDATE entry SET key = 'XX' WHERE {COUNTRY} AND log = 0 AND number = 37")
    assert service.verify(grown, "country", since=208).head.user_size == 210  # what 'since' promises
    assert _failure(grown).startswith("user entry 37 (key 'XX') has been changed")  # a full one finds it


def test_since_must_name_a_checkpoint(grown: Engine) -> None:
    with pytest.raises(InvalidRange, match="no checkpoint of this register has 100 user entries"):
        service.verify(grown, "country", since=100)
