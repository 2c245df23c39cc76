"""Checking a bulk load's entries on the second core: a checker process beside the loader.

Checking an entry's item against its register's rules (parsing it, every field's datatype,
its links, its indexed values) is about a quarter of what a bulk load spends per entry in
Python, and Python runs one thread at a time. A streamed load sends each chunk's entries, with
their item bytes and the register's system records, to one child process
(``python -m registers.store.checker``). It runs the same pure ``core.checking.check_entries``
while the loader reads and appends the next chunk, and its answer (findings, first link to
each target, indexed values) is taken in, in order, before the next chunk is sent. One chunk
is in flight at a time, so memory stays flat. The result is exactly what checking in the
loader gives; only when it is known moves (one chunk later), and a refusal found there is
raised before any refusal of a later line.

The child is a fresh interpreter, not a fork: the loader holds database connections and a
writer thread that must not be copied, and a fresh interpreter never re-runs the loader's
own script. If it cannot be started the loader checks in process, as for small batches.
The child imports the standard library and ``core`` only (not SQLAlchemy, not the store), so
it starts in a fraction of the time the loader took.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
from array import array
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from ..core.checking import Checked, EntryToCheck, check_entries
from ..core.definitions import Definition
from ..core.validation import compile_checks

CHECKER_FROM = 2000  # entries in one run: fewer are checked in the loader (a process costs ~0.1 s to start)
_LENGTH = 8  # bytes of the big-endian length before each message
_PIPE_BYTES = 1 << 20  # the most an unprivileged process may ask a Linux pipe to hold, by default

Entries = list[EntryToCheck]


class CheckerProcess:
    """The loader's side of one checker process, started on first use, one request at a time."""

    def __init__(self) -> None:
        self._child: subprocess.Popen[bytes] | None = None
        self._failed = False
        self._sent_version: int | None = None
        self.busy = False  # a request is in flight

    def start(self) -> bool:
        """Start the child if it is not running; False if it cannot be (check in process then)."""
        if self._child is not None:
            return True
        if self._failed:
            return False
        package_root = str(Path(__file__).resolve().parents[2])  # the child imports this same package
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        try:
            self._child = subprocess.Popen(
                [sys.executable, "-m", "registers.store.checker"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": path},
            )
        except OSError:
            self._failed = True
            return False
        for pipe in (self._child.stdin, self._child.stdout):
            _widen(pipe)
        return True

    def submit(
        self,
        version: int,
        register: str,
        system: Mapping[str, Any],
        index_fields: tuple[str, ...],
        entries: Entries,
    ) -> None:
        """Send a run of entries (``(line, key, number, item bytes)``) to check under the
        definition ``system`` holds (sent again only when ``version`` changed)."""
        assert self._child is not None and self._child.stdin is not None and not self.busy
        definition = None if version == self._sent_version else (register, dict(system))
        _write(self._child.stdin, (definition, index_fields, entries))
        self._sent_version = version
        self.busy = True

    def result(self) -> Checked:
        """The answer to the request in flight (waits for it)."""
        assert self._child is not None and self._child.stdout is not None and self.busy
        self.busy = False
        answer = _read(self._child.stdout)
        if answer is None:
            raise RuntimeError("the checker process stopped before answering")
        if isinstance(answer, str):
            raise RuntimeError(f"the checker process failed: {answer}")
        findings, links, values = answer
        rows: list[tuple[str, int, int]] = []
        for name, hashes, numbers in values:
            column = array("q", hashes)
            rows.extend(zip([name] * len(column), column, array("q", numbers), strict=True))
        return Checked(findings, links, rows)

    def close(self) -> None:
        """Stop the child (at the end of the batch, whether it succeeded or not)."""
        child, self._child = self._child, None
        if child is None:
            return
        for pipe in (child.stdin, child.stdout):
            if pipe is not None:
                pipe.close()
        try:
            child.wait(timeout=5)
        except subprocess.TimeoutExpired:  # busy with a run nobody will read
            child.kill()
            child.wait()


def _widen(pipe: IO[bytes] | None) -> None:
    """Let a pipe hold most of a run (Linux; 64 KiB by default), so neither side waits on the other."""
    try:
        import fcntl

        fcntl.fcntl(pipe.fileno(), getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)  # type: ignore[union-attr]
    except (ImportError, OSError, AttributeError):
        pass  # the default size works, a little more slowly


def _write(out: IO[bytes], message: object) -> None:
    data = pickle.dumps(message, pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(_LENGTH, "big") + data)
    out.flush()


def _read(stream: IO[bytes]) -> Any:
    header = stream.read(_LENGTH)
    if len(header) < _LENGTH:
        return None
    data = stream.read(int.from_bytes(header, "big"))
    return pickle.loads(data)


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """The child: answer each request with what ``check_entries`` finds, until end of input.
    An answer is ``(findings, links, values)``, the values as ``(field, hashes, numbers)``
    columns of 64-bit integers; or, if checking raised, the error as a string."""
    register, definition, check = "", None, None
    while (request := _read(requests)) is not None:
        given, index_fields, entries = request
        try:
            if given is not None:
                register, system = given
                definition = Definition.from_system(register, system)
                check = compile_checks(definition) if definition else None
            checked = check_entries(register, definition, check, index_fields, entries)
            columns: dict[str, tuple[array[int], array[int]]] = {}
            for name, value_hash, number in checked.field_rows:
                hashes, numbers = columns.setdefault(name, (array("q"), array("q")))
                hashes.append(value_hash)
                numbers.append(number)
            values = [(name, h.tobytes(), n.tobytes()) for name, (h, n) in columns.items()]
            _write(answers, (checked.findings, checked.links, values))
        except Exception as exc:  # noqa: BLE001 - reported to the loader, which fails the batch
            _write(answers, f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    try:
        serve(sys.stdin.buffer, sys.stdout.buffer)
    except (BrokenPipeError, KeyboardInterrupt):  # the loader stopped (it has its answer) or was stopped
        sys.exit(1)
