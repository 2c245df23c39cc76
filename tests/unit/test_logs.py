"""The log's JSON lines and the request id: what an operator's log collector reads."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys

import pytest

from registers.logs import REQUEST_ID, Event, JsonFormatter, configure, event
from registers.web.request_log import request_id
from tests.conftest import ROOT

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def _line(record: logging.LogRecord) -> dict[str, object]:
    text = JsonFormatter().format(record)
    assert "\n" not in text  # one line, whatever the fields hold
    line: dict[str, object] = json.loads(text)
    return line


def _record(msg: object, *args: object, level: int = logging.INFO, exc_info: object = None) -> logging.LogRecord:
    return logging.LogRecord("registers.store.append", level, __file__, 1, msg, args, exc_info)  # type: ignore[arg-type]


def test_an_event_is_one_json_line_of_time_level_logger_event_and_fields() -> None:
    from registers.logs import REQUEST_ID

    REQUEST_ID.set(None)  # no request being served (a test client's unclosed answer may have left one)
    line = _line(_record(Event("append", {"register": "country", "user_entries_added": 2, "by": "Jane\nDoe",
                                          "root": "sha-256:ab", "done": True, "none": None})))
    assert list(line)[:4] == ["time", "level", "logger", "event"]
    assert TIME.fullmatch(str(line["time"]))
    assert (line["level"], line["logger"], line["event"]) == ("info", "registers.store.append", "append")
    assert {k: line[k] for k in ("register", "user_entries_added", "by", "root", "done", "none")} == {
        "register": "country", "user_entries_added": 2, "by": "Jane\nDoe", "root": "sha-256:ab", "done": True,
        "none": None}
    assert "request_id" not in line  # none is being served


def test_the_time_is_utc() -> None:
    record = _record(Event("x", {}))
    record.created = 0.25
    assert _line(record)["time"] == "1970-01-01T00:00:00.250Z"


def test_a_line_names_the_request_being_served_and_a_field_cannot_hide_the_frame() -> None:
    token = REQUEST_ID.set("abc-1")
    try:
        line = _line(_record(Event("request", {"time": "forged", "level": "x", "status": 200}), level=logging.WARNING))
    finally:
        REQUEST_ID.reset(token)
    assert (line["request_id"], line["level"], line["status"]) == ("abc-1", "warning", 200)
    assert TIME.fullmatch(str(line["time"])) and (line["field_time"], line["field_level"]) == ("forged", "x")


def test_a_plain_message_and_an_exception_are_lines_too() -> None:
    line = _line(_record("ignoring key file %s: %s", "/k/1.key", "é"))
    assert (line["event"], line["message"]) == ("message", "ignoring key file /k/1.key: é")
    try:
        raise ValueError("boom")
    except ValueError:
        line = _line(_record(Event("failed", {}), level=logging.ERROR, exc_info=sys.exc_info()))
    assert line["event"] == "failed" and "ValueError: boom" in str(line["error"])


def test_an_event_as_text_is_its_name_and_fields() -> None:
    assert str(Event("append", {"register": "country", "by": "Jane"})) == "append register=country by=Jane"


@pytest.mark.parametrize("given", ["a", "trace-1.a_B", "x" * 64, "0123456789abcdef" * 4])
def test_a_short_safe_request_id_is_kept(given: str) -> None:
    assert request_id(given) == given


@pytest.mark.parametrize("given", [None, "", "x" * 65, "a b", "a\nb", "a\"b", "<script>", "é", "a/b", "a;b=c"])
def test_any_other_request_id_is_replaced_by_a_random_one(given: str | None) -> None:
    made = request_id(given)
    assert re.fullmatch(r"[0-9a-f]{32}", made) and made != given
    assert made != request_id(given)  # a new one each time


def test_the_cli_prints_warnings_as_text_and_leaves_events_to_servers(capsys: pytest.CaptureFixture[str]) -> None:
    log = logging.getLogger("registers.store.signing")
    try:
        configure(json_lines=False)
        log.warning("ignoring key file %s", "/k/1.key")
        event(log, logging.ERROR, "signing_failed", register="country", reason="no key")
        logging.getLogger("registers.store.append").info("not shown")
        assert capsys.readouterr().err == "ignoring key file /k/1.key\n"
        configure(json_lines=True)  # the web app's: replaces the CLI's handler
        event(log, logging.INFO, "checkpoint_signed", register="country")
        [printed] = capsys.readouterr().err.splitlines()
        assert json.loads(printed)["event"] == "checkpoint_signed"
    finally:
        configure(json_lines=False)


def test_importing_the_web_app_leaves_prometheus_client_unimported() -> None:
    """gunicorn_conf sets PROMETHEUS_MULTIPROC_DIR after ``registers.web`` is imported (it is
    the conf's package) and before prometheus-client is: imported first, it would count each
    worker apart."""
    code = "import sys, registers.web, registers.web.gunicorn_conf; assert 'prometheus_client' not in sys.modules"
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
