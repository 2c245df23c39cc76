"""Tidy failures (issue 24): an upload's spool file never outlives its load, even a load whose
worker was killed (the next app to start sweeps it); a full spool directory is a 507 problem;
a database the command line cannot use is one line naming it, and a command that only reads
never creates a database."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from registers import service
from registers.core.items import hash_text
from registers.web import create_app
from registers.web.state import state
from tests.conftest import RSF
from tests.integration.helpers import load, snapshot

REGISTERS = str(Path(sys.executable).parent / "registers")
PATCH = (RSF / "country-small-update.rsf").read_bytes()


@pytest.fixture
def spool_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A spool directory of the test's own (tempfile's directory, in this process and in the
    processes it starts)."""
    directory = tmp_path / "spool"
    directory.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    monkeypatch.setenv("TMPDIR", str(directory))
    return directory


@pytest.fixture
def secret(engine: Engine) -> str:
    load(engine, "country-small.rsf", "country")
    return service.issue_token(engine, "country", "custodian").secret


@pytest.fixture
def client(engine: Engine, db_url: str, spool_dir: Path) -> Iterator[FlaskClient]:
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    yield app.test_client()
    state(app).close()


def _spools(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith("registers-upload-"))


class _Body:
    """A request body that sends ``first`` bytes of RSF, then fails as ``then`` says."""

    def __init__(self, first: int, then: Any) -> None:
        self.left, self.then = first, then

    def read(self, size: int = -1) -> bytes:
        if self.left <= 0:
            return self.then()  # type: ignore[no-any-return]
        n = min(self.left, size if size > 0 else self.left)
        self.left -= n
        return b"x" * n


def test_a_spool_is_removed_when_its_upload_is_abandoned_or_refused(
        client: FlaskClient, engine: Engine, secret: str, spool_dir: Path) -> None:
    before = snapshot(engine)
    auth = {"Authorization": f"Bearer {secret}"}
    cut = client.post("/country/load-rsf", headers=auth,  # the client goes after 300 kB of 1 MB
                      environ_overrides={"wsgi.input": _Body(300_000, lambda: b""), "CONTENT_LENGTH": "1000000"})
    assert cut.status_code == 400
    refused = client.post("/country/load-rsf", data=b"not rsf\n" * 20_000, headers=auth)
    assert refused.status_code == 422
    assert _spools(spool_dir) == [] and snapshot(engine) == before
    assert client.post("/country/load-rsf", data=PATCH, headers=auth).status_code == 200
    assert _spools(spool_dir) == []


KILLED = """
import os, signal, sys
from registers.web import create_app

class Body:
    sent = 0
    def read(self, size=-1):
        if self.sent >= 2_000_000:
            os.kill(os.getpid(), signal.SIGKILL)  # the worker dies mid-upload: nothing runs after
        self.sent += 65536
        return b"x" * 65536

app = create_app({"DATABASE_URL": sys.argv[1], "TESTING": True})
app.test_client().post("/country/load-rsf", headers={"Authorization": "Bearer " + sys.argv[2]},
                       environ_overrides={"wsgi.input": Body(), "CONTENT_LENGTH": "75000000"})
"""


def test_the_spool_of_a_worker_killed_mid_upload_is_swept_when_the_app_starts(
        engine: Engine, db_url: str, secret: str, spool_dir: Path) -> None:
    before = snapshot(engine)
    killed = subprocess.run([sys.executable, "-c", KILLED, db_url, secret], capture_output=True, timeout=120)
    assert killed.returncode == -9, killed.stderr.decode()
    (left,) = spool_dir.iterdir()  # what a killed worker leaves behind
    assert left.name.startswith("registers-upload-") and left.stat().st_size >= 2_000_000
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    try:
        assert _spools(spool_dir) == []
        assert snapshot(engine) == before
    finally:
        state(app).close()


def _dead_pid() -> int:
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    return done.pid


def test_the_sweep_at_start_up_spares_the_spools_of_live_processes(db_url: str, engine: Engine,
                                                                   spool_dir: Path) -> None:
    def spool(name: str, age: float = 0) -> Path:
        path = spool_dir / name
        path.write_bytes(b"x" * 1000)
        if age:
            os.utime(path, (time.time() - age, time.time() - age))
        return path

    dead = spool(f"registers-upload-{_dead_pid()}-a1b2c3.rsf")
    live = spool(f"registers-upload-{os.getpid()}-d4e5f6.rsf")  # a load in progress here
    live_but_ancient = spool(f"registers-upload-{os.getpid()}-ancient.rsf", age=3 * 86400)  # a reused pid
    unnamed_old = spool("registers-upload-k9w8x7.rsf", age=7200)  # an older version's, no pid
    unnamed_new = spool("registers-upload-m1n2o3.rsf")  # an older version's, perhaps still loading
    other = spool("registers-upload-notes.txt", age=7 * 86400)  # not a spool
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    state(app).close()
    assert not dead.exists() and not live_but_ancient.exists() and not unnamed_old.exists()
    assert live.exists() and unnamed_new.exists() and other.exists()


