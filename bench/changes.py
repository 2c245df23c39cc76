"""Small-change benchmark: amends of the real country register, one signed append each.

    python bench/changes.py [N] [--db URL]

Loads ../shared/data/rsf/country.rsf into a fresh database, then times N amends through the
one write path (``service.apply_change``: lock, new item, strict checks, both trees, the
signing key looked up and both checkpoints signed, commit), and, in the same process, N
lookups of the signing key alone (``store.signing.current_signer``) as a baseline for what
signing costs a change. Prints the median and p99 per amend, amends/s, and the key lookup's
share. Run it on two checkouts to compare versions (each prints its own commit). A figure,
not a test.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from registers import service  # noqa: E402
from registers.core.changes import RecordChange  # noqa: E402
from registers.store import signing  # noqa: E402
from registers.store.engine import open_engine  # noqa: E402

RSF = ROOT.parent / "shared" / "data" / "rsf" / "country.rsf"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=500)
    parser.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-changes-") as scratch:
        os.environ.setdefault("REGISTERS_KEY_DIR", str(Path(scratch) / "keys"))
        engine = open_engine(args.db or f"sqlite:///{Path(scratch) / 'bench.db'}")
        if hasattr(service, "ensure_key"):
            service.ensure_key(engine)
        service.load_rsf(engine, str(RSF), "country")
        times = []
        for i in range(args.n):
            started = time.perf_counter()
            service.apply_change(engine, "country", RecordChange("amend", "GM", {"name": f"Gambia {i}"}), by="bench")
            times.append(time.perf_counter() - started)
        lookups = []
        with engine.connect() as conn:
            for _ in range(args.n):
                started = time.perf_counter()
                signing.current_signer(conn)
                lookups.append(time.perf_counter() - started)
        engine.dispose()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    median, p99 = statistics.median(times), sorted(times)[int(len(times) * 0.99) - 1]
    key = statistics.median(lookups)
    print(f"commit {commit}: {args.n} amends of country: median {median * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, "
          f"{1 / statistics.mean(times):.0f} amends/s; signing key lookup median {key * 1e6:.0f} µs "
          f"({key / median:.1%} of an amend)")


if __name__ == "__main__":
    main()
