"""Reading and writing RSF lines."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st

from registers.core.entries import Entry, Log, key_problem, known_system_key, leaf_bytes, timestamp_problem
from registers.core.errors import InvalidRSF
from registers.core.items import canonical_json, item_digest, parse_hash
from registers.core.merkle import leaf_hash
from registers.core.rsf import AddItem, AppendEntry, AssertRootHash, read_rsf, rsf_bytes
from tests.conftest import RSF, vector

H = "sha-256:" + "ab" * 32


def test_leaf_vector() -> None:
    example = vector("item-hashes.json")["leaf_example"]
    entry = Entry(Log.USER, 10, "2016-04-05T13:23:05Z", "AD", (parse_hash(
        "sha-256:14fcb5099f0eff4c40d5a85b0e3c2f1a04337dc69dace1fc5c64ec9758a19b13"),))
    assert entry.leaf() == example["leaf_bytes"].encode()
    assert leaf_hash(entry.leaf()).hex() == example["leaf_hash"]


def test_both_append_entry_forms_and_crlf() -> None:
    text = f"append-entry\tuser\tGB\t2016-04-05T13:23:05Z\t{H};{H}\r\nappend-entry\t2016-04-05T13:23:05Z\t{H}\tFR\n\n"
    first, second = list(read_rsf(io.BytesIO(text.encode())))
    assert first == AppendEntry(Log.USER, "GB", "2016-04-05T13:23:05Z", (parse_hash(H),) * 2, 1)
    assert second == AppendEntry(Log.USER, "FR", "2016-04-05T13:23:05Z", (parse_hash(H),), 2)


def test_old_and_new_forms_of_country_small_hold_the_same_entries() -> None:
    def entries(name: str) -> list[tuple]:
        with (RSF / name).open("rb") as f:
            return [(c.key, c.timestamp, c.digests) for c in read_rsf(f)
                    if isinstance(c, AppendEntry) and c.log is Log.USER]
    assert entries("country-small.rsf") == entries("country-small-2016-form.rsf")


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"add-item\t{ \"a\":\"b\"}", "not canonical"),
        (b"append-entry\tuser\tGB\t2016-04-05T13:23:05Z\tsha-256:K3rfuFF1e", "is not a sha-256 hash"),
        (b"append-entry\tdata\tGB\t2016-04-05T13:23:05Z\t" + H.encode(), "is not a log"),
        (b"append-entry\tuser\tGB", "needs log, key, timestamp"),
        (b"assert-root-hash\tsha-256:00", "is not a sha-256 hash"),
        (b"delete-entry\tGB", "unknown command"),
        (b"append-entry\tuser\t\xff\t2016-04-05T13:23:05Z\t" + H.encode(), "not valid UTF-8"),
    ],
)
def test_bad_lines_name_their_line_number(line: bytes, reason: str) -> None:
    good = b"add-item\t{}\n"
    with pytest.raises(InvalidRSF) as caught:
        list(read_rsf(io.BytesIO(good + good + line + b"\n")))
    assert caught.value.line == 3
    assert reason in str(caught.value)
    assert str(caught.value).startswith("line 3: ")


@pytest.mark.parametrize("key", ["GB", "402019", "E09000033", "a.b", "a/b", "ft_openregister_test", "x-1"])
def test_valid_user_keys(key: str) -> None:
    assert key_problem(Log.USER, key) is None


@pytest.mark.parametrize("key", ["", "-GB", "G B", "a--b", "a./b", "é", "field:name"])
def test_invalid_user_keys(key: str) -> None:
    assert key_problem(Log.USER, key) is not None


def test_system_keys() -> None:
    for key in ["name", "custodian", "register-name", "change", "register:country", "field:start-date"]:
        assert key_problem(Log.SYSTEM, key) is None and known_system_key(key)
    for key in ["GB", "copyright", "<b>x</b>", "register:", "field"]:  # well-formed, unknown: loaded as published
        assert key_problem(Log.SYSTEM, key) is None and not known_system_key(key)
    for key in ["", "a b", "a\tb", "a\nb", "field:a b", "\u00a0", "a\x00", "a\x7f", "a\x85", "a\u2028b"]:
        assert key_problem(Log.SYSTEM, key) is not None


def test_timestamps() -> None:
    assert timestamp_problem("2016-04-05T13:23:05Z") is None
    for bad in ["2016-04-05T13:23:05", "2016-02-30T00:00:00Z", "2016-04-05 13:23:05Z", "2016-04-05"]:
        assert timestamp_problem(bad) is not None


keys = st.from_regex(r"[A-Za-z0-9]{1,8}(-[A-Za-z0-9]{1,4})?", fullmatch=True)
stamps = st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%SZ")).filter(lambda s: len(s) == 20)
digests = st.binary(min_size=32, max_size=32)
item_values = st.dictionaries(st.text(min_size=1, max_size=5), st.text(max_size=10), max_size=3)


@st.composite
def commands(draw: st.DrawFn) -> list:
    out: list = []
    for _ in range(draw(st.integers(0, 12))):
        kind = draw(st.sampled_from(["item", "entry", "assert"]))
        if kind == "item":
            try:
                blob = canonical_json(draw(item_values))
            except ValueError:
                continue
            out.append(AddItem(blob, item_digest(blob)))
        elif kind == "entry":
            log = draw(st.sampled_from(list(Log)))
            out.append(AppendEntry(log, draw(keys), draw(stamps), tuple(draw(st.lists(digests, min_size=1, max_size=3)))))
        else:
            out.append(AssertRootHash(draw(digests)))
    return out


@given(commands())
def test_write_then_read_is_identity(cmds: list) -> None:
    data = rsf_bytes(cmds)
    back = list(read_rsf(io.BytesIO(data)))
    assert [c.to_line() for c in back] == [c.to_line() for c in cmds]
    assert rsf_bytes(back) == data


def test_leaf_bytes_escape_keys_as_json() -> None:
    assert b'"key":"field:name"' in leaf_bytes(1, "2016-04-05T13:23:05Z", "field:name", (bytes(32),))


@pytest.mark.parametrize("block", [1, 2, 3, 7, 64, 1 << 20])
@given(cmds=commands(), crlf=st.booleans(), final_newline=st.booleans())
def test_lines_are_the_same_whatever_the_read_size(block: int, cmds: list, crlf: bool, final_newline: bool) -> None:
    """The reader splits blocks into lines: where a block ends must not matter (CRLF, blank
    lines and a last line without its newline included); a list of lines reads the same."""
    from registers.core import rsf

    data = rsf_bytes(cmds).replace(b"\n", b"\r\n" if crlf else b"\n") + b"\n"
    if not final_newline:
        data = data.rstrip(b"\r\n")
    original = rsf.BLOCK
    rsf.BLOCK = block
    try:
        back = list(read_rsf(io.BytesIO(data)))
    finally:
        rsf.BLOCK = original
    assert back == list(read_rsf(data.splitlines(keepends=True)))
    assert [c.to_line() for c in back] == [c.to_line() for c in cmds]
    assert [c.line for c in back] == list(range(1, len(cmds) + 1))


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b""])
def test_a_line_is_refused_past_max_line_bytes_without_reading_on(ending: bytes) -> None:
    from registers.core.rsf import MAX_LINE

    def item_line(size: int) -> bytes:  # an add-item line of exactly ``size`` bytes
        head = b'add-item\t{"n":"'
        return head + b"x" * (size - len(head) - 2) + b'"}'

    fits = list(read_rsf(io.BytesIO(item_line(MAX_LINE) + ending)))
    assert len(fits) == 1 and len(fits[0].to_line()) == MAX_LINE
    read: list[int] = []

    class Counting(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            data = super().read(size)
            read.append(len(data))
            return data

    huge = b"append-entry\tuser\tGB\t2016-04-05T13:23:05Z\t" + H.encode() + b"\n" + item_line(MAX_LINE * 8) + ending
    with pytest.raises(InvalidRSF, match=f"line 2: line is longer than {MAX_LINE} bytes"):
        list(read_rsf(Counting(huge)))
    assert sum(read) <= 3 * MAX_LINE  # refused after about a block past the limit, not read to its end
