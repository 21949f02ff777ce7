"""Likely duplicates of a report, for the center deciding whether to merge (合并).

Same village and category within recent days, similar words, or the same parties: the
usual ways one dispute arrives twice (a villager and the grid worker both report it).
"""

from __future__ import annotations

from datetime import timedelta
from difflib import SequenceMatcher

from sqlalchemy import select

from server.cases import access
from server.cases.workflow import OPEN
from server.db import db
from server.models import Case, CaseParty, User

RECENT = timedelta(days=14)
PARTY_WINDOW = timedelta(days=180)


def likely_duplicates(case: Case, *, viewer: User, limit: int = 5) -> list[tuple[Case, list[str]]]:
    """Open cases that may be the same matter as `case`, best first, with the reasons."""
    nearby = db.session.scalars(
        select(Case)
        .where(
            Case.id != case.id,
            Case.status.in_(OPEN),
            Case.village_id == case.village_id,
            Case.category_id == case.category_id,
            Case.created_at >= case.created_at - RECENT,
            access.case_filter(viewer),
        )
        .limit(50)
    ).all()
    keys = [p.name_key for p in case.parties if p.name_key]
    same_parties = (
        db.session.scalars(
            select(Case)
            .join(CaseParty)
            .where(
                Case.id != case.id,
                Case.status.in_(OPEN),
                CaseParty.name_key.in_(keys or ["\0"]),
                Case.created_at >= case.created_at - PARTY_WINDOW,
                access.case_filter(viewer),
            )
            .distinct()
            .limit(50)
        ).all()
        if keys
        else []
    )
    scored: dict[int, tuple[float, Case, list[str]]] = {}
    for other in {c.id: c for c in [*nearby, *same_parties]}.values():
        reasons, score = [], 0.0
        if other.village_id == case.village_id and other.category_id == case.category_id:
            reasons.append("同村同类")
            score += 1
        similarity = SequenceMatcher(None, case.description, other.description).ratio()
        if similarity >= 0.5:
            reasons.append(f"描述相似（{similarity:.0%}）")
            score += similarity * 2
        shared = sorted({p.name for p in other.parties if p.name_key in set(keys)})
        if shared:
            reasons.append("相同当事人：" + "、".join(shared))
            score += 2
        if reasons:
            scored[other.id] = (score, other, reasons)
    best = sorted(scored.values(), key=lambda item: (-item[0], -item[1].id))[:limit]
    return [(other, reasons) for _score, other, reasons in best]
