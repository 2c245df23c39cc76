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
                 "--disable-background-networking", "--disable-component-update", "--no-first-run"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def test_catalogue_record_page_and_escaping_in_chromium(server: str, browser, db_url: str) -> None:
    from selenium.webdriver.common.by import By

    ok(db_url, "amend", "country", "FR", "official-name=<script>document.title='pwned'</script>", "--reason", "test")
    browser.get(f"{server}/")
    links = {a.text for a in browser.find_elements(By.CSS_SELECTOR, "table a")}
    assert {"Country register", "Local authorities in England", "school"} <= links
    browser.get(f"{server}/country/records/FR")
    assert browser.title == "FR · country"  # the script in the data did not run
    cells = {row.find_element(By.TAG_NAME, "th").text: row.find_element(By.TAG_NAME, "td").text
             for row in browser.find_elements(By.CSS_SELECTOR, "table tr")}
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
        assert browser.execute_script("return getComputedStyle(document.querySelector('table')).borderCollapse") \
            == "collapse", path
