"""What stands open now, for the dashboard: cases open, late and supervised, by village
and by the department leading them."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import case as sql_case
from sqlalchemy import func, select

from server.db import db
from server.figures.partials import case_scope
from server.infra import clock
from server.models import Case, Department


@dataclass
class Standing:
    """What stands open now (fields of the same names in `Figures`)."""

    overdue_now: int = 0
    supervised_now: int = 0
    worst_villages: list[tuple[str, int, int]] = field(default_factory=list)  # name, open, late
    villages_now: list[tuple[int, str, int, int]] = field(default_factory=list)  # id, name, …
    late_by_department: list[tuple[int, str, int, int]] = field(default_factory=list)


def standing(village_names, village_id, category_ids) -> Standing:
    """What is open, late and supervised now. An open case is one with a running clock
    (ck_case_file_clock_iff_open): the queue's partial indexes serve this."""
    out = Standing()
    scope = case_scope(village_id, category_ids)
    moment = clock.now()
    # Two reads, each answered by one of the queue's indexes alone.
    open_rows = db.session.execute(
        select(
            Case.village_id,
            func.count(Case.id),
            func.sum(sql_case((Case.due_at < moment, 1), else_=0)),
        )
        .where(*scope, Case.due_at.is_not(None))
        .group_by(Case.village_id)
    ).all()
    out.overdue_now = sum(int(late or 0) for _v, _n, late in open_rows)
    out.supervised_now = (
        db.session.scalar(
            select(func.count())
            .select_from(Case)
            .where(*scope, Case.due_at.is_not(None), Case.supervised.is_(True))
        )
        or 0
    )
    out.worst_villages = sorted(
        ((village_names[v], n, int(late or 0)) for v, n, late in open_rows),
        key=lambda row: (-row[2], -row[1], row[0]),
    )[:10]
    # The town at a glance: every village, its open and late cases (a link each).
    counts = {v: (n, int(late or 0)) for v, n, late in open_rows}
    out.villages_now = [
        (v, name, *counts.get(v, (0, 0)))
        for v, name in sorted(village_names.items(), key=lambda i: i[0])
    ]
    # Lateness by the department that leads each open case.
    rows = db.session.execute(
        select(
            Department.id,
            Department.name,
            func.count(Case.id),
            func.sum(sql_case((Case.due_at < moment, 1), else_=0)),
        )
        .join(Department, Department.id == Case.lead_department_id)
        .where(*scope, Case.due_at.is_not(None))
        .group_by(Department.id, Department.name)
    ).all()
    out.late_by_department = sorted(
        ((d, name, n, int(late or 0)) for d, name, n, late in rows),
        key=lambda row: (-row[3], -row[2], row[1]),
    )
    return out
