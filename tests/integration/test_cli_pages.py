"""'registers records --limit N' pages as the API does: a page, then the --before cursor that
gives the next one on stderr; following it lists every record once, for plain lists, as-of
lists and field lookups alike."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine

from registers import service
from registers.cli import main
from tests.integration.helpers import load


def pages(db_url: str, *args: str) -> tuple[list[str], int]:
    """Every key listed by following --limit 7 pages, and how many pages it took."""
    keys: list[str] = []
    cursor: list[str] = []
    for count in range(1, 1000):
        done = CliRunner().invoke(main, ["--db", db_url, "records", *args, "--limit", "7", *cursor])
        assert done.exit_code == 0, done.output
        lines = done.stdout.splitlines()
        assert len(lines) <= 7
        keys += [json.loads(line)["key"] for line in lines]
        if not done.stderr:
            return keys, count
        assert done.stderr.startswith("more follow: add --before ") and len(lines) == 7
        cursor = ["--before", done.stderr.split()[-1]]
    raise AssertionError("no last page")


@pytest.mark.parametrize("args", [[], ["--as-of", "150"], ["--current"]])
def test_following_the_cursor_lists_every_record_once(engine: Engine, db_url: str, args: list[str]) -> None:
    load(engine, "country.rsf", "country")
    whole = CliRunner().invoke(main, ["--db", db_url, "records", "country", *args])
    expected = [json.loads(line)["key"] for line in whole.stdout.splitlines()]
    keys, count = pages(db_url, "country", *args)
    assert keys == expected and len(set(keys)) == len(keys) and count > 5


def test_a_field_lookup_pages_too(engine: Engine, db_url: str) -> None:
    load(engine, "country.rsf", "country")
    service.index_field(engine, "country", "citizen-names")
    whole = service.list_records(engine, "country", field="end-date", value="1991-12-25")
    expected = [r.entry.key for r in whole]
    assert len(expected) >= 1
    keys, _count = pages(db_url, "country", "--field", "end-date", "--value", "1991-12-25")
    assert keys == expected
