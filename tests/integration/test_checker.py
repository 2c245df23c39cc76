"""A streamed load checks its entries in a checker process (``store/checker.py``) while it
reads on. Small chunks and a threshold of one make every real dump take that path many times
over: the findings, the refusals, the indexed values and the store must be exactly what
checking in the loading process gives, and no checker process may outlive its load."""

from __future__ import annotations

import io
import json
import subprocess

import pytest
from sqlalchemy import Engine

from registers import service
from registers.core.entries import Log
from registers.core.errors import InvalidEntry, InvalidRSF
from registers.core.items import canonical_json, hash_text, item_digest
from registers.core.rsf import AddItem, AppendEntry, AssertRootHash, Command, read_rsf, rsf_bytes
from registers.store import append as append_module
from registers.store import checks as checks_module
from registers.store.checker import CheckerProcess
from registers.store.checks import Change
from tests.conftest import RSF
from tests.integration.helpers import export, snapshot

DUMPS = ["school-2017.rsf", "further-education-college-uk.rsf", "industrial-classification.rsf", "country.rsf"]


SENT: list[int] = []  # the size of each run sent to a checker process
STARTED: list[subprocess.Popen[bytes]] = []  # every checker process this test's loads started


def checker(monkeypatch: pytest.MonkeyPatch, on: bool) -> None:
    """Chunks of 50 entries, each checked in the checker process (``on``) or in the loader."""
    monkeypatch.setattr(append_module, "CHUNK", 50)
    monkeypatch.setattr(checks_module, "CHECKER_FROM", 1 if on else 10**9)
    submit = CheckerProcess.submit

    def counted(self: CheckerProcess, *args: object) -> None:
        SENT.append(len(args[-1]))  # type: ignore[arg-type]
        submit(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(CheckerProcess, "submit", counted)
    start = CheckerProcess.start

    def followed(self: CheckerProcess) -> bool:
        started = start(self)
        if self._child is not None and self._child not in STARTED:
            STARTED.append(self._child)
        return started

    monkeypatch.setattr(CheckerProcess, "start", followed)
    SENT.clear()
    STARTED.clear()


def checker_processes() -> list[int]:
    """The checker processes this test's loads started that are still running (its own
    children, followed by PID: other suites' checkers running beside it are not its own)."""
    return [child.pid for child in STARTED if child.poll() is None]


def load_bytes(engine: Engine, data: bytes, register: str, strict: bool = False) -> service.AppendResult:
    return append_module.append(engine, register, read_rsf(io.BytesIO(data)), change=Change(strict=strict))


@pytest.mark.parametrize("name", DUMPS)
def test_a_dump_checked_in_the_checker_process_finds_and_stores_what_the_loader_does(
    engine: Engine, other_engine: Engine, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = str(RSF / name)
    checker(monkeypatch, on=False)
    here = service.load_rsf(other_engine, path, "r")
    checker(monkeypatch, on=True)
    there = service.load_rsf(engine, path, "r")
    assert len(SENT) > 3 and max(SENT) <= 50  # every chunk went to the checker process
    assert there.findings == here.findings
    assert there.head == here.head
    assert export(engine, "r") == export(other_engine, "r")
    assert snapshot(engine)["entry"] == snapshot(other_engine)["entry"]
    assert checker_processes() == []


def test_the_real_findings_are_there_to_compare(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    checker(monkeypatch, on=True)
    found = service.load_rsf(engine, str(RSF / "school-2017.rsf"), "school").findings
    assert found.count > 0 and found.dangling > 0  # schools name local authorities not loaded here
    assert len(found.dangling_links) == found.dangling


def _country_commands() -> list[Command]:
    with (RSF / "country.rsf").open("rb") as stream:
        return [c for c in read_rsf(stream) if not isinstance(c, AssertRootHash)]


def _with_bad_date(commands: list[Command], nth: int) -> tuple[list[Command], str]:
    """``commands`` with the ``nth`` user entry's item given a start-date that is no date; and its key."""
    out: list[Command] = []
    users, key = 0, ""
    for command in commands:
        if isinstance(command, AppendEntry) and command.log is Log.USER:
            users += 1
            if users == nth:
                key = command.key
                item = {"country": key, "name": "Nowhere", "start-date": "not-a-date"}
                blob = canonical_json(item)
                out.append(AddItem(blob, item_digest(blob)))
                command = command._replace(digests=(item_digest(blob),))
        out.append(command)
    return out, key


@pytest.mark.parametrize("on", [False, True])
def test_a_strict_refusal_names_the_earliest_bad_line_wherever_it_was_checked(
    engine: Engine, monkeypatch: pytest.MonkeyPatch, on: bool
) -> None:
    commands, key = _with_bad_date(_country_commands(), nth=60)
    data = rsf_bytes(commands) + b"no-such-command\tx\n"  # a later line the reader refuses
    bad = hash_text(item_digest(canonical_json({"country": key, "name": "Nowhere", "start-date": "not-a-date"})))
    lines = data.split(b"\n")
    line = next(n for n, text in enumerate(lines, 1) if text.startswith(b"append-entry") and bad.encode() in text)
    checker(monkeypatch, on)
    with pytest.raises(InvalidEntry) as refused:
        load_bytes(engine, data, "country", strict=True)
    assert bool(SENT) == on
    assert refused.value.line == line < len(lines) - 1
    assert "'not-a-date'" in str(refused.value) and "start-date" in str(refused.value)
    assert service.list_registers(engine) == []  # nothing stored
    assert checker_processes() == []


def test_without_a_bad_entry_the_reader_refusal_stands(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    data = rsf_bytes(_country_commands()) + b"no-such-command\tx\n"
    checker(monkeypatch, on=True)
    with pytest.raises(InvalidRSF, match="unknown command 'no-such-command'"):
        load_bytes(engine, data, "country", strict=True)
    assert service.list_registers(engine) == []
    assert checker_processes() == []


def test_a_definition_changed_mid_file_is_the_one_each_chunk_is_checked_by(
    engine: Engine, other_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = _country_commands()
    users = [c for c in commands if isinstance(c, AppendEntry) and c.log is Log.USER]
    register_item = next(
        json.loads(c.blob) for c in commands if isinstance(c, AddItem) and b'"register":"country"' in c.blob
    )
    field = canonical_json({"cardinality": "1", "datatype": "string", "field": "motto", "phrase": "A motto"})
    register = canonical_json({**register_item, "fields": [*register_item["fields"], "motto"]})
    redefined = [AddItem(field, item_digest(field)),
                 AppendEntry(Log.SYSTEM, "field:motto", "2020-01-01T00:00:00Z", (item_digest(field),)),
                 AddItem(register, item_digest(register)),
                 AppendEntry(Log.SYSTEM, "register:country", "2020-01-01T00:00:00Z", (item_digest(register),))]

    def mottos(entries: list[AppendEntry], day: str) -> list[Command]:
        out: list[Command] = []
        for entry in entries:
            blob = canonical_json({"country": entry.key, "motto": f"motto of {entry.key}", "name": "n"})
            out += [AddItem(blob, item_digest(blob)), AppendEntry(Log.USER, entry.key, day, (item_digest(blob),))]
        return out

    # records given a motto before the field exists (a finding each, once checked), then after
    data = rsf_bytes(commands + mottos(users[:120], "2020-01-02T00:00:00Z") + redefined
                     + mottos(users[120:200], "2020-01-03T00:00:00Z"))
    checker(monkeypatch, on=False)
    here = load_bytes(other_engine, data, "country")
    assert SENT == []
    checker(monkeypatch, on=True)
    there = load_bytes(engine, data, "country")
    assert len(SENT) > 5
    assert there.findings == here.findings
    assert 0 < here.findings.count <= 120 and all("'motto'" in e for e in here.findings.examples)
    assert there.head == here.head


def test_indexed_values_found_in_the_checker_process_answer_lookups(
    engine: Engine, other_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    sic, parent = "industrial-classification", "parent-industrial-classification"
    path = str(RSF / f"{sic}.rsf")
    service.load_rsf(other_engine, path)
    service.index_field(other_engine, sic, parent)  # built from the records after the load
    first = io.BytesIO()
    service.export_rsf(other_engine, sic, first, 0, 100)
    load_bytes(engine, first.getvalue(), sic)
    service.index_field(engine, sic, parent)  # kept by every entry appended from here on
    checker(monkeypatch, on=True)
    service.load_rsf(engine, path)
    assert sum(SENT) == service.head(engine, sic).user_size - 100
    values = {r.item.get(parent) for r in service.list_records(other_engine, sic)} - {None}
    assert len(values) > 50
    for value in sorted(values):
        def keys(e: Engine, v: str = value) -> list[str]:
            return [r.entry.key for r in service.list_records(e, sic, field=parent, value=v)]
        assert keys(engine) == keys(other_engine)
    assert service.verify(engine, sic).head == service.head(other_engine, sic)
