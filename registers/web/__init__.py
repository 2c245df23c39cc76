"""The web app: the GOV.UK Registers v1 read API for every register, at ``/<register>/``.

Production: ``gunicorn 'registers.web:create_app()'``; development: ``registers serve``.
Configuration comes from ``REGISTERS_*`` environment variables (``REGISTERS_DATABASE_URL``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from ..store.engine import open_engine
from ..store.lookup import RecordLookup
from . import api, catalogue, health, openapi, problems, proposals, signed, writes


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """A Flask app serving the registers of ``DATABASE_URL`` (default ./registers.db).

    With ``READ_DATABASE_URL`` (a read-only replica, or a read-only role), every read is served
    from it and only custodians' writes go to ``DATABASE_URL``.
    """
    app = Flask(__name__)
    app.config.from_mapping(DATABASE_URL=None, READ_DATABASE_URL=None, PAGE_SIZE=100, MAX_PAGE_SIZE=5000,
                            MAX_UPLOAD=1 << 30, PROPOSAL_RATE=10, PROPOSAL_RATE_WINDOW=60,
                            PROPOSAL_MAX_BYTES=16 * 1024, QUALITY_MAX_RECORDS=250_000)
    app.config.from_prefixed_env("REGISTERS")
    if test_config:
        app.config.update(test_config)
    primary = app.extensions["registers.write_engine"] = open_engine(app.config["DATABASE_URL"])
    replica = app.config["READ_DATABASE_URL"]
    engine = app.extensions["registers.engine"] = (
        open_engine(replica, create_tables=False) if replica else primary
    )
    app.extensions["registers.lookup"] = RecordLookup(engine)
    app.extensions["registers.ids"] = {}  # register name -> id; ids never change
    app.json.sort_keys = False  # type: ignore[attr-defined]  # v1 member order is part of the format
    problems.install(app)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(catalogue.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(writes.blueprint)
    app.register_blueprint(signed.blueprint)  # before api: /<register>/system/... are its paths
    app.register_blueprint(proposals.blueprint)
    app.register_blueprint(api.blueprint)
    return app
