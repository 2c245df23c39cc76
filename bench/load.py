"""Load benchmark: load a GENERATED RSF of N address-like entries; time it beside bare inserts, and proofs.

    python bench/load.py [N] [--db URL] [--keep] [--profile]

Prints the end-to-end load rate (``service.load_rsf``, file to committed) and the loading
process's peak RSS; the rates of bare ``executemany`` inserts of the same rows, each into a
fresh database of the same kind (same run): into one empty table, and into the platform's own
tables with their indexes (items, entries, records, with no parsing, hashing,
checking, Merkle tiles or signing); and proof times at size N. The data is
deterministic (seeded) and shaped like the GOV.UK ``address`` register. A figure, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import math
import os
import pstats
import random
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import registers
from registers.core.entries import Log, leaf_bytes
from registers.core.items import canonical_json, item_digest
from registers.core.merkle import EMPTY_ROOT, leaf_hash, node_hash, verify_consistency, verify_inclusion
from registers.core.rsf import AddItem, AppendEntry, AssertRootHash, Command, write_rsf

REGISTER = "address"
RUN = secrets.token_hex(4)  # names this run's PostgreSQL schemas: bench_<RUN>_load, _bare, _profile
SEED = 20_170_301
BATCH = 10_000  # rows per executemany in the bare baseline
PROOFS = 200  # of each kind
PROFILE_N = 100_000
UPRN_SPACE = 999_999_999_999  # keys are 1..UPRN_SPACE (up to 12 digits)
UPRN_STEP = 618_033_988_699  # coprime to UPRN_SPACE: i -> key is a bijection that scatters keys
FIRST_TIMESTAMP = 1_483_228_800  # 2017-01-01T00:00:00Z; eight entries a second
ROOT = str(Path(registers.__file__).resolve().parent.parent)  # trimmed from profiled file names

STREETS = ("Acacia|Albert|Beech|Bridge|Castle|Chapel|Church|Coronation|Elm|Glebe|Highfield|Kings|Manor|Mill|Orchard"
           "|Park|Queens|Station|Victoria|Windsor|Heol y Frenhines|Ffordd Glyndŵr|St Andrew's|Meadow View").split("|")
SUFFIXES = "Road|Street|Avenue|Lane|Close|Drive|Way|Gardens|Crescent|Terrace|Grove".split("|")
HOUSES = "Rose Cottage|The Old Rectory|Orchard House|Ty Gwyn|The Lodge|Mill Farm".split("|")
LOCALITIES = ("Headingley|Clifton|Mumbles|Jesmond|Didsbury|Roath|Heavitree|Fulwood|Bishopston|Chapel Allerton"
              "|Sketty|Morningside|Withington|St Thomas").split("|")
TOWNS = ("Manchester|Leeds|Bristol|Swansea|Newcastle upon Tyne|Milton Keynes|Stoke-on-Trent|Kingston upon Hull"
         "|Aberdeen|Norwich|Brighton and Hove|Cardiff|Plymouth|Derby|Reading|Exeter|York|Carlisle|London").split("|")
AREAS = "SW|M|LS|BS|SA|NE|MK|ST|HU|AB|NR|BN|CF|PL|DE|RG|EX|YO|IV|CA".split("|")  # postcode areas
INWARD = "ABDEFGHJLNPQRSTUWXYZ"  # the letters of a UK inward code
# Local authorities as the shipped register names them (address links to local-authority-eng)
AUTHORITIES = [line.split("\t", 1)[0] for line in (Path(ROOT) / "fixtures" / "tsv" / "local-authority-eng.tsv")
               .read_text(encoding="utf-8").splitlines()[1:] if line.strip()]
FIRST_DAY, LAST_DAY = date(1990, 1, 1).toordinal(), date(2016, 12, 31).toordinal()
Row = tuple[int, str, str, bytes, bytes]  # bare_entry: number, key, timestamp, item hash, item bytes


def address_entries(n: int) -> Iterator[tuple[str, str, bytes, bytes]]:
    """``(key, timestamp, canonical item bytes, digest)`` of n generated address entries."""
    rng = random.Random(SEED)
    for i in range(n):
        key = str(1 + (i * UPRN_STEP + SEED) % UPRN_SPACE)
        street = f"{rng.choice(STREETS)} {rng.choice(SUFFIXES)}"
        number, roll = rng.randint(1, 240), rng.random()
        name = f"Flat {rng.randint(1, 40)}, {number} {street}" if roll < 0.3 else f"{number} {street}"
        item = {
            "address": key,
            "name": rng.choice(HOUSES) if roll > 0.92 else name,
            "street": street,
            "town": rng.choice(TOWNS),
            "postcode": f"{rng.choice(AREAS)}{rng.randint(1, 29)} {rng.randint(0, 9)}{rng.choice(INWARD)}"
            f"{rng.choice(INWARD)}",
            "point": f"[{rng.uniform(-5.7, 1.76):.6f}, {rng.uniform(50.0, 58.6):.6f}]",
            "local-authority": f"local-authority-eng:{rng.choice(AUTHORITIES)}",
            "start-date": date.fromordinal(rng.randint(FIRST_DAY, LAST_DAY)).isoformat(),
        }
        if rng.random() < 0.6:
            item["locality"] = rng.choice(LOCALITIES)
        timestamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(FIRST_TIMESTAMP + i // 8))
        blob = canonical_json(item)
        yield key, timestamp, blob, item_digest(blob)


def write_address_rsf(path: Path, n: int) -> tuple[int, bytes]:
    """Stream an n-entry dump to ``path``; its size in bytes and its root.

    v1 layout, each ``add-item`` just before the ``append-entry`` that uses it; the final
    ``assert-root-hash`` holds a root computed here independently, which the load must match.
    """
    stack: list[tuple[int, bytes]] = []  # RFC 6962: (size, hash) of perfect subtrees, left to right

    def root() -> bytes:
        value = stack[-1][1] if stack else EMPTY_ROOT
        for _, left in reversed(stack[:-1]):
            value = node_hash(left, value)
        return value

    def commands() -> Iterator[Command]:
        yield AssertRootHash(EMPTY_ROOT)
        for number, (key, timestamp, blob, digest) in enumerate(address_entries(n), 1):
            yield AddItem(blob, digest)
            yield AppendEntry(Log.USER, key, timestamp, (digest,))
            size, value = 1, leaf_hash(leaf_bytes(number, timestamp, key, (digest,)))
            while stack and stack[-1][0] == size:
                size, value = size * 2, node_hash(stack.pop()[1], value)
            stack.append((size, value))
        yield AssertRootHash(root())

    with path.open("wb") as out:
        return write_rsf(commands(), out), root()


def fresh_database(db: str, workdir: Path, label: str) -> tuple[str, Callable[[], None]]:
    """The URL of a new, empty database of the kind ``db`` names, and how to drop it.

    SQLite: a file in ``workdir``; PostgreSQL: a new schema, made the connections' search_path.
    """
    if db.startswith("sqlite"):
        return f"sqlite:///{workdir / label}.db", lambda: None  # workdir goes at the end
    # a PostgreSQL database's private keys would go to ./keys: a benchmark's stay in its workdir
    # (set before any child process starts, so every one of them signs with the same key)
    os.environ.setdefault("REGISTERS_KEY_DIR", str(workdir / "keys"))
    schema = f"bench_{RUN}_{label}"
    with pg_connect(db, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")

    def drop() -> None:
        with pg_connect(db, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    return f"{db}{'&' if '?' in db else '?'}options=-csearch_path%3D{schema}", drop


def pg_connect(url: str, autocommit: bool = False) -> Any:
    """A plain psycopg connection to the database (and options) a SQLAlchemy URL names."""
    import psycopg
    from psycopg.conninfo import make_conninfo
    from sqlalchemy.engine import make_url

    u = make_url(url)
    options = u.query.get("options")  # make_conninfo leaves out parameters given as None
    info = make_conninfo(host=u.host, port=u.port, user=u.username, password=u.password, dbname=u.database,
                         options=options if isinstance(options, str) else None)
    return psycopg.connect(info, autocommit=autocommit)


def bare_rows(rsf: Path) -> Iterator[list[Row]]:
    """The load's rows as ``bare_entry`` rows, BATCH at a time, read back from the generated RSF."""
    rows: list[Row] = []
    number, content = 0, b""
    with rsf.open("rb") as stream:
        for line in stream:
            verb, _, rest = line.rstrip(b"\n").partition(b"\t")
            if verb == b"add-item":
                content = rest  # the next append-entry uses it
            elif verb == b"append-entry":
                _log, key, timestamp, hashes = rest.decode().split("\t")
                number += 1
                rows.append((number, key, timestamp, bytes.fromhex(hashes[8:]), content))
                if len(rows) == BATCH:
                    yield rows
                    rows = []
    if rows:
        yield rows


