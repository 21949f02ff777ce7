"""`/healthz`: does the app answer, and does its database?

The one HTTP route of the core: it reports on the core itself, for load balancers and
systemd watchdogs, and needs no surface.
"""

from __future__ import annotations

from flask import Blueprint, Flask, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from server import clock
from server.extensions import db

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    """200 when the database answers a query, 503 when it does not."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except SQLAlchemyError as exc:
        db.session.rollback()
        return jsonify(status="unavailable", database="error", error=type(exc).__name__), 503
    return jsonify(status="ok", database="ok", time=clock.now().isoformat())


def init_app(app: Flask) -> None:
    """Register the health route."""
    app.register_blueprint(bp)