def test_a_full_spool_directory_is_a_507_problem_and_nothing_is_stored(
        client: FlaskClient, engine: Engine, secret: str, spool_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made = tempfile.NamedTemporaryFile

    def filling(*args: Any, **kwargs: Any) -> Any:  # the disk fills after the first 64 KiB
        spool = made(*args, **kwargs)
        written = 0

        def write(chunk: bytes) -> int:
            nonlocal written
            if written:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            written += len(chunk)
            return spool.file.write(chunk)  # type: ignore[no-any-return]

        spool.write = write
        return spool

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", filling)
    before = snapshot(engine)
    answer = client.post("/country/load-rsf", data=PATCH * 1000, headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 507, answer.data
    assert answer.mimetype == "application/problem+json"
    assert answer.json["title"] == "Insufficient Storage"
    assert "out of room for uploads" in answer.json["detail"]
    assert str(spool_dir) not in answer.get_data(as_text=True)
    assert _spools(spool_dir) == [] and snapshot(engine) == before


def test_an_upload_declared_too_large_is_refused_before_a_byte_is_spooled(
    client: FlaskClient, secret: str, spool_dir: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", lambda *a, **k: pytest.fail("spooled"))
    answer = client.post("/country/load-rsf", data=b"x" * 10, headers={"Authorization": f"Bearer {secret}"},
                         environ_overrides={"CONTENT_LENGTH": str(10**15)})
    assert answer.status_code == 413 and answer.mimetype == "application/problem+json"
    assert _spools(spool_dir) == []


# -- the command line ----------------------------------------------------------------------


def _run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "REGISTERS_DATABASE_URL"}
    return subprocess.run([REGISTERS, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _one_line(done: subprocess.CompletedProcess[str], *named: str) -> str:
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert done.stderr.startswith("error: ") and done.stderr.count("\n") == 1, done.stderr
    for text in named:
        assert text in done.stderr, done.stderr
    return done.stderr


@pytest.mark.parametrize(("url", "named"), [
    ("foo://bar", "'foo'"),
    ("postgresql://someone:hunter2@db.example:notaport/registers", "is not a database URL"),
    ("postgresql+nodriver://someone:hunter2@db.example/registers", "postgresql+nodriver://someone:***@db.example"),
    ("sqlite://", "'sqlite://' is a database in memory"),
])
def test_a_database_url_that_cannot_be_used_is_one_line(tmp_path: Path, url: str, named: str) -> None:
    said = _one_line(_run(tmp_path, "--db", url, "list"), named)
    assert "hunter2" not in said
    assert list(tmp_path.iterdir()) == []


def test_an_unreachable_server_is_one_line_naming_it_without_its_password(tmp_path: Path) -> None:
    said = _one_line(_run(tmp_path, "--db", "postgresql://someone:hunter2@127.0.0.1:1/registers", "list"),
                     "cannot open the database postgresql+psycopg://someone:***@127.0.0.1:1/registers: ")
    assert "hunter2" not in said


@pytest.mark.parametrize("command", [["list"], ["verify", "country"], ["root", "country"], ["export", "country"]])
def test_a_file_that_is_not_a_database_is_one_line_naming_it(tmp_path: Path, command: list[str]) -> None:
    (tmp_path / "x.db").write_text("these are my notes, not a database\n" * 100)
    _one_line(_run(tmp_path, "--db", "sqlite:///x.db", *command), "./x.db: file is not a database")
    assert [p.name for p in tmp_path.iterdir()] == ["x.db"]


@pytest.mark.parametrize("command", [
    ["list"], ["root", "country"], ["export", "country"], ["export", "country", "--format", "csv"],
    ["show", "country", "GB"], ["records", "country"], ["verify", "country"], ["keys", "list"],
    ["proof", "inclusion", "country", "1", "1"], ["token", "list", "country"], ["proposals", "list", "country"],
])
def test_a_command_that_only_reads_creates_no_database(tmp_path: Path, command: list[str]) -> None:
    _one_line(_run(tmp_path, *command), "error: no database at ./registers.db: run 'registers init'")
    elsewhere = tmp_path / "elsewhere.db"
    _one_line(_run(tmp_path, "--db", f"sqlite:///{elsewhere}", *command), f"no database at {elsewhere}")
    assert list(tmp_path.iterdir()) == []


def test_commands_that_make_a_database_still_make_one(tmp_path: Path) -> None:
    made = _run(tmp_path, "keys", "generate")
    assert made.returncode == 0, made.stderr
    assert (tmp_path / "registers.db").exists()
    listed = _run(tmp_path, "list")
    assert listed.returncode == 0 and listed.stderr == "", listed.stderr


def test_the_web_app_refuses_a_database_it_cannot_use_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.db").write_text("not a database\n")
    env = {**os.environ, "REGISTERS_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    done = subprocess.run([gunicorn, "--bind", "127.0.0.1:0", "registers.web:create_app()"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr, done.stderr
    assert f"cannot open the database {tmp_path / 'x.db'}: file is not a database\n" in done.stderr


def test_serve_refuses_a_database_it_cannot_use_in_one_line(tmp_path: Path) -> None:
    (tmp_path / "registers.db").write_text("not a database\n")
    done = _run(tmp_path, "serve", "--port", "0")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    assert "file is not a database" in done.stderr


def test_an_upload_with_a_nul_in_a_value_is_refused_naming_it(client: FlaskClient, secret: str, engine: Engine) -> None:
    item = b'{"country":"Z2","name":"a\\u0000b"}'
    digest = hashlib.sha256(item).hexdigest()
    root = hash_text(service.head(engine, "country").user_root)
    body = (f"assert-root-hash\t{root}\n".encode()
            + b"add-item\t" + item + b"\n"
            + f"append-entry\tuser\tZ2\t2020-01-01T00:00:00Z\tsha-256:{digest}\n".encode())
    before = snapshot(engine)
    answer = client.post("/country/load-rsf", data=body, headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 422 and "NUL" in answer.json["detail"], answer.json
    assert "\x00" not in answer.get_data(as_text=True) and snapshot(engine) == before
