"""The mediation center's triage queue: what to look at first, with counts and time left.

Open cases, urgent ones first, then by how soon (or how long ago) their running step is
due; paged by keyset on (urgent, due_at, id), so the hundredth page is as fast as the
first. Scoped by the access policy like every other read of cases.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, false, func, or_, select

from server import access, clock
from server.deadlines import WorkCalendar
from server.errors import ValidationFailed
from server.extensions import db
from server.models import Case, CaseAssignment, CaseStatus, Category, User
from server.workflow import ENDED, OPEN

PAGE_SIZE = 50


@dataclass
class QueueFilters:
    """What the queue may be narrowed by (all optional)."""

    status: str | None = None
    village: int | None = None
    category: str | None = None
    risk_level: str | None = None
    department: int | None = None
    overdue: bool = False
    supervised: bool = False


@dataclass
class QueuePage:
    items: list[Case]
    next_cursor: str | None


def _filtered(user: User, filters: QueueFilters, *, with_status: bool = True):
    query = select(Case).where(access.case_filter(user))
    if with_status:
        if filters.status:
            query = query.where(Case.status == filters.status)
        else:
            query = query.where(Case.status.in_(OPEN))
    if filters.village:
        query = query.where(Case.village_id == filters.village)
    if filters.category:
        query = query.where(Case.category_id.in_(
            select(Category.id).where(Category.code == filters.category)))
    if filters.risk_level:
        query = query.where(Case.risk_level == filters.risk_level)
    if filters.department:
        query = query.where(Case.id.in_(
            select(CaseAssignment.case_id).where(CaseAssignment.department_id == filters.department,
                                                 CaseAssignment.ended_at.is_(None))))
    if filters.overdue:
        query = query.where(Case.due_at < clock.now())
    if filters.supervised:
        query = query.where(Case.supervised.is_(True))
    return query


def _cursor(case: Case) -> str:
    raw = json.dumps([case.urgent, case.due_at.isoformat() if case.due_at else None, case.id])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _after(cursor: str):
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        urgent, due, case_id = json.loads(base64.urlsafe_b64decode(padded))
        due_at = datetime.fromisoformat(due) if due else None
        if not isinstance(urgent, bool) or not isinstance(case_id, int):
            raise ValueError
    except (ValueError, TypeError):
        raise ValidationFailed("翻页参数无效。", code="invalid_cursor") from None
    later = Case.id > case_id if due_at is None else or_(
        Case.due_at > due_at, and_(Case.due_at == due_at, Case.id > case_id))
    same_urgency = Case.urgent.is_(True) if urgent else Case.urgent.is_(False)
    return or_(and_(same_urgency, later), Case.urgent.is_(False) if urgent else false())


def page(user: User, filters: QueueFilters, *, cursor: str | None = None,
         limit: int = PAGE_SIZE) -> QueuePage:
    """One page of the queue for `user`."""
    query = _filtered(user, filters)
    if filters.status in {s.value for s in ENDED}:
        # Finished cases have no clock: newest first.
        query = query.order_by(Case.updated_at.desc(), Case.id.desc())
        rows = db.session.scalars(query.limit(limit)).all()
        return QueuePage(list(rows), None)
    if cursor:
        query = query.where(_after(cursor))
    query = query.order_by(Case.urgent.desc(), Case.due_at.asc(), Case.id.asc()).limit(limit + 1)
    rows = list(db.session.scalars(query).all())
    more = len(rows) > limit
    rows = rows[:limit]
    return QueuePage(rows, _cursor(rows[-1]) if more and rows else None)


def counts(user: User, filters: QueueFilters) -> dict[str, int]:
    """Cases per status under the same filters (the status filter aside)."""
    query = _filtered(user, filters, with_status=False).with_only_columns(
        Case.status, func.count(Case.id)).group_by(Case.status)
    found = {status.value if hasattr(status, "value") else status: n
             for status, n in db.session.execute(query).all()}
    return {s.value: found.get(s.value, 0) for s in CaseStatus}


def new_urgent(user: User, since: datetime) -> list[Case]:
    """Urgent or emergency reports submitted since `since` and not yet accepted."""
    query = select(Case).where(access.case_filter(user), Case.status == CaseStatus.SUBMITTED,
                               Case.urgent.is_(True), Case.created_at > since
                               ).order_by(Case.created_at.desc())
    return list(db.session.scalars(query.limit(20)).all())


def time_left(case: Case, *, calendar: WorkCalendar, now: datetime | None = None) -> dict | None:
    """How long the running step has left (or is over), as the queue shows it.

    Under a day: hours; beyond: working days, counted on the calendar.
    """
    if case.due_at is None or case.status not in OPEN:
        return None
    now = now or clock.now()
    late = case.due_at < now
    gap = abs(case.due_at - now)
    state = "overdue" if late else ("warn" if case.warn_at and case.warn_at <= now else "ok")
    if gap < timedelta(days=1):
        hours = max(1, round(gap.total_seconds() / 3600))
        text = f"{hours}小时"
    else:
        start, end = sorted([now, case.due_at])
        days, day = 0, clock.local(start).date()
        stop = clock.local(end).date()
        while day < stop and days < 1000:
            day = calendar.next_workday(day)
            if day <= stop:
                days += 1
        text = f"{max(days, 1)}个工作日"
    return {"state": state, "text": ("超期" if late else "剩余") + text}