def bare_insert(url: str, rsf: Path) -> tuple[int, float]:
    """executemany the rows into an empty table in one transaction; (rows, seconds in the driver)."""
    sqlite = url.startswith("sqlite")
    blob = "BLOB" if sqlite else "BYTEA"
    ddl = f"CREATE TABLE bare_entry (number INTEGER PRIMARY KEY, key TEXT, timestamp TEXT, item_hash {blob}, " \
          f"content {blob})"
    if sqlite:
        conn: Any = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
        for statement in ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", ddl, "BEGIN"):
            conn.execute(statement)
    else:
        conn = pg_connect(url)
        conn.execute(ddl)
        conn.commit()
    sql = "INSERT INTO bare_entry VALUES " + ("(?, ?, ?, ?, ?)" if sqlite else "(%s, %s, %s, %s, %s)")
    cursor, count, seconds = conn.cursor(), 0, 0.0
    for rows in bare_rows(rsf):  # each chunk is built outside the timed region
        start = time.perf_counter()
        cursor.executemany(sql, rows)
        seconds += time.perf_counter() - start
        count += len(rows)
    start = time.perf_counter()
    conn.commit()  # sqlite3 too: it commits the transaction BEGIN opened
    seconds += time.perf_counter() - start
    conn.close()
    return count, seconds


