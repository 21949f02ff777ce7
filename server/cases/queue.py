"""The mediation center's triage queue: what to look at first, with counts (time left: lateness.py).

Open cases, urgent ones first, then by how soon (or how long ago) their running step is
due; paged by keyset on (urgent, due_at, id), so the hundredth page is as fast as the
first. Scoped by the access policy like every other read of cases.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import exists, func, literal_column, select, text, tuple_, union_all

from server.cases import access
from server.cases.workflow import ENDED, OPEN
from server.db import db
from server.infra import clock
from server.infra.errors import ValidationFailed
from server.models import (
    Case,
    CaseAssignment,
    CaseEvent,
    CaseStatus,
    Category,
    CategoryGroup,
    Role,
    Source,
    User,
)
from server.models.cases import AWAITING_REVIEW, DISTRICT_HELD, HELD

ENDED_VALUES = {s.value for s in ENDED}

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
    held: bool = False  # the reports held apart as a suspected flood (待甄别), only
    # Whose desk: "district", the cases escalated to the district's center (区级承办);
    # "town", those the town's center holds; None, both (`desk_of` gives each its own).
    desk: str | None = None


DESKS = ("district", "town")


def desk_of(user: User) -> str | None:
    """The desk a center's queue opens on: its own cases, those it may act on (the
    district's center's, what was escalated to it; a town's, what it has not handed up).
    Leaders and handlers see the whole of what they may read."""
    if user.role != Role.CENTER:
        return None
    return "district" if user.town_id is None else "town"


@dataclass
class QueuePage:
    items: list[Case]
    next_cursor: str | None


def _filtered(user: User, filters: QueueFilters, *, with_status: bool = True):
    # The held reports are read from their own partial index (its words, as literal SQL).
    held = text(HELD) if filters.held else Case.held_as_spam.is_(False)
    query = select(Case).where(access.case_filter(user), held)
    if filters.desk == "district":
        # The district's own few, from their partial index (its words) when open, and
        # the flag again as an equality that index leads with (models/cases.py).
        query = query.where(
            text("held_by_district") if filters.status in ENDED_VALUES else text(DISTRICT_HELD),
            Case.held_by_district.is_(True),
        )
    elif filters.desk == "town":
        query = query.where(Case.held_by_district.is_(False))
    if with_status:
        if filters.status:
            query = query.where(Case.status == filters.status)
        if filters.status not in ENDED_VALUES:
            # Open cases are exactly those with a running clock (a database check says so),
            # which lets the queue's partial indexes serve every open-case query.
            query = query.where(Case.due_at.is_not(None))
    if filters.village:
        query = query.where(Case.village_id == filters.village)
    if filters.category:
        # Looked up first: an equality on category_id lets the category index lead.
        category_id = db.session.scalar(
            select(Category.id).where(Category.code == filters.category)
        )
        query = query.where(Case.category_id == (category_id or -1))
    if filters.risk_level:
        query = query.where(Case.risk_level == filters.risk_level)
    department = _department(user, filters)
    if department is not None:
        held = _held(department)
        if held is not None:
            query = query.where(Case.id.in_(held))
        else:
            query = query.where(
                exists(
                    select(CaseAssignment.id)
                    .where(
                        CaseAssignment.case_id == Case.id,
                        CaseAssignment.department_id == department,
                        CaseAssignment.ended_at.is_(None),
                    )
                    .correlate_except(CaseAssignment)
                )
            )
    if filters.overdue:
        query = query.where(Case.due_at < clock.now())
    if filters.supervised:
        query = query.where(Case.supervised.is_(True))
    return query


# A department holding no more cases than this has them read by id and put in order;
# more, and the queue's index is walked in order (most of what it reads is theirs).
HELD_BY_ID = 2000


def _department(user: User, filters: QueueFilters) -> int | None:
    """Whose current work the queue shows: a handler's own department's (its queue is what
    it holds now; cases it handed on are in its list of cases), or the center's filter."""
    if user.role == Role.HANDLER:  # the policy's own answer (-1, no case, when inactive)
        return access.department_reach(user) or -1
    return filters.department or None


def _held(department: int) -> list[int] | None:
    """The cases `department` holds now, from its open assignments' index, when they are
    few enough to read one by one; None when walking the queue's index costs less."""
    held = db.session.scalars(
        select(CaseAssignment.case_id)
        .where(CaseAssignment.department_id == department, CaseAssignment.ended_at.is_(None))
        .limit(HELD_BY_ID + 1)
    ).all()
    return sorted(set(held)) if len(held) <= HELD_BY_ID else None


