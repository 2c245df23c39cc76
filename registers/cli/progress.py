"""How far a long load or check has got, on stderr, wherever stderr goes.

On a terminal: click's progress bar. Anywhere else (cron, CI logs, a file): a line every few
seconds (``REGISTERS_PROGRESS_SECONDS``, default 5) with what is done, of how much, the rate and
an estimate of the time left, and one line at the end; nothing for a job that ends sooner.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

import click

from ..settings import current


def _seconds() -> float:
    return float(current().progress_seconds)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Lines:
    """Progress as a line every ``every`` seconds: ``label: done of total unit (p%), rate
    unit/s, about T left``; ``finish`` writes the last line if any was written."""

    def __init__(self, label: str, total: int | None, unit: str, out: TextIO, every: float) -> None:
        self.label, self.total, self.unit, self.out, self.every = label, total, unit, out, every
        self.done = 0
        self.start = self.last = time.monotonic()
        self.written = False

    def update(self, step: int) -> None:
        """Count ``step`` more done; write a line if ``every`` seconds passed since the last."""
        self.done += step
        now = time.monotonic()
        if now - self.last >= self.every:
            self.last = now
            self._write(now)

    def finish(self) -> None:
        if self.written:
            self._write(time.monotonic(), final=True)

    def _write(self, now: float, final: bool = False) -> None:
        elapsed = max(now - self.start, 1e-9)
        rate = self.done / elapsed
        text = f"{self.label}: {self.done:,}"
        if self.total:
            text += f" of {self.total:,} {self.unit} ({min(100, 100 * self.done // self.total)}%)"
        else:
            text += f" {self.unit}"
        text += f", {rate:,.0f} {self.unit}/s"
        if final:
            text += f", done in {_duration(elapsed)}"
        elif self.total and rate > 0 and self.done < self.total:
            text += f", about {_duration((self.total - self.done) / rate)} left"
        print(text, file=self.out, flush=True)
        self.written = True


@contextmanager
def progress(label: str, total: int | None, unit: str = "rows",
             out: TextIO | None = None) -> Iterator[Callable[[int], None]]:
    """A function to call with each step done: a bar on a terminal, lines elsewhere."""
    stream = out or sys.stderr
    if stream.isatty():
        with click.progressbar(length=total, label=label, file=stream) as bar:  # type: ignore[var-annotated]
            yield bar.update
        return
    lines = Lines(label, total, unit, stream, _seconds())
    yield lines.update
    lines.finish()  # only when the job ended well: a failure's own message is the last line