StoredRows = tuple[list[tuple[bytes, bytes]], list[tuple[int, str, str, bytes]], list[tuple[str, int]],
                   list[tuple[int, int]]]  # items, entries, records (key, number), postcode values (hash, number)


def stored_rows(rsf: Path) -> Iterator[StoredRows]:
    """The rows a load of ``rsf`` stores, BATCH entries at a time, worked out here (untimed): each
    item once (hash, bytes), each entry, each key's latest entry, each entry's postcode hash."""
    from registers.core.field_values import value_hash

    batch: StoredRows = ([], [], [], [])
    number, content = 0, b""
    with rsf.open("rb") as stream:
        for line in stream:
            verb, _, rest = line.rstrip(b"\n").partition(b"\t")
            if verb == b"add-item":
                content = rest
            elif verb == b"append-entry":
                _log, key, timestamp, hashes = rest.decode().split("\t")
                number += 1
                digest = bytes.fromhex(hashes[8:])
                batch[0].append((digest, content))
                batch[1].append((number, key, timestamp, digest))
                batch[2].append((key, number))
                batch[3].append((value_hash(json.loads(content)["postcode"]), number))
                if len(batch[1]) == BATCH:
                    yield batch
                    batch = ([], [], [], [])
    if batch[1]:
        yield batch


