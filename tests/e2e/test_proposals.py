"""Proposals through a real gunicorn: an anonymous proposal, the custodian's approval with a
token, the proposer reading the outcome; a flood held back across both worker processes; the
contact in no answer and no log line; the quality report 'registers check' stored, served a page at
a time."""

from __future__ import annotations

from pathlib import Path

import requests

from registers import service
from registers.core.notes import VerifierKey
from registers.core.receipts import verify_receipt
from tests.e2e.conftest import gunicorn
from tests.e2e.test_cli import ok

CONTACT = "whistle-8c1d@example.org"


def test_propose_review_and_flood_over_real_http(db_url: str, tmp_path: Path) -> None:
    ok(db_url, "init", "--with-fixtures")
    engine = service.open_database(db_url)
    token = service.issue_token(engine, "local-authority-eng", "LA custodian").secret
    log = tmp_path / "gunicorn.log"
    try:
        with gunicorn(db_url, workers=2, log=log) as base:
            before = service.head(engine, "local-authority-eng")
            made = requests.post(f"{base}/local-authority-eng/proposals", timeout=30, json={
                "key": "BAS", "fields": {"official-name": "Bath & North East Somerset Council"},
                "reason": "the council's own spelling", "contact": CONTACT})
            assert made.status_code == 201, made.text
            ident = made.json()["id"]
            assert service.head(engine, "local-authority-eng") == before
            refused = requests.post(f"{base}/local-authority-eng/proposals/{ident}/approve", timeout=30,
                                    json={"reason": "ok"}, headers={"Authorization": "Bearer wrong"})
            assert refused.status_code == 401 and service.head(engine, "local-authority-eng") == before
            done = requests.post(f"{base}/local-authority-eng/proposals/{ident}/approve", timeout=30,
                                 json={"reason": "as the council writes it"},
                                 headers={"Authorization": f"Bearer {token}"})
            assert done.status_code == 200, done.text
            keys = [VerifierKey.parse(k) for k in service.public_keys(engine)]
            assert verify_receipt(done.json()["receipt"], keys)[0].checkpoint.size == before.user_size + 1
            seen = requests.get(f"{base}/local-authority-eng/proposals/{ident}.json", timeout=30).json()
            assert (seen["status"], seen["decision-reason"]) == ("approved", "as the council writes it")
            record = requests.get(f"{base}/local-authority-eng/records/BAS.json", timeout=30).json()
            assert record["BAS"]["item"][0]["official-name"] == "Bath & North East Somerset Council"
            # a flood: the limit (10 a minute) holds across both workers, counted in the database;
            # 25 requests span at most two windows, so at most 19 more get through
            codes = [requests.post(f"{base}/local-authority-eng/proposals", timeout=30, json={
                "key": "BBD", "fields": {"name": f"Blackburn {n}"}, "reason": "flood"}).status_code for n in range(25)]
            assert set(codes) == {201, 429} and codes.count(201) <= 19
            pages = [requests.get(f"{base}/local-authority-eng/proposals{suffix}", timeout=30,
                                  headers={"Accept": "text/html"}).text for suffix in ("", ".json", "?status=all")]
            # a report is served only once 'registers check' (cron, say) has stored one
            missing = requests.get(f"{base}/local-authority-eng/quality.json", timeout=30)
            assert missing.status_code == 404 and "registers check local-authority-eng" in missing.json()["detail"]
            ok(db_url, "check", "local-authority-eng", "--limit", "0")
            quality = requests.get(f"{base}/local-authority-eng/quality.json?page-size=2", timeout=30)
            assert quality.status_code == 200 and set(quality.json()["counts"]) >= {"duplicate", "dangling-link"}
            assert quality.json()["total-entries"] == service.head(engine, "local-authority-eng").user_size
            counts = quality.json()["counts"]
            for kind, n in counts.items():  # every finding of every kind, a page at a time
                url, seen = f"{base}/local-authority-eng/quality.json?kind={kind}&page-size=2", 0
                while url:
                    page = requests.get(url, timeout=30)
                    seen += len(page.json()["findings"])
                    url = page.links.get("next", {}).get("url", "")
                    url = f"{base}{url}" if url.startswith("/") else url
                assert seen == n, kind
        assert all(CONTACT not in page for page in pages)
        assert CONTACT not in log.read_text() and token not in log.read_text()
        assert "POST /local-authority-eng/proposals" in log.read_text()
    finally:
        engine.dispose()
