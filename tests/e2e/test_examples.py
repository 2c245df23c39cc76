"""Every command example in the README and in ``registers … --help`` runs as written, in order,
on a fresh ``registers init --with-fixtures`` database.

Two readers follow them at the same time, each on a fresh database of its own: one types the
README's examples in the README's order; the other every ``--help``'s, in the order
``registers --help`` lists the commands (a group's own examples before its commands'). Each
starts with ``registers init --with-fixtures`` and a gunicorn serving its database, then runs
every example with bash in a working folder that stands for the project folder (``fixtures``,
``schemas``, ``docs`` and ``.venv`` linked in; HOME is the folder too), with this ``registers``
first on PATH, REGISTERS_DATABASE_URL its database and REGISTERS_KEY_DIR the folder's
``keys/`` (where a SQLite database in the folder keeps its keys). An example that gives its
own ``--db sqlite:///copy.db`` keeps it: a new file in the folder.

What an example is: in the README, a line of a ```sh block (lines ending in a backslash
joined) that runs ``registers`` (or ``.venv/bin/registers``) or ``curl``, and in any block a
line ``$ registers …``, whose following lines are its output; in ``--help``, every line of an
``Examples:`` paragraph (again a line ending in a backslash joined with the next). A
``# comment`` after the command is left out, as bash would.

Rewritten before running, and nothing else (the placeholders a reader fills in, which the
README names):

- ``https://registers.example.gov.uk`` and ``http://127.0.0.1:8000``: the reader's gunicorn;
- the PostgreSQL URL the examples show: the reader's database;
- ``localhost+1a2b3c4d+AW...`` (or ``…``): the public key that signs at that moment, and
  ``1a2b3c4d`` elsewhere the id of that key;
- ``rgt_...``: the token the last ``registers token issue NAME`` example printed for the
  register ``--remote`` names, else one the test issues for it then;
- ``curl`` gets ``--fail --silent --show-error``, so an error status fails the example.

An example passes when it exits 0. One shown with its output (``$ registers …`` and the lines
after it, e.g. a refused load) must print that output, stdout and stderr together (``…`` stands
for anything), and exit 1 when the output's last line starts with ``error:`` (else 0).
ALLOWLIST names the few that cannot run here, and why; it may name only examples that exist.
The --help reader takes three liberties with the listed order: a proposal is made before
proposals are reviewed (READ_BEFORE); the quality check, whose --propose files proposals of its
own, runs after the review examples that name proposals by number; and the signing key is
replaced last, after the audits and mirrors that trust it (READ_LAST).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import click
import pytest

from registers.cli import main
from tests.conftest import ROOT, fresh_database
from tests.e2e.conftest import gunicorn

README = ROOT / "README.md"
BIN = Path(sys.executable).parent

ALLOWLIST: dict[str, str] = {
    "python3 -m venv .venv && .venv/bin/pip install -c constraints.txt -e '.[test]' && .venv/bin/registers init "
    "--with-fixtures"
    " && .venv/bin/registers verify country":
        "makes a virtualenv and installs the project into it (minutes, over the network): the test runs in such "
        "an install, each reader starts with 'registers init --with-fixtures', and the README's PostgreSQL "
        "example runs 'registers verify country'",
    "registers serve":
        "serves until stopped: the examples that need a server (curl, --remote, mirror, verify URL) run against "
        "the gunicorn the test starts",
    'eval "$(_REGISTERS_COMPLETE=zsh_source registers)"':
        "zsh's completion script, and the examples run in bash (the bash line runs, and "
        "test_bash_completion_completes completes with it)",
}

# the --help reader reads these commands' examples before those of the one named, and these last
READ_BEFORE = {"registers propose": "registers proposals"}
READ_LAST = ("registers check", "registers keys rotate")

# a command at the start of a line, after ; & | or $( , after any VAR=value: registers (any path to it) or curl
COMMAND = re.compile(r"(?:^|[;&|(]\s*)(?:[A-Za-z_]\w*=\S*\s+)*(?:[^\s=]*/)?(?:registers|curl)(?=[\s)]|$)")
EXAMPLES = re.compile(r"^\s*Examples?:\s*$")
HOSTS = re.compile(r"https://registers\.example\.gov\.uk|http://127\.0\.0\.1:8000")
POSTGRES = re.compile(r"postgresql://postgres@127\.0\.0\.1(?::5432)?/test(?![\w/])")
KEY = re.compile(r"localhost\+1a2b3c4d\+AW(?:\.\.\.|…)")
KEY_ID = "1a2b3c4d"
TOKEN = "rgt_..."
REMOTE = re.compile(r"--remote\s+(\S+)")
ISSUE = re.compile(r"^registers token issue (\S+)")
CURL = re.compile(r"(^|[;&|(]\s*)curl(?=\s)")
RST = re.compile(r"``|:(?:class|func|meth|mod|attr|ref|obj|data|exc):`|^\s*\.\. \w+::", re.MULTILINE)


@dataclass(frozen=True)
class Example:
    source: str  # README.md:LINE, or 'registers COMMAND --help'
    text: str  # as written, without its comment
    output: tuple[str, ...] | None = None  # the output the README shows after a '$ ' command


def _uncommented(line: str) -> str:
    """``line`` without a ``# comment``: a ``#`` that starts a word outside quotes, as bash reads it."""
    quote, escaped = "", False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def _blocks(text: str) -> Iterator[tuple[str, list[tuple[int, str]]]]:
    """Each fenced code block of a Markdown text: its language and its (line number, line)s, a
    line ending in a backslash joined with the next."""
    language: str | None = None
    lines: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), 1):
        fence = re.match(r"^```(\S*)\s*$", line)
        if fence and language is None:
            language, lines = fence.group(1), []
        elif fence:
            yield language, lines
            language = None
        elif language is not None:
            if lines and lines[-1][1].endswith("\\"):
                lines[-1] = (lines[-1][0], lines[-1][1][:-1].rstrip() + " " + line.strip())
            else:
                lines.append((number, line))