def schema_insert(url: str, rsf: Path, values: bool = True) -> tuple[int, float]:
    """executemany the rows a load of ``rsf`` stores into the platform's own (empty) tables, with
    their indexes (items and their digests, entries and their keys, records, postcode values),
    row by row in the file's order, in one transaction, as the platform's connection settings have it: the
    database's own cost of holding exactly those rows (postcode values only with ``values``,
    for a register with postcode indexed). No parsing, hashing, checking, Merkle tiles or
    signing. (entries, seconds in the driver)."""
    from registers import service
    from registers.store.engine import writer

    engine = service.open_database(url)  # makes the schema; the same PRAGMAs as a load
    sqlite = url.startswith("sqlite")
    with writer(engine).connect() as conn:
        conn.exec_driver_sql("INSERT INTO register (id, name, created) VALUES (1, 'bare', '2017-01-01T00:00:00Z')")
        conn.commit()
        raw: Any = conn.connection.dbapi_connection
        cursor = raw.cursor()
        if sqlite:
            cursor.execute("BEGIN IMMEDIATE")
        p = "?" if sqlite else "%s"
        item_sql = f"INSERT INTO item (id, register_id, hash, content) VALUES ({p}, 1, {p}, {p})"
        item_hash_sql = f"INSERT INTO item_hash (register_id, hash, item_id) VALUES (1, {p}, {p})"
        entry_sql = ("INSERT INTO entry (register_id, log, number, key, timestamp, item_hashes) "
                     f"VALUES (1, 0, {p}, {p}, {p}, {p})")
        entry_key_sql = f"INSERT INTO entry_key (register_id, log, key, number) VALUES (1, 0, {p}, {p})"
        record_sql = (f"INSERT INTO record (register_id, log, key, entry_number) VALUES (1, 0, {p}, {p}) "
                      "ON CONFLICT (register_id, log, key) DO UPDATE SET entry_number = excluded.entry_number")
        value_sql = (f"INSERT INTO field_value (register_id, field, value_hash, entry_number) "
                     f"VALUES (1, 'postcode', {p}, {p}) ON CONFLICT DO NOTHING")
        count, seconds = 0, 0.0
        for items, entries, records, postcodes in stored_rows(rsf):  # each batch is built outside the timed region
            numbers = [entry[0] for entry in entries]  # one new item per generated entry: its id is the number
            item_rows = [(n, digest, content) for n, (digest, content) in zip(numbers, items, strict=True)]
            hash_rows = [(digest, n) for n, (digest, _content) in zip(numbers, items, strict=True)]
            statements = [(item_sql, item_rows), (item_hash_sql, hash_rows), (entry_sql, entries),
                          (entry_key_sql, records), (record_sql, records)]
            if values:
                statements.append((value_sql, postcodes))
            start = time.perf_counter()
            for statement, table in statements:
                cursor.executemany(statement, table)
            seconds += time.perf_counter() - start
            count += len(entries)
        start = time.perf_counter()
        raw.commit()
        seconds += time.perf_counter() - start
        cursor.close()
    engine.dispose()
    return count, seconds


def peak_rss_kib() -> int:
    """This process's peak RSS in KiB, from VmHWM of its own address space.

    Not ``ru_maxrss``: Linux carries the parent's peak into it across fork+exec, so a child's
    (and RUSAGE_CHILDREN's) figure is never below the parent's peak at the time of the spawn.
    """
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))


def child_main(mode: str, url: str, rsf: str = "") -> None:
    """In a child process: open the engine (``floor``), and load the RSF (``load``), or run a
    baseline (``table``, ``schema``, ``schema-values``: its rows and seconds); print JSON."""
    from registers import service

    if mode in ("table", "schema", "schema-values"):
        rows, seconds = bare_insert(url, Path(rsf)) if mode == "table" else \
            schema_insert(url, Path(rsf), values=mode == "schema-values")
        print(json.dumps({"rows": rows, "seconds": seconds}))
        return
    engine = service.open_database(url)
    if service.signing_key(engine) is None:  # a fresh database: its key made on purpose, untimed
        service.generate_key(engine)
    result: dict[str, Any] = {}
    if mode == "load":
        start = time.perf_counter()
        loaded = service.load_rsf(engine, rsf, REGISTER)
        result = {"seconds": time.perf_counter() - start, "added": loaded.added_user,
                  "size": loaded.head.user_size, "root": loaded.head.user_root.hex()}
    engine.dispose()
    print(json.dumps(result | {"peak_kib": peak_rss_kib()}))


