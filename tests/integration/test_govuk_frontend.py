"""The pages' GOV.UK Frontend (issue 25): the built assets are current and served from the app's
own static path with their types, no page loads anything from another site, the one inline
script is the one the policy names by hash, the layout's parts come from the settings, and the
GOV.UK brand (the GDS Transport font, the crown) is off unless ``REGISTERS_GOVUK_BRAND`` is on."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from sqlalchemy import Engine
from werkzeug.test import TestResponse as Response

from registers.service import quality
from registers.web import assets
from registers.web.security import CONTENT_SECURITY_POLICY
from tests.integration.helpers import app_client, load

PAGES = ["/", "/country/", "/country/records/GB", "/country/entries/5", "/country/proposals", "/country/quality",
         "/accessibility"]
HTML = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}
GDS_FONT = re.compile(rb"@font-face|GDS Transport")


class Page(HTMLParser):
    """What a page loads (stylesheets, scripts, images, icons), its inline scripts, its elements' classes."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.inline: list[str] = []
        self.classes: list[str] = []
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._in_script = False
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.tags.append((tag, named))
        self.classes += (named.get("class") or "").split()
        if tag in ("script", "img", "iframe", "source") and named.get("src"):
            self.loads.append(named["src"] or "")
        if tag == "link" and named.get("href"):
            self.loads.append(named["href"] or "")
        self._in_script = tag == "script" and not named.get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


@pytest.fixture
def country(engine: Engine, db_url: str) -> str:
    load(engine, "country.rsf", "country")
    quality.make_report(engine, "country")  # the quality page shows one
    return db_url


@pytest.fixture
def client(country: str) -> Iterator[FlaskClient]:
    with app_client(country) as made:
        yield made


def _page(client: FlaskClient, path: str) -> Page:
    answer = client.get(path, headers=HTML)
    assert answer.status_code == 200 and answer.content_type.startswith("text/html"), (path, answer.status_code)
    return Page(answer.get_data(as_text=True))


def _get(client: FlaskClient, url: str) -> Response:
    """A static file's answer, read and closed (a file answer left open is a ResourceWarning)."""
    with client.get(url) as answer:
        answer.get_data()
        return answer


def _stylesheet(page: Page) -> str:
    [sheet] = [url for url in page.loads if ".css" in url]
    return sheet


def test_the_built_assets_are_current() -> None:
    # built by pip install (build_backend/registers_build.py); after a change to scss/ or the pins:
    assert assets.is_built(), "the assets are missing or stale: python -m registers.web.assets"
    assert all(path.stat().st_size > 0 for path in assets.outputs())


