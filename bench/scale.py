"""Scale benchmark: the ``address`` register grown to N GENERATED UPRN-style entries, with figures on the way.

    python bench/scale.py N [--db URL] [--segment S] [--at M,M,...] [--seconds S] [--workdir DIR] [--keep]
    python bench/scale.py --existing URL [--seconds S]     # measure a kept database again

The register is created from ``schemas/address.json`` with ``postcode`` indexed, then grown by
loads through ``service.load_rsf`` of S entries (default 10,000,000), cut also at every size
measured. Each segment is an RSF file that continues from the register's head, every load the
one validated, signed, all-or-nothing append, and after each the loader's memory is read.
(The size of the loads matters: each load merges its staged index rows once, rewriting
about every leaf page of those indexes, so larger loads spend less per entry on it.)
A generator process writes each segment while the loading process waits (untimed), so
generating never competes with loading or measuring for the two cores, and the disk holds one
segment of RSF at a time; the loader's RSS is read after every segment (memory must stay flat
in N). The data is bench/load.py's: deterministic, shaped like
the GOV.UK ``address`` register, NOT real UPRNs.

At each size in ``--at`` (default 1M, 10M and 40M, those ≤ N, and N) it waits (untimed) until
the load's writes have reached the disk, then measures, in a child process (so the loader's RSS
is the load's alone), as library calls: inclusion and consistency
proofs, amends of random records, and record lookups by postcode (the index); through gunicorn
(2 sync workers) with wrk: record GETs/s over random keys of the whole register; and a full
``download-rsf`` (MB/s, first byte). Bare inserts of the first
segment's rows give two baselines, in the same run, each in a fresh database of the same kind:
into one table keyed by entry number (the narrowest a row could be stored), and into the
platform's own tables with their indexes (items and digests, entries and keys, records, postcode values: the rows
the load stores, without parsing, hashing, checking, Merkle tiles or signing).
A figure, not a test: it prints, it does not assert times.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from importlib import util
from pathlib import Path
from typing import Any

import registers

HERE = Path(__file__).resolve().parent


def _module(name: str) -> Any:
    spec = util.spec_from_file_location(f"bench_{name}", HERE / f"{name}.py")
    assert spec and spec.loader
    module = util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench_load, bench_serving = _module("load"), _module("serving")
REGISTER, SEED = bench_load.REGISTER, bench_load.SEED
UPRN_STEP, UPRN_SPACE = bench_load.UPRN_STEP, bench_load.UPRN_SPACE
SCHEMA = Path(registers.__file__).resolve().parent.parent / "schemas" / "address.json"
PLACEHOLDER = b"assert-root-hash\tsha-256:" + b"0" * 64 + b"\n"  # the loader writes the head's root here
AHEAD = 1  # segments the generator may have waiting: it writes the next only once the loader is done
AMENDS = 20
LOOKUPS = 200
GET_KEYS = 2000


def key_of(i: int) -> str:
    """The UPRN-style key of the i-th generated entry (0-based): bench/load.py's bijection."""
    return str(1 + (i * UPRN_STEP + SEED) % UPRN_SPACE)


# -- the generator process ------------------------------------------------------------------

def cuts(n: int, segment: int, at: list[int]) -> list[int]:
    """The register sizes at which loads end: every size measured, every multiple of ``segment``, n."""
    return sorted({a for a in at if 0 < a <= n} | set(range(segment, n, segment)) | {n})