def run_child(*args: str) -> dict[str, Any]:
    """Run ``child_main`` in a fresh interpreter; its JSON result."""
    done = subprocess.run([sys.executable, __file__, "--child", *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"the {args[0]} child failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.splitlines()[-1]))


def require(ok: bool, what: str) -> None:
    """Stop the run when a check fails: figures from a wrong load are worthless."""
    if not ok:
        sys.exit(f"check failed: {what}")


def time_proofs(url: str, n: int) -> dict[str, tuple[float, float, float]]:
    """(median, p99, max) ms of PROOFS inclusion and consistency proofs at size n, one connection.

    Each call builds its own StoredTree, as a request does, so its tile reads are timed; one
    untimed call of each kind warms up first. Every proof is then verified (untimed).
    """
    from registers import service
    from registers.store import reads
    from registers.store.tree import StoredTree

    rng, engine = random.Random(SEED), service.open_database(url)
    times: dict[str, list[float]] = {"inclusion": [], "consistency": []}
    with engine.connect() as conn, conn.begin():
        reg_id = reads.register_id(conn, REGISTER) or 0
        root = reads.head(conn, reg_id).user_root
        tree = partial(StoredTree, conn, reg_id, Log.USER, n)
        tree().inclusion_proof(1, n)  # warm-up: SQLAlchemy compiles and caches the tile query
        tree().consistency_proof(1, n)
        for number in [rng.randint(1, n) for _ in range(PROOFS)]:
            start = time.perf_counter()
            path = tree().inclusion_proof(number, n)
            times["inclusion"].append((time.perf_counter() - start) * 1000)
            leaf = leaf_hash(next(reads.iter_entries(conn, reg_id, Log.USER, number, number)).leaf())
            require(verify_inclusion(number - 1, n, leaf, path, root), f"inclusion proof of {number}")
        for old in [rng.randint(1, n - 1) for _ in range(PROOFS)]:
            start = time.perf_counter()
            proof = tree().consistency_proof(old, n)
            times["consistency"].append((time.perf_counter() - start) * 1000)
            require(verify_consistency(old, n, tree().root(old), root, proof), f"consistency proof {old}->{n}")
    start = time.perf_counter()
    service.inclusion_proof(engine, REGISTER, n // 2 + 1, n)
    times["service"] = [(time.perf_counter() - start) * 1000]
    engine.dispose()
    return {kind: (sorted(ms)[len(ms) // 2], sorted(ms)[math.ceil(0.99 * len(ms)) - 1], max(ms))
            for kind, ms in times.items()}


def profile_load(db: str, workdir: Path, n: int, rsf: Path) -> None:
    """Load n entries under cProfile into a fresh database; print the top 25 by cum and own time."""
    from registers import service

    if not rsf.exists():  # N > PROFILE_N: the first PROFILE_N entries of the same data
        write_address_rsf(rsf, n)
    url, drop = fresh_database(db, workdir, "profile")
    engine = service.open_database(url)
    if service.signing_key(engine) is None:
        service.generate_key(engine)
    profiler, start = cProfile.Profile(), time.perf_counter()
    try:
        profiler.runcall(service.load_rsf, engine, str(rsf), REGISTER)
    finally:
        total = time.perf_counter() - start
        engine.dispose()
        drop()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    print(f"\nprofile:   {n:,} entries loaded under cProfile in {total:.1f} s (profiling inflates it); % of that")
    for column, title in ((3, "cumulative"), (2, "own (total)")):
        print(f"\n  top 25 by {title} time:\n     cum s   cum%   own s   own%      calls  function")
        for (path, line, name), (_, calls, own, cum, _) in sorted(stats.items(), key=lambda s: -s[1][column])[:25]:
            path = re.sub(r"^.*/(?:site-packages|lib/python3\.\d+)/", "", path).removeprefix(f"{ROOT}/")
            where = name if path == "~" else f"{path}:{line}({name})"
            print(f"  {cum:8.2f} {cum / total:6.1%} {own:7.2f} {own / total:6.1%} {calls:10,}  {where}")


def report(args: argparse.Namespace, workdir: Path, drops: list[Callable[[], None]]) -> None:
    """Generate, load, insert bare, prove, (profile); print each figure as it is measured."""
    n = args.n
    print(f"registers bench/load.py — GENERATED address-like data (not real UPRNs; seed {SEED})")
    print(f"machine:   {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start | library {ROOT}",
          flush=True)
    rsf, start = workdir / f"{REGISTER}-{n}.rsf", time.perf_counter()
    rsf_bytes, root = write_address_rsf(rsf, n)
    kind = "sqlite (file)" if args.db.startswith("sqlite") else "postgresql (schema)"
    print(f"database:  {kind} | N = {n:,} | RSF {rsf_bytes / 1e6:,.0f} MB generated in "
          f"{time.perf_counter() - start:.1f} s (not timed below)", flush=True)

    url, drop = fresh_database(args.db, workdir, "load")
    drops.append(drop)
    floor, load = run_child("floor", url), run_child("load", url, str(rsf))
    require(load["added"] == load["size"] == n and load["root"] == root.hex(), f"the load matches the file: {load}")
    rate, peak, floor_mb = n / load["seconds"], load["peak_kib"] * 1024 / 1e6, floor["peak_kib"] * 1024 / 1e6
    print(f"load:      {n:,} entries in {load['seconds']:.1f} s = {rate:,.0f} entries/s | peak RSS "
          f"{peak:,.0f} MB (floor {floor_mb:,.0f} MB: import + open engine)", flush=True)

    bare_url, drop = fresh_database(args.db, workdir, "bare")
    drops.append(drop)
    rows, seconds = bare_insert(bare_url, rsf)
    bare_rate = rows / seconds
    print(f"bare:      executemany {rows:,} rows into one table in {seconds:.1f} s = {bare_rate:,.0f} rows/s | "
          f"load/bare = {rate / bare_rate:.2f}", flush=True)
    schema_url, drop = fresh_database(args.db, workdir, "schema")
    drops.append(drop)
    rows, seconds = schema_insert(schema_url, rsf, values=False)  # this load indexes no field
    schema_rate = rows / seconds
    print(f"bare:      executemany the same {rows:,} entries' rows into the platform's tables (items, entries, "
          f"records) in {seconds:.1f} s = {schema_rate:,.0f} entries/s | load/bare = "
          f"{rate / schema_rate:.2f}", flush=True)

    proofs = time_proofs(url, n)
    (inc_med, inc_99, inc_max), (con_med, con_99, con_max) = proofs["inclusion"], proofs["consistency"]
    print(f"proofs:    inclusion median {inc_med:.2f} ms p99 {inc_99:.2f} ms max {inc_max:.2f} ms | consistency "
          f"median {con_med:.2f} ms p99 {con_99:.2f} ms max {con_max:.2f} ms ({PROOFS} each, library calls)")
    print(f"           one service.inclusion_proof (opens its own connection): {proofs['service'][0]:.2f} ms")
    print(f"checks:    root {root.hex()[:16]}… matches the generated file's; all {2 * PROOFS} proofs verify | "
          f"load average now {os.getloadavg()[0]:.2f}")
    verdicts = [(f"{rate:,.0f} ≥ 50,000 entries/s", rate >= 50_000),
                (f"load/bare (one table) {rate / bare_rate:.2f} ≥ 0.5", rate >= 0.5 * bare_rate),
                (f"load/bare (same tables) {rate / schema_rate:.2f} ≥ 0.5", rate >= 0.5 * schema_rate),
                (f"peak {peak:,.0f} ≤ 250 MB", peak <= 250),
                (f"slowest proof {max(inc_max, con_max):.2f} ≤ 2 ms", max(inc_max, con_max) <= 2)]
    print("targets (set for N = 1,000,000): " + " | ".join(f"{text} {'MET' if ok else 'MISSED'}"
                                                          for text, ok in verdicts), flush=True)
    if args.profile:
        small = min(n, PROFILE_N)
        profile_load(args.db, workdir, small, rsf if small == n else workdir / f"{REGISTER}-{small}.rsf")


def main() -> None:
    """Parse the command line; run the report (or a child's part of it); clean up."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="entries to generate (default 100,000)")
    parser.add_argument("--db", default="sqlite", help="a postgresql+psycopg:// URL, or sqlite (default: temp files)")
    parser.add_argument("--keep", action="store_true", help="keep the RSF and databases (files, bench_* schemas)")
    parser.add_argument("--profile", action="store_true", help=f"also profile a load of min(N, {PROFILE_N:,})")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child_main(*args.child)
    if args.n < 2:
        parser.error("N must be at least 2")
    workdir = Path(tempfile.mkdtemp(prefix="registers-bench-"))
    drops: list[Callable[[], None]] = []
    try:
        report(args, workdir, drops)
    finally:
        if args.keep:
            print(f"kept:      {workdir}" + ("" if args.db.startswith("sqlite") else f", schemas bench_{RUN}_*"))
        else:
            for drop in drops:
                drop()
            shutil.rmtree(workdir)


if __name__ == "__main__":
    main()
