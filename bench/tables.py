"""Table loads: local against remote (gunicorn, the same machine), and a table with faults.

    python bench/tables.py [N] [--workdir DIR]

Makes a register of N rows (default 100,000: a key, a name, a street, a date), then times, each
on its own fresh SQLite database in the same run:

- a local ``registers load`` of the CSV (the baseline);
- the same CSV sent with ``registers load --remote`` to a gunicorn serving another database
  (streamed with its length and SHA-256, diffed and appended by the server);
- a remote ``--dry-run`` of a second CSV that changes 1% of the rows (the diff only);
- a local load of a CSV in which every 10th row has a bad date: every fault is found in one
  pass, 100 named and the rest counted (and nothing stored), against the clean load's time.

A figure, not a test: it prints, it does not assert times.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from tests.e2e.conftest import gunicorn  # noqa: E402  (the real gunicorn the e2e tests use)

DEFINITION = {
    "fields": [
        {"cardinality": "1", "datatype": "string", "field": "place", "phase": "beta", "text": "Its code."},
        {"cardinality": "1", "datatype": "string", "field": "name", "phase": "beta", "text": "Its name."},
        {"cardinality": "1", "datatype": "string", "field": "street", "phase": "beta", "text": "Its street."},
        {"cardinality": "1", "datatype": "datetime", "field": "start-date", "phase": "beta", "text": "Since."},
    ],
    "register": {"fields": ["place", "name", "street", "start-date"], "phase": "beta", "register": "place",
                 "registry": "bench", "text": "Places made up for timing loads."},
}


def registers(db: str, *args: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run the CLI; its wall time and stdout+stderr (exit status 1 allowed: the faulty load)."""
    command = [str(Path(sys.executable).parent / "registers"), "--db", db, *args]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env or os.environ.copy())
    took = time.perf_counter() - started
    if done.returncode not in (0, 1) or (done.returncode == 1 and "faults in" not in done.stderr):
        raise SystemExit(f"{' '.join(args)} failed: {done.stderr}")
    return took, done.stdout + done.stderr


def table(path: Path, n: int, changed_every: int = 0, bad_every: int = 0) -> None:
    with path.open("w") as out:
        out.write("place,name,street,start-date\n")
        for i in range(1, n + 1):
            name = f"Place {i}" + (" (renamed)" if changed_every and i % changed_every == 0 else "")
            date = "2004-02-30" if bad_every and i % bad_every == 0 else "2004-03-12"
            out.write(f"P{i},{name},Street {i % 400},{date}\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", type=int, nargs="?", default=100_000)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench-tables-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("REGISTERS_SECRET_KEY", "bench-tables-secret-0123456789")
    schema = work / "place.json"
    schema.write_text(json.dumps(DEFINITION))
    clean, changed, faulty = work / "clean.csv", work / "changed.csv", work / "faulty.csv"
    table(clean, args.n)
    table(changed, args.n, changed_every=100)
    table(faulty, args.n, bad_every=10)
    size = clean.stat().st_size / 1e6
    dbs = {}
    for label in ("local", "remote", "faulty"):
        db = f"sqlite:///{work / label}.db"
        env = {**os.environ, "REGISTERS_KEY_DIR": str(work / f"{label}-keys")}
        registers(db, "keys", "generate", env=env)
        registers(db, "create", "place", "--schema", str(schema), "--as", "bench", env=env)
        dbs[label] = (db, env)
    print(f"{args.n:,} rows, {size:.1f} MB of CSV (SQLite, gunicorn with 2 workers on loopback)")
    db, env = dbs["local"]
    local, _ = registers(db, "load", str(clean), "--register", "place", "--as", "bench", env=env)
    print(f"  local load                 {local:7.2f} s  {args.n / local:9,.0f} rows/s  (baseline)")
    db, env = dbs["remote"]
    token = subprocess.run([str(Path(sys.executable).parent / "registers"), "--db", db, "token", "issue", "place"],
                           capture_output=True, text=True, env=env, check=True).stdout.strip()
    os.environ["REGISTERS_KEY_DIR"] = env["REGISTERS_KEY_DIR"]
    with gunicorn(db, env={**env, "REGISTERS_KEY_DIR": env["REGISTERS_KEY_DIR"]}) as base:
        remote = ("--register", "place", "--remote", f"{base}/place/", "--token", token)
        sent, out = registers(db, "load", str(clean), *remote)
        print(f"  remote load                {sent:7.2f} s  {args.n / sent:9,.0f} rows/s  "
              f"({sent / local:.2f}x local)")
        dry, out = registers(db, "load", str(changed), "--dry-run", *remote)
        print(f"  remote --dry-run, 1% changed {dry:5.2f} s  ({out.splitlines()[0]})")
    db, env = dbs["faulty"]
    found, out = registers(db, "load", str(faulty), "--register", "place", "--as", "bench", env=env)
    print(f"  load with {args.n // 10:,} faults      {found:7.2f} s  ({found / local:.2f}x a clean load; "
          f"{out.strip().splitlines()[-1]})")


if __name__ == "__main__":
    main()
