"""Proposing a change from the page in a real headless Chromium (as test_browser.py: Debian's
chromium and chromium-driver, skipped only where they are missing and never in CI)."""

from __future__ import annotations

from tests.e2e.test_browser import browser, pytestmark  # noqa: F401  # the same browser, skipped the same way


def test_a_suggestion_with_a_bad_field_is_shown_then_sent_and_listed(server: str, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def waited(found):  # a click starts a navigation: wait for the next page, not the old one
        return WebDriverWait(browser, 15).until(lambda b: found(b))

    script = "<script>document.title='pwned'</script>"
    browser.get(f"{server}/country/suggest/GB")
    assert browser.find_element(By.ID, "field-name").get_attribute("value") == "United Kingdom"
    official = browser.find_element(By.ID, "field-official-name")
    official.clear()
    official.send_keys(f"The UK {script}")
    browser.find_element(By.ID, "field-start-date").send_keys("not a date")
    browser.find_element(By.ID, "reason").send_keys("the short form")
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    assert waited(lambda b: b.title.startswith("Error: "))
    summary = browser.find_element(By.CLASS_NAME, "govuk-error-summary")
    assert browser.switch_to.active_element == summary  # GOV.UK Frontend moved the focus to it
    (link,) = summary.find_elements(By.TAG_NAME, "a")
    assert "start-date" in link.text and "not a date" in link.text
    assert browser.find_element(By.ID, "field-start-date-error").is_displayed()
    assert browser.find_element(By.ID, "field-official-name").get_attribute("value") == f"The UK {script}"
    link.click()
    assert browser.switch_to.active_element.get_attribute("id") == "field-start-date"
    browser.find_element(By.ID, "field-start-date").clear()
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    panel = waited(lambda b: b.find_elements(By.CLASS_NAME, "govuk-panel--confirmation"))[0]
    assert "Suggestion sent" in panel.text
    panel.find_element(By.TAG_NAME, "a").click()
    assert waited(lambda b: b.find_element(By.TAG_NAME, "h1").text.endswith("amend GB"))
    cells = [td.text for td in browser.find_elements(By.CSS_SELECTOR, "table td")]
    assert f"The UK {script}" in cells  # shown as text: the script did not run
    assert "pwned" not in browser.title
    browser.get(f"{server}/country/proposals")
    assert "amend GB" in browser.find_element(By.CLASS_NAME, "govuk-summary-card").text


def test_a_form_post_without_its_token_is_refused(server: str, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(f"{server}/country/suggest")
    browser.find_element(By.ID, "key").send_keys("XQ")
    browser.find_element(By.ID, "field-name").send_keys("Atlantis")
    browser.find_element(By.ID, "reason").send_keys("found")
    browser.execute_script("document.querySelector('input[name=\"csrf-token\"]').remove()")
    browser.find_element(By.CSS_SELECTOR, "form button").click()
    assert WebDriverWait(browser, 15).until(
        lambda b: b.find_element(By.TAG_NAME, "h1").text == "Your form could not be sent")
    browser.get(f"{server}/country/proposals?status=all")
    assert "XQ" not in browser.find_element(By.TAG_NAME, "main").text
