"""RSF, the Register Serialisation Format: commands, a streaming reader and a writer.

One command per line, fields separated by one TAB, LF line ends (CRLF accepted)::

    assert-root-hash    sha-256:<hex>
    add-item            <canonical JSON>
    append-entry        <user|system>  <key>  <timestamp>  sha-256:<hex>[;sha-256:<hex>...]

The 2016 form ``append-entry <timestamp> <hashes> <key>`` (user log) is read too. Reading checks
each line on its own (syntax, canonical item bytes, hash syntax) and names the line of the first
problem; keys, timestamps and what a line means for a register are checked by the one write path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import BinaryIO, NamedTuple

from .entries import Entry, Log
from .errors import InvalidRSF
from .items import InvalidItem, hash_text, item_digest, parse_canonical, parse_hash

MEDIA_TYPE = "application/uk-gov-rsf"


class AddItem(NamedTuple):
    """``add-item``: canonical item bytes and their digest."""

    blob: bytes
    digest: bytes
    line: int = 0

    def to_line(self) -> bytes:
        """The RSF line, without its newline."""
        return b"add-item\t" + self.blob


class AppendEntry(NamedTuple):
    """``append-entry``: an entry for the user or system log (its number is implied)."""

    log: Log
    key: str
    timestamp: str
    digests: tuple[bytes, ...]
    line: int = 0

    def to_line(self) -> bytes:
        """The RSF line, without its newline (always the current five-field form)."""
        hashes = ";".join(hash_text(d) for d in self.digests)
        return f"append-entry\t{self.log.label}\t{self.key}\t{self.timestamp}\t{hashes}".encode()

    def entry(self, number: int) -> Entry:
        """This command as the entry it becomes at ``number``."""
        return Entry(self.log, number, self.timestamp, self.key, self.digests)

    @classmethod
    def of(cls, entry: Entry) -> AppendEntry:
        """The command that appends ``entry``."""
        return cls(entry.log, entry.key, entry.timestamp, entry.digests)


class AssertRootHash(NamedTuple):
    """``assert-root-hash``: the user log's root at this point of the file."""

    digest: bytes
    line: int = 0

    def to_line(self) -> bytes:
        """The RSF line, without its newline."""
        return b"assert-root-hash\t" + hash_text(self.digest).encode("ascii")


Command = AddItem | AppendEntry | AssertRootHash


MAX_LINE = 1 << 20  # 1 MiB: far beyond any published item, small enough to refuse before reading on
BLOCK = 1 << 20  # bytes read from a file at a time


def read_rsf(stream: BinaryIO | Iterable[bytes]) -> Iterator[Command]:
    """Yield the commands of an RSF stream, one line at a time (constant memory: a line longer
    than MAX_LINE bytes is refused without being read whole).

    Raises InvalidRSF naming the line of the first line that cannot be read.
    """
    for number, raw in enumerate(_lines(stream), 1):
        if len(raw) > MAX_LINE + 1:  # a CR before the LF may take the last byte
            raise InvalidRSF(f"line is longer than {MAX_LINE} bytes", number)
        line = raw.rstrip(b"\r")
        if line.startswith(b"add-item\t"):  # the common case, without the general dispatch
            yield _add_item(line[9:], number)
        elif line:
            yield parse_line(line, number)


def _lines(stream: BinaryIO | Iterable[bytes]) -> Iterator[bytes]:
    """The lines of ``stream`` without their LF. A file is read a block at a time and split
    (far fewer calls than a read per line); a line still open after more than MAX_LINE + 1
    bytes is given cut there, to be refused, and nothing after it is read."""
    read = getattr(stream, "read", None)
    if read is None:
        return (raw[:-1] if raw.endswith(b"\n") else raw for raw in stream)  # type: ignore[union-attr]
    return _split_blocks(read)


def _split_blocks(read: Callable[[int], bytes]) -> Iterator[bytes]:
    rest = b""
    while True:
        block = read(BLOCK)
        if not block:
            if rest:
                yield rest
            return
        lines = block.split(b"\n")
        if rest:
            lines[0] = rest + lines[0]
        rest = lines.pop()
        yield from lines
        if len(rest) > MAX_LINE + 1:
            yield rest
            return


def parse_line(line: bytes, number: int = 0) -> Command:
    """The command on one RSF line (without its line end)."""
    verb, _, rest = line.partition(b"\t")
    if verb == b"add-item":
        return _add_item(rest, number)
    try:
        text = rest.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidRSF("line is not valid UTF-8", number) from None
    fields = text.split("\t")
    if verb == b"append-entry":
        return _append_entry(fields, number)
    if verb == b"assert-root-hash":
        if len(fields) != 1:
            raise InvalidRSF("assert-root-hash takes one hash", number)
        return AssertRootHash(_hash(fields[0], number), number)
    shown = verb.decode("utf-8", "replace")[:40]
    raise InvalidRSF(f"unknown command '{shown}' (add-item, append-entry or assert-root-hash)", number)


def _add_item(blob: bytes, number: int) -> AddItem:
    try:
        parse_canonical(blob)
    except InvalidItem as exc:
        raise InvalidRSF(str(exc), number) from None
    return AddItem(blob, item_digest(blob), number)


def _append_entry(fields: list[str], number: int) -> AppendEntry:
    if len(fields) == 4:
        label, key, timestamp, hashes = fields
        if label == "user":
            log = Log.USER
        else:
            try:
                log = Log.from_label(label)
            except ValueError as exc:
                raise InvalidRSF(str(exc), number) from None
    elif len(fields) == 3:  # the 2016 form: timestamp, hashes, key; user log
        log, timestamp, hashes, key = Log.USER, fields[0], fields[1], fields[2]
    else:
        raise InvalidRSF("append-entry needs log, key, timestamp and item hashes", number)
    if ";" in hashes:
        digests = tuple(_hash(h, number) for h in hashes.split(";"))
    else:
        digests = (_hash(hashes, number),)
    return AppendEntry(log, key, timestamp, digests, number)


def _hash(text: str, number: int) -> bytes:
    try:
        return parse_hash(text)
    except ValueError as exc:
        raise InvalidRSF(str(exc), number) from None


def write_rsf(commands: Iterable[Command], out: BinaryIO) -> int:
    """Write ``commands`` as RSF lines (LF ends) to ``out``; returns the bytes written."""
    written = 0
    for command in commands:
        data = command.to_line() + b"\n"
        out.write(data)
        written += len(data)
    return written


def rsf_bytes(commands: Iterable[Command]) -> bytes:
    """The RSF text of ``commands`` as one bytes value (for small outputs and tests)."""
    return b"".join(c.to_line() + b"\n" for c in commands)
