"""The triage queue: the center's home page (a handler sees their department's cases)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import g, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from admin.blueprint import bp, id_value, require
from server.cases import access, lateness
from server.cases import queue as triage
from server.db import db
from server.infra import clock, codes
from server.infra.errors import ValidationFailed
from server.models import (
    CaseStatus,
    Category,
    CategoryGroup,
    Department,
    RiskLevel,
    Role,
    Source,
    Village,
)
from server.organisation import reference

CASE_ROLES = (Role.CENTER, Role.LEADER, Role.HANDLER)


def _int(name: str) -> int | None:
    return id_value(request.args.get(name), name)


def _filters() -> triage.QueueFilters:
    status = request.args.get("status") or None
    risk = request.args.get("risk_level") or None
    return triage.QueueFilters(
        status=status if status in {s.value for s in CaseStatus} else None,
        village=_int("village"),
        category=request.args.get("category") or None,
        risk_level=risk if risk in {r.value for r in RiskLevel} else None,
        department=_int("department"),
        overdue=request.args.get("overdue") == "1",
        supervised=request.args.get("supervised") == "1",
        held=request.args.get("held") == "1",
        desk=_desk(),
    )


def _desk() -> str | None:
    """?desk=district|town|all, else the desk the user's queue opens on."""
    asked = request.args.get("desk")
    if asked == "all":
        return None
    return asked if asked in triage.DESKS else triage.desk_of(g.user)


@bp.get("/")
@require(*CASE_ROLES, Role.ADMIN, Role.SECURITY_ADMIN, Role.AUDITOR)
def index():
    """The queue: new and open cases, urgent and nearest their deadline first."""
    landing = {
        Role.ADMIN: "admin.villages",
        Role.SECURITY_ADMIN: "admin.users",
        Role.AUDITOR: "admin.audit_log",
    }.get(g.user.role)
    if landing:  # the three duties read no cases: each lands on its own work
        return redirect(url_for(landing))
    filters = _filters()
    page = triage.page(g.user, filters, cursor=request.args.get("after") or None)
    calendar = reference.calendar()
    rows = [(case, lateness.time_left(case, calendar=calendar)) for case in page.items]
    return render_template(
        "admin/queue.html",
        rows=rows,
        page=page,
        filters=filters,
        counts=triage.counts(g.user, filters),
        statuses=list(CaseStatus),
        # The reports held apart are the town's to sift: not on the district's desk.
        held=triage.held_count(g.user) if filters.desk != "district" else 0,
        with_district=triage.with_district_count(g.user) if filters.desk == "town" else 0,
        reviews=triage.awaiting_review(g.user, desk=filters.desk)
        if g.user.role != Role.HANDLER
        else [],
        villages=db.session.scalars(
            select(Village)
            .where(access.in_users_town(g.user, Village.town_id))
            .order_by(Village.code)
        ).all(),
        categories=db.session.scalars(select(Category).order_by(Category.sort_order)).all(),
        departments=db.session.scalars(
            select(Department)
            .where(Department.active.is_(True), access.in_users_town(g.user, Department.town_id))
            .order_by(Department.kind, Department.name)
        ).all(),
        risk_levels=list(RiskLevel),
        display=codes.display,
        now=clock.now(),
        args=request.args,
        # The desk asked for, checked: kept on the status links and the filter form.
        desk=request.args.get("desk") if request.args.get("desk") in ASKABLE_DESKS else None,
    )


ASKABLE_DESKS = (*triage.DESKS, "all")


@bp.get("/counted")
@require(*CASE_ROLES)
def counted():
    """The cases a figure of the dashboard counts (?event=accept&from=…&to=…)."""

    action = request.args.get("event", "")
    try:
        first = date.fromisoformat(request.args.get("from", ""))
        last = date.fromisoformat(request.args.get("to", ""))
    except ValueError:
        raise ValidationFailed("请给出起止日期，例如 2026-11-01。", code="invalid_period") from None
    clock.check_year(first, "from")
    clock.check_year(last, "to")
    tz = clock.town_tz()
    start = datetime.combine(first, time(0), tzinfo=tz)
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=tz)
    village = id_value(request.args.get("village"), "village")
    page = triage.counted_page(
        g.user,
        action,
        start,
        end,
        village=village,
        category=request.args.get("category") or None,
        group=request.args.get("group") or None,
        source=request.args.get("source") or None,
        repeat=request.args.get("repeat") == "1",
        cursor=request.args.get("after") or None,
    )
    return render_template(
        "admin/counted.html",
        page=page,
        display=codes.display,
        label=triage.COUNTED_BY[action],
        first=first,
        last=last,
        scope=_counted_scope(village),
        args=request.args,
    )


def _counted_scope(village: int | None) -> str:
    """The narrowing of a counted list, in words for its heading ('' for the town)."""
    words = []
    if village is not None and (found := db.session.get(Village, village)):
        words.append(found.name)
    if code := request.args.get("category"):
        found = db.session.scalar(select(Category).where(Category.code == code))
        words.append(found.name if found else code)
    if group := request.args.get("group"):
        words.append(CategoryGroup(group).label)
    if source := request.args.get("source"):
        words.append(Source(source).label)
    if request.args.get("repeat") == "1":
        words.append("重复纠纷")
    return "·".join(words)


@bp.get("/queue/urgent.json")
@require(*CASE_ROLES)
def urgent_since():
    """New urgent reports since `since` (the queue page asks every half minute)."""
    try:
        since = datetime.fromisoformat(request.args.get("since", ""))
        clock.check_year(since)
    except (ValueError, ValidationFailed):  # the page sends what it was given: its own
        since = clock.now() - timedelta(minutes=10)
    if since.tzinfo is None:
        since = since.replace(tzinfo=clock.now().tzinfo)
    cases = triage.new_urgent(g.user, since)
    return jsonify(
        now=clock.now().isoformat(),
        cases=[
            {"code": codes.display(c.code), "category": c.category.name, "village": c.village.name}
            for c in cases
        ],
    )
