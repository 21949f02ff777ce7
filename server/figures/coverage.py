"""The screening duty in a period, for the figures (排查无盲区): screenings filed, nil
returns, and the villages that met the duty in every month and every week of it."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select

from server.db import db
from server.figures.partials import villages_scope
from server.figures.periods import Period, month
from server.infra import clock
from server.models import Screening


@dataclass
class Coverage:
    """The screening figures of a period (fields of the same names in `Figures`)."""

    screenings: int = 0
    nil_returns: int = 0
    villages: int = 0
    villages_screened: int = 0  # the monthly duty met in every month of the period
    villages_screened_weekly: int | None = None  # the weekly duty, every whole week
    villages_missed: list[str] = field(default_factory=list)  # names, for the report


def coverage(
    period: Period,
    village_id,
    village_names: dict[int, str],
    required: int,
    required_weekly: int = 1,
) -> Coverage:
    """Screenings in the period, and the villages that met the duty in every month and in
    every week of it (排查无盲区): a year of two screenings meets no monthly minimum. The
    months and weeks counted are those the period holds whole and that have ended, or the
    period's own, when it holds none such."""
    out = Coverage()
    start, end = period.bounds
    scope = [Screening.screened_at >= start, Screening.screened_at < end]
    scope += villages_scope(Screening.village_id, village_id)
    tz = clock.town_tz()
    today = clock.local(clock.now()).date()
    per_village = Counter()
    per_month: Counter = Counter()
    per_week: Counter = Counter()
    for village, nil, at in db.session.execute(
        select(Screening.village_id, Screening.nil_return, Screening.screened_at).where(*scope)
    ):
        day = at.astimezone(tz).date()
        per_village[village] += 1
        per_month[village, day.year, day.month] += 1
        per_week[village, day - timedelta(days=day.weekday())] += 1
        out.screenings += 1
        out.nil_returns += bool(nil)
    months = [
        (y, m)
        for y, m in period.months()
        if date(y, m, 1) >= period.start and month(y, m).end <= min(period.end, today)
    ]
    first_monday = period.start + timedelta(days=-period.start.weekday() % 7)
    weeks = []
    monday = first_monday
    while monday + timedelta(days=7) <= min(period.end, today):
        weeks.append(monday)
        monday += timedelta(days=7)
    village_ids = [village_id] if isinstance(village_id, int) else sorted(village_names)
    out.villages = len(village_ids)

    def met(v) -> bool:
        if not months:  # a part of a month, or the month still running: its own count
            return per_village.get(v, 0) >= required
        return all(per_month.get((v, y, m), 0) >= required for y, m in months)

    out.villages_screened = sum(1 for v in village_ids if met(v))
    out.villages_missed = [village_names[v] for v in village_ids if not met(v)]
    out.villages_screened_weekly = (
        sum(
            1 for v in village_ids if all(per_week.get((v, w), 0) >= required_weekly for w in weeks)
        )
        if weeks
        else None
    )
    return out
