"""gunicorn's configuration for the web app: ``gunicorn -c python:registers.web.gunicorn_conf
'registers.web:create_app()'`` (other options as usual, on the command line).

- Metrics of every worker: ``PROMETHEUS_MULTIPROC_DIR`` names a directory the workers write
  their counts to, and ``/metrics`` sums them. Set it to a directory of the server's own (one
  per server, not shared); unset, a new one is made in the temporary directory and removed when
  gunicorn's master exits (set it yourself to upgrade gunicorn in place with ``USR2``: the old
  master would remove the new one's). It is emptied when gunicorn starts, and a worker's files
  are marked dead when it exits (``child_exit``). With ``REGISTERS_METRICS_PORT`` the master
  serves the metrics on that port instead of the workers at ``/metrics``.
- gunicorn's own log lines are JSON as the app's are (``registers.logs``); its access log is off
  (it would hold query strings): the app logs every request itself.

gunicorn reads this module in its master, before any worker starts: the variable must be set
before prometheus-client is first imported (``registers.web.metrics``).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

MULTIPROCESS = "PROMETHEUS_MULTIPROC_DIR"  # gunicorn ignores names that are not its settings


def _remove_when_master_exits(made: str) -> None:
    """Remove ``made`` when this process (the master) exits, having served or failed to start;
    a worker runs the same exit handlers, and leaves it."""
    master = os.getpid()

    def remove() -> None:
        if os.getpid() == master:
            shutil.rmtree(made, ignore_errors=True)

    atexit.register(remove)


if not os.environ.get(MULTIPROCESS):
    os.environ[MULTIPROCESS] = tempfile.mkdtemp(prefix="registers-metrics-")
    _remove_when_master_exits(os.environ[MULTIPROCESS])
_directory = Path(os.environ[MULTIPROCESS])

accesslog = None
logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "registers.logs.JsonFormatter"}},
    "handlers": {"json": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
    "root": {"level": "WARNING", "handlers": ["json"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["json"], "propagate": False},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
}


def on_starting(server: Any) -> None:
    """Empty the metrics directory: counts of an earlier run would be summed with this one's."""
    _directory.mkdir(parents=True, exist_ok=True)
    for stale in _directory.glob("*.db"):
        stale.unlink()


def when_ready(server: Any) -> None:
    """With ``REGISTERS_METRICS_PORT``: serve every worker's metrics from the master."""
    from ..settings import BadSetting, current

    try:
        settings = current()
    except BadSetting:  # every worker refuses it, in one line
        return
    if settings.metrics and settings.metrics_port is not None:
        from . import metrics

        metrics.serve_on_port(settings.metrics_port)
        server.log.info("metrics served on port %s", settings.metrics_port)


def child_exit(server: Any, worker: Any) -> None:
    """A worker has gone: its files stay (their counts are kept), marked dead."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(_directory))  # type: ignore[no-untyped-call]

