"""``/<register>/download-register``: the v1 zip, made as it is sent. Its content round-trips
(``register.json``, every item under its hash, every entry), Python's zipfile and ``unzip -t``
read it (ZIP64 end records past 65,535 members), the first chunk comes before the register is
read through, and the memory it takes does not grow with the register: streaming ten times
the entries peaks no higher (Python's own allocations, traced in a fresh interpreter)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from sqlalchemy import Engine

from registers import service
from registers.core.definitions import load_definition
from registers.core.entries import Log, entry_json
from registers.core.items import hash_text
from registers.store import reads
from registers.store.engine import snapshot
from tests.conftest import ROOT
from tests.integration.helpers import app_client, load

SMALL, LARGE = 4_000, 40_000  # entries; LARGE makes 80,000 members: past ZIP64's 65,535
DEFINITION = {
    "fields": [
        {"cardinality": "1", "datatype": "string", "field": "spot", "phase": "beta", "text": "Its number."},
        {"cardinality": "1", "datatype": "string", "field": "name", "phase": "beta", "text": "Its name."},
    ],
    "register": {"fields": ["spot", "name"], "phase": "beta", "register": "spot", "registry": "test",
                 "text": "Spots made up for downloads."},
}

# Run in a fresh interpreter: serve the download through the app and read it in full, with
# Python's allocations traced from the first chunk on (imports and caches are made by then).
STREAM = """
import json, sys, time, tracemalloc
from registers.web import create_app
from registers.web.state import state
app = create_app({"DATABASE_URL": sys.argv[1], "TESTING": True})
client = app.test_client()
started = time.perf_counter()
answer = client.get(f"/{sys.argv[2]}/download-register", buffered=False)
chunks = iter(answer.response)
first = next(chunks)
first_chunk = time.perf_counter() - started
tracemalloc.start()
size, count = len(first), 1
for chunk in chunks:
    size, count = size + len(chunk), count + 1
peak = tracemalloc.get_traced_memory()[1]
answer.close()
state(app).close()
print(json.dumps({"bytes": size, "chunks": count, "peak": peak, "first": first_chunk,
                  "seconds": time.perf_counter() - started}))
"""


def _spots(engine: Engine, name: str, n: int) -> None:
    definition = load_definition(json.dumps({**DEFINITION, "register": {**DEFINITION["register"], "register": name}}))
    service.create_register(engine, name, definition, by="test")
    service.append_items(engine, name, [(str(i), {"spot": str(i), "name": f"Spot {i}"}) for i in range(1, n + 1)])


def _streamed(db_url: str, name: str) -> dict[str, float]:
    """What streaming register ``name``'s zip in a fresh interpreter took."""
    done = subprocess.run([sys.executable, "-c", STREAM, db_url, name], capture_output=True, text=True, timeout=600,
                          cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _assert_whole(engine: Engine, name: str, body: bytes) -> None:
    """``body`` is the v1 zip of register ``name``: every member, byte for byte, in order."""
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    with snapshot(engine) as conn:
        reg_id = reads.register_id(conn, name)
        assert reg_id is not None
        head = reads.head(conn, reg_id)
        items = list(reads.iter_items(conn, reg_id))
        entries = list(reads.iter_entries(conn, reg_id, Log.USER, 1, head.user_size))
    names = archive.namelist()
    assert names == (["register.json"] + [f"item/{d.hex()}.json" for d, _ in items]
                     + [f"entry/{e.number}.json" for e in entries])
    about = json.loads(archive.read("register.json"))
    assert (about["register"], about["total-entries"], about["root-hash"]) == (name, head.user_size,
                                                                               hash_text(head.user_root))
    for digest, blob in items:
        stored = archive.read(f"item/{digest.hex()}.json")
        assert stored == blob and hashlib.sha256(stored).digest() == digest
    for e in entries:
        assert json.loads(archive.read(f"entry/{e.number}.json")) == entry_json(e)


def _assert_unzip_reads(body: bytes, tmp_path: Path) -> None:
    """Info-ZIP's ``unzip -t`` tests every member (Debian's ``unzip``, which .ci/run installs)."""
    unzip = shutil.which("unzip")
    assert unzip, "unzip is not installed (apt-get install unzip)"
    path = tmp_path / "download.zip"
    path.write_bytes(body)
    tested = subprocess.run([unzip, "-tq", str(path)], capture_output=True, text=True, timeout=300)
    assert tested.returncode == 0 and "No errors detected" in tested.stdout, tested.stdout + tested.stderr


def test_the_zip_round_trips_and_unzip_reads_it(engine: Engine, db_url: str, tmp_path: Path) -> None:
    load(engine, "country.rsf", "country")
    with app_client(db_url) as client:
        answer = client.get("/country/download-register")
        assert answer.status_code == 200 and answer.content_type == "application/zip"
        assert answer.headers["Content-Disposition"] == 'attachment; filename="country.zip"'
        body = answer.get_data()
    _assert_whole(engine, "country", body)
    _assert_unzip_reads(body, tmp_path)


def test_a_register_without_entries_is_a_zip_of_its_description(engine: Engine, db_url: str) -> None:
    _spots(engine, "none", 0)
    with app_client(db_url) as client:
        body = client.get("/none/download-register").get_data()
    names = zipfile.ZipFile(io.BytesIO(body)).namelist()  # register.json and its definition's items
    assert names[0] == "register.json" and not [n for n in names if n.startswith("entry/")]
    _assert_whole(engine, "none", body)


def test_memory_does_not_grow_with_the_register(engine: Engine, db_url: str, tmp_path: Path) -> None:
    """Ten times the entries: the same peak of Python's allocations while the zip streams
    (zipfile's ``ZipInfo`` per member took it from 9 MB to 88 MB here), the first chunk at once,
    and the large zip (ZIP64: 80,001 members) is whole."""
    _spots(engine, "small", SMALL)
    _spots(engine, "large", LARGE)
    small, large = _streamed(db_url, "small"), _streamed(db_url, "large")
    assert large["bytes"] > 9 * small["bytes"] and large["chunks"] > 100
    assert large["peak"] < small["peak"] + 512 * 1024 and large["peak"] < 4 << 20, (small, large)
    assert large["first"] < large["seconds"] / 10, large  # sent before the register is read through
    with app_client(db_url) as client:
        body = client.get("/large/download-register").get_data()
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert len(archive.infolist()) > 2 * LARGE and b"PK\x06\x06" in body[-200:]  # the ZIP64 end record
    _assert_whole(engine, "large", body)
    _assert_unzip_reads(body, tmp_path)
