"""Tables loaded into a served register (a real gunicorn) with ``registers load FILE --remote URL
--token T``, side by side with the same loads done locally: a plain load, a ``--dry-run``, a
``--history`` load and an ``--end-missing`` with its guard each leave the same records; a table
with five faults is refused naming all five (``--max-errors 2``: two and the count) and stores
nothing; the server checks the table's length and SHA-256 before comparing anything."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from registers.core.definitions import Definition, FieldDef
from tests.conftest import ROOT, fresh_database
from tests.e2e.conftest import gunicorn
from tests.e2e.test_cli import ok, run
from tests.e2e.test_cli_tables import FIVE_FAULTS

TYPES = ROOT / "fixtures" / "tsv" / "local-authority-type.tsv"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """A second database, which the test serves with gunicorn (the local one is ``db_url``)."""
    with fresh_database(tmp_path, "served") as url:
        yield url


def _items(db_url: str, register: str) -> dict[str, list[dict[str, object]]]:
    """Each record's items, by key (entry numbers and times aside)."""
    lines = ok(db_url, "records", register).splitlines()
    return {r["key"]: r["item"] for r in map(json.loads, lines)}


def _history(db_url: str, register: str, key: str) -> list[str]:
    """Who and why of each entry of ``key``, oldest first."""
    return [line.split("  ", 2)[2] for line in ok(db_url, "show", register, key, "--history").splitlines()[::2]]


def _both(db_url: str, served: str, *args: str) -> None:
    for url in (db_url, served):
        ok(url, *args)


def test_remote_table_loads_give_the_records_a_local_load_gives(db_url: str, served: str, tmp_path: Path) -> None:
    _both(db_url, served, "keys", "generate")
    _both(db_url, served, "create", "local-authority-type", "--schema", str(ROOT / "schemas/local-authority-type.json"))
    _both(db_url, served, "load", str(TYPES))
    token = ok(served, "token", "issue", "local-authority-type", "--label", "types-team").strip()
    rows = TYPES.read_text().splitlines()
    changed = tmp_path / "types.tsv"  # one renamed, one new, two gone
    changed.write_text("\n".join([rows[0], *(r.replace("City corporation", "City Corporation") for r in rows[1:-2]),
                                  "NEW\tA new kind"]) + "\n")
    with gunicorn(served) as base:
        remote = ("--remote", f"{base}/local-authority-type/", "--token", token)
        local_dry = run(db_url, "load", str(changed), "--register", "local-authority-type", "--dry-run",
                        "--end-missing", "2025-04-01")
        remote_dry = run(db_url, "load", str(changed), "--register", "local-authority-type", "--dry-run",
                         "--end-missing", "2025-04-01", *remote)
        assert remote_dry.returncode == local_dry.returncode == 0, remote_dry.stderr
        assert remote_dry.stdout == local_dry.stdout and remote_dry.stderr == local_dry.stderr
        assert b"table: 1 new, 1 changed, 8 unchanged, 2 vanished, 2 ended" in remote_dry.stderr
        assert _items(served, "local-authority-type") == _items(db_url, "local-authority-type")  # nothing stored

        loaded = ok(db_url, "load", str(changed), "--register", "local-authority-type", "--reason", "2025", *remote)
        assert loaded.startswith("local-authority-type: 2 added; root 13 ")
        ok(db_url, "load", str(changed), "--register", "local-authority-type", "--reason", "2025")
        assert _items(served, "local-authority-type") == _items(db_url, "local-authority-type")
        assert _history(served, "local-authority-type", "CC")[-1] == "by types-team: 2025"

        header_only = tmp_path / "none.tsv"  # a truncated table would end every record: the guard refuses
        header_only.write_text(rows[0] + "\n")
        for where in ((), remote):
            refused = run(db_url, "load", str(header_only), "--register", "local-authority-type",
                          "--end-missing", "2025-04-01", *where)
            assert refused.returncode == 1
            assert "--end-missing would end 12 records, more than the guard (10: 10 records or 1% of the " \
                   "register's, whichever is more)" in refused.stderr.decode(), refused.stderr
            ok(db_url, "load", str(header_only), "--register", "local-authority-type", "--end-missing", "2025-04-01",
               "--max-end", "12", *where)
        assert _items(served, "local-authority-type") == _items(db_url, "local-authority-type")
        assert all(item[0].get("end-date") == "2025-04-01" for item in _items(served, "local-authority-type").values())
    assert ok(served, "verify", "local-authority-type").startswith("local-authority-type: ok: ")


