"""The v1 read API through the Flask test client, on SQLite and PostgreSQL."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine

from registers import service
from registers.web import create_app
from registers.web.state import state
from tests.conftest import RSF, vector
from tests.integration.helpers import app_client, load

COUNTRY = vector("country-proofs.json")


@pytest.fixture
def client(engine: Engine, db_url: str) -> Iterator[FlaskClient]:
    load(engine, "country-208.rsf", "country")
    with app_client(db_url) as made:
        yield made


def test_country_208_proofs_over_http_equal_the_published_ones(client: FlaskClient) -> None:
    register = client.get("/country/proof/register/merkle:sha-256")
    assert register.json == {
        "proof-identifier": "merkle:sha-256", "root-hash": COUNTRY["register_proof"]["root-hash"], "total-entries": 208,
    }
    entry = client.get("/country/proof/entries/10/200/merkle:sha-256").json
    assert entry["merkle-audit-path"] == COUNTRY["entry_proof"]["merkle-audit-path"]
    nodes = client.get("/country/proof/consistency/197/200/merkle:sha-256").json["merkle-consistency-nodes"]
    assert nodes == COUNTRY["consistency_proof"]["merkle-consistency-nodes"]


def test_entries_page_by_number_with_links_and_csv(client: FlaskClient) -> None:
    page = client.get("/country/entries?start=201&limit=5")
    assert page.content_type == "application/json"
    assert [e["entry-number"] for e in page.json] == ["201", "202", "203", "204", "205"]
    assert page.headers["Link"] == '<?start=206&limit=5>; rel="next", <?start=196&limit=5>; rel="previous"'
    csv = client.get("/country/entries.csv?start=1&limit=2")
    assert csv.headers["Content-Type"] == "text/csv;charset=UTF-8"
    assert csv.data.split(b"\r\n")[0] == b"index-entry-number,entry-number,entry-timestamp,key,item-hash"
    assert client.get("/country/entries/10").json[0]["key"] == "AD"


def test_paging_walks_every_record_exactly_once(client: FlaskClient) -> None:
    seen: list[str] = []
    url = "/country/records?page-size=7"
    while url:
        page = client.get(url)
        seen += list(page.json)
        link = page.headers.get("Link", "")
        nxt = [part for part in link.split(", ") if part.endswith('rel="next"')]
        url = "/country/records" + nxt[0][1 : nxt[0].index(">")] if nxt else ""
    assert len(seen) == len(set(seen)) == client.get("/country/register").json["total-records"]


def test_records_by_key_field_and_history(client: FlaskClient) -> None:
    gb = client.get("/country/records/GB").json["GB"]
    assert gb["key"] == "GB" and gb["item"][0]["name"] == "United Kingdom"
    assert [r["key"] for r in client.get("/country/records/name/France").json.values()] == ["FR"]
    assert len(client.get("/country/records/GM/entries").json) == 4
    csv = client.get("/country/records/GB.csv").data.decode()
    assert csv.startswith("index-entry-number,entry-number,entry-timestamp,key,country,name,official-name,")


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/nowhere/records", 404),
        ("/country/records/XX", 404),
        ("/country/entries/999", 404),
        ("/country/items/sha-256:" + "0" * 64, 404),
        ("/country/entries?limit=5001", 400),
        ("/country/entries?start=x", 400),
        ("/country/proof/entries/300/200/merkle:sha-256", 400),
        ("/country/proof/consistency/0/5/merkle:sha-256", 400),
        ("/country/download-rsf/5/3", 400),
        ("/country/items/sha-256:XYZ", 400),
    ],
)
def test_errors_are_problem_json(client: FlaskClient, path: str, status: int) -> None:
    answer = client.get(path)
    assert answer.status_code == status
    assert answer.content_type == "application/problem+json"
    assert answer.json["status"] == status and answer.json["detail"]


def test_download_rsf_reloads_to_the_same_root_and_patches_apply(client: FlaskClient, other_engine: Engine) -> None:
    from registers.core.rsf import read_rsf
    from registers.store.append import append
    from registers.store.checks import Change

    whole = client.get("/country/download-rsf")
    assert whole.content_type == "application/uk-gov-rsf"
    original = [line for line in (RSF / "country-208.rsf").read_bytes().splitlines() if not line.startswith(b"assert")]
    assert [line for line in whole.data.splitlines() if not line.startswith(b"assert")] == original
    first = client.get("/country/download-rsf/0/150").data
    append(other_engine, "country", read_rsf(io.BytesIO(first)), change=Change(strict=False))
    append(other_engine, "country", read_rsf(io.BytesIO(client.get("/country/download-rsf/150").data)),
           change=Change(strict=False))
    assert service.head(other_engine, "country").user_size == 208
    assert service.register_proof(other_engine, "country")["root-hash"] == COUNTRY["register_proof"]["root-hash"]


@pytest.mark.parametrize("path", ["/country/download-rsf", "/country/download-rsf/10", "/country/download-rsf/0/150",
                                  "/country/download-records.jsonl", "/country/download-register"])
def test_downloads_stream_rather_than_read_whole(client: FlaskClient, path: str) -> None:
    """A dump is sent as it is read (no Content-Length, the body an iterator, not a list):
    a register of tens of millions of entries never sits in the server's memory."""
    answer = client.get(path, buffered=False)
    streamed = answer.status_code == 200 and answer.is_streamed and not isinstance(answer.response, list)
    headers = answer.headers
    answer.close()
    assert streamed and "Content-Length" not in headers
    if "ETag" in headers:  # dumps of the log are conditional, and still streamed
        assert client.get(path, headers={"If-None-Match": headers["ETag"]}).status_code == 304


