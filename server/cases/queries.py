"""Reading cases: filtered, scoped by the access policy, paged by keyset (never OFFSET)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, or_, select, text

from server.cases import access
from server.cases.workflow import OPEN
from server.db import db
from server.infra import clock
from server.infra.errors import ValidationFailed
from server.models import Case, Category, User
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
    """The cases `user` may see, newest first, `limit` at a time after `cursor`."""
    limit = max(1, min(limit, MAX_PAGE))
    query = select(Case).where(access.case_filter(user))
    if filters.status:
        query = query.where(Case.status == filters.status)
    if filters.category:
        query = query.where(
            Case.category_id.in_(select(Category.id).where(Category.code == filters.category))
        )
    if filters.village is not None:
        query = query.where(Case.village_id == filters.village)
    if filters.overdue is True:
        query = query.where(Case.status.in_(OPEN), Case.due_at < clock.now())
    elif filters.overdue is False:
        query = query.where(or_(Case.due_at.is_(None), Case.due_at >= clock.now()))
    if filters.awaiting_review:
        query = query.where(text(AWAITING_REVIEW))
    if cursor:
        created, case_id = _decode(cursor)
        query = query.where(
            or_(Case.created_at < created, and_(Case.created_at == created, Case.id < case_id))
        )
    rows = db.session.scalars(
        query.order_by(Case.created_at.desc(), Case.id.desc()).limit(limit + 1)
    ).all()
    more = len(rows) > limit
    items = list(rows[:limit])
    return Page(items, _encode(items[-1]) if more and items else None)
