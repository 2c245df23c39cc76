"""A real gunicorn serving the fixtures on a free loopback port, read with requests."""

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

from tests.conftest import vector
from tests.e2e.test_cli import ok

COUNTRY = vector("country-proofs.json")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(db_url: str, tmp_path: Path) -> Iterator[str]:
    from tests.conftest import RSF

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
                if requests.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise AssertionError("gunicorn did not become ready")
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)
        assert process.stdout is not None
        process.stdout.close()


def test_gunicorn_serves_the_v1_api(server: str) -> None:
    proof = requests.get(f"{server}/country-208/proof/entries/10/200/merkle:sha-256", timeout=5)
    assert proof.headers["Content-Type"] == "application/json"
    assert proof.json()["merkle-audit-path"] == COUNTRY["entry_proof"]["merkle-audit-path"]
    records = requests.get(f"{server}/local-authority-eng/records", params={"page-size": 3}, timeout=5)
    assert len(records.json()) == 3 and 'rel="next"' in records.headers["Link"]
    assert records.headers["Access-Control-Allow-Origin"] == "*"
    csv = requests.get(f"{server}/local-authority-type/records.csv", timeout=5)
    assert csv.headers["Content-Type"] == "text/csv;charset=UTF-8"
    missing = requests.get(f"{server}/country/records/NOWHERE", timeout=5)
    assert (missing.status_code, missing.headers["Content-Type"]) == (404, "application/problem+json")
    dump = requests.get(f"{server}/country/download-rsf", timeout=5, stream=True)
    assert dump.headers["Content-Type"] == "application/uk-gov-rsf"
    assert dump.content.startswith(b"assert-root-hash\tsha-256:e3b0c442")
