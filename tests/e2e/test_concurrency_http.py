"""Eight processes appending to one register while eight read it over HTTP from a real
gunicorn: no gap, no duplicate number, no failed read, and the root verifies."""

from __future__ import annotations

import multiprocessing as mp

import pytest
import requests

from registers import service
from registers.core.notes import VerifierKey, open_checkpoint
from registers.store.engine import open_engine
from tests.e2e.conftest import gunicorn
from tests.integration.test_concurrency import BATCHES, PER_BATCH, _writer  # the same writers

WRITERS = READERS = 8
LONG_BATCHES = 150  # per writer in the long variant (pytest -m long): 6,000 entries in 1,200 changes


def _reader(base: str, keys: list[str], stop, failures) -> None:  # type: ignore[no-untyped-def]
    verifiers = [VerifierKey.parse(k) for k in keys]
    session = requests.Session()
    seen = 0
    while not stop.is_set() or seen == 0:
        try:
            note = session.get(f"{base}/race/checkpoint", timeout=30)
            size = open_checkpoint(note.text, verifiers)[0].size
            numbers: list[int] = []
            while len(numbers) < size:  # pages of at most 5,000 (the long variant passes one page)
                page = session.get(
                    f"{base}/race/entries", params={"start": len(numbers) + 1, "limit": 5000}, timeout=30
                ).json()
                if not page:
                    break
                numbers += [int(e["entry-number"]) for e in page]
            if numbers != list(range(1, len(numbers) + 1)) or len(numbers) < size:
                failures.put(f"entries {numbers[:3]}... ({len(numbers)}) against a checkpoint of {size}")
            records = session.get(f"{base}/race/records", params={"page-size": 5000}, timeout=30)
            if records.status_code != 200:
                failures.put(f"records: HTTP {records.status_code}")
            seen += 1
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none may happen
            failures.put(f"{type(exc).__name__}: {exc}")
            return


def test_eight_writers_and_eight_http_readers_at_once(db_url: str) -> None:
    _race(db_url, BATCHES)


@pytest.mark.long
def test_long_eight_writers_and_eight_http_readers_for_many_changes(db_url: str) -> None:
    _race(db_url, LONG_BATCHES)


def _race(db_url: str, batches: int) -> None:
    """8 writer processes making ``batches`` changes each while 8 readers read over HTTP."""
    engine = open_engine(db_url)
    service.generate_key(engine)  # one key, in the key directory every writer and worker shares
    service.append_items(engine, "race", [("seed", {"name": "the first entry"})], create=True)
    keys = service.public_keys(engine)
    ctx = mp.get_context("spawn")
    barrier, stop, failures = ctx.Barrier(WRITERS), ctx.Event(), ctx.Queue()
    with gunicorn(db_url, workers=2) as base:
        readers = [ctx.Process(target=_reader, args=(base, keys, stop, failures)) for _ in range(READERS)]
        writers = [ctx.Process(target=_writer, args=(db_url, w, barrier, batches)) for w in range(WRITERS)]
        for p in readers + writers:
            p.start()
        for p in writers:
            p.join(timeout=600 * max(1, batches // BATCHES))
        stop.set()
        for p in readers:
            p.join(timeout=120)
    assert [p.exitcode for p in writers + readers] == [0] * (WRITERS + READERS)
    problems = []
    while not failures.empty():
        problems.append(failures.get())
    assert problems == []
    total = 1 + WRITERS * batches * PER_BATCH
    result = service.verify(engine, "race")
    assert result.head.user_size == total and result.head.user_records == total
    engine.dispose()
