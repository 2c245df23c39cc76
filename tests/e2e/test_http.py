"""A real gunicorn (the ``server`` fixture) read with requests."""

from __future__ import annotations

import requests

from tests.conftest import vector

COUNTRY = vector("country-proofs.json")


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