def _encode(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(cursor: str) -> list:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(values, list) or len(values) not in (2, 3):
            raise ValueError
        return values
    except (ValueError, TypeError):
        raise ValidationFailed("翻页参数无效。", code="invalid_cursor") from None


def _moment(text) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValidationFailed("翻页参数无效。", code="invalid_cursor") from None


def page(
    user: User, filters: QueueFilters, *, cursor: str | None = None, limit: int = PAGE_SIZE
) -> QueuePage:
    """One page of the queue for `user`.

    Open cases come in two runs, urgent then the rest, each in (due_at, id) order and
    each a seek on an index from the cursor on: page 1000 costs what page 1 costs.
    """
    base = _filtered(user, filters)
    if filters.status in ENDED_VALUES:
        # Finished cases have no clock: most recently changed first.
        query = base
        if cursor:
            updated, case_id = _decode(cursor)[:2]
            query = query.where(tuple_(Case.updated_at, Case.id) < (_moment(updated), case_id))
        rows = list(
            db.session.scalars(
                query.order_by(Case.updated_at.desc(), Case.id.desc()).limit(limit + 1)
            )
        )
        more = len(rows) > limit
        rows = rows[:limit]
        last = rows[-1] if rows else None
        return QueuePage(
            rows, _encode([last.updated_at.isoformat(), last.id]) if more and last else None
        )

    runs, after = [True, False], None
    if cursor:
        urgent, due, case_id = [*_decode(cursor), None][:3]
        if not isinstance(urgent, bool) or not isinstance(case_id, int):
            raise ValidationFailed("翻页参数无效。", code="invalid_cursor")
        runs = [True, False] if urgent else [False]
        after = (_moment(due), case_id)
    rows: list[Case] = []
    for index, urgent in enumerate(runs):
        query = base.where(Case.urgent == urgent)
        if after is not None and index == 0:
            query = query.where(tuple_(Case.due_at, Case.id) > after)
        wanted = limit + 1 - len(rows)
        rows += db.session.scalars(
            query.order_by(Case.due_at.asc(), Case.id.asc()).limit(wanted)
        ).all()
        if len(rows) > limit:
            break
    more = len(rows) > limit
    rows = rows[:limit]
    last = rows[-1] if rows else None
    return QueuePage(
        rows, _encode([last.urgent, last.due_at.isoformat(), last.id]) if more and last else None
    )


def with_district_count(user: User) -> int:
    """Open cases of `user`'s town the district's center holds now (escalated), for the
    town's queue, which no longer lists them."""
    return (
        db.session.scalar(
            select(func.count(Case.id)).where(access.case_filter(user), text(DISTRICT_HELD))
        )
        or 0
    )


def held_count(user: User) -> int:
    """Open reports held apart as a suspected flood, for the queue's banner."""
    return (
        db.session.scalar(select(func.count(Case.id)).where(access.case_filter(user), text(HELD)))
        or 0
    )


def counts(user: User, filters: QueueFilters) -> dict[str, int]:
    """Open cases per status under the same filters (the status filter aside).

    Finished cases are not counted here: they are the great majority, and counting them
    on every page view would cost more than the page itself.
    """
    if filters.desk == "town":
        # What the town holds: all its open cases (read from the status index alone)
        # less the few the district holds (from their own partial index), rather than a
        # test of every open case's row.
        everything = counts(user, replace(filters, desk=None))
        up = counts(user, replace(filters, desk="district"))
        return {status: n - up[status] for status, n in everything.items()}
    base = _filtered(user, filters, with_status=False).where(Case.due_at.is_not(None))
    # One count per status rather than a GROUP BY: each is a range of the status index,
    # where grouping under a village or category filter would sort in a temporary B-tree.
    # The counts go as one statement (UNION ALL, each arm tagged with its status's place:
    # a union's rows come in no promised order). Sent one by one (twelve on a town's
    # desk) they were about a sixth of the queue page's CPU, half of it SQLAlchemy's work
    # on each statement; as one, the page's median fell 2-20 % (three runs, 1M cases).
    statuses = [status for status in CaseStatus if status in OPEN]
    arms = [
        base.where(Case.status == status).with_only_columns(
            literal_column(str(place)), func.count(Case.id)
        )
        for place, status in enumerate(statuses)
    ]
    counted = dict(db.session.execute(union_all(*arms)).all())
    return {status.value: counted[place] for place, status in enumerate(statuses)}


@dataclass
class ReviewItem:
    """Something a department or the reporter asked of the center, awaiting its answer."""

    case: Case
    kind: str  # complaint, return, extension
    label: str
    since: datetime | None
    text: str | None  # what they wrote


# kind -> (label, the event that asked, the case column that holds it open)
REVIEW_KINDS = {
    "complaint": ("群众不满意，待复核", ("answer_follow_up", "complain"), "complaint_at"),
    "return": ("部门申请退回，待审核", ("return",), "return_requested_at"),
    "extension": ("部门申请延期，待审批", ("request_extension",), "extension_requested_until"),
}


def awaiting_review(user: User, *, desk: str | None = None, limit: int = 50) -> list[ReviewItem]:
    """What awaits the center's review (不满意重办, 退单审核, 延期审批), oldest first, with
    what was asked: read from the partial index of such cases, then their asking events;
    on a desk (`QueueFilters.desk`), that desk's cases only (the center holding a case
    decides on it)."""
    query = select(Case).where(text(AWAITING_REVIEW), access.case_filter(user))
    if desk is not None:
        query = query.where(Case.held_by_district.is_(desk == "district"))
    cases = db.session.scalars(query.order_by(Case.created_at, Case.id).limit(limit)).all()
    return _review_items(cases)


def reviews_of(case: Case) -> dict[str, ReviewItem]:
    """What awaits the center's review on `case`, by kind (complaint, return, extension)."""
    return {item.kind: item for item in _review_items([case])}


def _review_items(cases: list[Case]) -> list[ReviewItem]:
    """The review items of `cases`, with what was asked, read in one query."""
    if not cases:
        return []
    asked = {}
    actions = [a for _label, names, _column in REVIEW_KINDS.values() for a in names]
    # The cases' own events (a few each, through ix_case_event_case_at), picked and put
    # in order here: asked in SQL for these actions in id order, SQLite read every such
    # event of the town (the figures' index by action) for each queue page: 240 ms at a
    # million cases. Only the columns an item shows: whole events (their JSON data
    # decoded, an ORM object each) took about a tenth of the queue page's time.
    events = db.session.execute(
        select(
            CaseEvent.id, CaseEvent.case_id, CaseEvent.action, CaseEvent.at, CaseEvent.note
        ).where(CaseEvent.case_id.in_([c.id for c in cases]))
    ).all()
    for event in sorted(events, key=lambda e: e.id):
        if event.action in actions:
            asked[event.case_id, event.action] = event  # the latest of each
    items = []
    for case in cases:
        for kind, (label, names, column) in REVIEW_KINDS.items():
            if getattr(case, column) is None:
                continue
            event = max(
                (asked[case.id, a] for a in names if (case.id, a) in asked),
                key=lambda e: e.id,
                default=None,
            )
            items.append(
                ReviewItem(
                    case, kind, label, event.at if event else None, event.note if event else None
                )
            )
    return sorted(items, key=lambda item: (item.since is None, item.since or 0, item.case.id))


# The actions a figure counts cases by, as the dashboard links to them.
COUNTED_BY = {
    "submit": "收到",
    "accept": "受理",
    "resolve": "办结",
    "close": "结案",
    "reopen": "重开",
    "record_visit": "回访",
}


def counted_page(
    user: User,
    action: str,
    start: datetime,
    end: datetime,
    *,
    village: int | None = None,
    category: str | None = None,
    group: str | None = None,
    source: str | None = None,
    repeat: bool = False,
    cursor: str | None = None,
    limit: int = PAGE_SIZE,
) -> QueuePage:
    """The cases a figure counts: those with an `action` event in [start, end), at any
    status, newest first (the dashboard's numbers and bars link here), narrowed like the
    figure was (a village, a category, a group of categories, a source). Read from the events'
    index (action, at), then the cases by id; paged by id."""
    if action not in COUNTED_BY:
        raise ValidationFailed("未知的统计项。", code="invalid_parameter", field="event")
    ids = select(CaseEvent.case_id).where(
        CaseEvent.action == action, CaseEvent.at >= start, CaseEvent.at < end
    )
    query = select(Case).where(Case.id.in_(ids), access.case_filter(user))
    if village is not None:
        query = query.where(Case.village_id == village)
    if category:
        query = query.where(
            Case.category_id.in_(select(Category.id).where(Category.code == category))
        )
    if group:
        if group not in {g.value for g in CategoryGroup}:
            raise ValidationFailed("未知的类别分组。", code="invalid_parameter", field="group")
        query = query.where(
            Case.category_id.in_(select(Category.id).where(Category.group == CategoryGroup(group)))
        )
    if source:
        if source not in {s.value for s in Source}:
            raise ValidationFailed("未知的来源。", code="invalid_parameter", field="source")
        query = query.where(Case.source == Source(source))
    if repeat:  # as statistics counts them: neither merged nor rejected
        query = query.where(
            Case.repeat_dispute.is_(True),
            Case.status.not_in([CaseStatus.MERGED, CaseStatus.REJECTED]),
        )
    if action == "submit":  # a merged duplicate counts nowhere
        query = query.where(Case.status != CaseStatus.MERGED)
    if cursor:
        values = _decode(cursor)
        if not isinstance(values[0], int):
            raise ValidationFailed("翻页参数无效。", code="invalid_cursor")
        query = query.where(Case.id < values[0])
    rows = list(db.session.scalars(query.order_by(Case.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return QueuePage(rows, _encode([rows[-1].id, 0]) if more and rows else None)


def new_urgent(user: User, since: datetime) -> list[Case]:
    """Urgent or emergency reports submitted since `since` and not yet accepted."""
    query = (
        select(Case)
        .where(
            access.case_filter(user),
            Case.status == CaseStatus.SUBMITTED,
            Case.urgent.is_(True),
            Case.created_at > since,
        )
        .order_by(Case.created_at.desc())
    )
    return list(db.session.scalars(query.limit(20)).all())
