"""Each datatype accepts and refuses what REGISTERS-V1.md says (examples written from the rules)."""

from __future__ import annotations

import pytest

from registers.core.datatypes import CHECKERS

CASES = {
    "string": (["a", " ", "Côte d’Ivoire", "x;y"], [""]),
    "text": (["Some *Markdown*", "<script>alert(1)</script>"], ["", "   "]),
    "integer": (["0", "7", "-12", "1000000000000"], ["", "01", "-0", "+5", "1.5", "1e3", " 7", "seven"]),
    "datetime": (
        ["2016", "2016-04", "2016-04-05", "2016-04-05T13Z", "2016-04-05T13:23Z", "2016-04-05T13:23:05Z", "2016-02-29"],
        ["", "16", "2016-4-5", "2016-13", "2016-02-30", "2015-02-29", "2016-04-05T13:23:05", "2016-04-05 13:23:05Z",
         "2016-04-05T25Z", "2016-04-05T13:61Z", "2016-04-05T13:23:05.123Z", "2016-04-05T13:23:05+01:00"],
    ),
    "timestamp": (["2016-04-05T13:23:05Z"], ["2016-04-05", "2016-04-05T13:23Z", "2016-04-05T13:23:65Z", ""]),
    "period": (
        ["P1Y", "P1Y2M3D", "PT4H", "P1DT12H", "P21D", "2016-01-01/2017-01-01", "2016/P1Y",
         "P1M/2017-06-30", "2016-01-01T00:00Z/2016-01-01T01:00Z"],
        ["", "P", "PT", "P1YT", "P3W", "P1.5Y", "1Y", "2017-01-01/2016-01-01", "2016-01-01/2016-01-01", "P1Y/P2Y",
         "2016-01-01/", "/2016", "2016/2017/2018", "2016-13-01/2017"],
    ),
    "url": (
        ["https://www.gov.uk/", "http://example.org/a?b=c#d", "https://localhost:8080/x"],
        ["", "www.gov.uk", "ftp://example.org/", "https://", "mailto:someone@gov.uk", "https://exa mple.org/"],
    ),
    "curie": (
        ["country:GB", "country:", "local-authority-eng:BIR", "company:012345", "a_b:x%2Fy"],
        ["", "GB", ":GB", "Country:GB", "1country:GB", "country:G B", "country:a/b", "country:100%"],
    ),
    "name": (["country", "Country", "a1-b2"], ["", "1country", "-country", "coun try", "country_name"]),
    "hash": (["sha-256:" + "0" * 64], ["", "sha-256:" + "0" * 63, "sha-256:" + "A" * 64, "sha256:" + "0" * 64]),
    "point": (
        ["[-0.1276, 51.5072]", "[0,0]", "[180, -90]", "[ -3.1883 , 55.9533 ]"],
        ["", "-0.1276, 51.5072", "[-0.1276]", "[200, 51]", "[0, 91]", "[a, b]", "(-0.1, 51.5)"],
    ),
}


def test_every_datatype_has_cases() -> None:
    assert set(CASES) == set(CHECKERS)


@pytest.mark.parametrize(("datatype", "value"), [(d, v) for d, (good, _) in CASES.items() for v in good])
def test_accepted(datatype: str, value: str) -> None:
    assert CHECKERS[datatype](value) is None


@pytest.mark.parametrize(("datatype", "value"), [(d, v) for d, (_, bad) in CASES.items() for v in bad])
def test_refused(datatype: str, value: str) -> None:
    assert CHECKERS[datatype](value) is not None


def test_only_ascii_digits_count() -> None:
    from registers.core.entries import timestamp_problem

    arabic = "٢٠١٦-٠٤-٠٥T13:23:05Z"
    assert timestamp_problem(arabic) is not None
    assert CHECKERS["datetime"]("٢٠١٦") is not None
    assert CHECKERS["integer"]("٣") is not None
    assert CHECKERS["point"]("[٠, 1]") is not None


@pytest.mark.parametrize("datatype", sorted(CHECKERS))
def test_no_datatype_takes_a_nul(datatype: str) -> None:
    """NUL cuts a value short in PostgreSQL's text, a CSV, a terminal: every datatype refuses it
    (an RSF upload stored it, and served it raw)."""
    assert CHECKERS[datatype]("a\x00b") is not None
    assert CHECKERS[datatype]("country:G\x00B") is not None