def generate(workdir: Path, ends: list[int]) -> None:
    """Write segment files ``seg-K.rsf`` (K from 0), the K-th taking the register to ``ends[K]``
    entries; each starts with a placeholder assert the loader fills in. Waits while AHEAD wait."""
    from registers.core.entries import Log
    from registers.core.rsf import AddItem, AppendEntry, write_rsf

    entries = bench_load.address_entries(ends[-1])
    for k, end in enumerate(ends):
        while len(list(workdir.glob("seg-*.rsf"))) >= AHEAD:
            time.sleep(0.2)
        count = end - (ends[k - 1] if k else 0)

        def commands(count: int = count) -> Iterator[Any]:
            for _ in range(count):
                key, timestamp, blob, digest = next(entries)
                yield AddItem(blob, digest)
                yield AppendEntry(Log.USER, key, timestamp, (digest,))

        part = workdir / f"seg-{k:05d}.part"
        with part.open("wb") as out:
            out.write(PLACEHOLDER)
            write_rsf(commands(), out)
        part.rename(workdir / f"seg-{k:05d}.rsf")


# -- the loading process --------------------------------------------------------------------

def rss_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB (VmRSS, VmHWM)."""
    fields = _status()
    return fields["VmRSS"], fields["VmHWM"]


def rss_parts() -> dict[str, float]:
    """The current RSS in MB by kind: anonymous (the heap), file-backed (code, and SQLite's
    mapped WAL index) and shared memory."""
    fields = _status()
    return {"anon": fields["RssAnon"], "file": fields["RssFile"], "shmem": fields["RssShmem"]}


def _status() -> dict[str, float]:
    with open("/proc/self/status") as status:
        pairs = (line.split(":", 1) for line in status)
        return {k: int(v.split()[0]) / 1024 for k, v in pairs if v.strip().endswith("kB")}


class CheckerPeak:
    """The peak RSS (VmHWM, MB) of the load's checker process (``store/checker.py``), read from
    /proc every 0.2 s by a thread while a load runs: the loader's own RSS does not include it.
    (/proc is listed only until the checker is found: listing every process five times a
    second kept this thread busy in about a tenth of py-spy's samples of the loader.)"""

    def __init__(self) -> None:
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        me, checker = str(os.getpid()), None
        while not self._stop.wait(0.2):
            if checker is None:  # /proc is scanned only until the load's checker is found
                checker = self._find(me)
            fields = self._child_status(checker, me) if checker else None
            if fields is None:  # none yet, or it ended (each load starts its own)
                checker = None
            elif "VmHWM" in fields:
                self.peak = max(self.peak, int(fields["VmHWM"].split()[0]) / 1024)

    @staticmethod
    def _child_status(pid: str, parent: str) -> dict[str, str] | None:
        """The /proc status fields of process ``pid`` if it runs as a child of ``parent``."""
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return fields if fields.get("PPid", "").strip() == parent else None

    @classmethod
    def _find(cls, parent: str) -> str | None:
        """The pid of a checker process whose parent is ``parent``, if one runs."""
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                if b"registers.store.checker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue
            except OSError:
                continue
            if cls._child_status(pid, parent) is not None:
                return pid
        return None

    def stop(self) -> float:
        """Stop watching; the peak seen."""
        self._stop.set()
        self._thread.join()
        return self.peak


def database_mb(engine: Any, url: str) -> float:
    """The database's size on disk in MB (SQLite: file and WAL; PostgreSQL: the tables of its schema)."""
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6
    from sqlalchemy import text

    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace s ON s.oid = c.relnamespace WHERE s.nspname = current_schema() AND c.relkind = 'r'"
        )).scalar_one()) / 1e6


def emit(kind: str, **figures: Any) -> None:
    """One line of figures for the parent to print."""
    print(json.dumps({"kind": kind, **figures}), flush=True)


def percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)
    return {"median": statistics.median(ordered), "p99": ordered[max(0, int(0.99 * len(ordered)) - 1)],
            "max": ordered[-1]}


