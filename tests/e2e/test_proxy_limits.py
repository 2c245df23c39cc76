"""The proposal rate limit through a real gunicorn behind a real proxy hop (issue 24): two
visitors on different addresses, whose requests all reach gunicorn from the proxy's socket,
are limited separately; a forwarded header a visitor makes up moves nothing, behind the proxy
or (with no trusted proxy configured) straight at gunicorn. And ``registers serve`` starts
without a configured secret, making one for its process and saying so."""

from __future__ import annotations

import http.client
import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import requests

from tests.conftest import RSF
from tests.e2e.conftest import gunicorn
from tests.e2e.test_cli import _registers_command, ok

LIMITED = {"REGISTERS_PROPOSAL_RATE": "2", "REGISTERS_PROPOSAL_RATE_WINDOW": str(10**9)}  # no window boundary
BODY = json.dumps({"key": "FR", "fields": {"name": "Francia"}, "reason": "its Spanish name"}).encode()


@contextmanager
def proxy(upstream: str) -> Iterator[int]:
    """A reverse proxy on a free loopback port that forwards each request to ``upstream``,
    appending the address it was connected from to ``X-Forwarded-For`` (as nginx's
    ``$proxy_add_x_forwarded_for`` does): the port it listens on."""
    target = urlsplit(upstream)

    class Forward(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "x-forwarded-for")}
            seen = self.headers.get("X-Forwarded-For")
            headers["X-Forwarded-For"] = f"{seen}, {self.client_address[0]}" if seen else self.client_address[0]
            conn = http.client.HTTPConnection(target.hostname or "", target.port, timeout=30)
            conn.request("POST", self.path, body, headers)
            answer = conn.getresponse()
            data = answer.read()
            self.send_response(answer.status)
            for name in ("Content-Type", "Retry-After"):
                if answer.getheader(name):
                    self.send_header(name, answer.getheader(name) or "")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            conn.close()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def _country(db_url: str) -> None:
    ok(db_url, "keys", "generate")
    ok(db_url, "load", str(RSF / "country-208.rsf"), "--register", "country")


def _post(port: int, source: str, forwarded: str | None = None) -> int:
    """POST a proposal to 127.0.0.1:``port`` from loopback address ``source``: the status."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30, source_address=(source, 0))
    headers = {"Content-Type": "application/json", **({"X-Forwarded-For": forwarded} if forwarded else {})}
    conn.request("POST", "/country/proposals", BODY, headers)
    status = conn.getresponse().status
    conn.close()
    return status


def test_visitors_behind_a_trusted_proxy_hop_are_limited_separately_and_a_spoofed_header_moves_nothing(
        db_url: str) -> None:
    _country(db_url)
    with gunicorn(db_url, 2, env={**os.environ, **LIMITED, "REGISTERS_TRUSTED_PROXIES": "1"}) as base, \
            proxy(base) as port:
        assert [_post(port, "127.0.0.2") for _ in range(3)] == [201, 201, 429]
        # the visitor's own X-Forwarded-For is kept in front of the proxy's entry, and not believed
        assert _post(port, "127.0.0.2", forwarded="198.51.100.7") == 429
        assert [_post(port, "127.0.0.3") for _ in range(3)] == [201, 201, 429]  # another visitor: its own limit
    with gunicorn(db_url, 2, env={**os.environ, **LIMITED, "REGISTERS_TRUSTED_PROXIES": "0"}) as base:
        port = urlsplit(base).port or 0
        # no trusted proxy: a visitor straight at gunicorn names any address it likes, in vain
        codes = [_post(port, "127.0.0.4", forwarded=f"198.51.100.{n}") for n in range(4)]
        assert codes == [201, 201, 429, 429]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_registers_serve_makes_a_secret_for_its_process_and_says_so(db_url: str) -> None:
    _country(db_url)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("REGISTERS_SECRET_KEY", "REGISTERS_DATABASE_URL")}
    process = subprocess.Popen([*_registers_command(), "--db", db_url, "serve", "--port", str(port)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        for _ in range(100):
            try:
                if requests.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise AssertionError("registers serve did not become ready")
        made = requests.post(f"http://127.0.0.1:{port}/country/proposals", data=BODY, timeout=30,
                             headers={"Content-Type": "application/json"})
        assert made.status_code == 201, made.text
    finally:
        process.terminate()
        _, err = process.communicate(timeout=10)
    assert err.decode().splitlines()[0].startswith(
        "REGISTERS_SECRET_KEY is not set: client addresses are kept under a secret made for this process")
