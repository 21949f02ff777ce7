"""The in-app inbox and the supervision list (督办)."""

from __future__ import annotations

from flask import current_app, g, redirect, render_template, url_for
from sqlalchemy import func, select

from admin.blueprint import bp, require
from server.cases import access, lateness
from server.db import db
from server.follow_through import inbox as messages
from server.follow_through import screening
from server.infra import clock, codes
from server.models import Case, CaseEvent, Role, Screening, User
from server.organisation import reference


@bp.get("/inbox")
@require()
def inbox():
    """The user's notifications, newest first."""
    notes = messages.latest(g.user, limit=200)
    cases = messages.cases_of(g.user, notes)
    return render_template("admin/inbox.html", notes=notes, cases=cases, display=codes.display)


@bp.post("/inbox/read")
@require()
def inbox_read():
    """Mark every notification read."""
    messages.mark_read(g.user)
    return redirect(url_for("admin.inbox"))


@bp.get("/supervision")
@require(Role.CENTER, Role.LEADER)
def supervision():
    """Supervised open cases: how late each is and how often it was chased."""
    chases = (
        select(CaseEvent.case_id, func.count(CaseEvent.id).label("n"))
        .where(CaseEvent.action.in_(["supervise", "chase"]))
        .group_by(CaseEvent.case_id)
        .subquery()
    )
    rows = db.session.execute(
        select(Case, chases.c.n)
        .outerjoin(chases, chases.c.case_id == Case.id)
        .where(access.case_filter(g.user), Case.supervised.is_(True), Case.due_at.is_not(None))
        .order_by(Case.due_at)
    ).all()
    calendar, now = reference.calendar(), clock.now()
    rows = [
        (case, chased, lateness.time_left(case, calendar=calendar, now=now))
        for case, chased in rows
    ]
    return render_template("admin/supervision.html", rows=rows, display=codes.display)


@bp.get("/coverage")
@require(Role.CENTER, Role.LEADER, Role.ADMIN)
def coverage():
    """Screening coverage (排查无盲区): villages x weeks and months; gaps highlighted."""

    today = clock.local(clock.now()).date()
    config = current_app.config
    week_periods = screening.weeks(today, 8, int(config["SCREENINGS_PER_WEEK"]))
    month_periods = screening.months(today, 3, int(config["SCREENINGS_PER_MONTH"]))

    recent = db.session.execute(
        select(Screening, User)
        .join(User, User.id == Screening.user_id)
        .where(screening.seen_by(g.user))
        .order_by(Screening.screened_at.desc())
        .limit(30)
    ).all()
    return render_template(
        "admin/coverage.html",
        weeks=week_periods,
        months=month_periods,
        by_week=screening.coverage(week_periods, g.user),
        by_month=dict(screening.coverage(month_periods, g.user)),
        today=today,
        recent=recent,
    )