def test_a_remote_history_load_and_a_remote_refusal_name_the_same_as_local(
    db_url: str, served: str, tmp_path: Path
) -> None:
    schema = tmp_path / "colour.json"
    schema.write_text(json.dumps(Definition("colour", (FieldDef("colour"), FieldDef("name"),
                                                      FieldDef("start-date", "datetime"))).to_json()))
    _both(db_url, served, "keys", "generate")
    _both(db_url, served, "create", "colour", "--schema", str(schema))
    table = tmp_path / "colours.csv"
    table.write_text("colour,name,start-date\nred,Red,2001\nblue,Blue,2001\nred,Scarlet,2005\nred,Crimson,2010\n")
    _both(db_url, served, "create", "local-authority-type", "--schema", str(ROOT / "schemas/local-authority-type.json"))
    _both(db_url, served, "load", str(TYPES))
    _both(db_url, served, "create", "local-authority-nir", "--schema", str(ROOT / "schemas/local-authority-nir.json"))
    faulty = tmp_path / "nir.csv"
    faulty.write_text(FIVE_FAULTS)
    colour_token = ok(served, "token", "issue", "colour").strip()
    nir_token = ok(served, "token", "issue", "local-authority-nir").strip()
    with gunicorn(served) as base:
        ok(db_url, "load", str(table), "--register", "colour", "--history",
           "--remote", f"{base}/colour/", "--token", colour_token)
        ok(db_url, "load", str(table), "--register", "colour", "--history")
        assert _items(served, "colour") == _items(db_url, "colour") == {
            "red": [{"colour": "red", "name": "Crimson", "start-date": "2010"}],
            "blue": [{"colour": "blue", "name": "Blue", "start-date": "2001"}]}
        assert len(_history(served, "colour", "red")) == 3
        again = ok(db_url, "load", str(table), "--register", "colour", "--history",
                   "--remote", f"{base}/colour/", "--token", colour_token)
        assert again.startswith("colour: 0 added")

        remote = ("--remote", f"{base}/local-authority-nir/", "--token", nir_token)
        for limit in ((), ("--max-errors", "2")):
            here = run(db_url, "load", str(faulty), "--register", "local-authority-nir", *limit)
            there = run(db_url, "load", str(faulty), "--register", "local-authority-nir", *limit, *remote)
            assert here.returncode == there.returncode == 1
            assert there.stderr == here.stderr, (there.stderr, here.stderr)  # the same lines, naming the file
        assert len(there.stderr.decode().splitlines()) == 4  # two faults, the count of the rest, the summary
        as_json = run(db_url, "load", str(faulty), "--register", "local-authority-nir", "--json", *remote)
        assert [json.loads(line)["line"] for line in as_json.stdout.decode().splitlines()] == [3, 4, 5, 6, 7]
        problem = requests.post(
            f"{base}/local-authority-nir/load-table", params={"format": "csv"}, data=faulty.read_bytes(),
            headers={"Authorization": f"Bearer {nir_token}", "Content-Digest": _digest(faulty.read_bytes())},
            timeout=30)
        assert problem.status_code == 422 and problem.headers["Content-Type"] == "application/problem+json"
        errors = problem.json()["errors"]
        assert [(e["line"], e["key"], e["field"], e["value"]) for e in errors][:3] == [
            (3, "ARD", "start-date", "2015-02-30"), (4, "BFS", "local-authority-type", "NOPE"),
            (5, "CCG", "website", "not a web address")]
        assert {"line", "key", "field", "value", "reason"} <= set(errors[0])
    assert _items(served, "local-authority-nir") == {}  # nothing stored


def _digest(body: bytes) -> str:
    return f"sha-256=:{base64.b64encode(hashlib.sha256(body).digest()).decode()}:"


def test_the_server_checks_length_and_digest_before_comparing(db_url: str) -> None:
    ok(db_url, "keys", "generate")
    ok(db_url, "create", "local-authority-type", "--schema", str(ROOT / "schemas/local-authority-type.json"))
    token = ok(db_url, "token", "issue", "local-authority-type").strip()
    body = TYPES.read_bytes()
    auth = {"Authorization": f"Bearer {token}"}
    with gunicorn(db_url) as base:
        url = f"{base}/local-authority-type/load-table"

        def post(data: bytes, **headers: str) -> requests.Response:
            return requests.post(url, params={"format": "tsv"}, data=data, headers={**auth, **headers}, timeout=30)

        assert post(body).status_code == 400  # no Content-Digest
        wrong = post(body, **{"Content-Digest": _digest(body + b"x")})
        assert wrong.status_code == 400 and "Content-Digest" in wrong.json()["detail"]
        assert post(body, **{"Content-Digest": _digest(body)}).status_code == 200
        bad_format = requests.post(url, params={"format": "xml"}, data=body, timeout=30,
                                   headers={**auth, "Content-Digest": _digest(body)})
        assert bad_format.status_code == 400
        anonymous = requests.post(url, params={"format": "tsv"}, data=body, timeout=30,
                                  headers={"Content-Digest": _digest(body)})
        assert anonymous.status_code == 401
    assert ok(db_url, "root", "local-authority-type").startswith("11 ")
