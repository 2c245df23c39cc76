"""``/healthz`` (the process answers) and ``/readyz`` (the database answers too)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify
from sqlalchemy import text

from .state import state

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    """Liveness: the process is serving."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> Response:
    """Readiness: the database answers a query."""
    with state().engine.connect() as conn:
        conn.execute(text("SELECT 1"))
    return jsonify(status="ok")
