"""Fixtures for end-to-end tests: a real gunicorn serving the fixtures on a free loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import RSF
from tests.e2e.test_cli import ok


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[str]:
    ok(db_url, "init", "--with-fixtures")
    ok(db_url, "load", str(RSF / "country-208.rsf"), "--register", "country-208")
    port = _free_port()
    gunicorn = Path(sys.executable).parent / "gunicorn"
    env = {**os.environ, "REGISTERS_DATABASE_URL": db_url}
    process = subprocess.Popen(
        [str(gunicorn), "--workers", "2", "--bind", f"127.0.0.1:{port}", "registers.web:create_app()"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
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
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()