def load_all(url: str, workdir: Path, ends: list[int], at: list[int], seconds: int) -> None:
    """Create the register, index postcode, load every segment; measure at the sizes ``at``."""
    from registers import service

    engine = service.open_database(url)
    if service.signing_key(engine) is None:  # a fresh database: its key made on purpose
        service.generate_key(engine)
    for _ in service.init_fixtures(engine):  # the registers addresses link to (local-authority-eng)
        pass
    service.create_register(engine, REGISTER, service.read_schema(str(SCHEMA)), custodian="bench/scale.py")
    service.index_field(engine, REGISTER, "postcode")
    emit("start", rss=rss_mb())
    loaded, amended = 0, 0
    for k in range(len(ends)):
        path = workdir / f"seg-{k:05d}.rsf"
        while not path.exists():
            time.sleep(0.1)
        head = service.head(engine, REGISTER)
        with path.open("r+b") as rsf:  # the segment continues from the head, whatever amends made it
            rsf.write(b"assert-root-hash\tsha-256:" + head.user_root.hex().encode() + b"\n")
        started = time.perf_counter()
        watch = CheckerPeak()
        result = service.load_rsf(engine, str(path), REGISTER)
        seconds_taken = time.perf_counter() - started
        checker_peak = watch.stop()
        current, peak = rss_mb()  # before the baseline below runs in this process
        if k == 0:
            bare(url, workdir, path, result.added_user / seconds_taken)
        loaded += result.added_user
        emit("segment", loaded=loaded, added=result.added_user, seconds=seconds_taken, rss=current, peak=peak,
             parts=rss_parts(), checker_peak=checker_peak,
             findings=result.findings.count, db_mb=database_mb(engine, url))
        if loaded in at:  # in a child process: the loader's memory figures stay the load's own
            # Reads are measured once the load's writes have reached the disk (untimed): while
            # the kernel writes back gigabytes of dirty pages, a cold read waits behind them (and
            # on PostgreSQL an amend's commit waits behind the checkpoint that flushes the load).
            synced = time.perf_counter()
            settle_writes(engine)
            emit("synced", size=loaded, seconds=time.perf_counter() - synced)
            me = [sys.executable, __file__, "--child", "measure", str(workdir), str(loaded), url, str(seconds)]
            amended += AMENDS if subprocess.run(me).returncode == 0 else 0
        path.unlink()  # only now does the generator write the next segment
    emit("end", loaded=loaded, amended=amended, rss=rss_mb())
    engine.dispose()


