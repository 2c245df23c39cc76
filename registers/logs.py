"""The platform's log: events as JSON lines on stderr, through the standard ``logging`` module.

An *event* is a log record whose message is an ``Event``: a name (``append``, ``request``) and
fields of plain values, ``event(log, logging.INFO, "append", register="country", ...)``. The
web app (``configure(json_lines=True)``, in ``create_app`` and in gunicorn's workers) writes every
record of the ``registers`` loggers as one JSON object a line::

    {"time": "2026-03-01T12:00:00.123Z", "level": "info", "logger": "registers.store.append",
     "event": "append", "request_id": "…", "register": "country", "user_entries_added": 1, …}

``request_id`` is that of the HTTP request being served (``REQUEST_ID``, set by the web app),
on every line logged while serving it. A record that is not an event (a third party's, an
older message) has the event ``message`` and its text as ``message``. The CLI
(``configure(json_lines=False)``) keeps its human output: warnings that are not events are printed
as their text, as Python prints them by default; events are left out, since each warning event
is a refusal or a fault the command reports itself.

What is logged is chosen where it is logged: never a token, a proposer's contact, a request or
response body, or a query string. Imports nothing of ours: every layer above ``core`` may log.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

LOGGER = "registers"  # the loggers of the platform: registers.store.append, registers.web, ...
REQUEST_ID: ContextVar[str | None] = ContextVar("registers_request_id", default=None)
_RESERVED = ("time", "level", "logger", "event", "error")  # an event's field of such a name is field_<name>


@dataclass(frozen=True)
class Event:
    """An event: the message of its log record. As text (a plain formatter's, pytest's) it is
    its name and fields, ``append register=country user_entries_added=1 …``."""

    name: str
    fields: dict[str, Any]

    def __str__(self) -> str:
        return " ".join([self.name, *(f"{name}={value}" for name, value in self.fields.items())])


def event(log: logging.Logger, level: int, name: str, **fields: Any) -> None:
    """Log the event ``name`` with ``fields`` (JSON values: text, numbers, true/false, null)."""
    log.log(level, Event(name, fields))


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: time (ISO 8601, UTC, milliseconds), level, logger, event,
    the request being served, then the event's fields (an exception as ``error``)."""

    def format(self, record: logging.LogRecord) -> str:
        stamp = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
        line: dict[str, Any] = {"time": stamp.replace("+00:00", "Z"), "level": record.levelname.lower(),
                                "logger": record.name}
        named = record.msg if isinstance(record.msg, Event) else Event("message", {"message": record.getMessage()})
        line["event"] = named.name
        request_id = REQUEST_ID.get()
        if request_id is not None:
            line["request_id"] = request_id
        for name, value in named.fields.items():
            line[name if name not in _RESERVED else f"field_{name}"] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["error"] = record.exc_text
        return json.dumps(line, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to ``sys.stderr`` as it is when a line is written (a test may have replaced it)."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _human(record: logging.LogRecord) -> bool:
    return not isinstance(record.msg, Event)


def configure(*, json_lines: bool) -> None:
    """Send the ``registers`` loggers' records to stderr, replacing what an earlier call set:
    as JSON lines from INFO up (the web app), or as text from WARNING up, events left out (the
    CLI). Nothing is added where a handler with a ``JsonFormatter`` already takes the records
    on their way up (gunicorn's, configured by ``registers.web.gunicorn_conf``)."""
    log = logging.getLogger(LOGGER)
    for handler in [h for h in log.handlers if isinstance(h, _StderrHandler)]:
        log.removeHandler(handler)
    if json_lines:
        log.setLevel(logging.INFO)
        if not _json_above(log):
            handler = _StderrHandler()
            handler.setFormatter(JsonFormatter())
            log.addHandler(handler)
    else:
        handler = _StderrHandler()
        handler.setLevel(logging.WARNING)
        handler.addFilter(_human)
        log.addHandler(handler)


def _json_above(log: logging.Logger) -> bool:
    """Whether a JSON handler of an ancestor of ``log`` takes its records."""
    parent = log.parent if log.propagate else None
    while parent is not None:
        if any(isinstance(h.formatter, JsonFormatter) for h in parent.handlers):
            return True
        parent = parent.parent if parent.propagate else None
    return False
