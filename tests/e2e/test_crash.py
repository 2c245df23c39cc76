"""Crash safety: a load killed with SIGKILL at random points leaves the register exactly as it
was before the load or exactly as after it, verifying either way; the next load succeeds."""

from __future__ import annotations

import random
import signal
import subprocess
import time
from pathlib import Path

from registers import service
from registers.core.items import canonical_json, item_digest
from tests.e2e.test_cli import _registers_command, ok

TRIALS = 20
ENTRIES = 8_000


def _big_rsf(path: Path, first: int, count: int) -> None:
    """``count`` generated entries (not real data) numbered from ``first``, as a dump of their own."""
    lines = []
    for n in range(first, first + count):
        blob = canonical_json({"name": f"generated {n}", "ref": str(n)})
        lines.append(b"add-item\t" + blob + b"\n")
        lines.append(f"append-entry\tuser\tk{n}\t2024-01-01T00:00:00Z\tsha-256:{item_digest(blob).hex()}\n".encode())
    path.write_bytes(b"".join(lines))


def test_a_load_killed_at_random_points_is_all_or_nothing(db_url: str, tmp_path: Path) -> None:
    random.seed(7)
    engine = service.open_database(db_url)
    sizes = []
    for trial in range(TRIALS):
        rsf = tmp_path / f"batch{trial}.rsf"
        before = service.head(engine, "crash").user_size if service.list_registers(engine) else 0
        _big_rsf(rsf, before, ENTRIES)
        # a batch continues the register: it starts from the register's root, named by an assert
        if before:
            root = service.head(engine, "crash").user_root
            rsf.write_bytes(f"assert-root-hash\tsha-256:{root.hex()}\n".encode() + rsf.read_bytes())
        process = subprocess.Popen([*_registers_command(), "--db", db_url, "load", str(rsf), "--register", "crash"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(random.uniform(0.2, 1.4))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
        after = service.head(engine, "crash").user_size if service.list_registers(engine) else 0
        assert after in (before, before + ENTRIES), f"trial {trial}: {before} -> {after}"
        if after:
            assert service.verify(engine, "crash").head.user_size == after
        sizes.append((before, after))
    assert any(a == b for b, a in sizes) and any(a != b for b, a in sizes), sizes  # both outcomes were seen
    # the next load succeeds, continuing from wherever the register stands
    final = tmp_path / "final.rsf"
    before = service.head(engine, "crash").user_size
    _big_rsf(final, before, 10)
    root = service.head(engine, "crash").user_root
    final.write_bytes(f"assert-root-hash\tsha-256:{root.hex()}\n".encode() + final.read_bytes())
    ok(db_url, "load", str(final), "--register", "crash")
    assert service.verify(engine, "crash").head.user_size == before + 10
    engine.dispose()
