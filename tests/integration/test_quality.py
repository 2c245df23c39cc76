"""Quality reports: real issues in the shipped data, and seeded ones — a duplicate, a dangling
link, a legacy value, an ended record still linked — each named, with fixes that can be proposed
and approved through the one write path; ``registers check`` stores the report, and HTTP serves
the last one stored, a page of one kind at a time, never making one on request."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient
from sqlalchemy import Engine, text

from registers import service
from registers.cli import main
from registers.core.items import canonical_json, hash_text, item_digest
from registers.service import quality
from registers.store import records
from registers.web import create_app
from registers.web.state import state


@pytest.fixture
def shipped(engine: Engine) -> Engine:
    for _ in service.init_fixtures(engine):
        pass
    return engine


def _patch(engine: Engine, tmp_path: Path, name: str, key: str, item: dict[str, str]) -> None:
    """Load an RSF patch of one entry as a published file would come (findings reported, not refused)."""
    blob = canonical_json(item)
    root = service.head(engine, name).user_root
    rsf = tmp_path / f"{name}-{key}.rsf"
    rsf.write_bytes(
        f"assert-root-hash\t{hash_text(root)}\n".encode() + b"add-item\t" + blob + b"\n"
        + f"append-entry\tuser\t{key}\t2019-01-01T00:00:00Z\t{hash_text(item_digest(blob))}\n".encode()
    )
    service.load_rsf(engine, str(rsf), name)


def _kinds(report: quality.QualityReport, kind: str) -> list[quality.QualityFinding]:
    return [f for f in report.findings if f.kind == kind]


def test_the_shipped_registers_have_real_findings(shipped: Engine) -> None:
    counts = {name: quality.check(shipped, name).counts() for name in
              ("school", "industrial-classification", "local-authority-nir", "country", "local-authority-eng")}
    # every school names an address, and the address register we ship is empty
    assert counts["school"]["dangling-link"] == 1000
    assert counts["school"]["duplicate"] == 14  # e.g. two live 'St David's High School' under different keys
    # the 21 SIC sections are the only classes without a parent
    assert counts["industrial-classification"]["missing-value"] == 21
    assert counts["local-authority-nir"]["missing-value"] == 1  # BFS has no start-date
    assert sum(counts["country"].values()) == 0 and sum(counts["local-authority-eng"].values()) == 0
    report = quality.check(shipped, "school")
    first = _kinds(report, "duplicate")[0]
    assert first.fix is not None and first.fix["action"] == "end" and "likely duplicate" in first.fix["reason"]


def test_a_seeded_duplicate_is_found_and_its_fix_approved(shipped: Engine) -> None:
    service.add_record(shipped, "country", "XU", {"name": "  united kingdom!", "official-name": "A copy"}, by="test")
    report = quality.check(shipped, "country")
    [found] = _kinds(report, "duplicate")
    assert (found.key, found.field) == ("XU", "name") and "'GB'" in found.message
    filed = quality.propose_fixes(shipped, report)
    assert len(filed.filed) == 1 and filed.refused == []
    assert quality.propose_fixes(shipped, report).already == 1  # not filed twice
    service.approve(shipped, "country", filed.filed[0], by="custodian", reason="a duplicate of GB")
    assert service.show_record(shipped, "country", "XU")[0].record.item["end-date"]
    assert _kinds(quality.check(shipped, "country"), "duplicate") == []


def test_a_seeded_dangling_link_and_legacy_value(shipped: Engine, tmp_path: Path) -> None:
    _patch(shipped, tmp_path, "local-authority-eng", "ZZZ",
           {"local-authority-eng": "ZZZ", "name": "Nowhere", "local-authority-type": "NOPE", "start-date": "2001-4-1"})
    report = quality.check(shipped, "local-authority-eng")
    [dangling] = _kinds(report, "dangling-link")
    assert (dangling.key, dangling.field) == ("ZZZ", "local-authority-type")
    assert "'NOPE' is not a key of register 'local-authority-type'" in dangling.message
    [legacy] = _kinds(report, "invalid-value")
    assert (legacy.key, legacy.field) == ("ZZZ", "start-date")
    assert legacy.fix is not None and legacy.fix["fields"] == {"start-date": "2001-04-01"}
    # the legacy fix can be proposed: a change is held to the links it adds, and this one keeps
    # the record's dangling link as it was (its own finding says so)
    filed = quality.propose_fixes(shipped, report)
    assert len(filed.filed) == 1 and filed.refused == []


def test_a_seeded_ended_record_still_linked(shipped: Engine) -> None:
    linking = [r.entry.key for r in service.list_records(shipped, "local-authority-eng", field="local-authority-type",
                                                         value="NMD", current=True)]
    assert len(linking) > 100
    service.end_record(shipped, "local-authority-type", "NMD", "2020-04-01", by="test")
    report = quality.check(shipped, "local-authority-type")
    found = _kinds(report, "ended-but-linked")
    assert sorted(f.key for f in found) == sorted(linking)
    assert {f.register for f in found} == {"local-authority-eng"}
    assert all("'NMD'" in f.message and "2020-04-01" in f.message for f in found)


def _pages(client: FlaskClient, path: str) -> tuple[list[dict[str, object]], int]:
    """Every finding ``path`` and the pages ``Link: next`` leads to hold, and how many pages."""
    found: list[dict[str, object]] = []
    pages = 0
    while path:
        answer = client.get(path)
        assert answer.status_code == 200, answer.json
        found += answer.json["findings"]
        pages += 1
        link = answer.headers.get("Link", "")
        path = link.split("<", 1)[1].split(">", 1)[0] if 'rel="next"' in link else ""
    return found, pages


def test_the_stored_report_over_http(shipped: Engine, db_url: str) -> None:
    """The report ``registers check`` stored, served as it was made: when, at which size, every
    finding of each kind a page at a time; a report is never made on request."""
    made = quality.make_report(shipped, "school", listed=3)
    assert made.size == service.head(shipped, "school").user_size and made.made
    whole = quality.check(shipped, "school")
    service.add_record(shipped, "country", "XU", {"name": "Nowhere"}, by="test")  # another register moves on
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    client: FlaskClient = app.test_client()
    try:
        served = client.get("/school/quality.json?page-size=5").json
        assert served["counts"] == whole.counts() and served["made"] == made.made
        assert served["total-entries"] == served["total-entries-now"] == made.size
        assert (served["records"], served["live-records"]) == (whole.records, whole.live)
        for kind, n in whole.counts().items():  # the first five of every kind, and where the rest are
            assert [f for f in served["findings"] if f["kind"] == kind] == [
                asdict(f) for f in _kinds(whole, kind)[:5]]
            assert (kind in served["next"]) == (n > 5)
        found, pages = _pages(client, "/school/quality.json?kind=dangling-link&page-size=300")
        assert found == [asdict(f) for f in _kinds(whole, "dangling-link")] and pages == 4
        nxt = client.get(served["next"]["duplicate"]).json  # the overview's link to the rest of a kind
        assert nxt["findings"] == [asdict(f) for f in _kinds(whole, "duplicate")[5:10]]
        page = client.get("/school/quality?page-size=5", headers={"Accept": "text/html"})
        assert page.status_code == 200 and b"dangling-link: 1000" in page.data and made.made.encode() in page.data
        assert b"More dangling-link findings" in page.data and b"St David" in page.data
        assert client.get("/school/quality.csv").status_code == 404
        assert client.get("/no-such/quality.json").status_code == 404
        assert client.get("/school/quality.json?after=3").status_code == 400  # a cursor of which kind?
        assert client.get("/school/quality.json?kind=typo").status_code == 400
        assert client.get("/school/quality.json?page-size=0").status_code == 400
        # the register moves on: the report says what it was made at, until the next is stored
        service.add_record(shipped, "school", "999999", {"name": "A New School"}, by="test")
        later = client.get("/school/quality.json").json
        assert later["total-entries"] == made.size and later["total-entries-now"] == made.size + 1
        assert b"it has" in client.get("/school/quality", headers={"Accept": "text/html"}).data
        quality.make_report(shipped, "school")
        again = client.get("/school/quality.json").json
        assert again["total-entries"] == made.size + 1 and again["counts"] == quality.check(shipped, "school").counts()
        assert again["counts"] != whole.counts()  # the new school lacks fields most schools fill
    finally:
        state(app).close()
    with shipped.connect() as conn:  # the earlier report is gone, findings and all
        reports = conn.execute(text("SELECT count(*) FROM quality_report")).scalar_one()
        findings = conn.execute(text("SELECT count(*) FROM quality_finding")).scalar_one()
    assert (reports, findings) == (1, sum(again["counts"].values()))


def test_with_no_report_stored_the_page_says_how_to_make_one(shipped: Engine, db_url: str) -> None:
    app = create_app({"DATABASE_URL": db_url, "TESTING": True})
    client: FlaskClient = app.test_client()
    try:
        missing = client.get("/country/quality.json")
        assert missing.status_code == 404 and missing.content_type == "application/problem+json"
        assert "registers check country" in missing.json["detail"]
        page = client.get("/country/quality", headers={"Accept": "text/html"})
        assert page.status_code == 404 and page.content_type.startswith("text/html")
        assert b"<code>registers check country</code>" in page.data
    finally:
        state(app).close()


def test_registers_check_stores_the_report_unless_told_not_to(shipped: Engine, db_url: str) -> None:
    result = CliRunner().invoke(main, ["--db", db_url, "check", "country", "--no-store"])
    assert result.exit_code == 0 and "report stored" not in result.stderr
    with pytest.raises(quality.NoReport, match="registers check country"):
        quality.report_page(shipped, "country")
    result = CliRunner().invoke(main, ["--db", db_url, "check", "school", "--limit", "0"])
    assert result.exit_code == 0 and "served at /school/quality" in result.stderr, result.output
    stored = quality.report_page(shipped, "school", "duplicate", size=100)
    assert stored.report.counts == quality.check(shipped, "school").counts() and len(stored.findings) == 14
    assert stored.findings == _kinds(quality.check(shipped, "school"), "duplicate")  # fixes and all


def test_every_finding_is_counted_and_the_first_of_each_kind_listed(shipped: Engine) -> None:
    whole = quality.check(shipped, "school")
    capped = quality.check(shipped, "school", listed=3)
    assert capped.counts() == whole.counts() and (capped.records, capped.live) == (whole.records, whole.live)
    for kind, n in whole.counts().items():
        assert _kinds(capped, kind) == _kinds(whole, kind)[:3] and len(_kinds(capped, kind)) == min(n, 3)
    assert capped.as_json()["listed-per-kind"] == 3 and whole.as_json()["listed-per-kind"] is None
    assert quality.check(shipped, "school", listed=0).findings == []


def test_progress_counts_the_records_read(shipped: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("registers.service.quality.report.PROGRESS_EVERY", 300)
    told: list[int] = []
    quality.check(shipped, "school", listed=0, progress=told.append)
    assert told == [300, 300, 300, 100]


def test_batches_and_the_scratch_file_change_no_finding(shipped: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Links are checked in batches with the answers remembered, and names, ended keys and
    self-links wait in a scratch file, so that memory stays flat at any size: with batches of a
    few rows (and a memory of five link targets) every report is exactly as before."""
    service.end_record(shipped, "local-authority-type", "NMD", "2020-04-01", by="test")
    service.add_record(shipped, "country", "XU", {"name": "  united kingdom!", "official-name": "A copy"}, by="test")
    names = ("school", "industrial-classification", "local-authority-type", "country", "local-authority-eng")
    before = {name: quality.check(shipped, name) for name in names}
    assert all(sum(before[name].counts().values()) for name in names[:4])  # each has findings to compare
    monkeypatch.setattr("registers.service.quality.survey.LINK_BATCH", 7)
    monkeypatch.setattr("registers.service.quality.survey.KNOWN_TARGETS", 5)
    monkeypatch.setattr("registers.service.quality.survey.SCRATCH_BATCH", 2)
    monkeypatch.setattr("registers.service.scratch.IN_LIST", 3)
    for name in names:
        assert quality.check(shipped, name) == before[name], name


