"""Hostile reads: what single anonymous requests cost on a large address register.

    python bench/hostile.py [N] [--db URL] [--workdir DIR] [--keep] [--rounds R]

Generates and loads N address-like entries (default 1,000,000; bench/load.py's generator:
deterministic, shaped like the GOV.UK ``address`` register, NOT real UPRNs) after the shipped
fixtures it links to, amends 1% of them (so ``as-of`` and current lists have superseded entries
to step over), indexes ``postcode`` and ``local-authority``, and serves it with gunicorn (2
sync workers). Then it times, one request at a time, every request a stranger could make to
cost the server a register-sized read (the table of issue 23, and others found since) beside a
record GET in the same run, with the peak RSS of the worker that answered it above its idle RSS
(VmHWM, reset before each request through /proc/PID/clear_refs). Times are client wall times
on loopback: server time plus a few hundred microseconds. Downloads: first byte, MB/s and peak
worker RSS. Search: the p50/p99 of a fixed mix of 200 queries, when the server answers ``q``.

A figure, not a test: it prints, it does not assert times. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import util
from pathlib import Path
from typing import Any

import requests

from registers import service
from registers.service import quality

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _module(name: str) -> Any:
    spec = util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    assert spec and spec.loader
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_load = _module("load")
bench_serving = _module("serving")
REGISTER = "address"


def build(url: str, workdir: Path, n: int) -> tuple[list[str], int]:
    """Load the fixtures, then N addresses (and 1% amended); some keys and the size."""
    engine = service.open_database(url)
    try:
        if service.signing_key(engine) is None:
            service.generate_key(engine)
        for _ in service.init_fixtures(engine):
            pass
        service.create_register(engine, REGISTER, service.read_schema(str(ROOT / "schemas" / "address.json")),
                                custodian="bench/hostile.py")
        service.index_field(engine, REGISTER, "postcode")
        service.index_field(engine, REGISTER, "local-authority")
        rsf = workdir / "address.rsf"
        bench_load.write_address_rsf(rsf, n)
        started = time.perf_counter()
        service.load_rsf(engine, str(rsf), REGISTER)
        print(f"loaded {n:,} addresses in {time.perf_counter() - started:.0f} s", flush=True)
        rsf.unlink()
        keys = [key for key, *_ in bench_load.address_entries(min(n, 20_000))]
        rng = random.Random(23)
        amended = rng.sample(keys, max(1, len(keys) // 100))
        service.append_items(engine, REGISTER, [
            (k, {"address": k, "name": f"{k} Amended Road", "street": "Amended Road", "town": "London",
                 "local-authority": "local-authority-eng:BAS"}) for k in amended
        ])
        started = time.perf_counter()
        quality.make_report(engine, REGISTER)  # what 'registers check address' (from cron) stores
        print(f"quality report made and stored in {time.perf_counter() - started:.0f} s", flush=True)
        return keys, service.head(engine, REGISTER).user_size
    finally:
        engine.dispose()


def workers(master: int) -> list[int]:
    """The pids of gunicorn's workers."""
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return [int(pid) for pid in children]


def _kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


