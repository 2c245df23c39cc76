"""Errors a user can cause, each carrying what is needed for a one-line message."""

from __future__ import annotations

import re

_CONTROL = re.compile("[\x00-\x1f\x7f\u2028\u2029]")


class RegisterError(Exception):
    """Base of every error the platform reports to a user (never a traceback).

    Its text is always one line: control characters from the input it quotes are escaped.
    """

    def __str__(self) -> str:
        return _CONTROL.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), super().__str__())


class RegisterNotFound(RegisterError):
    """The named register does not exist."""

    def __init__(self, name: str) -> None:
        super().__init__(f"register '{name}' does not exist")
        self.name = name


class InvalidName(RegisterError):
    """A register name that is not lower-case letters, digits and single hyphens."""


class InvalidRange(RegisterError):
    """Entry numbers or tree sizes outside what the log holds (an HTTP 400)."""


class LineError(RegisterError):
    """Input refused at a line: ``source`` names the file (or ``<stdin>``), ``line`` is 1-based.

    The message reads ``file:line: reason``, or ``line N: reason`` before the file is known.
    """

    def __init__(self, reason: str, line: int | None = None, source: str | None = None) -> None:
        self.reason = reason
        self.line = line
        self.source = source
        super().__init__(self._message())

    def _message(self) -> str:
        where = self.source or ""
        if self.line:  # commands the platform makes itself carry no line
            where = f"{where}:{self.line}" if where else f"line {self.line}"
        return f"{where}: {self.reason}" if where else self.reason

    def located(self, source: str) -> LineError:
        """The same error, naming ``source`` as the file it came from."""
        return type(self)(self.reason, self.line, source)


class InvalidRSF(LineError):
    """A line of RSF that cannot be read or does not fit the register's log."""


class InvalidEntry(LineError):
    """An entry whose item breaks the register's rules (datatype, cardinality, key, links)."""


class InvalidTable(LineError):
    """A table (CSV, TSV, JSON) that cannot be read as rows of a register."""


class IntegrityError(RegisterError):
    """Stored data that does not match what it should hash to (found by verify)."""


class StoredItemCorrupt(IntegrityError):
    """An item read to be served whose stored bytes no longer hash to the digest it is stored
    under: it is refused rather than served (``registers verify`` names the entries using it)."""

    def __init__(self, register: str, digest: bytes) -> None:
        super().__init__(
            f"register '{register}': stored data does not verify: the bytes of item sha-256:{digest.hex()} "
            "do not hash to it"
        )
        self.register = register
        self.digest = digest


class NoSigningKey(RegisterError):
    """A write with no signing key at hand: no key recorded, or its private file missing. The
    message names where the key was looked for (for the operator: HTTP shows only that no
    signing key is configured and logs the rest)."""


class CompromisedKey(RegisterError):
    """A key known to be compromised, offered for signing or trust."""


class ReadOnlyMirror(RegisterError):
    """A local write to a register mirrored from another server."""

    def __init__(self, name: str, url: str) -> None:
        super().__init__(f"register '{name}' mirrors {url}: it is read-only here; change it there")
        self.name = name
        self.url = url
