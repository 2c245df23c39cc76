"""The web app: the GOV.UK Registers v1 read API for every register, at ``/<register>/``.

Production: ``gunicorn 'registers.web:create_app()'``; development: ``registers serve``.
Configuration comes from ``REGISTERS_*`` environment variables (registers.settings), read and
checked when the app is made; a request finds them, and the engines, through ``state.state()``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from sqlalchemy.exc import SQLAlchemyError

from ..core.errors import NoSigningKey, RegisterError
from ..settings import current, declared
from ..store import signing
from ..store.engine import open_engine
from ..store.lookup import RecordLookup
from . import api, catalogue, health, openapi, problems, proposals, signed, writes
from .state import AppState, install


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """A Flask app serving the registers of ``REGISTERS_DATABASE_URL`` (default ./registers.db).

    The ``REGISTERS_*`` variables are read and checked here (BadSetting names a bad one).
    ``test_config`` overrides them by name without the prefix (``{"DATABASE_URL": url,
    "MAX_UPLOAD": 200_000}``) for what the app reads itself (the store and services read
    ``ORIGIN``, ``KEY_DIR`` and ``SQLITE_CACHE_MIB`` from the environment); its other keys
    (``TESTING``) go to Flask's config. With ``READ_DATABASE_URL`` (a read-only replica, or a
    read-only role), every read is served from it and only custodians' writes go to
    ``DATABASE_URL``.
    """
    app = Flask(__name__)
    names = {d.variable for d in declared()}
    given = dict(test_config or {})
    app.config.update({key: value for key, value in given.items() if key not in names})
    settings = current().overridden({key: value for key, value in given.items() if key in names})
    primary = open_engine(settings.database_url)
    replica = settings.read_database_url
    engine = open_engine(replica, create_tables=False) if replica else primary
    install(app, AppState(settings, engine, primary, RecordLookup(engine)))
    app.json.sort_keys = False  # type: ignore[attr-defined]  # v1 member order is part of the format
    problems.install(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(catalogue.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(writes.blueprint)
    app.register_blueprint(signed.blueprint)  # before api: /<register>/system/... are its paths
    app.register_blueprint(proposals.blueprint)
    app.register_blueprint(api.blueprint)
    _say_whether_writes_can_be_signed(app, primary)
    return app


def _say_whether_writes_can_be_signed(app: Flask, primary: Any) -> None:
    """Log at start-up when no signing key is at hand (writes will answer 503 until one is):
    the app never makes a key itself."""
    try:
        with primary.connect() as conn:
            signing.current_signer(conn)
    except NoSigningKey as exc:
        app.logger.warning("custodians' writes will be refused: %s", exc)
    except (RegisterError, SQLAlchemyError):  # unreachable database, a compromised key: told on use
        pass
