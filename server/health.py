"""`/healthz`: does the app answer, its database, its disk, its shared rate-limit store?

The one HTTP route of the core: it reports on the core itself, for load balancers and
systemd watchdogs, and needs no surface.
"""

from __future__ import annotations

import errno
import os
import tempfile

from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from server.db import db
from server.infra import clock
from server.trust import ratelimit

bp = Blueprint("health", __name__)


def _can_write(folder: str) -> str:
    """Whether a small file can be written in `folder` (where the photos, and a SQLite
    database, live): "ok", "full" (no space left) or "error"."""
    try:
        os.makedirs(folder, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".healthz-") as probe:
            probe.write(b"\0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        return "full" if error.errno in (errno.ENOSPC, errno.EDQUOT) else "error"
    return "ok"


@bp.get("/healthz")
def healthz():
    """200 when the app can serve: the database answers and the disk takes writes (503
    when not); "degraded" (200) while the shared rate-limit store is down."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except SQLAlchemyError as exc:
        db.session.rollback()
        return jsonify(status="unavailable", database="error", error=type(exc).__name__), 503
    folders = {current_app.config["MEDIA_ROOT"], current_app.instance_path}
    storage = next((state for state in map(_can_write, sorted(folders)) if state != "ok"), "ok")
    limits = ratelimit.check_store()
    body = {"database": "ok", "storage": storage, "limits": limits, "time": clock.now().isoformat()}
    if storage != "ok":
        return jsonify(status="unavailable", **body), 503
    return jsonify(status="degraded" if limits == "degraded" else "ok", **body)


def init_app(app: Flask) -> None:
    """Register the health route."""
    app.register_blueprint(bp)
