"""``/healthz`` (the process answers) and ``/readyz`` (the database answers too)."""

from __future__ import annotations

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    """Liveness: the process is serving."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    """Readiness: the database answers a query."""
    with current_app.extensions["registers.engine"].connect() as conn:
        conn.execute(text("SELECT 1"))
    return jsonify(status="ok")