def test_old_singular_paths_redirect(client: FlaskClient) -> None:
    answer = client.get("/country/record/GB")
    assert answer.status_code == 301 and answer.headers["Location"].endswith("/country/records/GB")
    assert client.get("/country/entry/5").headers["Location"].endswith("/country/entries/5")


def test_health(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"status": "ok"}
    assert client.get("/readyz").json == {"status": "ok"}


def test_etags_answer_304_and_change_with_the_content(client: FlaskClient, engine: Engine) -> None:
    first = client.get("/country/records/GB")
    etag = first.headers["ETag"]
    assert client.get("/country/records/GB", headers={"If-None-Match": etag}).status_code == 304
    assert client.get("/country/records/GB.csv").headers["ETag"] != etag
    item = client.get("/country/entries/7").json[0]["item-hash"][0]
    answer = client.get(f"/country/items/{item}")
    assert "immutable" in answer.headers["Cache-Control"]
    assert client.get(f"/country/items/{item}", headers={"If-None-Match": answer.headers["ETag"]}).status_code == 304
    listing = client.get("/country/records?page-size=5").headers["ETag"]
    service.append_items(engine, "country", [("GB", {"country": "GB", "name": "Britain"})])
    assert client.get("/country/records?page-size=5").headers["ETag"] != listing
    assert client.get("/country/records/GB", headers={"If-None-Match": etag}).status_code == 200


def test_current_and_as_of(client: FlaskClient) -> None:
    everything = client.get("/country/records?page-size=5000").json
    current = client.get("/country/records?page-size=5000&current=true").json
    ended = {key for key, r in everything.items() if r["item"][0].get("end-date")}
    assert ended and set(current) == set(everything) - ended
    early = client.get("/country/records?page-size=5000&as-of=10").json
    assert len(early) == 10 and all(int(r["entry-number"]) <= 10 for r in early.values())


def test_a_register_without_a_definition_is_still_served(engine: Engine, db_url: str) -> None:
    load(engine, "escaped-backslash.rsf", "bare")
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    client = app.test_client()
    record = client.get("/bare/records/402019").json["402019"]
    assert record["item"][0]["name"] == "New College\\New College School"
    assert client.get("/bare/records.csv").data.startswith(b"index-entry-number,entry-number,entry-timestamp,key\r\n")
    state(app).close()


def test_the_one_statement_record_path_answers_as_the_record_list_does(client: FlaskClient) -> None:
    listed = client.get("/country/records?page-size=5000").json
    assert len(listed) == 199
    for key, record in listed.items():
        answer = client.get(f"/country/records/{key}")
        assert answer.content_type == "application/json"
        assert answer.json == {key: record}


def test_a_record_of_several_items_lists_them_in_entry_order(engine: Engine, db_url: str) -> None:
    from registers.core.items import canonical_json, item_digest
    from registers.core.rsf import read_rsf
    from registers.store.append import append
    from registers.store.checks import Change

    blobs = [canonical_json({"name": "Ünïcode ✓", "n": "2"}), canonical_json({"name": "first", "n": "1"})]
    hashes = ";".join("sha-256:" + item_digest(b).hex() for b in blobs)
    rsf = b"".join(b"add-item\t" + b + b"\n" for b in blobs) + f"append-entry\tuser\tk1\t2020-01-01T00:00:00Z\t{hashes}\n".encode()
    append(engine, "multi", read_rsf(io.BytesIO(rsf)), create=True, change=Change(strict=False))
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    answer = app.test_client().get("/multi/records/k1")
    assert [item["n"] for item in answer.json["k1"]["item"]] == ["2", "1"]
    assert answer.json["k1"]["item"][0]["name"] == "Ünïcode ✓"
    assert answer.json["k1"]["entry-number"] == "1"
    state(app).close()


def test_fixed_answers_are_cacheable_and_conditional(client: FlaskClient) -> None:
    for path in ("/country/records/GM/entries", "/country/records/name/France", "/country/download-rsf/10/20",
                 "/country/proof/entries/10/200/merkle:sha-256", "/country/proof/consistency/197/200/merkle:sha-256"):
        first = client.get(path)
        assert first.status_code == 200 and first.headers["ETag"], path
        again = client.get(path, headers={"If-None-Match": first.headers["ETag"]})
        assert again.status_code == 304 and not again.data, path
    assert "immutable" in client.get("/country/download-rsf/10/20").headers["Cache-Control"]
    assert "Cache-Control" not in client.get("/country/download-rsf/0/20").headers  # carries the system log
    assert client.get("/country/records/GM/entries").headers["ETag"] != client.get("/country/records/GB/entries").headers["ETag"]
