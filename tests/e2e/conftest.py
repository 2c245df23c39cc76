"""Fixtures for end-to-end tests: a real gunicorn serving the fixtures on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine

from registers import service
from tests.conftest import RSF
from tests.e2e.test_cli import ok
from tests.integration.helpers import load


def _listening_socket() -> socket.socket:
    """A loopback socket already bound to a free port and listening: handed to gunicorn as it
    is (``--bind fd://N``), so no other process can take the port between choosing and binding."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextmanager
def gunicorn(db_url: str, workers: int = 2, log: Path | None = None, *, env: dict[str, str] | None = None,
             cwd: Path | None = None, output: Path | None = None, options: tuple[str, ...] = ()) -> Iterator[str]:
    """A real gunicorn serving ``db_url`` on a free loopback port, until the block ends (with
    ``log``: its access and error logs written there). ``env``: the environment it starts
    with instead of this process's (``REGISTERS_DATABASE_URL`` is set to ``db_url`` in it);
    ``cwd``: the working directory it starts in; ``output``: a file its stdout and stderr
    (the app's own log lines) are written to; ``options``: more of gunicorn's, such as
    ``("-c", "python:registers.web.gunicorn_conf")``."""
    sock = _listening_socket()
    port = int(sock.getsockname()[1])
    command = Path(sys.executable).parent / "gunicorn"
    environment = {**(os.environ if env is None else env), "REGISTERS_DATABASE_URL": db_url}
    logging = ["--access-logfile", str(log), "--error-logfile", str(log), "--log-level", "debug"] if log else []
    # its output goes to a file, never to a pipe nobody reads: a pipe's 64 KiB of the app's JSON
    # request lines would block every worker on its next log line
    sink = output.open("ab") if output is not None else tempfile.TemporaryFile()
    process = subprocess.Popen(
        [str(command), "--workers", str(workers), "--bind", f"fd://{sock.fileno()}", *logging,
         *options, "registers.web:create_app()"],
        env=environment, cwd=cwd, stdout=sink, stderr=subprocess.STDOUT, pass_fds=(sock.fileno(),),
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:  # not listening yet, or still starting
                time.sleep(0.1)
        else:
            raise AssertionError("gunicorn did not become ready")
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # never left running for the tests after it
            process.kill()
            process.wait(timeout=10)
            raise
        finally:
            sock.close()
            sink.close()


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[str]:
    """gunicorn serving every fixture register, and country-208."""
    ok(db_url, "init", "--with-fixtures")
    ok(db_url, "load", str(RSF / "country-208.rsf"), "--register", "country-208")
    with gunicorn(db_url) as base:
        yield base


@pytest.fixture
def origin(db_url: str) -> Iterator[Engine]:
    """An origin server's database: a key made on purpose, country-small loaded (for the mirror,
    rotation and lost-key tests)."""
    engine = service.open_database(db_url)
    service.generate_key(engine)
    load(engine, "country-small.rsf", "country")
    yield engine
    engine.dispose()