def test_links_to_ended_records_are_looked_up_where_indexed(shipped: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """A report on a small register need not read a large one through: with the linking field
    indexed, each ended key is looked up instead, with the same findings."""
    service.end_record(shipped, "local-authority-type", "NMD", "2020-04-01", by="test")
    scanned = quality.check(shipped, "local-authority-type")
    assert scanned.counts()["ended-but-linked"] > 100
    read_through: list[int] = []
    whole = records.iter_records

    def counted(conn: Any, reg_id: int, *args: Any, **kwargs: Any) -> Any:
        read_through.append(reg_id)
        return whole(conn, reg_id, *args, **kwargs)

    monkeypatch.setattr(records, "iter_records", counted)
    linking = service.head(shipped, "local-authority-eng")  # (its id, below)
    assert linking.user_records > 300
    with shipped.connect() as conn:
        eng_id = conn.execute(text("SELECT id FROM register WHERE name = 'local-authority-eng'")).scalar_one()
    quality.check(shipped, "local-authority-type")
    assert eng_id in read_through  # not indexed: read through
    read_through.clear()
    service.index_field(shipped, "local-authority-eng", "local-authority-type")
    looked_up = quality.check(shipped, "local-authority-type")
    assert eng_id not in read_through and read_through  # its own records only
    assert looked_up.counts() == scanned.counts()
    assert sorted(looked_up.findings, key=repr) == sorted(scanned.findings, key=repr)


def test_a_record_whose_old_link_dangles_can_be_amended_ended_and_proposed_for(shipped: Engine) -> None:
    """A change is held to the links it adds: the 2017 schools link to UPRNs no fixture holds,
    yet a school can be renamed, ended, and a fix proposed for it; a new dangling link is still
    refused."""
    from registers.core.errors import InvalidEntry

    rec = next(r for r in service.list_records(shipped, "school") if "address" in r.item)
    key = rec.item["school"]
    changed = service.amend_record(shipped, "school", key, {"name": "A renamed school"}, by="test")
    assert changed.added_user == 1
    assert any("already linked" in f for f in changed.findings.examples)  # reported, not refused
    with pytest.raises(InvalidEntry, match=r"field 'address': value '999999999999' is not a key of register"):
        service.amend_record(shipped, "school", key, {"address": "999999999999"}, by="test")
    proposed = service.propose(shipped, "school", key, {"end-date": "2020-01-01"}, "closed", action="end")
    assert proposed.status == "open"
    service.end_record(shipped, "school", key, "2020-01-01", by="test")
    assert service.show_record(shipped, "school", key)[0].record.item["end-date"] == "2020-01-01"