def settle_writes(engine: Any) -> None:
    """Wait until what was written has reached the disk: PostgreSQL's checkpoint, then the OS's
    dirty pages."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("CHECKPOINT")
    os.sync()


def bare(url: str, workdir: Path, rsf: Path, ours: float) -> None:
    """executemany the first segment's rows into a fresh database, once into one table, once into
    the platform's own tables (each in a child process); emit the rates beside the load's."""
    db = "sqlite" if url.startswith("sqlite") else url.split("?")[0]
    rates = {}
    for label, mode in (("table", "table"), ("schema", "schema-values")):
        bare_url, drop = bench_load.fresh_database(db, workdir, f"bare{label}")
        try:  # in a child process: the loader's own memory figures stay its own
            done = bench_load.run_child(mode, bare_url, str(rsf))
            rows, seconds = done["rows"], done["seconds"]
        finally:
            drop()
            for leftover in workdir.glob("bare*.db*"):
                leftover.unlink()
        rates[label] = rows / seconds
    emit("bare", rows=rows, rate=rates["table"], schema_rate=rates["schema"], ours=ours)


def measure_child(url: str, workdir: Path, size: int, seconds: int) -> None:
    """``measure`` in a process of its own (its lines go to the parent like the loader's)."""
    from registers import service

    engine = service.open_database(url)
    try:
        measure(engine, url, workdir, size, seconds)
    finally:
        engine.dispose()


def measure(engine: Any, url: str, workdir: Path, size: int, seconds: int) -> None:
    """Proofs, amends, postcode lookups (library calls), GETs/s and a dump (HTTP) at ``size``
    user entries of generated data (AMENDS records are amended)."""
    from registers import service

    rng = random.Random(size)
    user_size = service.head(engine, REGISTER).user_size
    proofs = bench_load.time_proofs(url, user_size)
    emit("proofs", size=size, inclusion=proofs["inclusion"], consistency=proofs["consistency"])

    sample = [key_of(rng.randrange(size)) for _ in range(LOOKUPS)]
    postcodes = [service.show_record(engine, REGISTER, key)[0].record.item["postcode"] for key in sample]
    lookup_ms, found = [], 0
    for postcode in postcodes:
        started = time.perf_counter()
        found += len(list(service.list_records(engine, REGISTER, field="postcode", value=postcode)))
        lookup_ms.append((time.perf_counter() - started) * 1000)
    emit("lookups", size=size, ms=percentiles(lookup_ms), records_per_lookup=found / len(postcodes))

    amend_ms = []
    for i, key in enumerate(sample[:AMENDS]):
        started = time.perf_counter()
        change = {"name": f"Amended {size}/{i} ({bench_load.RUN})"}  # the run's mark: a measurement may be repeated
        service.amend_record(engine, REGISTER, key, change, by="bench/scale.py")
        amend_ms.append((time.perf_counter() - started) * 1000)
    emit("amends", size=size, ms=percentiles(amend_ms))

    keys = [key_of(rng.randrange(size)) for _ in range(GET_KEYS)]
    port = bench_serving.free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    # --timeout 0: a sync worker streaming a multi-GB dump sends no heartbeat until it is done
    command = [gunicorn, "-w", "2", "--timeout", "0", "-b", f"127.0.0.1:{port}", "registers.web:create_app()"]
    try:
        with bench_serving.serving(command, port, "/readyz", {"REGISTERS_DATABASE_URL": url}) as base:
            gets = bench_serving.wrk(base, [f"/{REGISTER}/records/{k}" for k in keys], seconds, workdir)
            dump_bytes, dump_seconds, first = bench_serving._dump(base)
        emit("http", size=size, gets=gets, dump_mb=dump_bytes / 1e6, dump_seconds=dump_seconds,
             first_ms=first * 1000)
    except (Exception, SystemExit) as exc:  # a figure lost is reported; the growing goes on
        emit("failed", size=size, what=f"HTTP figures: {type(exc).__name__}: {str(exc)[:300]}")


# -- the parent -----------------------------------------------------------------------------

def report(line: dict[str, Any], state: dict[str, Any]) -> None:
    """Print one figure line from the loader."""
    kind = line["kind"]
    if kind == "start":
        state["floor"] = line["rss"][0]
        print(f"start:     shipped fixtures loaded (address links to local-authority-eng); address created "
              f"from schemas/address.json, postcode indexed | RSS {line['rss'][0]:.0f} MB")
    elif kind == "segment":
        state["loaded_seconds"] += line["seconds"]
        state["peaks"].append(line["peak"])
        state["checker_peaks"].append(line["checker_peak"])
        cumulative = line["loaded"] / state["loaded_seconds"]
        print(f"segment:   {line['loaded']:>12,} entries | +{line['added']:,} in {line['seconds']:6.1f} s = "
              f"{line['added'] / line['seconds']:8,.0f} entries/s | cumulative {cumulative:8,.0f}/s | RSS "
              f"{line['rss']:4.0f} MB (anon {line['parts']['anon']:.0f}, file {line['parts']['file']:.0f}, shmem "
              f"{line['parts']['shmem']:.0f}; peak {line['peak']:4.0f}; checker process peak "
              f"{line['checker_peak']:.0f}) | database {line['db_mb'] / 1e3:7.2f} GB"
              + (f" | {line['findings']:,} findings" if line["findings"] else ""), flush=True)
    elif kind == "bare":
        state["bare"], state["bare_schema"], state["first_rate"] = line["rate"], line["schema_rate"], line["ours"]
        print(f"bare:      executemany of the first segment's {line['rows']:,} entries' rows: into one table "
              f"{line['rate']:,.0f}/s (load/bare {line['ours'] / line['rate']:.2f}) | into the platform's tables "
              f"(items and digests, entries and keys, records, postcode values) {line['schema_rate']:,.0f}/s "
              f"(load/bare {line['ours'] / line['schema_rate']:.2f})", flush=True)
    elif kind == "proofs":
        (im, i99, imax), (cm, c99, cmax) = line["inclusion"], line["consistency"]
        print(f"  at {line['size']:,}: proofs inclusion median {im:.2f} p99 {i99:.2f} max {imax:.2f} ms | consistency "
              f"median {cm:.2f} p99 {c99:.2f} max {cmax:.2f} ms (all verified)", flush=True)
    elif kind == "lookups":
        ms = line["ms"]
        print(f"  at {line['size']:,}: records by postcode (indexed) median {ms['median']:.2f} p99 {ms['p99']:.2f} "
              f"max {ms['max']:.2f} ms, {line['records_per_lookup']:.1f} records each", flush=True)
    elif kind == "amends":
        ms = line["ms"]
        print(f"  at {line['size']:,}: amend (library call, signed, committed) median {ms['median']:.1f} "
              f"p99 {ms['p99']:.1f} max {ms['max']:.1f} ms", flush=True)
    elif kind == "http":
        print(f"  at {line['size']:,}: record GETs {line['gets']:,.0f}/s (gunicorn 2 workers, wrk, random keys) | "
              f"download-rsf {line['dump_mb']:,.0f} MB in {line['dump_seconds']:.1f} s = "
              f"{line['dump_mb'] / line['dump_seconds']:,.0f} MB/s, first byte {line['first_ms']:.0f} ms", flush=True)
    elif kind == "synced":
        print(f"  at {line['size']:,}: the load's writes reached the disk {line['seconds']:.1f} s after its commit "
              f"(sync, untimed); measuring", flush=True)
    elif kind == "failed":
        print(f"  at {line['size']:,}: FAILED {line['what']}", flush=True)
    elif kind == "end":
        rate = line["loaded"] / state["loaded_seconds"]
        print(f"end:       {line['loaded']:,} generated entries (+{line['amended']} amends) | loading {rate:,.0f} "
              f"entries/s over {state['loaded_seconds'] / 60:.1f} min | peak RSS {max(state['peaks']):.0f} MB "
              f"(after the first segment {state['peaks'][0]:.0f} MB; checker process peak "
              f"{max(state['checker_peaks']):.0f} MB)")
        first = state["first_rate"]
        verdicts = [(f"{rate:,.0f} ≥ 50,000 entries/s", rate >= 50_000),
                    (f"first segment load/bare (one table) {first / state['bare']:.2f} ≥ 0.5",
                     first >= 0.5 * state["bare"]),
                    (f"first segment load/bare (same rows, same tables) {first / state['bare_schema']:.2f} ≥ 0.5",
                     first >= 0.5 * state["bare_schema"]),
                    (f"peak RSS {max(state['peaks']):.0f} ≤ 250 MB", max(state["peaks"]) <= 250)]
        print("targets:   " + " | ".join(f"{text} {'MET' if ok else 'MISSED'}" for text, ok in verdicts))


def measure_existing(url: str, seconds: int) -> None:
    """The figures of ``measure`` for a register an earlier run grew (its generated records
    are its keys: amends made by earlier measurements add entries, not keys)."""
    from registers import service

    # an earlier run's keys were in its workdir, gone now: the amends sign with a key of this
    # run's own (recorded beside the earlier one), not one left in ./keys
    os.environ.setdefault("REGISTERS_KEY_DIR", tempfile.mkdtemp(prefix="registers-scale-keys-"))
    engine = service.open_database(url)
    size = service.head(engine, REGISTER).user_records
    settle_writes(engine)
    engine.dispose()
    print(f"registers bench/scale.py — measuring an earlier run's GENERATED UPRN-style address data "
          f"(not real UPRNs): {size:,} records", flush=True)
    with tempfile.TemporaryDirectory(prefix="registers-scale-") as workdir:
        me = [sys.executable, __file__, "--child", "measure", workdir, str(size), url, str(seconds)]
        child = subprocess.Popen(me, stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        for text in child.stdout:
            report(json.loads(text), {})
        if child.wait():
            raise SystemExit(f"the measuring child failed (exit {child.returncode})")


def main() -> None:
    """Parse the command line; run the generator and the loader; print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n", type=int, nargs="?", default=0, help="entries to generate and load")
    parser.add_argument("--db", default="sqlite", help="a postgresql+psycopg:// URL, or sqlite (a file in the workdir)")
    parser.add_argument("--segment", type=int, default=10_000_000,
                        help="the most entries one load adds (default 10,000,000); loads also end at each --at")
    parser.add_argument("--at", default="1000000,10000000,40000000", help="sizes to measure at (and N)")
    parser.add_argument("--seconds", type=int, default=5, help="wrk duration at each size")
    parser.add_argument("--workdir", help="where the database and segments go (default: a new temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the database (file or bench_* schema)")
    parser.add_argument("--existing", metavar="URL",
                        help="only measure, at its size, the database of an earlier run (kept with --keep)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        mode, workdir, ends = args.child[0], Path(args.child[1]), [int(x) for x in args.child[2].split(",")]
        if mode == "generate":
            return generate(workdir, ends)
        if mode == "measure":
            return measure_child(args.child[3], workdir, ends[0], int(args.child[4]))
        at = [int(x) for x in args.child[4].split(",")]
        return load_all(args.child[3], workdir, ends, at, int(args.child[5]))
    if args.existing:
        return measure_existing(args.existing, args.seconds)
    if args.n < 2:
        parser.error("N must be at least 2")
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="registers-scale-"))
    workdir.mkdir(parents=True, exist_ok=True)
    at = sorted({a for a in map(int, args.at.split(",")) if 0 < a <= args.n} | {args.n})
    ends = cuts(args.n, args.segment, at)
    url, drop = bench_load.fresh_database(args.db, workdir, "scale")
    print(f"registers bench/scale.py — GENERATED UPRN-style address data (not real UPRNs; seed {SEED})")
    print(f"machine:   {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} | "
          f"{'sqlite file' if url.startswith('sqlite') else 'postgresql schema'} | N = {args.n:,} in loads ending at "
          f"{', '.join(f'{e:,}' for e in ends)} | measured at {', '.join(f'{a:,}' for a in at)} | disk free "
          f"{shutil.disk_usage(workdir).free / 1e9:.0f} GB", flush=True)
    me = [sys.executable, __file__, "--child"]
    # the generator runs at the lowest priority: it takes what CPU the loader leaves (a loader
    # waiting for its next segment is not timed)
    generator = subprocess.Popen([*me, "generate", str(workdir), ",".join(map(str, ends))],
                                 preexec_fn=lambda: os.nice(19))
    loader = subprocess.Popen([*me, "load", str(workdir), ",".join(map(str, ends)), url,
                               ",".join(map(str, at)), str(args.seconds)], stdout=subprocess.PIPE, text=True)
    state: dict[str, Any] = {"loaded_seconds": 0.0, "peaks": [], "checker_peaks": [], "bare": 1.0}
    started = time.perf_counter()
    try:
        assert loader.stdout is not None
        for text in loader.stdout:
            report(json.loads(text), state)
        if loader.wait():
            raise SystemExit(f"the loader failed (exit {loader.returncode})")
        print(f"wall:      {(time.perf_counter() - started) / 60:.1f} min in all (generating, untimed, included)")
    finally:
        generator.kill()
        loader.kill()
        if args.keep:
            print(f"kept:      {url}")
        else:
            drop()
            for leftover in workdir.glob("*"):
                leftover.unlink() if leftover.is_file() else shutil.rmtree(leftover)
            if not args.workdir:
                workdir.rmdir()


if __name__ == "__main__":
    main()
