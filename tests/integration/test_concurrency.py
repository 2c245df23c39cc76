"""Several processes appending to one register at once: no gap, no duplicate, root verifies."""

from __future__ import annotations

import multiprocessing as mp

from sqlalchemy import text

from registers import service
from registers.store.engine import open_engine

WRITERS = 3
BATCHES = 12
PER_BATCH = 5


def _writer(url: str, worker: int, barrier, batches: int = BATCHES) -> None:  # type: ignore[no-untyped-def]
    engine = open_engine(url)
    barrier.wait()
    for batch in range(batches):
        items = [
            (f"w{worker}-b{batch}-{i}", {"name": f"writer {worker} batch {batch} row {i}"})
            for i in range(PER_BATCH)
        ]
        service.append_items(engine, "race", items, create=True)
    engine.dispose()


def test_processes_appending_at_once_leave_a_gapless_verifiable_log(db_url: str) -> None:
    made = open_engine(db_url)  # tables and the signing key exist before the race starts
    service.generate_key(made)
    made.dispose()
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(WRITERS)
    workers = [ctx.Process(target=_writer, args=(db_url, w, barrier)) for w in range(WRITERS)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(timeout=300)
    assert [p.exitcode for p in workers] == [0] * WRITERS

    engine = open_engine(db_url)
    total = WRITERS * BATCHES * PER_BATCH
    with engine.connect() as conn:
        numbers = [n for (n,) in conn.execute(text("SELECT number FROM entry WHERE log = 0 ORDER BY number"))]
        keys = conn.execute(text("SELECT count(DISTINCT key) FROM entry WHERE log = 0")).scalar_one()
        checkpoints = conn.execute(text("SELECT user_size FROM checkpoint ORDER BY id")).scalars().all()
    assert numbers == list(range(1, total + 1))
    assert keys == total
    # every committed batch left one checkpoint, each exactly one batch larger than the last
    assert checkpoints == list(range(PER_BATCH, total + 1, PER_BATCH))
    assert service.verify(engine, "race").head.user_size == total
    engine.dispose()