def readme_examples() -> list[Example]:
    """The README's command examples, in order."""
    found: list[Example] = []
    for language, lines in _blocks(README.read_text(encoding="utf-8")):
        for at, (number, line) in enumerate(lines):
            if line.startswith("$ "):
                shown = []
                for _, after in lines[at + 1:]:
                    if after.startswith("$ "):
                        break
                    shown.append(after)
                found.append(Example(f"README.md:{number}", _uncommented(line[2:]), tuple(shown)))
            elif language == "sh" and COMMAND.search(_uncommented(line)):
                found.append(Example(f"README.md:{number}", _uncommented(line.strip())))
    return found


def helps() -> Iterator[tuple[str, str]]:
    """(command path, the text --help prints) of registers and every command and subcommand,
    in the order 'registers --help' lists them, a group before its commands."""

    def walk(command: click.Command, ctx: click.Context) -> Iterator[tuple[str, str]]:
        yield ctx.command_path, command.get_help(ctx)
        if isinstance(command, click.Group):
            for name in command.list_commands(ctx):
                sub = command.get_command(ctx, name)
                assert sub is not None
                yield from walk(sub, click.Context(sub, info_name=name, parent=ctx))

    yield from walk(main, click.Context(main, info_name="registers"))


def help_examples() -> list[Example]:
    """Every line of every Examples: paragraph of every --help, in that order."""
    found: list[Example] = []
    for path, text in helps():
        lines = text.splitlines()
        for start, line in enumerate(lines):
            if EXAMPLES.match(line):
                written = ""
                for example in lines[start + 1:]:
                    if not example.strip():
                        break
                    written += example.strip()
                    if written.endswith("\\"):
                        written = written[:-1].rstrip() + " "
                        continue
                    found.append(Example(f"{path} --help", _uncommented(written)))
                    written = ""
    return found


def help_reading_order(examples: list[Example]) -> list[Example]:
    """``examples`` in the order the --help reader runs them: as listed, except READ_BEFORE and
    READ_LAST."""
    ordered = list(examples)
    for first, then in READ_BEFORE.items():
        moved = [e for e in ordered if e.source == f"{first} --help"]
        rest = [e for e in ordered if e not in moved]
        at = next(i for i, e in enumerate(rest) if e.source.startswith((f"{then} ", f"{then} --help")))
        ordered = rest[:at] + moved + rest[at:]
    last = [e for e in ordered if e.source in {f"{command} --help" for command in READ_LAST}]
    return [e for e in ordered if e not in last] + last


def _shows(shown: tuple[str, ...], printed: list[str]) -> bool:
    """Whether ``printed`` is the output ``shown``, where ``…`` stands for anything."""
    return len(shown) == len(printed) and all(
        re.fullmatch(".*".join(map(re.escape, s.split("…"))), p) for s, p in zip(shown, printed, strict=True))


@dataclass
class Reader:
    """Someone typing examples, in a working folder, on a database of their own."""

    db_url: str
    work: Path
    env: dict[str, str]
    base: str = ""
    tokens: dict[str, str] = field(default_factory=dict)  # register -> the token to use for it

    def registers(self, *args: str) -> str:
        done = subprocess.run([str(BIN / "registers"), *args], cwd=self.work, env=self.env, capture_output=True,
                              timeout=300)
        assert done.returncode == 0, f"registers {' '.join(args)}: {done.stderr.decode()}"
        return done.stdout.decode()

    def signing_key(self) -> str:
        """The public key that signs now, as 'registers keys list' prints it."""
        signs = [line.split()[0] for line in self.registers("keys", "list").splitlines() if "(signs)" in line]
        assert len(signs) == 1, signs
        return signs[0]

    def command(self, example: Example) -> str:
        """The example, its placeholders filled in (see the module's docstring)."""
        text = example.text
        if TOKEN in text:
            remote = REMOTE.search(text)
            assert remote, f"{example.source}: {TOKEN} without --remote URL"
            name = remote.group(1).rstrip("/").rsplit("/", 1)[-1]
            if name not in self.tokens:
                self.tokens[name] = self.registers("token", "issue", name, "--label", "examples test").strip()
            text = text.replace(TOKEN, self.tokens[name])
        if KEY.search(text) or KEY_ID in text:
            key = self.signing_key()
            text = KEY.sub(lambda _: key, text).replace(KEY_ID, key.split("+")[1])
        text = HOSTS.sub(lambda _: self.base, text)
        text = POSTGRES.sub(lambda _: shlex.quote(self.db_url), text)
        return CURL.sub(lambda m: f"{m.group(1)}curl --fail --silent --show-error", text)

    def run(self, example: Example) -> str | None:
        """Run the example; what went wrong, or None."""
        command = self.command(example)
        done = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=self.work, env=self.env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
        output = done.stdout.decode(errors="replace")
        issued = ISSUE.match(example.text)
        if issued and done.returncode == 0:  # the reader copies the token it printed
            self.tokens[issued.group(1)] = next(t for t in output.split() if t.startswith("rgt_"))
        status, problem = 0, ""
        if example.output is not None:
            status = 1 if example.output and example.output[-1].startswith("error:") else 0
            if not _shows(example.output, output.splitlines()):
                problem = "the output is not what the README shows: " + "\n    ".join(("", *example.output))
        if done.returncode != status:
            problem = f"exit status {done.returncode}, not {status}"
        if not problem:
            return None
        printed = "\n    ".join(("", *output.splitlines()[-30:]))
        return f"{example.source}: {example.text}\n  ran: {command}\n  {problem}\n  printed:{printed}"


