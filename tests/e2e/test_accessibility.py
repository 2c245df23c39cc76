"""Every page type checked by axe-core in a real headless Chromium (as test_browser.py: Debian's
chromium and chromium-driver, skipped only where they are missing and never in CI).

axe-core is the npm package ``package.json`` pins (``npm ci`` installs it beside GOV.UK Frontend
when the project is installed); the test injects it into each page as served by gunicorn and
runs it with the WCAG 2.0, 2.1 and 2.2 A and AA tags and no rule disabled. A control page (one
of our own pages with an image without alt text and an unlabelled input added) must report both,
so the check is shown to bite.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e.test_browser import browser, pytestmark  # noqa: F401  # the same browser, skipped the same way
from tests.e2e.test_cli import ok

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
RUN = """
const done = arguments[arguments.length - 1];
axe.run(document, {runOnly: {type: 'tag', values: arguments[0]}, resultTypes: ['violations']})
  .then(r => done(r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                          nodes: v.nodes.map(n => n.target.join(' '))}))))
  .catch(e => done([{id: 'axe-error', help: String(e), nodes: []}]));
"""


def violations(browser: Any, url: str) -> list[dict[str, Any]]:  # noqa: F811
    """axe-core's WCAG 2.2 AA violations on the page at ``url`` (opened in ``browser``)."""
    if not AXE.is_file():
        pytest.fail(f"{AXE} is missing: the project's install runs npm ci, which puts axe-core there")
    browser.get(url)
    browser.set_script_timeout(60)
    browser.execute_script(AXE.read_text(encoding="utf-8"))
    return list(browser.execute_async_script(RUN, TAGS))


def _pages(server: str, db_url: str) -> list[str]:
    """A URL of every page type a browser can open, the state each needs made first."""
    ok(db_url, "check", "country", "--limit", "0")  # a stored quality report
    ok(db_url, "amend", "country", "FR", "official-name=République française", "--reason", "test")
    made = requests.post(f"{server}/country/proposals", timeout=30, json={
        "action": "amend", "key": "GB", "fields": {"official-name": "The UK"}, "reason": "shorter"})
    assert made.status_code == 201, made.text
    proposal = made.json()["id"]
    digest = requests.get(f"{server}/country/entries/5.json", timeout=30).json()[0]["item-hash"][0]
    return [
        "/", "/?q=country", "/accessibility",
        "/country/", "/country/?q=fran", "/country/verify",
        "/country/records?page-size=20", "/country/records?page-size=20&before=150",
        "/country/records/FR", "/country/records/FR/entries", "/country/records/CS",  # CS: ended
        "/country/entries?limit=20", "/country/entries/5", f"/country/items/{digest}",
        "/country/system/entries",
        "/country/proposals", f"/country/proposals/{proposal}",
        "/country/quality",
        "/country/suggest", "/country/suggest/GB",
        "/local-authority-eng/records/BIR",
        "/country/nowhere/at/all", "/nowhere/", "/country/records?page-size=nine",
    ]


def test_every_page_type_has_no_wcag_violations(server: str, browser, db_url: str) -> None:  # noqa: F811
    found = {}
    for path in _pages(server, db_url):
        seen = violations(browser, f"{server}{path}")
        if seen:
            found[path] = seen
    assert found == {}, json.dumps(found, indent=1)


def test_the_suggest_form_with_errors_and_its_confirmation_have_no_violations(server: str, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/country/suggest/GB")
    browser.find_element(By.ID, "field-start-date").send_keys("not a date")
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    WebDriverWait(browser, 15).until(lambda b: b.title.startswith("Error: "))
    browser.execute_script(AXE.read_text(encoding="utf-8"))
    browser.set_script_timeout(60)
    assert browser.execute_async_script(RUN, TAGS) == []
    browser.find_element(By.ID, "field-start-date").clear()
    browser.find_element(By.ID, "field-official-name").send_keys(" (checked)")
    browser.find_element(By.ID, "reason").send_keys("checked")
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    WebDriverWait(browser, 15).until(lambda b: b.find_elements(By.CLASS_NAME, "govuk-panel--confirmation"))
    browser.execute_script(AXE.read_text(encoding="utf-8"))
    assert browser.execute_async_script(RUN, TAGS) == []


def test_a_broken_control_page_reports_its_violations(server: str, browser) -> None:  # noqa: F811
    """The check bites: our own page with an image without alt text and an unlabelled input."""
    assert violations(browser, f"{server}/country/") == []
    browser.execute_script("""
        const main = document.getElementById('main-content');
        const img = document.createElement('img');
        img.src = '/static/govuk/assets/images/favicon.svg';
        main.appendChild(img);
        const input = document.createElement('input');
        input.type = 'text';
        main.appendChild(input);""")
    browser.execute_script(AXE.read_text(encoding="utf-8"))
    found = {v["id"]: v["nodes"] for v in browser.execute_async_script(RUN, TAGS)}
    assert "image-alt" in found and "label" in found, found


def test_pages_reflow_at_320_pixels_wide(server: str, browser, db_url: str) -> None:  # noqa: F811
    """WCAG 1.4.10: at 320 CSS pixels no page scrolls sideways; a wide table scrolls in a region
    of its own, which the keyboard reaches (axe finds nothing there either)."""
    ok(db_url, "check", "country", "--limit", "0")
    browser.set_window_size(320, 900)
    try:
        width = browser.execute_script("return window.innerWidth")
        assert width <= 340, width  # the window really is narrow
        wide = {}
        for path in ("/", "/country/", "/country/records", "/country/entries", "/country/verify",
                     "/country/quality", "/country/records/GB", "/country/records/GB/entries"):
            browser.get(f"{server}{path}")
            page_width = browser.execute_script("return document.documentElement.scrollWidth")
            if page_width > width + 1:
                wide[path] = page_width
        assert wide == {}, (width, wide)
        assert violations(browser, f"{server}/country/records") == []
        region = browser.find_element("css selector", ".registers-table-scroll")
        assert region.get_attribute("tabindex") == "0" and region.get_attribute("role") == "region"
    finally:
        browser.set_window_size(1024, 768)
