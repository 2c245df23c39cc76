"""Export and reload: dumps and patches reproduce the register byte for byte."""

from __future__ import annotations

import io

import pytest
from sqlalchemy import Engine

from registers import service
from registers.core.errors import InvalidRange
from registers.core.rsf import read_rsf
from registers.store.append import append
from registers.store.checks import Change
from tests.conftest import RSF
from tests.integration.helpers import export, load

DUMPS = ["country.rsf", "industrial-classification.rsf", "school-2017.rsf", "field-reused-items.rsf"]


def _reload(engine: Engine, register: str, data: bytes):  # type: ignore[no-untyped-def]
    return append(engine, register, read_rsf(io.BytesIO(data)), change=Change(strict=False))


@pytest.mark.parametrize("name", DUMPS)
def test_export_reloads_to_the_same_root_and_exports_identically(
    engine: Engine, other_engine: Engine, name: str
) -> None:
    original = load(engine, name, "r")
    dump = export(engine, "r")
    copy = _reload(other_engine, "r", dump)
    assert copy.head == original.head
    assert export(other_engine, "r") == dump
    assert _reload(other_engine, "r", dump).added == 0
    assert service.verify(other_engine, "r").head == original.head


def test_export_of_a_published_dump_is_the_dump_itself(engine: Engine) -> None:
    load(engine, "country.rsf")
    assert export(engine, "country") == (RSF / "country.rsf").read_bytes()


@pytest.mark.parametrize(("n", "m"), [(100, 1187), (0, 500), (500, 501), (1186, 1187), (700, 700)])
def test_a_patch_applied_to_a_copy_at_n_gives_m(engine: Engine, other_engine: Engine, n: int, m: int) -> None:
    load(engine, "industrial-classification.rsf", "sic")
    _reload(other_engine, "sic", export(engine, "sic", 0, n))
    assert service.head(other_engine, "sic").user_size == n
    patch = export(engine, "sic", n, m)
    if n == m:
        assert patch.count(b"\n") == 1 and patch.startswith(b"assert-root-hash\t")
    _reload(other_engine, "sic", patch)
    head = service.head(other_engine, "sic")
    assert (head.user_size, head.user_root) == (m, service.root_at(engine, "sic", m))
    assert service.inclusion_proof(other_engine, "sic", 1, m) == service.inclusion_proof(engine, "sic", 1, m)
    assert service.verify(other_engine, "sic").head.user_records == service.head(other_engine, "sic").user_records


@pytest.mark.parametrize(("n", "m"), [(-1, 5), (5, 4), (0, 2000)])
def test_bad_export_ranges_are_refused(engine: Engine, n: int, m: int) -> None:
    load(engine, "industrial-classification.rsf", "sic")
    with pytest.raises(InvalidRange):
        export(engine, "sic", n, m)


def test_proof_ranges_are_checked(engine: Engine) -> None:
    load(engine, "country-small.rsf", "country")
    for number, size in [(0, 5), (6, 5), (1, 8)]:
        with pytest.raises(InvalidRange):
            service.inclusion_proof(engine, "country", number, size)
    for first, second in [(0, 5), (6, 5), (1, 8)]:
        with pytest.raises(InvalidRange):
            service.consistency_proof(engine, "country", first, second)
    assert service.consistency_proof(engine, "country", 7, 7)["merkle-consistency-nodes"] == []


@pytest.mark.parametrize(("name", "ranges"), [
    ("field-reused-items.rsf", [(0, None), (0, 3), (2, 5)]),
    ("industrial-classification.rsf", [(0, None), (0, 1), (100, 1187), (1186, 1187), (700, 700)]),
])
def test_the_streamed_dump_is_the_command_by_command_dump(
    engine: Engine, name: str, ranges: list[tuple[int, int | None]]
) -> None:
    from registers.core.rsf import rsf_bytes
    from registers.loaders.rsf import export_commands, export_rsf_chunks
    from registers.store import reads
    from registers.store.engine import snapshot

    load(engine, name, "r")
    with snapshot(engine) as conn:
        reg_id = reads.register_id(conn, "r")
        assert reg_id is not None
        head = reads.head(conn, reg_id)
        for start, end in ranges:
            streamed = b"".join(export_rsf_chunks(conn, reg_id, head, start, end))
            assert streamed == rsf_bytes(export_commands(conn, reg_id, head, start, end))
            assert streamed.count(b"\nappend-entry\tuser\t") == (end or head.user_size) - start
