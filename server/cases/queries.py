"""Reading cases: filtered, scoped by the access policy, paged by keyset (never OFFSET)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select, text, tuple_

from server.cases import access
from server.db import db
from server.infra import clock
from server.infra.errors import ValidationFailed
from server.models import Case, CaseAssignment, Category, User
from server.models.cases import AWAITING_REVIEW

MAX_PAGE = 100


@dataclass
class CaseFilters:
    """What a list of cases may be narrowed by."""

    status: str | None = None
    category: str | None = None
    village: int | None = None
    overdue: bool | None = None
    # Only what awaits the center's review: a return, an extension, a complaint.
    awaiting_review: bool = False


@dataclass
class Page:
    items: list[Case]
    next_cursor: str | None


def _encode(case: Case) -> str:
    raw = json.dumps([case.created_at.isoformat(), case.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> tuple[datetime, int]:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        created, case_id = json.loads(base64.urlsafe_b64decode(padded.encode()))
        moment = datetime.fromisoformat(created)
        if moment.tzinfo is None or not isinstance(case_id, int):
            raise ValueError
    except (ValueError, TypeError, json.JSONDecodeError):
        raise ValidationFailed("翻页参数无效。", code="invalid_cursor", field="cursor") from None
    return moment, case_id


def list_cases(
    user: User, filters: CaseFilters, *, limit: int = 20, cursor: str | None = None
) -> Page:
    """The cases `user` may see, newest first, `limit` at a time after `cursor`.

    Each list is read in order from an index that matches how it is narrowed, from the
    cursor on, so it reads about what it shows whatever the size of the table: everyone's
    by (created_at, id), a village's, a status's or a category's by that column first, the
    open ones from partial indexes of open cases, and a department's from its assignments
    (a handler's cases are those sent to the department). The access policy still decides
    every row.
    """
    limit = max(1, min(limit, MAX_PAGE))
    after = _decode(cursor) if cursor else None
    department = access.department_reach(user)
    if department is not None and not filters.awaiting_review:
        # The join on the department's assignments is the policy's rule for this user.
        # (What awaits review is few cases in the whole town: read from its own index.)
        rows = _department_cases(department, filters, after, limit + 1)
    else:
        conditions = [access.case_filter(user), *_conditions(filters)]
        arms = access.village_scope(user)
        if filters.village is not None or arms is None or len(arms) == 1:
            rows = _newest(conditions, after, limit + 1)
        else:
            rows = _newest_of_villages(sorted(arms), conditions, after, limit + 1)
    more = len(rows) > limit
    items = list(rows[:limit])
    return Page(items, _encode(items[-1]) if more and items else None)


def _conditions(filters: CaseFilters, status=Case.status, village=Case.village_id) -> list:
    """The filters as conditions on the case row (open ⇔ a running clock, a database
    check says so: an overdue case is one whose clock ran out); its status and village on
    other columns where given (the copies an assignment carries)."""
    conditions = []
    if filters.status:
        # Alone: a status's own index serves it. With `due_at IS NOT NULL` beside it,
        # PostgreSQL took the two for independent, guessed 30 times too few rows and
        # sorted them all from the wrong index.
        conditions.append(status == filters.status)
    if filters.category:
        # Looked up first: an equality on category_id lets the category's index lead.
        category_id = db.session.scalar(
            select(Category.id).where(Category.code == filters.category)
        )
        conditions.append(Case.category_id == (category_id or -1))
    if filters.village is not None:
        conditions.append(village == filters.village)
    if filters.overdue is True:
        # `due_at < now` is enough for both databases to use the partial indexes of open
        # cases (it implies due_at IS NOT NULL); saying both made PostgreSQL count the one
        # condition twice, guess a handful of rows and sort them all.
        conditions.append(Case.due_at < clock.now())
    elif filters.overdue is False:
        conditions.append(or_(Case.due_at.is_(None), Case.due_at >= clock.now()))
    if filters.awaiting_review:
        conditions.append(text(AWAITING_REVIEW))
    return conditions


def _before(created_at, case_id, after: tuple[datetime, int] | None) -> list:
    """The keyset condition: strictly after the cursor in newest-first order."""
    if after is None:
        return []
    return [tuple_(created_at, case_id) < after]


def _newest(conditions: list, after, wanted: int) -> list[Case]:
    return db.session.scalars(
        select(Case)
        .where(*conditions, *_before(Case.created_at, Case.id, after))
        .order_by(Case.created_at.desc(), Case.id.desc())
        .limit(wanted)
    ).all()


def _newest_of_villages(villages: list[int], conditions: list, after, wanted: int) -> list[Case]:
    """Several villages' cases, newest first: each village's newest `wanted` from its own
    index, then the few merged (an IN over villages would sort all their cases)."""
    ids: list[tuple[datetime, int]] = []
    for village in villages:
        ids += db.session.execute(
            select(Case.created_at, Case.id)
            .where(Case.village_id == village, *conditions)
            .where(*_before(Case.created_at, Case.id, after))
            .order_by(Case.created_at.desc(), Case.id.desc())
            .limit(wanted)
        ).all()
    chosen = [case_id for _at, case_id in sorted(ids, reverse=True)[:wanted]]
    by_id = {c.id: c for c in db.session.scalars(select(Case).where(Case.id.in_(chosen)))}
    return [by_id[case_id] for case_id in chosen]


def _department_cases(department_id: int | None, filters: CaseFilters, after, wanted: int):
    """A department's cases, newest first, driven from its assignments' indexes, which
    hold each case's received time, status, village and openness: its cases of one
    status, of one village, its open ones (for those overdue), or all. The table's other
    cases are never read: a department's few rejected cases are not looked for among every
    rejected case of the town. A case sent to the department twice has two assignments,
    side by side in that order: one is kept."""
    conditions = _conditions(
        filters, status=CaseAssignment.case_status, village=CaseAssignment.case_village_id
    )
    if filters.overdue is True:
        # The partial index's own words, as literal SQL.
        conditions.append(text("case_assignment.case_open"))
    rows: list[Case] = []
    seen: set[int] = set()
    while len(rows) < wanted:
        batch = db.session.execute(
            select(CaseAssignment.case_created_at, CaseAssignment.case_id, Case)
            .join(Case, Case.id == CaseAssignment.case_id)
            .where(CaseAssignment.department_id == department_id, *conditions)
            .where(*_before(CaseAssignment.case_created_at, CaseAssignment.case_id, after))
            .order_by(CaseAssignment.case_created_at.desc(), CaseAssignment.case_id.desc())
            .limit(wanted)
        ).all()
        for created_at, case_id, case in batch:
            if case_id not in seen:
                seen.add(case_id)
                rows.append(case)
            after = (created_at, case_id)
        if len(batch) < wanted:
            break
    return rows[:wanted]
