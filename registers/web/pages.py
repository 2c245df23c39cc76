"""The HTML pages' frame: GOV.UK Frontend's templates and assets, the layout's settings, and the
accessibility statement.

- Jinja finds the app's own templates (``templates/``) and, under the prefix
  ``govuk_frontend_jinja/``, the GOV.UK Frontend macros of ``govuk-frontend-jinja`` (the loader
  its README gives): ``{% from "govuk_frontend_jinja/components/table/macro.html" import
  govukTable %}``. Every page extends ``templates/layout.html``, whose head comment says how.
- Every template sees ``site`` (``Site``, made from the settings: service name, phase, GOV.UK
  brand, licence, contact) and ``register_custodian(name)`` (the layout's footer names the
  custodian of the register a page is about).
- ``GET /accessibility``: the accessibility statement the Public Sector Bodies (Websites and
  Mobile Applications) (No. 2) Accessibility Regulations 2018 require, from the settings.
- ``/static/``: ``registers.js`` (starts GOV.UK Frontend's components) and ``govuk/``, built by
  ``assets.py`` at install time. The stylesheet and script are linked with ``?v=`` the build's
  fingerprint, and a request naming the current one is cached for a year (``immutable``); any
  other static request for an hour.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, Response, g, render_template, request
from jinja2 import BaseLoader, ChoiceLoader, PackageLoader, PrefixLoader

from ..settings import Settings
from ..store import reads
from ..store.engine import snapshot
from ..store.system import system_records
from .state import state

blueprint = Blueprint("pages", __name__)
STATIC_ASSETS = "/static/govuk/assets"  # where the stylesheets look for fonts and images (scss/*.scss)
YEAR, HOUR = 365 * 24 * 3600, 3600
# The service navigation's links beside the service name (which links to the catalogue), as
# {"text", "href"}: none yet; a section every page should reach goes here.
NAVIGATION: tuple[dict[str, str], ...] = ()
NOT_BUILT = ("the pages' styles and scripts are not built (%s is missing or stale): pages will look "
             "unstyled until `python -m registers.web.assets` builds them (pip install -e . does)")


@dataclass(frozen=True)
class Site:
    """What the layout shows that the settings decide, and the assets' URLs."""

    service_name: str
    phase: str  # alpha or beta: a phase banner says so; live: none
    brand: bool  # the GOV.UK header (crown), footer crown and crest, favicon, and the GDS Transport font
    licence: str
    licence_url: str
    contact_email: str | None
    organisation: str | None
    version: str  # of the built assets: the ?v= of their URLs
    asset_path: str = STATIC_ASSETS

    @classmethod
    def from_settings(cls, settings: Settings, version: str) -> Site:
        return cls(settings.service_name, settings.phase, settings.govuk_brand, settings.licence,
                   settings.licence_url, settings.contact_email, settings.organisation, version)

    @property
    def stylesheet(self) -> str:
        """The compiled GOV.UK Frontend stylesheet: with GDS Transport only under the brand."""
        return f"/static/govuk/{'registers-brand' if self.brand else 'registers'}.css?v={self.version}"

    @property
    def script(self) -> str:
        """The module that starts GOV.UK Frontend's components (static/registers.js)."""
        return f"/static/registers.js?v={self.version}"

    def navigation(self, path: str) -> list[dict[str, Any]]:
        """The service navigation's items (NAVIGATION), the one at ``path`` marked current."""
        return [{**item, "current": item["href"] == path} for item in NAVIGATION]

    @property
    def footer_links(self) -> list[dict[str, str]]:
        """The footer's support links."""
        links = [
            {"text": "Accessibility statement", "href": "/accessibility"},
            {"text": "API description (OpenAPI)", "href": "/openapi.json"},
            {"text": "Signing keys", "href": "/keys"},
        ]
        if self.contact_email:
            links.append({"text": "Contact", "href": f"mailto:{self.contact_email}"})
        return links


def register_custodian(name: str) -> str | None:
    """The custodian of register ``name`` as its system log records it (None: none, or no such
    register); read once a request."""
    known: dict[str, str | None] = g.setdefault("registers_custodians", {})
    if name not in known:
        with snapshot(state().engine) as conn:
            reg_id = reads.register_id(conn, name)
            custodian = system_records(conn, reg_id).get("custodian", {}).get("custodian") if reg_id else None
        known[name] = custodian if isinstance(custodian, str) and custodian else None
    return known[name]


def built_version() -> str:
    """The fingerprint of the built assets (their ``BUILT`` stamp), shortened; "unbuilt" when
    there is none."""
    from . import assets  # not at import: `python -m registers.web.assets` runs it as __main__

    stamp = assets.OUTPUT / assets.STAMP
    return stamp.read_text(encoding="ascii").strip()[:16] if stamp.is_file() else "unbuilt"


def install(app: Flask, settings: Settings) -> None:
    """The template loader, ``site`` and ``register_custodian`` in every template, cache headers
    for static files, and the accessibility statement's route."""
    own: BaseLoader | None = app.jinja_loader
    assert own is not None
    app.jinja_loader = ChoiceLoader([  # type: ignore[method-assign, assignment]
        own, PrefixLoader({"govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja")}),
    ])
    from . import assets

    if not assets.is_built():
        app.logger.warning(NOT_BUILT, assets.OUTPUT)
    site = Site.from_settings(settings, built_version())
    app.jinja_env.globals.update(site=site, register_custodian=register_custodian)

    @app.after_request
    def _cache_static(response: Response) -> Response:
        if request.endpoint == "static" and response.status_code in (200, 304):
            current = request.args.get("v") == site.version
            response.cache_control.public = True
            response.cache_control.max_age = YEAR if current else HOUR
            response.cache_control.immutable = current
        return response

    app.register_blueprint(blueprint)


@blueprint.get("/accessibility")
def accessibility() -> str:
    """The accessibility statement (HTML: it is for people)."""
    settings = state().settings
    return render_template("accessibility.html", settings=settings)
