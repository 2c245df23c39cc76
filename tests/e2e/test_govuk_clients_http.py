"""GOV.UK's clients against a real gunicorn (issue 24): the ``.json`` lists and the system dump
answered without a redirect, one ``Date`` on every answer, conditional ones too, and a weak
``If-None-Match`` answered 304 (the development server: tests/integration/test_govuk_clients)."""

from __future__ import annotations

import http.client
from urllib.parse import urlsplit


def _get(base: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Status, every header line as sent (repeats kept) and body of a GET."""
    netloc = urlsplit(base).netloc
    conn = http.client.HTTPConnection(netloc, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        answer = conn.getresponse()
        return answer.status, answer.msg, answer.read()
    finally:
        conn.close()


def test_no_redirect_one_date_and_weak_etags_through_gunicorn(server: str) -> None:
    for path in ["/country-208/entries?limit=2", "/country-208/entries.json?limit=2",
                 "/country-208/records.json?page-size=5000", "/country-208/records/GB", "/country-208/register",
                 "/country-208/system/download-rsf/0"]:
        status, headers, _ = _get(server, path)
        assert status == 200, path
        assert len(headers.get_all("Date") or []) == 1, (path, headers.get_all("Date"))
        etag = headers["ETag"]
        if etag is None:
            continue
        for sent in [etag, f"W/{etag}"]:
            status, headers, body = _get(server, path, {"If-None-Match": sent})
            assert (status, body) == (304, b""), (path, sent)
            assert len(headers.get_all("Date") or []) == 1, (path, sent, headers.get_all("Date"))
    status, headers, _ = _get(server, "/country-208/records/?page-size=5", {"Host": "evil.example"})
    assert (status, headers["Location"]) == (301, "/country-208/records?page-size=5")
