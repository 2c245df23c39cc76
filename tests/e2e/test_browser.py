"""The HTML pages in a real headless Chromium (Debian's chromium and chromium-driver), via selenium.

Skipped, saying why, only where no Chromium is installed; .ci/run installs it.
"""

from __future__ import annotations

import os
import shutil

import pytest

from tests.e2e.test_cli import ok

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
MISSING = "Debian's chromium and chromium-driver are not installed"
# Skipped on a developer's machine without them; in CI (CI=true, where .ci/run installs them) a
# missing browser fails the run instead of passing it unseen.
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER) and not os.environ.get("CI"), reason=MISSING)


@pytest.fixture
def browser():  # type: ignore[no-untyped-def]
    if not (CHROMIUM and DRIVER):
        pytest.fail(f"{MISSING}: CI runs the browser test (.ci/run installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM  # type: ignore[assignment]
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--no-first-run",
                 "--window-size=1024,768"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # CSP refusals are logged as SEVERE
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_catalogue_record_page_and_escaping_in_chromium(server: str, browser, db_url: str) -> None:
    from selenium.webdriver.common.by import By

    ok(db_url, "amend", "country", "FR", "official-name=<script>document.title='pwned'</script>", "--reason", "test")
    browser.get(f"{server}/")
    links = {a.text for a in browser.find_elements(By.CSS_SELECTOR, "table a")}
    assert {"Country", "Local authorities in England", "school"} <= links  # country's name: GOV.UK's dump's
    browser.get(f"{server}/country/records/FR")
    assert browser.title == "FR · country"  # the script in the data did not run
    cells = {row.find_element(By.TAG_NAME, "dt").text: row.find_element(By.TAG_NAME, "dd").text
             for row in browser.find_elements(By.CSS_SELECTOR, ".govuk-summary-list__row")}
    assert cells["name"] == "France"
    assert cells["official-name"] == "<script>document.title='pwned'</script>"  # shown as text
    json_link = browser.find_element(By.ID, "json")
    assert json_link.get_attribute("href") == f"{server}/country/records/FR.json"
    json_link.click()
    assert '"key":"FR"' in browser.page_source.replace(" ", "")


def test_pages_are_styled_under_their_content_security_policy(server: str, browser) -> None:
    # the policy allows no inline style: the page's look comes from GOV.UK Frontend's stylesheet
    # at /static/govuk/ alone (test_govuk_layout checks more of it)
    for path in ("/", "/country/", "/country/records/FR"):
        browser.get(f"{server}{path}")
        assert browser.execute_script(
            "return getComputedStyle(document.querySelector('.govuk-width-container')).maxWidth") == "960px", path
        if path == "/country/records/FR":  # a summary list: its keys bold
            assert browser.execute_script(
                "return getComputedStyle(document.querySelector('.govuk-summary-list__key')).fontWeight") == "700"
            continue
        assert browser.execute_script("return getComputedStyle(document.querySelector('table')).borderCollapse") \
            == "collapse", path


def test_next_reaches_the_last_record_and_the_history_opens_a_page(server: str, browser, db_url: str) -> None:
    """In Chromium: the register page of a 250-record register reaches its last record by
    following Next; a record's history link opens an HTML page; Previous comes back."""
    from selenium.webdriver.common.by import By

    rows = "\n".join(["place,name", *(f"{i},Place {i}" for i in range(1, 251))])
    schema = {"fields": [{"cardinality": "1", "datatype": "string", "field": "place", "phase": "beta",
                          "text": "Code."},
                         {"cardinality": "1", "datatype": "string", "field": "name", "phase": "beta", "text": "Name."}],
              "register": {"fields": ["place", "name"], "phase": "beta", "register": "place", "registry": "test",
                           "text": "Places."}}
    import json
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "place.json").write_text(json.dumps(schema))
        (Path(tmp) / "place.csv").write_text(rows + "\n")
        ok(db_url, "create", "place", "--schema", str(Path(tmp) / "place.json"))
        ok(db_url, "load", str(Path(tmp) / "place.csv"), "--register", "place")
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{server}/place/?page-size=5")  # Tab: the skip link, then the navigation, then the pagination
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    order = []
    for _ in range(80):
        focused = browser.switch_to.active_element
        order.append(focused.get_attribute("class") or "")
        if "govuk-pagination__link" in order[-1]:
            break
        focused.send_keys(Keys.TAB)
    assert order[0] == "govuk-skip-link" and "govuk-pagination__link" in order[-1], order
    assert any("govuk-service-navigation" in c for c in order[1:3]), order
    browser.get(f"{server}/place/")
    keys: set[str] = set()
    pages = 0
    while True:
        pages += 1
        keys |= {a.text for a in browser.find_elements(By.CSS_SELECTOR, "table th a")}
        following = browser.find_elements(By.CSS_SELECTOR, "a[rel=next]")
        if not following:
            break
        following[0].click()
    assert pages == 3 and {"1", "250"} <= keys and len(keys) == 250
    browser.find_element(By.CSS_SELECTOR, "a[rel=prev]").click()
    assert browser.find_element(By.CSS_SELECTOR, "[aria-current=page].govuk-pagination__link").text == "2"
    browser.get(f"{server}/place/records/1")
    browser.find_element(By.ID, "history").click()
    assert browser.current_url.endswith("/place/records/1/entries")
    assert browser.find_element(By.TAG_NAME, "h1").text.endswith("History")
