"""Quality-report benchmark: ``registers check address`` on GENERATED UPRN-style data at several sizes.

    python bench/quality.py [--sizes 100000,1000000] [--db URL] [--workdir DIR]

For each size, a fresh database gets the shipped fixtures (address links to local-authority-eng),
the ``address`` register from ``schemas/address.json`` and that many generated entries (the
data of bench/load.py: deterministic, shaped like the GOV.UK register, NOT real UPRNs). Then, each
in its own child process so that each peak RSS is its own:

- ``check``: ``quality.check`` (what ``registers check address`` runs), its seconds, its peak
  RSS and its counts;
- ``hold`` (the baseline, same run): reading every record into a list, which the report did
  before it streamed: the least memory it needed, and the time of one pass over the records.

The report's memory must stay flat from size to size while the baseline's grows with the register.
A figure, not a test: it prints, it does not assert times.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from importlib import util
from pathlib import Path
from typing import Any

import registers

HERE = Path(__file__).resolve().parent
SCHEMA = Path(registers.__file__).resolve().parent.parent / "schemas" / "address.json"


def _bench_load() -> Any:
    spec = util.spec_from_file_location("bench_load", HERE / "load.py")
    assert spec and spec.loader
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_load = _bench_load()
REGISTER = bench_load.REGISTER


def build(url: str, workdir: Path, size: int) -> float:
    """Fixtures, the address register and ``size`` generated entries in the database at ``url``; load seconds."""
    from registers import service

    engine = service.open_database(url)
    try:
        if service.signing_key(engine) is None:  # a fresh database: its key made on purpose
            service.generate_key(engine)
        for _ in service.init_fixtures(engine):
            pass
        service.create_register(engine, REGISTER, service.read_schema(str(SCHEMA)), custodian="bench/quality.py")
        rsf = workdir / f"address-{size}.rsf"
        bench_load.write_address_rsf(rsf, size)
        started = time.perf_counter()
        loaded = service.load_rsf(engine, str(rsf), REGISTER)
        rsf.unlink()
        bench_load.require(loaded.head.user_size == size, f"{size} entries loaded")
        return time.perf_counter() - started
    finally:
        engine.dispose()


def child_main(mode: str, url: str) -> None:
    """In a child process: run the report (``check``) or hold every record (``hold``); print JSON."""
    from registers import service
    from registers.service import quality
    from registers.service.registers import register_id_of
    from registers.store import records
    from registers.store.engine import snapshot

    engine = service.open_database(url)
    started = time.perf_counter()
    if mode == "check":
        report = quality.check(engine, REGISTER, listed=20)
        figures: dict[str, Any] = {"records": report.records, "counts": report.counts()}
    else:
        with snapshot(engine) as conn:
            held = list(records.iter_records(conn, register_id_of(conn, REGISTER)))
        figures = {"records": len(held)}
    figures["seconds"] = time.perf_counter() - started
    engine.dispose()
    print(json.dumps(figures | {"peak_mb": bench_load.peak_rss_kib() / 1024}))


def run_child(mode: str, url: str) -> dict[str, Any]:
    """``child_main`` in a fresh interpreter; its JSON result."""
    done = subprocess.run([sys.executable, __file__, "--child", mode, url], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the {mode} child failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="address register sizes to report on")
    parser.add_argument("--db", default="sqlite", help="a postgresql+psycopg:// URL, or sqlite (a file in the workdir)")
    parser.add_argument("--workdir", help="where databases and files go (default: a new temp folder)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(*args.child)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory(prefix="registers-quality-", dir=args.workdir) as folder:
        workdir = Path(folder)
        print("registers bench/quality.py — GENERATED UPRN-style address data (not real UPRNs) | "
              f"{args.db.split('?')[0]}", flush=True)
        for size in sizes:
            url, drop = bench_load.fresh_database(args.db, workdir, f"quality{size}")
            try:
                seconds = build(url, workdir, size)
                check, hold = run_child("check", url), run_child("hold", url)
            finally:
                drop()
                for leftover in workdir.glob(f"quality{size}.db*"):
                    leftover.unlink()
            bench_load.require(check["records"] == hold["records"] == size, "every record reported on")
            found = ", ".join(f"{n} {kind}" for kind, n in check["counts"].items() if n)
            print(f"{size:>11,} records (loaded in {seconds:.0f} s) | check: {check['seconds']:.1f} s = "
                  f"{size / check['seconds']:,.0f} records/s, peak RSS {check['peak_mb']:.0f} MB "
                  f"({found or 'no findings'}) | baseline, every record held: {hold['seconds']:.1f} s, "
                  f"peak RSS {hold['peak_mb']:.0f} MB", flush=True)


if __name__ == "__main__":
    main()
