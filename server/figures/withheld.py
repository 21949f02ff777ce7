"""The small cells a reader of the town's figures does not see.

A confidential category's count in one village names a household ("东村 × 涉毒 = 1"),
so only the center reads such a cell (`access.sees_small_confidential_counts`). Every
page that shows `statistics.Figures` (the dashboard, the report and its Excel copy)
takes them from here, so that no page forgets a table: the report once printed the
village rows of a confidential category that the dashboard left out.

Narrowed to a village, a confidential category's count under the threshold is left out
of the categories; narrowed to a confidential category, each village's count under it is
left out of the villages, of the villages with the most open cases, of the departments
(a village committee serves one village), and of the map: every tile under the
threshold, none included, reads alike ("少于5件"), or a tile withheld beside tiles of 0
would name its village. Narrowed to both at once is refused (`access.check_breakdown`).
The published month (`disclosure`) has stricter rules of its own, for readers outside
the town's staff.
"""

from __future__ import annotations

import dataclasses

from sqlalchemy import select

from server.cases import access
from server.db import db
from server.figures.statistics import Figures
from server.models import Category, User


def note(threshold: int) -> str:
    """What a page that left such cells out says under its figures."""
    return f"保密类别在一个村里少于{threshold}件的数字不单独列出（调处中心可见）。"


def for_reader(
    figures: Figures,
    user: User,
    *,
    village_id: int | None,
    category: Category | None,
    threshold: int,
) -> Figures:
    """`figures` as `user` may read them: a copy without the small cells above."""
    if access.sees_small_confidential_counts(user):
        return figures
    secret = set(db.session.scalars(select(Category.name).where(Category.confidential)))
    if not secret:
        return figures
    changes: dict = {"small_cells_withheld": True}
    if village_id is not None:
        changes["received_by_category"] = {
            name: n
            for name, n in figures.received_by_category.items()
            if name not in secret or n >= threshold
        }
    if category is not None and category.confidential:
        changes["received_by_village"] = {
            name: n for name, n in figures.received_by_village.items() if n >= threshold
        }
        changes["worst_villages"] = [row for row in figures.worst_villages if row[1] >= threshold]
        changes["villages_now"] = [
            (id_, name, None, None) if open_ < threshold else (id_, name, open_, late)
            for id_, name, open_, late in figures.villages_now
        ]
        changes["late_by_department"] = [
            row for row in figures.late_by_department if row[2] >= threshold
        ]
    return dataclasses.replace(figures, **changes)
