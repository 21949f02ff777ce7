"""What stands open now, for the dashboard: cases open, late and supervised, by village
and by the department leading them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import case as sql_case
from sqlalchemy import func, select

from server.db import db
from server.figures.partials import case_scope
from server.infra import clock
from server.models import Case, Department

if TYPE_CHECKING:  # the figures it fills in import this module
    from server.figures.statistics import Figures


def add_standing(figures: Figures, village_names, village_id, category_ids) -> None:
    """What is open, late and supervised now. An open case is one with a running clock
    (ck_case_file_clock_iff_open): the queue's partial indexes serve this."""
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
    figures.overdue_now = sum(int(late or 0) for _v, _n, late in open_rows)
    figures.supervised_now = (
        db.session.scalar(
            select(func.count())
            .select_from(Case)
            .where(*scope, Case.due_at.is_not(None), Case.supervised.is_(True))
        )
        or 0
    )
    figures.worst_villages = sorted(
        ((village_names[v], n, int(late or 0)) for v, n, late in open_rows),
        key=lambda row: (-row[2], -row[1], row[0]),
    )[:10]
    # The town at a glance: every village, its open and late cases (a link each).
    counts = {v: (n, int(late or 0)) for v, n, late in open_rows}
    figures.villages_now = [
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
    figures.late_by_department = sorted(
        ((d, name, n, int(late or 0)) for d, name, n, late in rows),
        key=lambda row: (-row[3], -row[2], row[1]),
    )
