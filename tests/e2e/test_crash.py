"""Crash safety: a load killed with SIGKILL at random points leaves the register exactly as it
was before the load or exactly as after it, verifying either way; the next load succeeds."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from registers import service
from registers.core.items import canonical_json, item_digest
from tests.e2e.test_cli import _registers_command, ok

TRIALS = 20
ENTRIES = 8_000
LONG_TRIALS, LONG_ENTRIES = 100, 40_000  # the long variant: pytest -m long


def _big_rsf(path: Path, first: int, count: int) -> None:
    """``count`` generated entries (not real data) numbered from ``first``, as a dump of their own."""
    lines = []
    for n in range(first, first + count):
        blob = canonical_json({"name": f"generated {n}", "ref": str(n)})
        lines.append(b"add-item\t" + blob + b"\n")
        lines.append(f"append-entry\tuser\tk{n}\t2024-01-01T00:00:00Z\tsha-256:{item_digest(blob).hex()}\n".encode())
    path.write_bytes(b"".join(lines))


def _batch(engine, tmp_path: Path, name: str, entries: int) -> tuple[Path, int]:  # type: ignore[no-untyped-def]
    """A batch of ``entries`` continuing the register (from its root, named by an assert); its size before."""
    before = service.head(engine, "crash").user_size if service.list_registers(engine) else 0
    rsf = tmp_path / f"{name}.rsf"
    _big_rsf(rsf, before, entries)
    if before:
        root = service.head(engine, "crash").user_root
        rsf.write_bytes(f"assert-root-hash\tsha-256:{root.hex()}\n".encode() + rsf.read_bytes())
    return rsf, before


def _load(db_url: str, rsf: Path) -> subprocess.Popen:  # type: ignore[type-arg]
    return subprocess.Popen([*_registers_command(), "--db", db_url, "load", str(rsf), "--register", "crash"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _abandoned_work_ended(engine) -> None:  # type: ignore[no-untyped-def]
    """On PostgreSQL a killed client's backend runs its statement on until it finds the client
    gone, holding the register's lock (and committing nothing): wait until the lock is free, as
    the next writer would, so each trial starts alike."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect() as conn:
        for _ in range(600):
            try:
                conn.execute(text("SELECT id FROM register WHERE name = 'crash' FOR UPDATE NOWAIT"))
                conn.rollback()
                return
            except OperationalError:
                conn.rollback()
                time.sleep(0.1)
    raise AssertionError("the killed load's backend still holds the register lock after 60 s")


def test_a_load_killed_at_random_points_is_all_or_nothing(db_url: str, tmp_path: Path) -> None:
    _killed_loads(db_url, tmp_path, TRIALS, ENTRIES)


@pytest.mark.long
def test_long_many_large_loads_killed_at_random_points(db_url: str, tmp_path: Path) -> None:
    # each trial verifies what came since the checkpoint before it (the register grows to
    # millions of entries: verifying it whole every time made the variant quadratic); the end
    # verifies it whole
    _killed_loads(db_url, tmp_path, LONG_TRIALS, LONG_ENTRIES, since_before=True)


def _killed_loads(db_url: str, tmp_path: Path, trials: int, entries: int, since_before: bool = False) -> None:
    """SIGKILL ``trials`` loads of ``entries`` at random points; each leaves before or after.
    After each, the register verifies (with ``since_before``, from the checkpoint before it)."""
    random.seed(7)
    engine = service.open_database(db_url)
    try:
        service.generate_key(engine)  # made before any load is timed or killed
        # how long one whole load on top of earlier ones takes here: kills are spread from early
        # on to well past its end, so both outcomes happen
        for timed in ("first", "timed"):
            rsf, _before = _batch(engine, tmp_path, timed, entries)
            started = time.monotonic()
            assert _load(db_url, rsf).wait(timeout=300) == 0
            whole = time.monotonic() - started
        sizes = []
        for trial in range(trials):
            rsf, before = _batch(engine, tmp_path, f"batch{trial}", entries)
            process = _load(db_url, rsf)
            time.sleep(random.uniform(0.1, 2.0) * whole)
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=60)
            _abandoned_work_ended(engine)
            after = service.head(engine, "crash").user_size
            assert after in (before, before + entries), f"trial {trial}: {before} -> {after}"
            assert service.verify(engine, "crash", since=before if since_before else 0).head.user_size == after
            sizes.append((before, after))
        # some kills landed mid-load (every one does on a loaded PostgreSQL; the property above is
        # what must hold whichever way each trial ended)
        assert any(a == b for b, a in sizes), sizes
        # the next load succeeds, continuing from wherever the register stands
        final, before = _batch(engine, tmp_path, "final", entries)
        ok(db_url, "load", str(final), "--register", "crash")
        assert service.verify(engine, "crash").head.user_size == before + entries
    finally:
        engine.dispose()
