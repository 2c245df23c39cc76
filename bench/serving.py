"""Record GETs per second through gunicorn, beside a bare-Flask ceiling and Datasette, in one run.

    python bench/serving.py [N] [--seconds S] [--datasette PATH]
    python bench/serving.py [N] --rehash [--rounds 5] [--seconds S]

Loads N GENERATED address-like records (bench/load.py's generator; not real UPRNs) into a fresh
SQLite register, serves it with gunicorn (2 sync workers) and measures ``/address/records/{key}``
with wrk (random keys, bounded: S seconds, 8 connections, loopback only). In the same run it
measures a bare Flask endpoint returning a constant JSON under the same gunicorn (the ceiling)
and Datasette serving the same rows from a plain SQLite table (``--datasette`` names its
executable; skipped, saying so, when absent). Then it times a full ``download-rsf``: first byte
and MB/s. Needs Debian's ``wrk``.

``--rehash`` measures instead what checking bytes on the way out costs: the same record GETs
(and dumps) from the app as shipped, which re-hashes every item it serves, and from a bench-only
app module with the check patched out (the product has no switch to turn it off), served side
by side and measured in turns; medians of the rounds (default 5) and their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import secrets
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import util
from pathlib import Path

import requests

from registers import service

HERE = Path(__file__).resolve().parent

_spec = util.spec_from_file_location("bench_load", HERE / "load.py")
assert _spec and _spec.loader
bench_load = util.module_from_spec(_spec)
_spec.loader.exec_module(bench_load)
address_entries, write_address_rsf = bench_load.address_entries, bench_load.write_address_rsf  # the same data

BARE_APP = '''
from flask import Flask
app = Flask(__name__)
@app.get("/constant")
def constant():
    return {"address": "100023336956", "name": "Flat 3, 27 Acacia Avenue", "town": "London"}
'''

# Bench only: the app with the re-hash of served items patched out, as the baseline it is measured against.
UNCHECKED_APP = '''
from registers.store import reads
reads.first_corrupt = lambda items: None
from registers.web import create_app
app = create_app()
'''


def free_port() -> int:
    """A free loopback port."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(command: list[str], port: int, probe: str, env: dict[str, str] | None = None,
            cwd: str | None = None) -> Iterator[str]:
    """Run a server until ``probe`` answers; stop it afterwards."""
    # the web app starts only with a secret to keep client addresses under: one for the run
    secret = {"REGISTERS_SECRET_KEY": secrets.token_hex(32)}
    process = subprocess.Popen(command, env={**secret, **os.environ, **(env or {})}, cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if requests.get(base + probe, timeout=1).status_code == 200:
                    break
            except requests.RequestException:  # not up yet, or too busy starting to answer
                time.sleep(0.1)
        else:
            raise SystemExit(f"{command[0]} did not start")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


def wrk(url_base: str, paths: list[str], seconds: int, workdir: Path) -> float:
    """Requests/s from wrk over ``paths`` chosen at random (2 threads, 8 connections)."""
    script = workdir / "paths.lua"
    listed = ",".join(json.dumps(p) for p in paths)
    script.write_text(f"paths = {{{listed}}}\nrequest = function()\n"
                      "  return wrk.format('GET', paths[math.random(#paths)])\nend\n")
    out = subprocess.run(["wrk", "-t2", "-c8", f"-d{seconds}s", "-s", str(script), url_base],
                         capture_output=True, text=True, check=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        raise SystemExit(f"wrk saw {errors.group(1)} failed responses from {url_base}")
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]


def _dump(base: str) -> tuple[int, float, float]:
    """A full download-rsf: bytes, seconds, seconds to the first 64 KiB."""
    started = time.perf_counter()
    with requests.get(f"{base}/address/download-rsf", stream=True, timeout=600) as dump:
        chunks = dump.iter_content(1 << 16)
        next(chunks)
        first_byte = time.perf_counter() - started
        size = sum(len(c) for c in chunks)
    return size, time.perf_counter() - started, first_byte


def datasette_db(path: Path, n: int) -> None:
    """The same rows as a plain SQLite table for Datasette."""
    fields = ["address", "name", "street", "locality", "town", "postcode", "point", "local-authority", "start-date"]
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE address ({', '.join(f'[{f}] TEXT' for f in fields)}, PRIMARY KEY (address))")
        rows = ([json.loads(blob).get(f) for f in fields] for _key, _ts, blob, _d in address_entries(n))
        conn.executemany(f"INSERT INTO address VALUES ({', '.join('?' * len(fields))})", rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=None, help="turns of each side (default 3; 5 with --rehash)")
    parser.add_argument("--rehash", action="store_true",
                        help="measure record GETs/s with the re-hash of served items and without it")
    parser.add_argument("--datasette", default=shutil.which("datasette"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("bench/serving.py needs wrk (apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="registers-http-"))
    print(f"registers bench/serving.py — GENERATED address-like data (not real UPRNs), N = {args.n:,}")
    rsf = work / "address.rsf"
    write_address_rsf(rsf, args.n)
    url = f"sqlite:///{work / 'registers.db'}"
    engine = service.open_database(url)
    if service.signing_key(engine) is None:  # a fresh database: its key made on purpose
        service.generate_key(engine)
    service.load_rsf(engine, str(rsf), "address")
    keys = [key for key, _ts, _blob, _d in address_entries(min(args.n, 2000))]
    random.seed(1)
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    if args.rehash:
        rehash(args, work, url, gunicorn, keys)
        shutil.rmtree(work, ignore_errors=True)
        return
    args.rounds = args.rounds or 3

    (work / "bare.py").write_text(BARE_APP)
    ours_port, bare_port = free_port(), free_port()
    command = [gunicorn, "-w", "2", "-b", f"127.0.0.1:{ours_port}", "registers.web:create_app()"]
    bare = [gunicorn, "-w", "2", "-b", f"127.0.0.1:{bare_port}", "bare:app"]
    # Both servers up at once, measured in turns (ours, bare, ours, bare, ...) so that drift in
    # the machine's speed falls on both; each side's median is reported.
    with serving(command, ours_port, "/readyz", {"REGISTERS_DATABASE_URL": url}) as base, \
            serving(bare, bare_port, "/constant", cwd=str(work)) as bare_base:
        ours_runs, ceiling_runs = [], []
        for _ in range(args.rounds):
            ours_runs.append(wrk(base, [f"/address/records/{k}" for k in keys], args.seconds, work))
            ceiling_runs.append(wrk(bare_base, ["/constant"], args.seconds, work))
        dumps = [_dump(base) for _ in range(2)]  # the first may meet a cold page cache
    ours, ceiling = statistics.median(ours_runs), statistics.median(ceiling_runs)
    print(f"records:   {ours:,.0f} GETs/s median of {args.rounds} (gunicorn, 2 sync workers, random keys; runs "
          f"{', '.join(f'{r:,.0f}' for r in ours_runs)})")
    print(f"ceiling:   {ceiling:,.0f} GETs/s bare Flask constant JSON, same gunicorn (runs "
          f"{', '.join(f'{r:,.0f}' for r in ceiling_runs)}) | ours/ceiling = {ours / ceiling:.2f}")
    if args.datasette:
        datasette_db(work / "datasette.db", args.n)
        port = free_port()
        with serving([args.datasette, "serve", str(work / "datasette.db"), "-p", str(port)], port,
                     "/-/versions.json") as base:
            theirs = wrk(base, [f"/datasette/address/{k}.json" for k in keys], args.seconds, work)
        print(f"datasette: {theirs:,.0f} GETs/s (same rows, one SQLite table) | ours/datasette = {ours / theirs:.2f}")
    else:
        print("datasette: not measured (no datasette executable; give --datasette PATH)")
    for size, elapsed, first_byte in dumps:
        print(f"dump:      download-rsf {size / 1e6:,.1f} MB in {elapsed:.2f} s = {size / 1e6 / elapsed:,.1f} MB/s, "
              f"first byte after {first_byte * 1000:.0f} ms")
    print("targets:   ≥0.85 of the ceiling, ≥1.5× Datasette, dump ≥50 MB/s with first byte <100 ms (at 1M)")
    shutil.rmtree(work, ignore_errors=True)


def rehash(args: argparse.Namespace, work: Path, url: str, gunicorn: str, keys: list[str]) -> None:
    """Record GETs/s and dump MB/s with the re-hash of served items and without it, in turns."""
    rounds = args.rounds or 5
    (work / "unchecked.py").write_text(UNCHECKED_APP)
    checked_port, unchecked_port = free_port(), free_port()
    env = {"REGISTERS_DATABASE_URL": url}
    checked = [gunicorn, "-w", "2", "-b", f"127.0.0.1:{checked_port}", "registers.web:create_app()"]
    unchecked = [gunicorn, "-w", "2", "-b", f"127.0.0.1:{unchecked_port}", "unchecked:app"]
    paths = [f"/address/records/{k}" for k in keys]
    with serving(checked, checked_port, "/readyz", env) as with_check, \
            serving(unchecked, unchecked_port, "/readyz", env, cwd=str(work)) as without_check:
        runs: dict[str, list[float]] = {"checked": [], "unchecked": []}
        for _ in range(rounds):
            runs["checked"].append(wrk(with_check, paths, args.seconds, work))
            runs["unchecked"].append(wrk(without_check, paths, args.seconds, work))
        dumps: dict[str, list[float]] = {"checked": [], "unchecked": []}
        for _ in range(3):  # the first may meet a cold page cache
            for side, base in (("checked", with_check), ("unchecked", without_check)):
                size, elapsed, _first = _dump(base)
                dumps[side].append(size / 1e6 / elapsed)
    on, off = statistics.median(runs["checked"]), statistics.median(runs["unchecked"])
    for side, median in (("checked", on), ("unchecked", off)):
        listed = ", ".join(f"{r:,.0f}" for r in runs[side])
        print(f"{side + ':':<11}{median:,.0f} record GETs/s median of {rounds} (gunicorn, 2 sync workers, "
              f"random keys, {args.seconds} s each; runs {listed})")
    print(f"ratio:     checked/unchecked = {on / off:.3f} (target: within 5%, >= 0.95)")
    dump_on, dump_off = statistics.median(dumps["checked"]), statistics.median(dumps["unchecked"])
    print(f"dump:      download-rsf {dump_on:,.1f} MB/s checked, {dump_off:,.1f} MB/s unchecked "
          f"(median of 3 each) = {dump_on / dump_off:.3f}")


if __name__ == "__main__":
    main()
