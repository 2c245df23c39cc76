"""The platform's settings: every ``REGISTERS_*`` environment variable, declared once.

``Settings`` declares each variable on one line: its type, default and meaning. The field's
name, upper-cased, is the variable after ``REGISTERS_`` unless the line names another. An
entry point reads them all at start-up (the web app in ``create_app``, the CLI in its group)
with ``current()``, which refuses a bad value in one line naming the variable and the value;
the store and services, which every entry point shares, read the same variables through the
same ``current()``. An empty variable is an unset one. Nothing else reads the environment.

The README's table of variables is made from these declarations:
``python -m registers.settings --markdown`` prints it; ``--readme README.md`` rewrites it there.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

from .core.errors import RegisterError

PREFIX = "REGISTERS_"
BEGIN, END = "<!-- settings -->", "<!-- /settings -->"  # where README.md holds the table
T = TypeVar("T")


class BadSetting(RegisterError):
    """A ``REGISTERS_*`` variable whose value is not of its kind."""


@dataclass(frozen=True)
class Kind:
    """What a variable's text must be: ``word`` names it in the table, ``what`` in a refusal
    ("must be <what>"); ``parse`` makes the value of valid text and raises ValueError otherwise
    (with one argument, a reason said after ``what``, where there is more to say)."""

    word: str
    what: str
    parse: Callable[[str], Any]


def whole(least: int, unit: str = "") -> Kind:
    """A whole number (of ``unit``) at least ``least``."""

    def parse(text: str) -> int:
        if text.isascii() and text.isdigit() and len(text) > 18:
            raise ValueError("at most 18 digits")  # a reason, said after the kind
        if not (text.isascii() and text.isdigit()) or int(text) < least:
            raise ValueError
        return int(text)

    return Kind(f"{unit or 'whole number'} ≥ {least}",
                f"a whole number{' of ' + unit if unit else ''}, at least {least}", parse)


def _origin(text: str) -> str:
    if "://" in text or not re.fullmatch(r"[^\s+:/][^\s+]*", text):
        raise ValueError
    return text.rstrip("/")


def _public_url(text: str) -> str:
    match = re.fullmatch(r"(https?)://([A-Za-z0-9.-]+(:[0-9]{1,5})?)/?", text)
    if not match:
        raise ValueError
    return f"{match[1]}://{match[2].lower()}"


def choice(*words: str) -> Kind:
    """One of ``words``."""

    def parse(text: str) -> str:
        if text not in words:
            raise ValueError
        return text

    listed = ", ".join(words[:-1]) + " or " + words[-1]
    return Kind(listed, f"one of {listed}", parse)


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError


def _port(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 65535:
        raise ValueError
    return int(text)


def _email(text: str) -> str:
    if not re.fullmatch(r"[^\s@<>\"'()]+@[^\s@<>\"'()]+\.[^\s@<>\"'()]+", text):
        raise ValueError
    return text


def _date(text: str) -> date:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise ValueError
    return date.fromisoformat(text)


def _web_url(text: str) -> str:
    if not re.fullmatch(r"https?://[^\s<>\"']+", text):
        raise ValueError
    return text


TEXT = Kind("text", "text", str)
BOOLEAN = Kind("true or false", "true or false (or 1/0, yes/no, on/off)", _boolean)
EMAIL = Kind("email address", "an email address like 'registers@example.gov.uk'", _email)
DATE = Kind("date", "a date like 2026-03-01", _date)
WEB_URL = Kind("URL", "an http or https URL", _web_url)
PUBLIC_URL = Kind("URL", "a scheme and host like 'https://registers.example.gov.uk' (no path)", _public_url)
URL = Kind("database URL", "a database URL", str)  # opening the database says what is wrong with one
PORT = Kind("port", "a TCP port, 1 to 65535", _port)
DIRECTORY = Kind("directory", "a directory", Path)
ORIGIN = Kind("name", "a name like 'registers.example.gov.uk' (no scheme, spaces or '+')", _origin)


def _declare(default: T, kind: Kind, meaning: str, *, variable: str = "", shown: str = "",
             secret: bool = False) -> T:
    """One setting: its default, kind and meaning; ``variable`` when it is not the field's name
    upper-cased, ``shown`` for a default the table should describe rather than print (one
    derived when the value is None), ``secret`` to keep the value out of ``repr``."""
    described = {"kind": kind, "meaning": meaning, "variable": variable, "shown": shown}
    return field(default=default, repr=not secret, metadata=described)


@dataclass(frozen=True)
class Settings:
    """Every ``REGISTERS_*`` variable: a declaration a line (name, type, default, meaning)."""

    database_url: str = _declare("sqlite:///registers.db", URL, "the database (PostgreSQL or SQLite); `--db` overrides it")
    read_database_url: str | None = _declare(None, URL, "a read-only replica, or a read-only role: the web app serves every read from it and only custodians' writes go to the primary")
    page_size: int = _declare(100, whole(1), "entries, records or items in a page of the API when the request names no size")
    max_page_size: int = _declare(5000, whole(1), "the largest page a request may ask for")
    page_index_depth: int = _declare(10_000, whole(0), "the most records a `page-index` may skip; deeper pages answer 422 naming the `before=` cursor `Link: next` carries")
    lookup_scan_max: int = _declare(10_000, whole(0), "the most records a lookup by a field without an index may scan; a larger register answers 422 naming `registers index`")
    max_upload: int = _declare(1 << 30, whole(0, "bytes"), "the largest RSF a custodian may upload", shown="1 GiB")
    proposal_rate: int = _declare(10, whole(0), "proposals one client address may make in a window (counted in the database, so every worker shares them)")
    proposal_rate_window: int = _declare(60, whole(1, "seconds"), "the window `REGISTERS_PROPOSAL_RATE` counts in")
    proposals_open_max: int = _declare(1000, whole(1), "open proposals a register may hold; past it a new proposal answers 503 with `Retry-After` until the custodian decides some")
    proposal_max_bytes: int = _declare(16 * 1024, whole(0, "bytes"), "the largest proposal body", shown="16 KiB")
    trusted_proxies: int = _declare(0, whole(0), "how many proxies in front of the web app append to `X-Forwarded-For` (and set `X-Forwarded-Proto`/`-Host`): the client address is the one the outermost trusted proxy saw (werkzeug's `ProxyFix`); 0: the socket's address, forwarded headers ignored")
    secret_key: str | None = _declare(None, TEXT, "the server secret client addresses are kept under (an HMAC, never the address); the web app refuses to start without it, except `registers serve`, which makes one for its process", secret=True)
    server_name: str | None = _declare(None, PUBLIC_URL, "the public scheme and host of the web app: redirects and `register.json`'s `domain` use it, never a request's `Host`", shown="none: redirects are relative, `domain` is `REGISTERS_ORIGIN`")
    metrics: bool = _declare(True, BOOLEAN, "the metrics (Prometheus text format: requests, latency, entries appended, signing and verification failures, proposals), at `/metrics` unless `REGISTERS_METRICS_PORT` says where; false: not served", shown="true: at `/metrics`")
    metrics_port: int | None = _declare(None, PORT, "serve the metrics on this port (every interface) instead of `/metrics`: under gunicorn by its master, with `-c python:registers.web.gunicorn_conf` (every worker's counts summed); by `registers serve` itself", shown="none: at `/metrics`")
    service_name: str = _declare("Registers", TEXT, "the service's name, in the pages' header and the accessibility statement")
    phase: str = _declare("beta", choice("alpha", "beta", "live"), "the service's phase: alpha and beta show GOV.UK's phase banner on every page, live none")
    govuk_brand: bool = _declare(False, BOOLEAN, "the GOV.UK brand on the pages (the crown in header and footer, GOV.UK's icons, the GDS Transport font): only a service on gov.uk may use it", shown="false: off")
    organisation: str | None = _declare(None, TEXT, "who runs the service, named in the pages' footer and the accessibility statement", shown="none: not named")
    contact_email: str | None = _declare(None, EMAIL, "the service team's address: the phase banner's feedback link, the footer's contact link and the accessibility statement")
    licence: str = _declare("Open Government Licence v3.0", TEXT, "the licence of the registers' data: the catalogue's `licence` and the pages' footer")
    licence_url: str = _declare("https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/", WEB_URL, "where that licence is published: the pages' footer links to it", shown="the OGL v3.0 at nationalarchives.gov.uk")
    accessibility_compliance: str = _declare("partially", choice("fully", "partially", "not"), "how far the pages meet WCAG 2.2 AA, as the accessibility statement (`/accessibility`) declares: fully, partially or not compliant")
    accessibility_reviewed: date | None = _declare(None, DATE, "when the accessibility statement was last reviewed, as it says", shown="none: it says it has not been reviewed")
    sqlite_cache_mib: int = _declare(16, whole(1, "MiB"), "the page cache each SQLite connection keeps, the CLI's too; the OS caches the rest of the file")
    origin: str = _declare("localhost", ORIGIN, "the origin checkpoints are signed for (`<origin>/<register>`, `<origin>/<register>/system`) and new keys' name")
    key_dir: Path | None = _declare(None, DIRECTORY, "where the private signing key lives (a file of mode 0600, never in the database); only a key the database records signs, and with none at hand writes are refused", shown="`keys/` beside a SQLite database file; none for PostgreSQL (required to write)")
    trust_dir: Path | None = _declare(None, DIRECTORY, "where `registers verify URL` (an audit) keeps the checkpoints it has verified", shown="`~/.registers/trust`")
    actor: str | None = _declare(None, TEXT, "who makes a change when `--as` is not given: a role or team (`fcdo-data-team`), never a person's name, as it is published in the register's log for ever; with neither, a local change is refused (`init --with-fixtures` records `fixtures`)", variable="AS", shown="none: `--as` is needed")
    token: str | None = _declare(None, TEXT, "the custodian token `--remote` sends when `--token` is not given", secret=True)
    contact_retention_days: int = _declare(90, whole(0, "days"), "how long a proposer's contact is kept after the proposal is decided; `registers proposals purge` (from cron) deletes it then")
    token_expiry_days: int = _declare(90, whole(1, "days"), "how long a token `registers token issue` makes lives when `--expires` is not given (`--expires never` must be asked for)")
    progress_seconds: int = _declare(5, whole(0, "seconds"), "how often a long load or check writes a progress line when stderr is not a terminal (0: at every step)")

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> Settings:
        """The settings ``environ`` holds (``os.environ`` at start-up), each variable parsed;
        BadSetting, naming the variable and its value, for the first that is not of its kind."""
        return cls().overridden({d.variable: environ.get(PREFIX + d.variable, "") for d in declared()})

    def overridden(self, values: Mapping[str, object]) -> Settings:
        """These settings with ``values`` (by variable name without ``REGISTERS_``, e.g.
        ``PAGE_SIZE``) in place: text is parsed as the variable's would be, other values as
        their text; an empty text or None keeps the default. BadSetting for an unknown name."""
        by_variable = {d.variable: d for d in declared()}
        changed: dict[str, Any] = {}
        for variable, value in values.items():
            declaration = by_variable.get(variable)
            if declaration is None:
                raise BadSetting(f"there is no setting {PREFIX}{variable}")
            text = "" if value is None else str(value)
            changed[declaration.attribute] = declaration.parse(text) if text else declaration.default
        made = replace(self, **changed)
        if made.page_size > made.max_page_size:
            raise BadSetting(f"{PREFIX}PAGE_SIZE={made.page_size} is larger than "
                             f"{PREFIX}MAX_PAGE_SIZE={made.max_page_size}, the largest page a request may ask for")
        return made


@dataclass(frozen=True)
class Declared:
    """One declared setting, as the table and the parser see it."""

    attribute: str
    variable: str
    kind: Kind
    default: Any
    meaning: str
    shown: str
    secret: bool

    def parse(self, text: str) -> Any:
        """The value of ``text``; BadSetting naming the variable and the text if it is not of its kind."""
        try:
            return self.kind.parse(text)
        except ValueError as exc:
            more = f" ({exc.args[0]})" if exc.args else ""  # a parser may say why, beyond the kind
            raise BadSetting(f"{PREFIX}{self.variable}={text!r} must be {self.kind.what}{more}") from None


def declared() -> list[Declared]:
    """The declared settings, in their order in ``Settings``."""
    return [
        Declared(f.name, f.metadata["variable"] or f.name.upper(), f.metadata["kind"], f.default,
                 f.metadata["meaning"], f.metadata["shown"], not f.repr)
        for f in fields(Settings)
    ]


_PARSED: dict[tuple[tuple[str, str], ...], Settings] = {}  # by the REGISTERS_* variables set


def current() -> Settings:
    """The settings of this process's environment as it is now: BadSetting for a bad value. An
    entry point reads them at start-up; the store and services read them here when they need one
    (an entry point has refused a bad value by then). Parsed once per distinct set of
    ``REGISTERS_*`` values (each write looks some up: parsing them all costs ~0.2 ms)."""
    ident = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(PREFIX)))
    found = _PARSED.get(ident)
    if found is None:
        found = Settings.from_environ(os.environ)
        if len(_PARSED) >= 32:
            _PARSED.clear()
        _PARSED[ident] = found
    return found


def markdown_table() -> str:
    """The README's table of settings: variable, type, default and meaning, one row each."""
    rows = ["| variable | type | default | meaning |", "|---|---|---|---|"]
    for d in declared():
        default = d.shown or ("none" if d.default is None else f"`{d.default}`")
        rows.append(f"| `{PREFIX}{d.variable}` | {d.kind.word} | {default} | {d.meaning} |")
    return "\n".join(rows) + "\n"


def with_table(readme: str) -> str:
    """``readme`` with the text between its settings markers replaced by ``markdown_table()``."""
    start, end = readme.index(BEGIN) + len(BEGIN), readme.index(END)
    return readme[:start] + "\n" + markdown_table() + readme[end:]


def main(argv: list[str]) -> int:
    """``--markdown``: print the table; ``--readme PATH``: rewrite the table in that file."""
    if argv == ["--markdown"]:
        sys.stdout.write(markdown_table())
        return 0
    if len(argv) == 2 and argv[0] == "--readme":
        path = Path(argv[1])
        path.write_text(with_table(path.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    sys.stderr.write("usage: python -m registers.settings --markdown | --readme README.md\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