def test_every_asset_a_page_names_is_served_with_its_type_and_cached(client: FlaskClient) -> None:
    types = {".css": "text/css", ".js": "text/javascript", ".woff2": "font/woff2", ".woff": "font/woff",
             ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/vnd.microsoft.icon", ".json": "application/json"}
    page = _page(client, "/country/")
    named = set(page.loads)
    assert {u.split("?")[0] for u in named} == {"/static/govuk/registers.css", "/static/registers.js"}
    css = _get(client, _stylesheet(page))
    # the module registers.js imports, and every file the stylesheet names (GOV.UK Frontend's images)
    named |= {"/static/govuk/govuk-frontend.min.js", *re.findall(r'url\("?([^")]+)"?\)', css.get_data(as_text=True))}
    named |= {"/static/govuk/assets/manifest.json"}
    for url in sorted(named):
        answer = _get(client, url)
        path = url.split("?")[0]
        kind = types[path[path.rindex("."):]]
        assert answer.status_code == 200 and answer.content_type.split(";")[0] == kind, (url, answer.content_type)
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        versioned = "?v=" in url
        assert answer.cache_control.max_age == (365 * 24 * 3600 if versioned else 3600), url
        assert answer.cache_control.immutable is versioned, url
    script = _get(client, "/static/registers.js").get_data(as_text=True)
    assert 'from "./govuk/govuk-frontend.min.js"' in script and "initAll()" in script


def test_no_page_loads_anything_from_another_site(client: FlaskClient) -> None:
    for path in PAGES:
        page = _page(client, path)
        assert page.loads and all(u.startswith("/") and not u.startswith("//") for u in page.loads), (path, page.loads)
    for sheet in ("/static/govuk/registers.css", "/static/govuk/registers-brand.css"):
        text = _get(client, sheet).get_data(as_text=True)
        urls = re.findall(r'url\("?([^")]+)"?\)', text)
        assert urls and all(u.startswith("/static/govuk/assets/") for u in urls), (sheet, urls)
        assert "@import" not in text


def test_the_one_inline_script_is_the_one_the_policy_names_by_hash(client: FlaskClient) -> None:
    for path in PAGES:
        answer = client.get(path, headers=HTML)
        page = Page(answer.get_data(as_text=True))
        assert len(page.inline) == 1, path  # GOV.UK's js-enabled snippet, nothing else
        digest = base64.b64encode(hashlib.sha256(page.inline[0].encode()).digest()).decode()
        policy = answer.headers["Content-Security-Policy"]
        assert policy == CONTENT_SECURITY_POLICY
        assert f"script-src 'self' 'sha256-{digest}'" in policy, path
        assert [attrs.get("type") for tag, attrs in page.tags if tag == "script" and attrs.get("src")] == ["module"]


def test_the_layout_has_its_parts_on_every_page(client: FlaskClient) -> None:
    for path in PAGES:
        page = _page(client, path)
        tags = [tag for tag, _ in page.tags]
        body = tags.index("body")
        first_link = next(attrs for tag, attrs in page.tags[body:] if tag == "a")
        assert first_link.get("href") == "#main-content" and "govuk-skip-link" in (first_link.get("class") or ""), path
        assert tags.count("h1") == 1 and tags.count("main") == 1, path
        assert ("main", "main-content") in [(tag, attrs.get("id")) for tag, attrs in page.tags], path
        assert {"header", "footer"} <= set(tags), path
        assert {"govuk-service-navigation", "govuk-phase-banner", "govuk-footer"} <= set(page.classes), path
        footer = [attrs.get("href") for tag, attrs in page.tags if tag == "a" and "govuk-footer__link" in (attrs.get("class") or "")]
        assert {"/accessibility", "/openapi.json", "/keys"} <= set(footer), path
        if path != "/":
            assert "govuk-breadcrumbs" in page.classes, path
            current = [attrs for tag, attrs in page.tags if tag == "li" and attrs.get("aria-current") == "page"]
            assert len(current) == 1, path


def test_the_footer_names_the_registers_custodian_on_its_pages(client: FlaskClient) -> None:
    custodian = client.get("/country/register").json["custodian"]
    for path in PAGES[1:6]:
        assert f"The custodian of the country register is {custodian}." in client.get(path, headers=HTML).get_data(as_text=True)
    assert "The custodian of" not in client.get("/", headers=HTML).get_data(as_text=True)


def test_the_gov_uk_brand_is_off_by_default(client: FlaskClient) -> None:
    for path in PAGES:
        page = _page(client, path)
        assert _stylesheet(page).startswith("/static/govuk/registers.css?v=")
        text = client.get(path, headers=HTML).get_data(as_text=True)
        crown = re.search(r"<svg(?![^>]*govuk-pagination__icon)", text)  # the pagination's arrows are no crown
        assert "govuk-header" not in text and "govuk-logo" not in text and not crown, path
        assert "Crown copyright" not in text and "govuk-footer__crown" not in text, path
        assert "favicon" not in text and "rel=\"icon\"" not in text, path  # GOV.UK's icons are the crown
    css = _get(client, "/static/govuk/registers.css").data
    assert not GDS_FONT.search(css)
    assert b"font-family:system-ui" in css


def test_the_gov_uk_brand_is_on_when_the_setting_says(country: str) -> None:
    with app_client(country, GOVUK_BRAND="true") as client:
        page = _page(client, "/country/")
        sheet = _stylesheet(page)
        assert sheet.startswith("/static/govuk/registers-brand.css?v=")
        text = client.get("/country/", headers=HTML).get_data(as_text=True)
        assert 'class="govuk-header"' in text and 'aria-label="GOV.UK"' in text  # the crown and logotype
        assert "govuk-footer__crown" in text and "Crown copyright" in text
        assert "/static/govuk/assets/images/favicon.svg" in text
        css = _get(client, sheet).get_data(as_text=True)
        fonts = re.findall(r'url\("?(/static/govuk/assets/fonts/[^")]+)"?\)', css)
        assert "@font-face" in css and 'font-family:"GDS Transport"' in css and len(fonts) == 4
        for font in fonts:
            assert _get(client, font).content_type in ("font/woff2", "font/woff")


def test_service_name_phase_and_contact_come_from_the_settings(country: str) -> None:
    settings = {"SERVICE_NAME": "Reference data", "PHASE": "alpha", "CONTACT_EMAIL": "registers@example.gov.uk",
                "ORGANISATION": "The Example Office", "LICENCE": "CC BY 4.0",
                "LICENCE_URL": "https://creativecommons.org/licenses/by/4.0/"}
    with app_client(country, **settings) as client:
        text = client.get("/country/", headers=HTML).get_data(as_text=True)
        assert "Reference data" in text and ">Alpha<" in text.replace("\n", "").replace(" ", "")
        assert 'href="mailto:registers@example.gov.uk"' in text
        assert "This service is run by The Example Office." in text
        assert 'href="https://creativecommons.org/licenses/by/4.0/" rel="license">CC BY 4.0</a>' in text
        assert client.get("/index.json").json[0]["licence"] == "CC BY 4.0"
    with app_client(country, PHASE="live") as client:
        assert "govuk-phase-banner" not in client.get("/country/", headers=HTML).get_data(as_text=True)


def test_the_accessibility_statement_says_what_the_regulations_ask(country: str) -> None:
    with app_client(country) as client:
        text = client.get("/accessibility", headers=HTML).get_data(as_text=True)
        assert "partially compliant" in text and "Web Content Accessibility Guidelines version 2.2" in text
        for part in ("How accessible this website is", "Feedback and contact information", "Enforcement procedure",
                     "Equality Advisory and Support Service", "Non-accessible content",
                     "Preparation of this accessibility statement", "has not yet been reviewed"):
            assert part in text, part
    with app_client(country, ACCESSIBILITY_COMPLIANCE="fully", ACCESSIBILITY_REVIEWED="2026-03-01",
                    CONTACT_EMAIL="a11y@example.gov.uk", ORGANISATION="The Example Office") as client:
        text = client.get("/accessibility", headers=HTML).get_data(as_text=True)
        assert "This website is fully compliant" in text and "Non-accessible content" not in text
        assert "last reviewed on 1 March 2026" in text and 'href="mailto:a11y@example.gov.uk"' in text
        assert "run by The Example Office" in text
