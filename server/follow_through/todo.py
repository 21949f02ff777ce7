"""我的待办: what one person in the field has to do now, for the workbench's home page.

Read through the access policy and decided by the workflow: a case is on someone's list
because an action of theirs is allowed on it now (sign for it, handle it, visit it), not
by a second set of rules. With it: how soon each running step is due, this week's
screening of the person's villages, and their unread messages.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from server.cases import access, workflow
from server.db import db
from server.follow_through import inbox, screening
from server.infra import clock
from server.models import (
    Case,
    CaseAssignment,
    CaseEvent,
    CaseStatus,
    Notification,
    Role,
    Screening,
    User,
    Village,
)

# A running step due within this long is shown yellow (red once it is late).
DUE_SOON = timedelta(hours=24)
# More than this many open cases in a person's reach is a list, not a to-do.
LIMIT = 200

# The workbench's buckets, by the action that puts a case in them.
SIGN = {"sign_for"}
HANDLE = {"resolve", "feedback"}
VISIT = {"record_visit"}


@dataclass
class Item:
    case: Case
    actions: list[str]
    due: str  # "overdue", "soon" or "ok"


@dataclass
class VillageWeek:
    village: Village
    done: int
    required: int
    nil_returns: int

    @property
    def complete(self) -> bool:
        return self.done >= self.required


@dataclass
class Todo:
    to_sign: list[Item] = field(default_factory=list)
    in_hand: list[Item] = field(default_factory=list)
    visits: list[Item] = field(default_factory=list)
    screening: list[VillageWeek] = field(default_factory=list)
    week_start: datetime | None = None
    unread: int = 0
    messages: list[Notification] = field(default_factory=list)
    truncated: bool = False  # more than LIMIT cases: the list says so


def _due(case: Case, now: datetime) -> str:
    if case.due_at is None:
        return "ok"
    if case.due_at < now:
        return "overdue"
    return "soon" if case.due_at - now <= DUE_SOON else "ok"


def _candidates(user: User):
    """The open cases that may need `user` now, narrowed in SQL by role, so the limit cuts
    nothing that matters: a department's cases still on its desk, a village's visits."""
    query = select(Case).where(access.case_filter(user))
    if user.role == Role.HANDLER:
        query = query.where(
            Case.status.in_([CaseStatus.DISPATCHED, CaseStatus.IN_PROGRESS]),
            Case.id.in_(
                select(CaseAssignment.case_id).where(
                    CaseAssignment.department_id == user.department_id,
                    CaseAssignment.ended_at.is_(None),
                )
            ),
        )
    elif user.role == Role.GRID_WORKER:
        query = query.where(Case.status == CaseStatus.FOLLOW_UP)
    else:
        return None  # the center and leaders work from the admin's queue
    return (
        query.options(selectinload(Case.assignments))
        .order_by(Case.due_at.is_(None), Case.due_at, Case.id)
        .limit(LIMIT + 1)
    )


def _visited(cases: list[Case]) -> set[int]:
    """Cases whose follow-up visit was recorded since they were last verified: the
    visit is done, though the case waits for the center to close it."""
    ids = [c.id for c in cases if c.status == CaseStatus.FOLLOW_UP]
    if not ids:
        return set()
    last = dict(
        db.session.execute(
            select(CaseEvent.case_id, func.max(CaseEvent.at))
            .where(CaseEvent.case_id.in_(ids), CaseEvent.action == "verify")
            .group_by(CaseEvent.case_id)
        ).all()
    )
    visits = db.session.execute(
        select(CaseEvent.case_id, func.max(CaseEvent.at))
        .where(CaseEvent.case_id.in_(ids), CaseEvent.action == "record_visit")
        .group_by(CaseEvent.case_id)
    ).all()
    return {case_id for case_id, at in visits if last.get(case_id) is None or at >= last[case_id]}


def for_user(user: User, *, required_per_week: int) -> Todo:
    """The to-do of `user` now: most pressing first within each bucket."""
    now = clock.now()
    todo = Todo()
    query = _candidates(user)
    cases = list(db.session.scalars(query)) if query is not None else []
    todo.truncated = len(cases) > LIMIT
    cases = cases[:LIMIT]
    done = _visited(cases)
    for case in cases:
        actions = {t.action for t in workflow.allowed_actions(case, user)}
        item = Item(case, sorted(actions), _due(case, now))
        if actions & SIGN:
            todo.to_sign.append(item)
        elif actions & HANDLE:
            todo.in_hand.append(item)
        elif actions & VISIT and case.id not in done:
            todo.visits.append(item)
    if user.role == Role.GRID_WORKER:
        todo.week_start, todo.screening = _this_week(user, required_per_week)
    todo.unread = inbox.unread_count(user)
    todo.messages = [n for n in inbox.latest(user, limit=5) if n.read_at is None]
    return todo


def _this_week(user: User, required: int) -> tuple[datetime, list[VillageWeek]]:
    """This week's screenings (Monday first) of each village the grid worker covers."""
    today = clock.local(clock.now()).date()
    week = screening.weeks(today, 1, required)[0]
    since = datetime.combine(week.start, time(0), tzinfo=clock.town_tz())
    villages = db.session.scalars(
        select(Village)
        .where(Village.id.in_(user.village_ids or {-1}), Village.active.is_(True))
        .order_by(Village.code)
    ).all()
    rows = db.session.execute(
        select(
            Screening.village_id,
            func.count(Screening.id),
            func.count(Screening.id).filter(Screening.nil_return.is_(True)),
        )
        .where(
            Screening.screened_at >= since,
            Screening.village_id.in_([v.id for v in villages] or [-1]),
        )
        .group_by(Screening.village_id)
    ).all()
    counts = {village_id: (n, nil) for village_id, n, nil in rows}
    return since, [
        VillageWeek(v, counts.get(v.id, (0, 0))[0], required, counts.get(v.id, (0, 0))[1])
        for v in villages
    ]
