"""The scheduled jobs' own record: when the sweep and the sender last started, finished
and succeeded (the `job_run` table), and the figures of what they leave behind (overdue
steps, the outbox's backlog and dead letters).

What /healthz and /metrics say is read from here, so every worker and machine answers the
same. A run writes its row twice (at its start and at its end), each in a commit of its
own beside the job's own commits, and only ever updates it: the rows are made by the
migration, so two runs at once never race to insert one.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, update

from server.db import db
from server.infra import clock
from server.models import Case, JobRun, Notification

SWEEP, NOTIFY = "sweep", "notify"
JOBS = (SWEEP, NOTIFY)


def _write(name: str, **values) -> None:
    """Update the job's row and commit it on its own (inserted if it is missing)."""
    done = db.session.execute(update(JobRun).where(JobRun.name == name).values(**values))
    if not done.rowcount:
        db.session.add(JobRun(name=name, **values))
    db.session.commit()


def recorded(name: str):
    """Decorate a job's run: its start, its end, and the kind of error it ended with are
    kept in its `job_run` row. The error is re-raised: the caller still sees it fail."""

    def decorate(run):
        @functools.wraps(run)
        def wrapper(*args, **kwargs):
            _write(name, last_started_at=clock.now())
            try:
                result = run(*args, **kwargs)
            except Exception as error:
                db.session.rollback()
                # The class only: an exception's message may quote a row (a name, a phone).
                _write(name, last_finished_at=clock.now(), last_error=type(error).__name__)
                raise
            now = clock.now()
            _write(name, last_finished_at=now, last_ok_at=now, last_error=None)
            return result

        return wrapper

    return decorate


@dataclass(frozen=True)
class Run:
    """A job's last runs, as /healthz and /metrics tell them."""

    name: str
    started_at: datetime | None
    finished_at: datetime | None
    ok_at: datetime | None
    error: str | None


def last_runs() -> dict[str, Run]:
    """Every known job's last runs (a job that never ran has no times)."""
    rows = {row.name: row for row in db.session.scalars(select(JobRun))}
    runs = {}
    for name in sorted(set(JOBS) | set(rows)):
        row = rows.get(name)
        runs[name] = Run(
            name,
            row.last_started_at if row else None,
            row.last_finished_at if row else None,
            row.last_ok_at if row else None,
            row.last_error if row else None,
        )
    return runs


@dataclass(frozen=True)
class Backlog:
    """What the jobs have still to do: the outbox's pending and dead messages, and the
    running steps past their deadline."""

    pending: int
    # The oldest pending message whose time to be sent has come (not one waiting for its
    # retry): how long it has waited. None when nothing is due.
    oldest_due_at: datetime | None
    dead: int
    overdue_steps: int


def backlog() -> Backlog:
    """Count the outbox's backlog and dead letters, and the overdue steps (three queries
    on indexed columns)."""
    now = clock.now()
    by_status = dict(
        db.session.execute(
            select(Notification.status, func.count(Notification.id))
            .where(Notification.status.in_(["pending", "dead"]))
            .group_by(Notification.status)
        ).all()
    )
    oldest_due = db.session.scalar(
        select(func.min(Notification.next_attempt_at)).where(
            Notification.status == "pending", Notification.next_attempt_at <= now
        )
    )
    overdue = db.session.scalar(
        select(func.count(Case.id)).where(Case.due_at.is_not(None), Case.due_at <= now)
    )
    return Backlog(
        pending=by_status.get("pending", 0),
        oldest_due_at=oldest_due,
        dead=by_status.get("dead", 0),
        overdue_steps=overdue or 0,
    )
