"""A real gunicorn never sends a changed item: a record is a 500 problem, a download is cut short."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from registers import service
from registers.store.engine import open_engine
from tests.conftest import RSF
from tests.e2e.conftest import gunicorn
from tests.integration.test_checked_bytes import BAD, HASH, corrupt


def test_gunicorn_cuts_a_download_of_a_changed_item_short(db_url: str, tmp_path: Path) -> None:
    engine = open_engine(db_url)
    service.generate_key(engine)
    service.load_rsf(engine, str(RSF / "country.rsf"), "country")
    corrupt(engine)
    engine.dispose()
    output = tmp_path / "gunicorn.out"
    with gunicorn(db_url, output=output) as base:
        whole = requests.get(f"{base}/country/download-rsf/0/10", timeout=10)  # does not use the item
        assert whole.status_code == 200 and whole.content.endswith(b"\n")
        with requests.get(f"{base}/country/download-rsf", stream=True, timeout=10) as dump:
            # the answer had started (its first chunk was sent) and never gets its final chunk
            assert (dump.status_code, dump.headers["Transfer-Encoding"]) == (200, "chunked")
            received = bytearray()
            with pytest.raises(requests.exceptions.ChunkedEncodingError):
                for chunk in dump.iter_content(1 << 16):
                    received += chunk
            assert received.startswith(b"assert-root-hash\t") and BAD not in received
        record = requests.get(f"{base}/country/records/GM", timeout=10)
        assert (record.status_code, record.headers["Content-Type"]) == (500, "application/problem+json")
        assert record.headers["Cache-Control"] == "no-store" and "ETag" not in record.headers
        assert record.json()["title"] == "Stored data does not verify" and HASH in record.json()["detail"]
    logged = [json.loads(line) for line in output.read_text().splitlines() if line.startswith("{")]
    told = [(e["level"], e["register"], e["item"], e["method"], e["path"]) for e in logged
            if e["event"] == "verification_failed" and e["kind"] == "stored_item"]
    assert told == [("error", "country", HASH, "GET", "/country/download-rsf"),
                    ("error", "country", HASH, "GET", "/country/records/GM")]
