"""The as-of index (``superseded``): the records as they stood after any entry N, read by a walk
of the log, equal a replay of the first N entries; the index is written by every kind of append
(a streamed load, a change to one record) and by the migration that backfills it."""

from __future__ import annotations

import random

from sqlalchemy import Engine, delete, select

from registers import service
from registers.store import records, schema
from registers.store.engine import snapshot
from registers.store.migrations import downgrade, upgrade
from tests.integration.helpers import load


def replay(engine: Engine, reg_id: int, as_of: int) -> list[tuple[int, str]]:
    """The records after entry ``as_of`` by replaying the log: (entry number, key), newest first."""
    latest: dict[str, int] = {}
    with snapshot(engine) as conn:
        e = schema.entry.c
        for number, key in conn.execute(
            select(e.number, e.key).where(e.register_id == reg_id, e.log == 0, e.number <= as_of).order_by(e.number)
        ):
            latest[key] = number
    return sorted(((n, k) for k, n in latest.items()), reverse=True)


def walked(engine: Engine, reg_id: int, as_of: int | None, page: int) -> list[tuple[int, str]]:
    """The same by keyset pages of ``page`` records."""
    out: list[tuple[int, str]] = []
    before = None
    with snapshot(engine) as conn:
        while True:
            found = records.record_entries(conn, reg_id, page, as_of, before)
            out += [(e.number, e.key) for e in found]
            if len(found) < page:
                return out
            before = found[-1].number


def superseded_rows(engine: Engine) -> list[tuple[int, int, int]]:
    with snapshot(engine) as conn:
        s = schema.superseded.c
        return [tuple(r) for r in conn.execute(select(s.register_id, s.number, s.by_number).order_by(s.number))]


def build(engine: Engine) -> int:
    """country-small, its update, then random changes through both write paths."""
    load(engine, "country-small.rsf", "country")
    load(engine, "country-small-update.rsf", "country")
    rng = random.Random(23)
    keys = [f"Q{c}" for c in "ABCDEFGH"]
    for round_ in range(6):  # streamed batches (staged), keys repeated within and across them
        batch = [(rng.choice(keys), {"country": "", "name": f"Land {round_}-{i}"}) for i in range(7)]
        service.append_items(engine, "country", [(k, {**item, "country": k}) for k, item in batch])
    for i in range(5):  # one record changed at a time (written directly)
        service.amend_record(engine, "country", rng.choice(["GB", "AL", "AF"]), {"name": f"Renamed {i}"}, by="Jane")
    with snapshot(engine) as conn:
        return int(conn.execute(select(schema.register.c.id).where(schema.register.c.name == "country")).scalar_one())


def test_records_as_of_every_entry_equal_a_replay_at_every_page_size(engine: Engine) -> None:
    reg_id = build(engine)
    size = service.head(engine, "country").user_size
    assert size > 50
    for as_of in range(1, size + 1):
        expected = replay(engine, reg_id, as_of)
        assert walked(engine, reg_id, as_of, 7) == expected, as_of
    assert walked(engine, reg_id, None, 5) == replay(engine, reg_id, size)
    assert walked(engine, reg_id, None, 1000) == replay(engine, reg_id, size)


def test_the_migration_backfills_exactly_what_the_appends_wrote(engine: Engine) -> None:
    build(engine)
    written = superseded_rows(engine)
    assert len(written) > 20
    downgrade(engine, "0006")
    upgrade(engine)
    assert superseded_rows(engine) == written


def test_a_missing_row_changes_the_as_of_records(engine: Engine) -> None:
    """The walk reads the index (a test that could not fail otherwise): drop one row and an
    entry superseded before comes back as a record."""
    reg_id = build(engine)
    size = service.head(engine, "country").user_size
    _reg, number, by = superseded_rows(engine)[0]
    with engine.begin() as conn:
        conn.execute(delete(schema.superseded).where(schema.superseded.c.number == number))
    assert number in [n for n, _k in walked(engine, reg_id, by, 7)]
    assert walked(engine, reg_id, by, 7) != replay(engine, reg_id, by)
    assert walked(engine, reg_id, size, 7) != replay(engine, reg_id, size)


def test_verify_checks_the_as_of_index_row_by_row(engine: Engine) -> None:
    import pytest
    from sqlalchemy import insert, update

    from registers.core.errors import IntegrityError

    build(engine)
    size = service.verify(engine, "country").head.user_size
    rows = superseded_rows(engine)
    reg_id, number, by = rows[0]
    s = schema.superseded.c
    tampered = [
        (update(schema.superseded).where(s.number == number).values(by_number=by + 1),
         f"says user entry {number} was superseded by entry {by + 1}, but the next entry for its key is {by}"),
        (delete(schema.superseded).where(s.number == number),
         f"does not say that user entry {number} was superseded by entry {by}"),
        (insert(schema.superseded).values(register_id=reg_id, number=size, by_number=size + 5),
         f"says user entry {size} was superseded by entry {size + 5}, but no later entry has its key"),
    ]
    for change, message in tampered:
        with engine.begin() as conn:
            before = [tuple(r) for r in conn.execute(select(schema.superseded).order_by(s.number))]
            conn.execute(change)
        with pytest.raises(IntegrityError) as refused:
            service.verify(engine, "country")
        if message:
            assert message in str(refused.value)
        with engine.begin() as conn:
            conn.execute(delete(schema.superseded))
            conn.execute(insert(schema.superseded), [dict(zip(("register_id", "number", "by_number"), r, strict=True))
                                                      for r in before])
        service.verify(engine, "country")


def test_a_write_over_a_store_behind_its_entries_is_refused_in_one_line(engine: Engine) -> None:
    """Whoever deletes the latest checkpoint row leaves entries the head does not count: the
    next write would write an entry that exists. It is refused in one line saying what to do,
    and the store is as it was."""
    import pytest

    from registers.core.errors import IntegrityError
    from tests.integration.helpers import snapshot as table_snapshot

    build(engine)
    c = schema.checkpoint.c
    with engine.begin() as conn:
        latest = conn.execute(select(c.id).order_by(c.id.desc()).limit(1)).scalar_one()
        conn.execute(delete(schema.checkpoint).where(c.id == latest))
    before = table_snapshot(engine)
    with pytest.raises(IntegrityError) as refused:
        service.add_record(engine, "country", "QQ", {"name": "Nowhere"}, by="Jane")
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith("register 'country': the store does not match its latest checkpoint")
    assert "run 'registers verify country'" in str(refused.value)
    assert table_snapshot(engine) == before
