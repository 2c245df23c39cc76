"""Logs and metrics of a real gunicorn (2 workers, ``registers.web.gunicorn_conf``): a JSON line
per request with the id each answer carries, a line per write, refusals as warnings; no token,
contact, body or query in the log; ``/metrics`` sums every worker's counts. Both databases."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import RSF
from tests.e2e.conftest import gunicorn
from tests.e2e.test_cli import ok

CONF = ("-c", "python:registers.web.gunicorn_conf")
RECORD = "/<register>/records/<path:rest>"
TOKEN_LABEL = "Jane"
CONTACT = "contact-marker-7f3a@example.com"
BODY_MARK = "body-marker-91c2"
QUERY_MARK = "query-marker-5e8d"
Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(url: str) -> Samples:
    answer = requests.get(url, timeout=30)
    assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("text/plain")
    assert answer.headers.get("Cache-Control", "no-store") == "no-store"  # the app's says so; the master's is bare
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(answer.text) for s in family.samples}


def _moved(before: Samples, after: Samples, name: str, **labels: str) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def _requests(before: Samples, after: Samples, method: str, route: str, status: str) -> float:
    return _moved(before, after, "registers_http_requests_total", method=method, route=route, status=status)


def _scrape_until(url: str, done: Callable[[Samples], bool]) -> Samples:
    """A scrape once ``done`` holds of it: a worker counts a request once its answer is sent, so a
    scrape at once may miss the last one (a few ms); 10 s at most."""
    for _ in range(100):
        found = _scrape(url)
        if done(found):
            return found
        time.sleep(0.1)
    return found


def _workers(directory: Path) -> set[str]:
    """The processes whose counts are in the multi-process directory (files ``<kind>_<pid>.db``)."""
    return {path.stem.rsplit("_", 1)[1] for path in directory.glob("*.db")}


def _until_both_workers_count(base: str, directory: Path) -> None:
    """gunicorn answers once one worker is ready: send requests, a few at once, until the other
    has answered some too (so the sums below are of two processes' counts)."""
    with ThreadPoolExecutor(4) as pool:
        for _ in range(100):
            list(pool.map(lambda n: requests.get(f"{base}/healthz", timeout=30), range(8)))
            if len(_workers(directory)) >= 2:
                return
            time.sleep(0.1)
    raise AssertionError(f"one worker answered every request: {_workers(directory)}")


def _events(output: Path) -> list[dict[str, Any]]:
    text = output.read_text()
    lines = [line for line in text.splitlines() if line.strip()]
    return [json.loads(line) for line in lines]  # every line, gunicorn's too, is JSON


def test_logs_and_metrics_of_gunicorn_workers(db_url: str, tmp_path: Path) -> None:
    ok(db_url, "keys", "generate")
    ok(db_url, "load", str(RSF / "country-small.rsf"), "--register", "country")
    token = ok(db_url, "token", "issue", "country", "--label", TOKEN_LABEL).strip()
    directory = tmp_path / "metrics"  # as an operator sets it; a file of an earlier run is emptied out
    directory.mkdir()
    (directory / "counter_1.db").write_bytes(b"left over")
    output = tmp_path / "gunicorn.out"
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    with gunicorn(db_url, 2, env=env, output=output, options=CONF) as base:
        _until_both_workers_count(base, directory)
        before = _scrape(f"{base}/metrics")
        with ThreadPoolExecutor(8) as pool:  # at once, so that both workers answer some
            reads = list(pool.map(lambda n: requests.get(f"{base}/country/records/GB.json?{QUERY_MARK}={n}",
                                                         timeout=30), range(24)))
        kept = requests.get(f"{base}/country/records/GB", headers={"X-Request-Id": "trace-1.a_b"}, timeout=30)
        unsafe = requests.get(f"{base}/country/records/GB", headers={"X-Request-Id": "bad id<x>"}, timeout=30)
        change = requests.post(f"{base}/country/changes", timeout=30, headers={"Authorization": f"Bearer {token}"},
                               json={"action": "amend", "key": "GB", "fields": {"name": f"{BODY_MARK} Albion"},
                                     "reason": "renamed"})
        refused = requests.post(f"{base}/country/changes", timeout=30, headers={"Authorization": "Bearer nope"},
                                json={"action": "amend", "key": "GB", "fields": {"name": BODY_MARK}, "reason": "r"})
        proposed = requests.post(f"{base}/country/proposals", timeout=30, json={
            "key": "FR", "fields": {"name": f"{BODY_MARK} France"}, "reason": "a better name", "contact": CONTACT})
        expected = {("GET", RECORD, "200"): len(reads) + 2, ("POST", "/<register>/changes", "200"): 1,
                    ("POST", "/<register>/changes", "401"): 1, ("POST", "/<register>/proposals", "201"): 1}
        after = _scrape_until(f"{base}/metrics", lambda found: all(
            _requests(before, found, *labels) >= count for labels, count in expected.items()))
    assert [r.status_code for r in reads] == [200] * 24 and kept.status_code == unsafe.status_code == 200
    assert (change.status_code, refused.status_code, proposed.status_code) == (200, 401, 201), change.text

    # metrics: every worker's counts, summed
    assert "counter_1.db" not in {p.name for p in directory.iterdir()}
    assert {labels: _requests(before, after, *labels) for labels in expected} == expected
    assert _moved(before, after, "registers_http_request_duration_seconds_count", route=RECORD) == len(reads) + 2
    assert _moved(before, after, "registers_http_requests_total", method="GET", route="/metrics", status="200") >= 1
    added = change.json()
    assert _moved(before, after, "registers_entries_appended_total", register="country", log="user") == \
        added["user-entries-added"] == 1
    assert _moved(before, after, "registers_entries_appended_total", register="country", log="system") == \
        added["system-entries-added"] == 1
    assert _moved(before, after, "registers_proposals_total", outcome="made") == 1

    # the log: JSON lines, one request event per answer, with the id the answer carried
    events = _events(output)
    assert all({"time", "level", "logger", "event"} <= set(e) for e in events)
    requested = {e["request_id"]: e for e in events if e["event"] == "request"}
    assert len(requested) == len([e for e in events if e["event"] == "request"])  # every id once
    answers = [*reads, kept, unsafe, change, refused, proposed]
    ids = [a.headers["X-Request-Id"] for a in answers]
    assert len(set(ids)) == len(ids) and kept.headers["X-Request-Id"] == "trace-1.a_b"
    assert unsafe.headers["X-Request-Id"] != "bad id<x>" and len(unsafe.headers["X-Request-Id"]) == 32
    for answer in answers:
        line = requested[answer.headers["X-Request-Id"]]
        sent = answer.request
        assert (line["method"], line["path"], line["status"]) == (sent.method, sent.path_url.split("?")[0],
                                                                  answer.status_code)
        assert line["bytes"] == len(answer.content) and line["duration_ms"] >= 0
    assert requested[reads[0].headers["X-Request-Id"]]["route"] == RECORD
    assert requested[change.headers["X-Request-Id"]]["route"] == "/<register>/changes"
    by_request = {(e["event"], e.get("request_id")): e for e in events}
    write = by_request["append", change.headers["X-Request-Id"]]
    assert (write["level"], write["register"], write["by"], write["user_entries_added"], write["system_entries_added"],
            write["user_size"], write["root"]) == ("info", "country", TOKEN_LABEL, 1, 1, added["total-entries"],
                                                   added["root-hash"])
    signed = by_request["checkpoint_signed", change.headers["X-Request-Id"]]
    assert signed["key"].startswith("localhost+") and signed["user_size"] == added["total-entries"]
    warned = by_request["write_refused", refused.headers["X-Request-Id"]]
    assert (warned["level"], warned["status"], warned["route"]) == ("warning", 401, "/<register>/changes")
    made = by_request["proposal", proposed.headers["X-Request-Id"]]
    assert (made["outcome"], made["proposal"], made["register"]) == ("made", proposed.json()["id"], "country")

    # ...and nothing a client sent but the method, path and a safe id
    logged = output.read_text()
    for secret in (token, CONTACT, BODY_MARK, QUERY_MARK, "Bearer", "nope", "bad id"):
        assert secret not in logged, secret


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_master_serves_every_workers_metrics_on_their_own_port(db_url: str, tmp_path: Path) -> None:
    ok(db_url, "keys", "generate")
    ok(db_url, "load", str(RSF / "country-small.rsf"), "--register", "country")
    port = _free_port()
    env = {**os.environ, "REGISTERS_METRICS_PORT": str(port)}
    with gunicorn(db_url, 2, env=env, output=tmp_path / "gunicorn.out", options=CONF) as base:
        assert requests.get(f"{base}/metrics", timeout=30).status_code == 404  # not beside the registers
        scraped = f"http://127.0.0.1:{port}/metrics"
        before = _scrape_until(scraped, lambda found: True)
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: requests.get(f"{base}/country/records/GB", timeout=30), range(12)))
        after = _scrape_until(scraped, lambda found: _requests(before, found, "GET", RECORD, "200") >= 12)
    assert _requests(before, after, "GET", RECORD, "200") == 12
