"""The web app: the GOV.UK Registers v1 read API for every register, at ``/<register>/``.

Production: ``gunicorn 'registers.web:create_app()'``; development: ``registers serve``.
Configuration comes from ``REGISTERS_*`` environment variables (registers.settings), read and
checked when the app is made; a request finds them, and the engines, through ``state.state()``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask
from gunicorn.errors import AppImportError  # type: ignore[import-untyped]
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.middleware.proxy_fix import ProxyFix

from ..core.errors import NoSigningKey, RegisterError
from ..logs import configure, event
from ..settings import BadSetting, current, declared
from ..store import signing
from ..store.engine import open_engine
from ..store.lookup import RecordLookup
from . import (
    api,
    canonical,
    catalogue,
    health,
    openapi,
    pages,
    problems,
    proposals,
    request_log,
    security,
    signed,
    suggest,
    writes,
)
from .state import AppState, install

NO_SECRET = ("REGISTERS_SECRET_KEY is not set: the web app keeps client addresses only as an HMAC under it; "
             'make one with: python -c "import secrets; print(secrets.token_hex(32))"')


class DatabaseRefused(RegisterError, AppImportError):  # type: ignore[misc]
    """The app cannot open its database (the message says which and why). Also gunicorn's
    AppImportError: gunicorn prints its message alone and stops, instead of a traceback from
    every worker it boots."""


class SettingRefused(BadSetting, AppImportError):  # type: ignore[misc]
    """A ``REGISTERS_*`` variable the app will not start with (the message names it). Also
    gunicorn's AppImportError, for the same one line as DatabaseRefused."""


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """A Flask app serving the registers of ``REGISTERS_DATABASE_URL`` (default ./registers.db).

    The ``REGISTERS_*`` variables are read and checked here (BadSetting names a bad one, or
    says how to make the ``REGISTERS_SECRET_KEY`` the app will not start without).
    ``test_config`` overrides them by name without the prefix (``{"DATABASE_URL": url,
    "MAX_UPLOAD": 200_000}``) for what the app reads itself (the store and services read
    ``ORIGIN``, ``KEY_DIR`` and ``SQLITE_CACHE_MIB`` from the environment); its other keys
    (``TESTING``) go to Flask's config. With ``READ_DATABASE_URL`` (a read-only replica, or a
    read-only role), every read is served from it and only custodians' writes go to
    ``DATABASE_URL``. The app logs JSON lines on stderr (``registers.logs``): one per request,
    with its id, and one per event; its metrics are at ``/metrics`` (``web/metrics.py``).
    """
    configure(json_lines=True)  # before anything logs (a blueprint does, as it is registered)
    app = Flask(__name__)
    names = {d.variable for d in declared()}
    given = dict(test_config or {})
    app.config.update({key: value for key, value in given.items() if key not in names})
    try:
        settings = current().overridden({key: value for key, value in given.items() if key in names})
        if not settings.secret_key:
            raise BadSetting(NO_SECRET)
        if len(settings.secret_key) < 16:
            raise BadSetting(f"REGISTERS_SECRET_KEY is {len(settings.secret_key)} characters long: a secret needs at "
                             'least 16; make one with: python -c "import secrets; print(secrets.token_hex(32))"')
    except BadSetting as exc:
        raise SettingRefused(str(exc)) from None
    try:
        primary = open_engine(settings.database_url)
        replica = settings.read_database_url
        engine = open_engine(replica, create_tables=False) if replica else primary
    except RegisterError as exc:  # a bad URL, not a database, unreachable: one line, not a traceback
        raise DatabaseRefused(str(exc)) from None
    install(app, AppState(settings, engine, primary, RecordLookup(engine)))
    # imported here, not with this package: prometheus-client must find PROMETHEUS_MULTIPROC_DIR
    # set (by gunicorn_conf) before its first import
    from . import metrics

    metrics.install(app, settings)
    request_log.install(app)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # v1 member order is part of the format
    problems.install(app)
    canonical.install(app)
    security.install(app)
    pages.install(app, settings)  # GOV.UK Frontend's templates and assets, /accessibility
    app.register_blueprint(health.blueprint)
    app.register_blueprint(catalogue.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(writes.blueprint)
    app.register_blueprint(signed.blueprint)  # before api: /<register>/system/... are its paths
    app.register_blueprint(proposals.blueprint)
    suggest.install(app)  # the forms that propose a change
    app.register_blueprint(api.blueprint)
    _say_whether_writes_can_be_signed(app, primary)
    if settings.trusted_proxies:  # the client's address, scheme and host as the outermost trusted proxy saw them
        hops = settings.trusted_proxies
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    return app


def _say_whether_writes_can_be_signed(app: Flask, primary: Any) -> None:
    """Log at start-up when no signing key is at hand (writes will answer 503 until one is):
    the app never makes a key itself."""
    try:
        with primary.connect() as conn:
            signing.current_signer(conn)
    except NoSigningKey as exc:
        event(app.logger, logging.WARNING, "no_signing_key", reason=str(exc))  # custodians' writes will be refused
    except (RegisterError, SQLAlchemyError):  # unreachable database, a compromised key: told on use
        pass
