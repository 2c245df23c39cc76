"""The catalogue and the HTML pages: what a person sees, with data always shown as text."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from registers import service
from registers.core.errors import InvalidName
from tests.integration.helpers import app_client

HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[FlaskClient]:
    for _ in service.init_fixtures(engine):
        pass
    with app_client(db_url) as made:
        yield made


def test_the_catalogue_lists_every_register_and_searches(client: FlaskClient) -> None:
    listed = client.get("/index.json").json
    assert {r["register"] for r in listed} >= {"country", "local-authority-eng", "school", "address"}
    country = next(r for r in listed if r["register"] == "country")
    assert country["total-entries"] == 209 and country["root-hash"].startswith("sha-256:")
    assert country["licence"] == "Open Government Licence v3.0" and country["link"] == "/country/"
    assert [r["register"] for r in client.get("/index.json?q=scotland").json] == ["local-authority-sct"]
    page = client.get("/", headers=HTML)
    assert page.content_type.startswith("text/html") and b'href="/local-authority-eng/"' in page.data


def test_a_record_page_shows_its_fields_and_links_to_json(client: FlaskClient) -> None:
    page = client.get("/country/records/FR", headers=HTML).data.decode()
    assert "The French Republic" in page
    assert 'href="/country/records/FR.json"' in page
    assert client.get("/country/records/FR").content_type == "application/json"  # no Accept: JSON


def test_data_is_always_shown_as_text(client: FlaskClient, engine: Engine) -> None:
    service.amend_record(engine, "country", "FR", {"official-name": "<script>alert('x')</script>"})
    page = client.get("/country/records/FR", headers=HTML).data.decode()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    index = client.get("/country/?q=france", headers=HTML).data.decode()
    assert "<script>alert" not in index


RESERVED_NAMES = ["healthz", "readyz", "keys", "static", "openapi", "api", "search", "catalogue", "favicon", "system",
                  "accessibility", "metrics"]


def test_register_names_cannot_shadow_the_platform(client: FlaskClient, engine: Engine) -> None:
    served = {rule.rule.strip("/").split("/")[0].split(".")[0] for rule in client.application.url_map.iter_rules()}
    served -= {"", "<register>", "index"}  # the catalogue's own /index.json is not a register's path
    assert served <= set(RESERVED_NAMES), served  # every top-level path the app serves is reserved
    before = service.list_registers(engine)
    for name in RESERVED_NAMES:
        with pytest.raises(InvalidName, match="one of the platform's own paths"):
            service.append_items(engine, name, [("a", {"x": "y"})], create=True)
    assert service.list_registers(engine) == before


def test_openapi_describes_every_endpoint(client: FlaskClient) -> None:
    import re

    doc = client.get("/openapi.json").json
    assert doc["openapi"].startswith("3.")

    def shape(path: str) -> str:
        path = re.sub(r"\.(<any\([^)]*\):fmt>|json|csv|jsonl)$", "", path)
        return re.sub(r"<[^>]+>|\{[^}]+\}", "{}", path)

    documented = {shape(p) for p in doc["paths"]}
    app = client.application
    served = {
        shape(rule.rule) for rule in app.url_map.iter_rules()
        if rule.endpoint not in ("static", "api.singular") and not rule.rule.endswith(".json")
    }
    assert served - documented == set()


def test_downloads_stream_whole_registers(client: FlaskClient, engine: Engine) -> None:
    import io
    import zipfile

    archive = zipfile.ZipFile(io.BytesIO(client.get("/country/download-register").data))
    names = archive.namelist()
    assert names[0] == "register.json" and "entry/209.json" in names
    assert sum(n.startswith("item/") for n in names) == service.verify(engine, "country").items
    lines = client.get("/country/download-records.jsonl").data.splitlines()
    assert len(lines) == client.get("/country/register").json["total-records"]
    csv = client.get("/country/download-records.csv")
    assert csv.headers["Content-Type"] == "text/csv;charset=UTF-8" and csv.data.count(b"\r\n") == len(lines) + 1


def test_an_entry_page_shows_its_item_and_links(client: FlaskClient) -> None:
    page = client.get("/country/entries/5", headers=HTML).data.decode()
    assert "Entry 5" in page and 'href="/country/entries/5.json"' in page and "sha-256:" in page
    assert client.get("/country/entries/5").content_type == "application/json"


def test_records_by_a_field_value_find_list_members_exactly(client: FlaskClient) -> None:
    with_name = client.get("/register/records/fields/name").json
    assert {"country", "territory"} <= set(with_name)
    assert all("name" in r["item"][0]["fields"] for r in with_name.values())
    assert client.get("/register/records/fields/nam").json == {}  # whole values only, never substrings
    phase = client.get("/register/records/phase/beta").json
    assert phase and all(r["item"][0]["phase"] == "beta" for r in phase.values())
    assert client.get("/country/records/name/%25").json == {}  # LIKE wildcards are matched literally
    assert list(client.get("/country/records/official-name/The%20French%20Republic").json) == ["FR"]
