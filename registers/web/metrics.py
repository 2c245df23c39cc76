"""Metrics in the Prometheus text format, through prometheus-client.

Every metric is a count of the log's events (``registers.logs``): a handler on the
``registers`` logger counts each event as it is logged, so the log and the metrics cannot
disagree, and the store and the services, which may not import the web app, only log.

- ``registers_http_requests_total`` (method, route, status): answers sent (``request``);
- ``registers_http_request_duration_seconds`` (route): their time to the last byte, a histogram;
- ``registers_entries_appended_total`` (register, log): entries the one write path committed
  (``append``);
- ``registers_signing_failures_total`` (register): appends refused because their checkpoints
  could not be signed (``signing_failed``);
- ``registers_verification_failures_total`` (kind): stored data found not to verify
  (``verification_failed``): ``stored_item`` (read for a request), ``integrity`` (another fault
  a request met), ``verify`` (the command);
- ``registers_proposals_total`` (outcome): proposals made, approved, rejected or refused
  (``proposal``);
- ``registers_rate_limited_total`` (route): requests answered 429 (``rate_limited``).

A route is a URL rule (``/<register>/records/<key>``, ``unmatched`` when none matched), never a
path, so the labels stay few; a proposal's register is not a label (anyone may name any).

Under gunicorn each worker is a process of its own. With ``PROMETHEUS_MULTIPROC_DIR`` set
(``registers.web.gunicorn_conf`` sets it) every worker writes its counts to files there and
``/metrics`` (or the master's port) sums them all. prometheus-client chooses how it counts
when it is first imported, so this module is imported by ``create_app`` and the gunicorn
hooks, after the directory is set, and never by importing ``registers.web``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, request
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder, start_http_server

from ..logs import LOGGER, Event
from ..settings import Settings
from .security import vary_on_accept

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"  # prometheus-client's own variable, not a REGISTERS_* setting
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter("registers_http_requests", "HTTP requests answered", ["method", "route", "status"])
DURATION = Histogram("registers_http_request_duration_seconds", "Time from a request's arrival to its answer's "
                     "last byte", ["route"])
APPENDED = Counter("registers_entries_appended", "Entries appended through the one write path", ["register", "log"])
SIGNING_FAILURES = Counter("registers_signing_failures", "Appends refused: their checkpoints could not be signed",
                           ["register"])
VERIFICATION_FAILURES = Counter("registers_verification_failures", "Stored data found not to verify", ["kind"])
PROPOSALS = Counter("registers_proposals", "Proposals by outcome", ["outcome"])
RATE_LIMITED = Counter("registers_rate_limited", "Requests answered 429", ["route"])


def _request(fields: dict[str, Any]) -> None:
    route = fields.get("route") or "unmatched"
    method = fields.get("method") if fields.get("method") in METHODS else "other"
    REQUESTS.labels(method, route, str(fields.get("status"))).inc()
    DURATION.labels(route).observe(float(fields.get("duration_ms") or 0) / 1000)


def _appended(fields: dict[str, Any]) -> None:
    for log in ("user", "system"):
        if fields.get(f"{log}_entries_added"):
            APPENDED.labels(fields["register"], log).inc(fields[f"{log}_entries_added"])


COUNTS: dict[str, Callable[[dict[str, Any]], None]] = {
    "request": _request,
    "append": _appended,
    "signing_failed": lambda fields: SIGNING_FAILURES.labels(fields.get("register") or "").inc(),
    "verification_failed": lambda fields: VERIFICATION_FAILURES.labels(fields.get("kind") or "").inc(),
    "proposal": lambda fields: PROPOSALS.labels(fields.get("outcome") or "").inc(),
    "rate_limited": lambda fields: RATE_LIMITED.labels(fields.get("route") or "unmatched").inc(),
}


class _Counting(logging.Handler):
    """Counts the events of ``COUNTS`` as they are logged."""

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, Event):
            count = COUNTS.get(record.msg.name)
            if count is not None:
                count(record.msg.fields)


def registry() -> CollectorRegistry:
    """What a scrape reads: every worker's files in multi-process mode, else this process's counts."""
    directory = os.environ.get(MULTIPROCESS)
    if not directory:
        return REGISTRY
    collected = CollectorRegistry()
    multiprocess.MultiProcessCollector(collected, directory)  # type: ignore[no-untyped-call]
    return collected


def page() -> Response:
    """The metrics in the format the scraper's ``Accept`` asks for (Prometheus text 0.0.4 by
    default, OpenMetrics for Prometheus itself), as prometheus-client's own server answers; no
    database read, never cached."""
    vary_on_accept()
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return Response(encode(registry()), content_type=content_type, headers={"Cache-Control": "no-store"})


def serve_on_port(port: int, host: str = "0.0.0.0") -> None:
    """Serve the metrics on ``port`` from a thread of this process (gunicorn's master: every
    worker's; ``registers serve``: its own)."""
    start_http_server(port, host, registry=registry())


def install(app: Flask, settings: Settings) -> None:
    """Count the events logged from now on, in this process (once), and serve ``/metrics``
    unless ``REGISTERS_METRICS`` is false or ``REGISTERS_METRICS_PORT`` serves them instead."""
    directory = os.environ.get(MULTIPROCESS)
    if directory:
        os.makedirs(directory, exist_ok=True)
    log = logging.getLogger(LOGGER)
    if not any(isinstance(handler, _Counting) for handler in log.handlers):
        log.addHandler(_Counting())
    if settings.metrics and settings.metrics_port is None:
        app.add_url_rule("/metrics", "metrics", page)
