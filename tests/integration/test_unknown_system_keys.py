"""Published dumps load faithfully: a system entry under a key the platform does not know (GOV.UK's
servers accepted any) is loaded as it is and reported as a finding, refused only when strict,
served in the system log, mirrored, verified and exported byte for byte. Nothing that reads a
register's system records breaks on one or renders it. A custodian's upload over HTTP may not
add one.

The dumps are ``country.rsf`` with extra system entries written by ``dump_with``: each item
(canonical JSON) is added after the dump's other items, each entry follows its ``name`` entry.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from registers import service
from registers.core.entries import Log
from registers.core.errors import InvalidEntry
from registers.core.items import canonical_json, item_digest
from registers.core.notes import VerifierKey
from registers.core.rsf import AddItem, AppendEntry
from registers.service import quality
from registers.web import create_app
from registers.web.state import state
from tests.conftest import RSF
from tests.integration.helpers import app_client, export, snapshot
from tests.integration.test_mirror import database, serving

COPYRIGHT = ("copyright", {"copyright": "© Crown copyright"})
MARKUP = ("<script>alert(1)</script>", {"<script>alert(2)</script>": "<img src=x onerror=alert(3)>"})
STAMP = "2017-07-17T10:59:47Z"


def dump_with(path: Path, *extra: tuple[str, dict[str, Any]]) -> tuple[Path, list[int]]:
    """``country.rsf`` with a system entry for each ``(key, item)`` of ``extra``, written to
    ``path``; the path and the line of each new entry."""
    lines = (RSF / "country.rsf").read_bytes().split(b"\n")
    first_entry = next(n for n, line in enumerate(lines) if line.startswith(b"append-entry\t"))
    name = next(n for n, line in enumerate(lines) if line.startswith(b"append-entry\tsystem\tname\t"))
    items, entries = [], []
    for key, item in extra:
        blob = canonical_json(item)
        digest = item_digest(blob)
        items.append(AddItem(blob, digest).to_line())
        entries.append(AppendEntry(Log.SYSTEM, key, STAMP, (digest,)).to_line())
    out = lines[:first_entry] + items + lines[first_entry : name + 1] + entries + lines[name + 1 :]
    path.write_bytes(b"\n".join(out))
    at = name + 1 + len(items) + 1  # 1-based line of the first new entry
    return path, list(range(at, at + len(entries)))


@pytest.fixture
def client(db_url: str) -> Iterator[FlaskClient]:
    with app_client(db_url) as made:
        yield made


def test_an_unknown_system_key_loads_as_published_reported_as_a_finding(
    engine: Engine, client: FlaskClient, tmp_path: Path
) -> None:
    path, [line] = dump_with(tmp_path / "country.rsf", COPYRIGHT)
    result = service.load_rsf(engine, str(path))
    assert (result.register, result.added_user, result.added_system) == ("country", 209, 19)
    assert result.findings.count == 1
    assert result.findings.examples[0].startswith(f"{line}: system key 'copyright' is not one the platform knows")
    assert export(engine, "country") == path.read_bytes()  # byte for byte
    assert client.get("/country/download-rsf").data == path.read_bytes()
    assert service.verify(engine, "country").head == service.head(engine, "country")
    assert service.load_rsf(engine, str(path)).added == 0  # loading it again adds nothing
    served = client.get("/country/system/entries?limit=100").json
    copyright_entry = next(e for e in served if e["key"] == "copyright")
    digest = copyright_entry["item-hash"][0]
    assert digest == f"sha-256:{item_digest(canonical_json(COPYRIGHT[1])).hex()}"
    system_rsf = client.get("/country/system/download-rsf").data
    assert f"append-entry\tsystem\tcopyright\t{STAMP}\t{digest}\n".encode() in system_rsf
    assert canonical_json(COPYRIGHT[1]) in system_rsf
    assert client.get(f"/country/items/{digest}").json == COPYRIGHT[1]


def test_strict_refuses_an_unknown_system_key(engine: Engine, tmp_path: Path) -> None:
    path, [line] = dump_with(tmp_path / "country.rsf", COPYRIGHT)
    before = snapshot(engine)
    with pytest.raises(InvalidEntry, match=f":{line}: system key 'copyright' is not one the platform knows"):
        service.load_rsf(engine, str(path), strict=True)
    assert snapshot(engine) == before


def test_an_unknown_system_key_is_refused_over_http(engine: Engine, client: FlaskClient, tmp_path: Path) -> None:
    path, [line] = dump_with(tmp_path / "country.rsf", COPYRIGHT)
    service.append_items(engine, "country", [], create=True)  # an empty register, to upload the dump into
    auth = {"Authorization": f"Bearer {service.issue_token(engine, 'country').secret}"}
    before = snapshot(engine)
    answer = client.post("/country/load-rsf", data=path.read_bytes(), headers=auth)
    assert answer.status_code == 422, answer.json
    assert answer.json["detail"].startswith(f"request body:{line}: system key 'copyright' is not one of")
    assert snapshot(engine) == before
    # loaded locally, the register holds the entry: its export uploads as nothing new
    service.load_rsf(engine, str(path))
    before = snapshot(engine)
    again = client.post("/country/load-rsf", data=export(engine, "country"), headers=auth)
    assert again.status_code == 200, again.json
    assert (again.json["user-entries-added"], again.json["system-entries-added"]) == (0, 0)
    after = snapshot(engine)  # nothing appended: only the token's last use was recorded
    assert {k: v for k, v in after.items() if k != "token"} == {k: v for k, v in before.items() if k != "token"}


def test_pages_read_a_register_with_unknown_system_keys_and_never_render_them(
    engine: Engine, client: FlaskClient, tmp_path: Path
) -> None:
    path, lines = dump_with(tmp_path / "country.rsf", COPYRIGHT, MARKUP)
    result = service.load_rsf(engine, str(path))
    assert result.findings.count == 2 and len(lines) == 2
    quality.make_report(engine, "country")
    html = {"Accept": "text/html"}
    for url, headers in [("/", html), ("/index.json", {}), ("/country/", html), ("/country/register", {}),
                         ("/country/records/GB", {}), ("/country/records.csv", {}), ("/country/quality", html),
                         ("/country/quality.json", {})]:
        answer = client.get(url, headers=headers)
        assert answer.status_code == 200, (url, answer.data[:300])
        assert b"alert(" not in answer.data, url
    # the v1 zip carries every item byte for byte (its members are stored, not deflated), the
    # unknown key's too: a download to save, never a page a browser renders
    answer = client.get("/country/download-register", headers=html)
    assert (answer.status_code, answer.content_type) == (200, "application/zip")
    assert answer.headers["Content-Disposition"].startswith("attachment;")
    record = client.get("/country/register").json["register-record"]
    assert record["fields"] == ["country", "name", "official-name", "citizen-names", "start-date", "end-date"]
    assert export(engine, "country") == path.read_bytes()


def test_a_mirror_copies_unknown_system_keys_and_change_entries(tmp_path: Path, engine: Engine) -> None:
    path, _lines = dump_with(tmp_path / "country.rsf", COPYRIGHT)
    with database(tmp_path, "source") as (url, source):
        service.load_rsf(source, str(path), by="Jane", reason="publish")  # a change entry too
        app = create_app({"DATABASE_URL": url})
        try:
            with serving(app) as base:
                keys = [VerifierKey.parse(k) for k in service.public_keys(source)]
                service.mirror(engine, f"{base}/country/", keys)
        finally:
            state(app).close()
        assert service.head(engine, "country") == service.head(source, "country")
        system = b"".join(service.system_patch(engine, "country", 0))
        assert system == b"".join(service.system_patch(source, "country", 0))
        assert b"\tsystem\tcopyright\t" in system and b"\tsystem\tchange\t" in system
    assert service.verify(engine, "country").head == service.head(engine, "country")
