"""`/healthz`: does the app answer, its database, its disk, its shared rate-limit store
(Redis), and are the sweep and the sender keeping up?

A route of the core (with /metrics): it reports on the core itself, for monitoring, and
needs no surface. 200 "ok" when all is well; 503 "unavailable" when the app cannot serve
(the database does not answer, the disk takes no writes); 503 "degraded" when it serves
but a person must look: Redis is down (rate limits count per process), a disk is nearly
full, the sweep or the sender has not succeeded for HEALTH_STALE_SECONDS, or a
notification due that long ago is still unsent. `problems` names each.

A job that never ran is a problem in production only: a development or test database
has no scheduler until one is started (`make run` starts one), and would otherwise answer
503 for ever. The outbox is judged only where the sender is expected to run.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile

from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from server.db import db
from server.follow_through import jobs
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


def _free_mb(folders) -> int:
    """The least free space, in MB, of the file systems holding `folders`."""
    return min(shutil.disk_usage(folder).free for folder in folders) // (1024 * 1024)


def _seconds(moment) -> int | None:
    return None if moment is None else max(0, int((clock.now() - moment).total_seconds()))


def _jobs(stale_after: int, production: bool) -> dict[str, dict]:
    """Each job's last runs, its age and its state: ok, stale, or never (not expected)."""
    states = {}
    for run in jobs.last_runs().values():
        age = _seconds(run.ok_at)
        if age is None:
            state = "stale" if production else "never"
        else:
            state = "ok" if age <= stale_after else "stale"
        states[run.name] = {
            "state": state,
            "last_ok": run.ok_at.isoformat() if run.ok_at else None,
            "age_seconds": age,
            "last_started": run.started_at.isoformat() if run.started_at else None,
            "last_error": run.error,
        }
    return states


@bp.get("/healthz")
def healthz():
    """200 when all is well; 503 "unavailable" when the app cannot serve, 503 "degraded"
    when it serves but something needs a person (see the module's note)."""
    try:
        db.session.execute(text("SELECT 1"))
        db.session.rollback()
    except SQLAlchemyError as exc:
        db.session.rollback()
        return jsonify(status="unavailable", database="error", error=type(exc).__name__), 503
    config = current_app.config
    folders = sorted({config["MEDIA_ROOT"], current_app.instance_path})
    storage = next((state for state in map(_can_write, folders) if state != "ok"), "ok")
    limits = ratelimit.check_store()
    stale_after = int(config["HEALTH_STALE_SECONDS"])
    job_states = _jobs(stale_after, production=config["ENV"] == "production")
    backlog = jobs.backlog()
    waited = _seconds(backlog.oldest_due_at)
    sender_expected = job_states.get(jobs.NOTIFY, {}).get("state") != "never"
    outbox_state = "stale" if sender_expected and (waited or 0) > stale_after else "ok"
    free_mb = _free_mb(folders)
    body = {
        "database": "ok",
        "storage": storage,
        "limits": limits,
        "redis": {"ok": "ok", "memory": "not used", "degraded": "down"}[limits],
        "disk": {
            "state": "ok" if free_mb >= int(config["HEALTH_MIN_FREE_MB"]) else "low",
            "free_mb": free_mb,
            "min_free_mb": int(config["HEALTH_MIN_FREE_MB"]),
        },
        "jobs": job_states,
        "outbox": {
            "state": outbox_state,
            "pending": backlog.pending,
            "oldest_due_seconds": waited,
            "dead": backlog.dead,
        },
        "overdue_steps": backlog.overdue_steps,
        "time": clock.now().isoformat(),
    }
    db.session.rollback()
    problems = [
        name
        for name, failing in (
            ("redis", body["redis"] == "down"),
            ("disk", body["disk"]["state"] != "ok"),
            *((f"job:{name}", job["state"] == "stale") for name, job in job_states.items()),
            ("outbox", outbox_state != "ok"),
        )
        if failing
    ]
    if storage != "ok":
        return jsonify(status="unavailable", problems=["storage", *problems], **body), 503
    if problems:
        return jsonify(status="degraded", problems=problems, **body), 503
    return jsonify(status="ok", problems=[], **body)


def init_app(app: Flask) -> None:
    """Register the health route."""
    app.register_blueprint(bp)