@contextmanager
def served(url: str, workdir: Path) -> Iterator[tuple[str, int]]:
    """gunicorn (2 sync workers) over ``url``: its base URL and master pid."""
    port = bench_serving.free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    # the web app starts only with a secret to keep client addresses under: one for the run
    env = {"REGISTERS_SECRET_KEY": secrets.token_hex(32), **os.environ, "REGISTERS_DATABASE_URL": url}
    process = subprocess.Popen([gunicorn, "-w", "2", "--timeout", "0", "-b", f"127.0.0.1:{port}",
                                "registers.web:create_app()"], env=env, cwd=workdir,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code < 500:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        yield base, process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


class Probe:
    """Times requests and reads the answering worker's peak RSS above its idle RSS."""

    def __init__(self, base: str, master: int) -> None:
        self.base, self.master = base, master
        self.idle = {pid: _kib(pid, "VmRSS") for pid in workers(master)}

    def _reset(self) -> dict[int, int]:
        before = {}
        for pid in workers(self.master):
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # VmHWM := VmRSS
            before[pid] = _kib(pid, "VmRSS")
        return before

    def _grew(self, before: dict[int, int]) -> float:
        return max(_kib(pid, "VmHWM") - rss for pid, rss in before.items()) / 1024

    def get(self, path: str, rounds: int = 3) -> dict[str, Any]:
        """Median seconds of ``rounds`` GETs of ``path`` (read whole), its status, body size
        and the most any worker's RSS grew while answering."""
        times, grew, status, size = [], 0.0, 0, 0
        for _ in range(rounds):
            before = self._reset()
            started = time.perf_counter()
            answer = requests.get(self.base + path, timeout=3600)
            times.append(time.perf_counter() - started)
            grew = max(grew, self._grew(before))
            status, size = answer.status_code, len(answer.content)
        return {"seconds": statistics.median(times), "status": status, "bytes": size, "rss_mb": grew}

    def stream(self, path: str) -> dict[str, Any]:
        """A download: first byte, seconds, MB/s and the worker's RSS growth."""
        before = self._reset()
        started = time.perf_counter()
        with requests.get(self.base + path, stream=True, timeout=3600) as answer:
            chunks = answer.iter_content(1 << 16)
            first = next(chunks, b"")
            first_byte = time.perf_counter() - started
            size = len(first) + sum(len(c) for c in chunks)
            status = answer.status_code
        seconds = time.perf_counter() - started
        return {"status": status, "first_byte": first_byte, "seconds": seconds, "bytes": size,
                "mb_s": size / 1e6 / seconds, "rss_mb": self._grew(before)}

    def mix(self, paths: list[str]) -> dict[str, Any]:
        """p50 and p99 over ``paths``, each asked once, and the statuses seen."""
        times, statuses = [], set()
        for path in paths:
            started = time.perf_counter()
            answer = requests.get(self.base + path, timeout=600)
            times.append(time.perf_counter() - started)
            statuses.add(answer.status_code)
        times.sort()
        return {"p50": times[len(times) // 2], "p99": times[min(len(times) - 1, int(len(times) * 0.99))],
                "statuses": sorted(statuses)}


def search_mix() -> list[str]:
    """200 fixed queries: a word, a prefix, two words, a street and town, a postcode area, a
    word nobody uses."""
    rng = random.Random(200)
    words = [w for s in bench_load.STREETS for w in s.split()] + list(bench_load.TOWNS) + list(bench_load.SUFFIXES)
    queries = []
    for i in range(200):
        kind = i % 5
        if kind == 0:
            queries.append(rng.choice(words))
        elif kind == 1:
            queries.append(rng.choice(words)[:3])
        elif kind == 2:
            queries.append(f"{rng.choice(bench_load.STREETS)} {rng.choice(bench_load.SUFFIXES)}")
        elif kind == 3:
            queries.append(f"{rng.randint(1, 240)} {rng.choice(words)}")
        else:
            queries.append(rng.choice(["a", "zzzz", "Flat", "the", "Rose Cottage"]))
    return [f"/{REGISTER}/records?q={requests.utils.quote(q)}&page-size=100" for q in queries]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("n", nargs="?", type=int, default=1_000_000)
    parser.add_argument("--db", help="a PostgreSQL URL (default: a SQLite file in the work directory)")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--reuse", action="store_true",
                        help="serve the register a kept work directory (--workdir, --keep) already holds")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="registers-hostile-"))
    workdir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("REGISTERS_KEY_DIR", str(workdir / "keys"))
    url = args.db or f"sqlite:///{workdir / 'registers.db'}"
    try:
        if args.reuse:
            engine = service.open_database(url)
            keys = [key for key, *_ in bench_load.address_entries(min(args.n, 20_000))]
            size = service.head(engine, REGISTER).user_size
            engine.dispose()
        else:
            keys, size = build(url, workdir, args.n)
        rng = random.Random(7)
        with served(url, workdir) as (base, master):
            probe = Probe(base, master)
            probe.get(f"/{REGISTER}/records/{keys[0]}")  # warm both workers a little
            rows: list[tuple[str, dict[str, Any]]] = []

            def row(label: str, path: str) -> None:
                rows.append((label, {"path": path, **probe.get(path, args.rounds)}))

            row("record GET (the baseline)", f"/{REGISTER}/records/{rng.choice(keys)}")
            row("records, first page of 100", f"/{REGISTER}/records")
            row("records page of 100 at 20% depth (cursor)", f"/{REGISTER}/records?before={size // 5}")
            row("as-of=N/2 page of 100 at 20% depth (cursor)",
                f"/{REGISTER}/records?as-of={size // 2}&before={size // 5}")
            row("records, first page of 5000", f"/{REGISTER}/records?page-size=5000")
            deep = size // 5
            row("records page 40 of 5000 (page-index)", f"/{REGISTER}/records?page-index=40&page-size=5000")
            row("records page of 5000 at 20% depth (cursor)", f"/{REGISTER}/records?page-size=5000&before={deep}")
            row("as-of=N page 40 (page-index)", f"/{REGISTER}/records?as-of={size}&page-index=40&page-size=5000")
            row("as-of=N page at 20% depth (cursor)",
                f"/{REGISTER}/records?as-of={size}&page-size=5000&before={deep}")
            row("as-of=N/2 page at 20% depth (cursor)",
                f"/{REGISTER}/records?as-of={size // 2}&page-size=5000&before={deep}")
            row("current=true page at 20% depth (cursor)",
                f"/{REGISTER}/records?current=true&page-size=5000&before={deep}")
            row("entries page of 5000 at 80%", f"/{REGISTER}/entries?start={size * 4 // 5}&limit=5000")
            row("field lookup, unindexed (name=address)", f"/{REGISTER}/records/name/address")
            row("field lookup, indexed, page-size=10",
                f"/{REGISTER}/records/local-authority/local-authority-eng:BAS?page-size=10")
            row("register page ?q=a", f"/{REGISTER}/?q=a")
            row("records ?q=a", f"/{REGISTER}/records?q=a&page-size=100")
            row("quality.json", f"/{REGISTER}/quality.json")
            row("proposals", f"/{REGISTER}/proposals.json")
            downloads = [(label, probe.stream(path)) for label, path in (
                ("download-register (zip)", f"/{REGISTER}/download-register"),
                ("download-rsf", f"/{REGISTER}/download-rsf"),
                ("download-records.csv", f"/{REGISTER}/download-records.csv"),
            )]
            searched = probe.mix(search_mix())
        print(f"\naddress register: {size:,} user entries ({args.n:,} loaded, 1% of the first 20,000 amended); "
              f"{'PostgreSQL' if args.db else 'SQLite'}; gunicorn 2 sync workers; median of {args.rounds}")
        print(f"{'request':48} {'status':>6} {'ms':>10} {'bytes':>12} {'RSS +MB':>8}")
        for label, r in rows:
            print(f"{label:48} {r['status']:>6} {r['seconds'] * 1000:>10.1f} {r['bytes']:>12,} {r['rss_mb']:>8.1f}")
        for label, d in downloads:
            print(f"{label:48} {d['status']:>6} first byte {d['first_byte'] * 1000:.0f} ms, {d['mb_s']:.1f} MB/s, "
                  f"{d['bytes'] / 1e6:,.0f} MB in {d['seconds']:.1f} s, RSS +{d['rss_mb']:.1f} MB")
        print(f"search mix (200 queries, records?q=, page-size 100): p50 {searched['p50'] * 1000:.1f} ms, "
              f"p99 {searched['p99'] * 1000:.1f} ms, statuses {searched['statuses']}")
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"kept {workdir}")


if __name__ == "__main__":
    main()
