"""The zip writer of ``download-register`` (loaders/v1zip.py): Python's zipfile and Info-ZIP's
``unzip -t`` read what it writes, names, bytes, CRCs and times intact, with the ZIP64 records
for large offsets and member counts written where the limits are lowered to reach them on a
small zip, and the same members at the same time always make the same bytes."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from registers.loaders import v1zip

WHEN = datetime(2016, 4, 5, 13, 23, 6)
MEMBERS = [("register.json", b'{"register":"spot"}'), ("item/\u00e9t\u00e9.json", b""),
           *((f"entry/{n}.json", b'{"entry-number":"%d"}' % n * (n % 7)) for n in range(1, 300))]


def _zip(members: list[tuple[str, bytes]] = MEMBERS) -> bytes:
    return b"".join(v1zip.zip_chunks(iter(members), WHEN))


def _assert_reads(body: bytes, members: list[tuple[str, bytes]], tmp_path: Path) -> zipfile.ZipFile:
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    assert [(i.filename, archive.read(i)) for i in archive.infolist()] == members
    assert {i.date_time for i in archive.infolist()} == {(2016, 4, 5, 13, 23, 6)}
    assert {i.compress_type for i in archive.infolist()} == {zipfile.ZIP_STORED}
    unzip = shutil.which("unzip")
    assert unzip, "unzip is not installed (.ci/run installs Debian's unzip)"
    (tmp_path / "t.zip").write_bytes(body)
    tested = subprocess.run([unzip, "-tq", str(tmp_path / "t.zip")], capture_output=True, text=True, timeout=60)
    assert tested.returncode == 0 and "No errors detected" in tested.stdout, tested.stdout + tested.stderr
    return archive


def test_a_small_zip_is_classic_and_read_by_both(tmp_path: Path) -> None:
    body = _zip()
    _assert_reads(body, MEMBERS, tmp_path)
    assert b"PK\x06\x06" not in body  # no ZIP64 record where none is needed


def test_zip64_records_where_offsets_and_counts_pass_the_limits(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v1zip, "FIELD_LIMIT", 2000)  # every member past 2,000 bytes in has a ZIP64 offset
    monkeypatch.setattr(v1zip, "COUNT_LIMIT", 100)
    body = _zip()
    archive = _assert_reads(body, MEMBERS, tmp_path)
    assert b"PK\x06\x06" in body[-200:] and b"PK\x06\x07" in body[-200:]  # ZIP64 end record and locator
    assert max(i.header_offset for i in archive.infolist()) > 2000


def test_a_member_past_the_size_limit_carries_its_sizes_in_zip64_extras(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(v1zip, "FIELD_LIMIT", 50)
    members = [("small.json", b"{}"), ("large.json", b"x" * 500), ("after.json", b"[]")]
    _assert_reads(_zip(members), members, tmp_path)


def test_the_same_members_make_the_same_bytes_and_the_first_chunk_comes_early() -> None:
    assert _zip() == _zip()
    chunks = list(v1zip.zip_chunks(iter(MEMBERS), WHEN))
    assert len(chunks[0]) < 200  # register.json and the first item, before the rest is read


def test_times_outside_the_dos_range_are_clamped() -> None:
    assert v1zip.dos_time(datetime(1970, 1, 1)) == (0, 1 << 5 | 1)
    assert v1zip.dos_time(datetime(2016, 4, 5, 13, 23, 7)) == (13 << 11 | 23 << 5 | 3, 36 << 9 | 4 << 5 | 5)
