"""The GOV.UK layout in a real headless Chromium (Debian's chromium and chromium-driver), via
selenium, served by gunicorn: the GOV.UK Frontend stylesheet is loaded (computed styles say so),
its script runs under the Content Security Policy, Tab reaches the skip link first, and every
page type has the landmarks and one h1.

Skipped, saying why, only where no Chromium is installed and CI is not set; in CI (.ci/run
installs Chromium) a missing browser fails the run instead of passing it unseen.
"""

from __future__ import annotations

from tests.e2e.test_browser import browser, pytestmark  # noqa: F401  # the same browser, skipped the same way
from tests.e2e.test_cli import ok

PAGES = ["/", "/country/", "/country/records/FR", "/country/entries/5", "/country/proposals", "/country/quality",
         "/accessibility", "/country/records", "/country/records/FR/entries", "/country/entries",
         "/country/system/entries", "/country/verify", "/country/nowhere/at/all", "/nowhere/"]


def _style(browser, selector: str, prop: str) -> str:  # type: ignore[no-untyped-def]  # noqa: F811
    return str(browser.execute_script(
        "return getComputedStyle(document.querySelector(arguments[0])).getPropertyValue(arguments[1])", selector, prop))


def test_the_gov_uk_stylesheet_and_script_are_loaded_under_the_policy(server: str, browser, db_url: str) -> None:  # noqa: F811
    ok(db_url, "check", "country", "--limit", "0")  # the quality page shows a report (else it is a 404)
    for path in PAGES:
        browser.get(f"{server}{path}")
        # GOV.UK Frontend's styles, not the browser's: the page width, the template's body and type
        assert _style(browser, ".govuk-width-container", "max-width") == "960px", path
        assert _style(browser, "body", "margin") == "0px", path  # a browser's default is 8px
        assert _style(browser, ".govuk-footer", "border-top-style") == "solid", path
        font = _style(browser, "h1", "font-family")
        assert font.startswith("system-ui") and "GDS Transport" not in font, (path, font)
        assert _style(browser, ".govuk-skip-link", "position") == "absolute", path  # hidden until focused
        # the hashed inline snippet ran, and so did GOV.UK Frontend's module (it marks what it starts)
        classes = browser.execute_script("return document.body.className")
        assert "js-enabled" in classes and "govuk-frontend-supported" in classes, path
        skip = browser.find_element("css selector", ".govuk-skip-link")
        assert skip.get_attribute("data-govuk-skip-link-init") is not None, path
        refused = [e for e in browser.get_log("browser") if e["level"] == "SEVERE" and "favicon.ico" not in e["message"]
                   and not e["message"].startswith(f"{server}{path} - ")]  # an error page's own status
        assert refused == [], (path, refused)


def test_tab_reaches_the_skip_link_first_and_it_moves_focus_to_main(server: str, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.keys import Keys

    for path in ("/", "/country/"):
        browser.get(f"{server}{path}")
        browser.find_element("tag name", "body").send_keys(Keys.TAB)
        focused = browser.switch_to.active_element
        assert focused.get_attribute("class") == "govuk-skip-link" and focused.text == "Skip to main content", path
        assert _style(browser, ".govuk-skip-link:focus", "position") == "static", path  # shown when focused
        focused.send_keys(Keys.ENTER)
        assert browser.switch_to.active_element.get_attribute("id") == "main-content", path


def test_every_page_type_has_the_landmarks_and_one_h1(server: str, browser, db_url: str) -> None:  # noqa: F811
    ok(db_url, "check", "country", "--limit", "0")
    landmarks = """return [
        document.querySelectorAll('header.govuk-template__header').length,
        document.querySelectorAll('main#main-content').length,
        document.querySelectorAll('footer.govuk-template__footer').length,
        document.querySelectorAll('h1').length,
        document.querySelectorAll('nav.govuk-breadcrumbs [aria-current="page"]').length,
        document.documentElement.lang]"""
    for path in PAGES:
        browser.get(f"{server}{path}")
        header, main, footer, h1, current, lang = browser.execute_script(landmarks)
        assert (header, main, footer, h1, lang) == (1, 1, 1, 1, "en"), path
        assert current == (0 if path == "/" else 1), path