@contextmanager
def reader(name: str, db_url: str, tmp_path: Path) -> Iterator[Reader]:
    """A reader in a new working folder: the database initialised with the fixtures, and
    served by gunicorn."""
    work = tmp_path / name
    work.mkdir()
    for linked in ("fixtures", "schemas", "docs"):
        (work / linked).symlink_to(ROOT / linked)
    (work / ".venv").symlink_to(BIN.parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTERS_") and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(
        HOME=str(work),
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        REGISTERS_DATABASE_URL=db_url,
        REGISTERS_KEY_DIR=str(work / "keys"),
        REGISTERS_SECRET_KEY=os.environ["REGISTERS_SECRET_KEY"],
        PYTHONPYCACHEPREFIX=str(tmp_path / "pycache"),  # kept bytecode halves each command's start
    )
    following = Reader(db_url, work, env)
    following.registers("init", "--with-fixtures")
    with gunicorn(db_url, env=env, cwd=work, output=work / "gunicorn.log") as base:
        following.base = base
        yield following


def _follow(name: str, db_url: str, tmp_path: Path, examples: list[Example]) -> list[str]:
    """Run the examples in order as one reader; what went wrong with each that failed."""
    with reader(name, db_url, tmp_path) as following:
        return [problem for example in examples
                if example.text not in ALLOWLIST and (problem := following.run(example)) is not None]


def test_the_allowlist_names_examples_that_exist() -> None:
    written = {example.text for example in readme_examples() + help_examples()}
    gone = [text for text in ALLOWLIST if text not in written]
    assert not gone, f"allowlisted examples no longer in the README or any --help (take them out): {gone}"


def test_every_command_has_examples_in_plain_words() -> None:
    """Every command and group shows examples, each a command the test runs, and no --help
    has reStructuredText markup (double backquotes, :roles:, directives)."""
    problems = []
    for path, text in helps():
        if not any(EXAMPLES.match(line) for line in text.splitlines()):
            problems.append(f"{path}: no Examples: paragraph")
        if any(re.search(r"\bExamples?:", line) and not EXAMPLES.match(line) for line in text.splitlines()):
            problems.append(f"{path}: its Examples: paragraph was re-wrapped (put \\b before it)")
        if markup := RST.search(text):
            problems.append(f"{path}: markup {markup.group(0)!r}")
    for example in help_examples():
        if not COMMAND.search(example.text):
            problems.append(f"{example.source}: {example.text!r} is not a command")
    assert not problems, "\n".join(problems)


def test_every_example_runs_as_written(db_url: str, tmp_path: Path) -> None:
    if not (BIN / "registers").exists():
        pytest.skip("the registers command is not installed beside this python")
    readme, helped = readme_examples(), help_reading_order(help_examples())
    assert len(readme) >= 20 and len(helped) >= 60, (len(readme), len(helped))  # the extraction finds them
    with fresh_database(tmp_path, "help") as help_url, ThreadPoolExecutor(2) as pool:
        runs = [pool.submit(_follow, "readme", db_url, tmp_path, readme),
                pool.submit(_follow, "help", help_url, tmp_path, helped)]
        failures = [problem for run in runs for problem in run.result()]
    assert not failures, f"{len(failures)} examples failed:\n\n" + "\n\n".join(failures)


def test_bash_completion_completes() -> None:
    """The README's bash completion line, then Tab after a partial command, subcommand, option."""
    line = next(example.text for example in readme_examples() if "bash_source" in example.text)
    script = line + """
for words in "registers ke" "registers keys ro" "registers load --dr"; do
  COMP_WORDS=($words); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()
  _registers_completion registers; echo "${COMPREPLY[*]}"
done"""
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.stdout.splitlines() == ["keys", "rotate", "--dry-run"], done.stderr
