"""The town's figures, computed from the events (the case file is the source of truth).

A period is a half-open range of days [start, end) on the town's calendar. Counting rules:
- a report counts once, in the period it was submitted; a merged duplicate never counts;
- accepted / resolved / closed count distinct cases with that event in the period, so a
  case reopened and resolved again counts once;
- a step is on time when the event that ended it came no later than the due time it ran
  against (recorded on the event; working days and holidays are already in it);
- 化解率 (resolution rate): disputes closed as resolved / disputes closed;
  mediation success: disputes whose last result in the period is "mediated" / disputes
  resolved in the period.
"""

from __future__ import annotations

import statistics as stats
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import case as sql_case
from sqlalchemy import distinct, func, or_, select

from server import clock
from server.extensions import db
from server.models import (
    Case,
    CaseStatus,
    Category,
    CategoryGroup,
    ClosingReason,
    ResultCode,
    Screening,
    Source,
    Village,
)
from server.models import (
    CaseEvent as Event,
)

STEP_LABELS = {"accept": "受理", "dispatch": "派遣", "sign_for": "签收", "handle": "处置",
               "verify": "核查", "follow_up": "回访"}


@dataclass
class Period:
    """Days [start, end) on the town's calendar, with a name for pages."""

    start: date
    end: date
    label: str

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        tz = clock.town_tz()
        return (datetime.combine(self.start, time(0), tzinfo=tz),
                datetime.combine(self.end, time(0), tzinfo=tz))

    def months(self) -> list[tuple[int, int]]:
        out, day = [], self.start.replace(day=1)
        while day < self.end:
            out.append((day.year, day.month))
            day = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
        return out


def month(year: int, number: int) -> Period:
    end = date(year + (number == 12), number % 12 + 1, 1)
    return Period(date(year, number, 1), end, f"{year}年{number}月")


def quarter(year: int, number: int) -> Period:
    start = date(year, 3 * number - 2, 1)
    end = date(year + (number == 4), (3 * number) % 12 + 1, 1)
    return Period(start, end, f"{year}年第{number}季度")


def year(number: int) -> Period:
    return Period(date(number, 1, 1), date(number + 1, 1, 1), f"{number}年")


@dataclass
class Figures:
    """Everything the dashboard, the reports and the disclosure show for a period."""

    period: Period
    received: int = 0
    received_by_source: dict[str, int] = field(default_factory=dict)
    received_by_group: dict[str, int] = field(default_factory=dict)
    received_by_category: dict[str, int] = field(default_factory=dict)
    received_by_village: dict[str, int] = field(default_factory=dict)
    trend: list[tuple[str, int]] = field(default_factory=list)
    accepted: int = 0
    resolved: int = 0
    closed: int = 0
    disputes_handled: int = 0
    disputes_closed: int = 0
    disputes_closed_resolved: int = 0
    mediations: int = 0
    mediations_succeeded: int = 0
    hazards_found: int = 0
    hazards_removed: int = 0
    on_time: dict[str, tuple[int, int]] = field(default_factory=dict)  # step -> (on time, all)
    hours_to_accept: tuple[float | None, float | None] = (None, None)  # median, p90
    hours_to_resolve: tuple[float | None, float | None] = (None, None)
    hours_to_close: tuple[float | None, float | None] = (None, None)
    overdue_now: int = 0
    supervised_now: int = 0
    follow_ups: int = 0
    satisfied: int = 0
    answered: int = 0
    screenings: int = 0
    nil_returns: int = 0
    villages: int = 0
    villages_screened: int = 0
    worst_villages: list[tuple[str, int, int]] = field(default_factory=list)  # name, open, late

    @staticmethod
    def rate(part: int, whole: int) -> float | None:
        return part / whole if whole else None

    @property
    def resolution_rate(self) -> float | None:
        return self.rate(self.disputes_closed_resolved, self.disputes_closed)

    @property
    def mediation_success(self) -> float | None:
        return self.rate(self.mediations_succeeded, self.mediations)

    @property
    def satisfaction_rate(self) -> float | None:
        return self.rate(self.satisfied, self.answered)

    @property
    def coverage_rate(self) -> float | None:
        return self.rate(self.villages_screened, self.villages)


def _quantiles(values: list[float]) -> tuple[float | None, float | None]:
    if not values:
        return None, None
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered) + 0.999999) - 1)]
    return round(stats.median(ordered), 1), round(p90, 1)


def compute(period: Period, *, village_id: int | None = None,
            category_code: str | None = None, required_screenings: int = 2) -> Figures:
    """The figures of `period`, optionally for one village or category.

    Every count is done by the database over the indexes made for it (ix_case_file_received,
    ix_case_event_figures, ix_case_event_steps): a year of a million-case town is never
    read into Python, only the times to accept, resolve and close (for their percentiles).
    """
    start, end = period.bounds
    figures = Figures(period)
    categories = {c.id: c for c in db.session.scalars(select(Category))}
    disputes = [cid for cid, c in categories.items() if c.group == CategoryGroup.DISPUTE]
    village_names = dict(db.session.execute(select(Village.id, Village.name)).all())
    category_ids = ([cid for cid, c in categories.items() if c.code == category_code]
                    if category_code else None)

    # Received: submitted in the period; a merged duplicate never counts.
    received = [Case.status != CaseStatus.MERGED]
    if village_id:
        received.append(Case.village_id == village_id)
    if category_ids is not None:
        received.append(Case.category_id.in_(category_ids))
    by_source, by_group, by_category, by_village = Counter(), Counter(), Counter(), Counter()
    for source, category_id, village, n in db.session.execute(
            select(Case.source, Case.category_id, Case.village_id, func.count())
            .where(*received, Case.created_at >= start, Case.created_at < end)
            .group_by(Case.source, Case.category_id, Case.village_id)):
        category = categories[category_id]
        figures.received += n
        by_source[Source(source).label] += n
        by_group[category.group.label] += n
        by_category[category.name] += n
        by_village[village_names[village]] += n
        figures.hazards_found += n * (category.group != CategoryGroup.DISPUTE)
    figures.received_by_source = dict(by_source)
    figures.received_by_group = dict(by_group)
    figures.received_by_category = dict(by_category.most_common())
    figures.received_by_village = dict(by_village.most_common())
    figures.trend = []
    for y, m in period.months():
        first, after = month(y, m).bounds
        if len(figures.trend) == 0 and after >= end and first <= start:
            count = figures.received  # the period is this one month
        else:
            count = db.session.scalar(select(func.count()).select_from(Case).where(
                *received, Case.created_at >= max(first, start),
                Case.created_at < min(after, end))) or 0
        figures.trend.append((f"{y}-{m:02d}", count))

    # Events in the period: their own columns say which village and category they count for.
    in_period = [Event.at >= start, Event.at < end]
    if village_id:
        in_period.append(Event.village_id == village_id)
    if category_ids is not None:
        in_period.append(Event.category_id.in_(category_ids))
    # A case resolved twice in the period counts once: by its first resolve in the period.
    first_in_period = or_(Event.previous_at.is_(None), Event.previous_at < start)
    counted = ("accept", "resolve", "close")
    dispute = Event.category_id.in_(disputes)
    first_mediated = 0
    for action, category_id, result, n in db.session.execute(
            select(Event.action, Event.category_id, Event.result, func.count())
            .where(Event.action.in_(counted), *in_period, first_in_period)
            .group_by(Event.action, Event.category_id, Event.result)):
        is_dispute = category_id in disputes
        if action == "accept":
            figures.accepted += n
        elif action == "resolve":
            figures.resolved += n
            if is_dispute:
                figures.mediations += n
                first_mediated += n * (result == ResultCode.MEDIATED.value)
        else:
            figures.closed += n
            figures.disputes_closed += n * is_dispute

    def distinct_cases(*where) -> int:
        return db.session.scalar(select(func.count(distinct(Event.case_id))).where(
            *in_period, *where)) or 0

    figures.disputes_handled = distinct_cases(Event.action.in_(counted), dispute)
    figures.disputes_closed_resolved = distinct_cases(
        Event.action == "close", dispute, Event.result == ClosingReason.RESOLVED.value)
    figures.hazards_removed = distinct_cases(
        Event.action == "resolve", Event.category_id.not_in(disputes),
        Event.result == ResultCode.HAZARD_REMOVED.value)
    # A mediation succeeds by the last result of the period: the first one (counted above)
    # is corrected for the few disputes resolved more than once in it.
    again = select(Event.case_id).where(Event.action == "resolve", *in_period,
                                        Event.previous_at >= start)
    results: dict[int, list[str | None]] = defaultdict(list)
    for case_id, result in db.session.execute(
            select(Event.case_id, Event.result)
            .where(Event.action == "resolve", *in_period, dispute, Event.case_id.in_(again))
            .order_by(Event.case_id, Event.at, Event.id)):
        results[case_id].append(result)
    mediated = ResultCode.MEDIATED.value
    figures.mediations_succeeded = first_mediated + sum(
        (seen[-1] == mediated) - (seen[0] == mediated) for seen in results.values())

    # Hours from the report to each case's first accept, resolve and close in the period.
    hours: dict[str, list[float]] = defaultdict(list)
    for action, seconds in db.session.execute(
            select(Event.action, Event.seconds_since_report)
            .where(Event.action.in_(counted), *in_period, first_in_period)):
        hours[action].append(seconds / 3600)
    figures.hours_to_accept = _quantiles(hours["accept"])
    figures.hours_to_resolve = _quantiles(hours["resolve"])
    figures.hours_to_close = _quantiles(hours["close"])

    # On time: each status change against the step clock it ran on (a merge ends a
    # duplicate, which counts nowhere).
    on_time = db.session.execute(
        select(Event.step, func.sum(sql_case((Event.at <= Event.step_due_at, 1), else_=0)),
               func.count())
        .where(Event.step.is_not(None), *in_period, Event.action != "merge")
        .group_by(Event.step))
    figures.on_time = {step: (int(kept or 0), n) for step, kept, n in on_time}

    # Follow-ups and the satisfaction heard at them (a visit, or the reporter's answer).
    for action, result, n in db.session.execute(
            select(Event.action, Event.result, func.count())
            .where(Event.action.in_(("record_visit", "answer_follow_up")), *in_period)
            .group_by(Event.action, Event.result)):
        figures.follow_ups += n * (action == "record_visit")
        if result:
            figures.answered += n
            figures.satisfied += n * (result in {"satisfied", "basically_satisfied"})

    # Now: what is open, late and supervised.
    # An open case is one with a running clock (ck_case_file_clock_iff_open): the queue's
    # partial indexes serve this.
    scope = received[1:]
    now = clock.now()
    open_rows = db.session.execute(
        select(Case.village_id, func.count(Case.id),
               func.sum(sql_case((Case.due_at < now, 1), else_=0)),
               func.sum(sql_case((Case.supervised.is_(True), 1), else_=0)))
        .where(*scope, Case.due_at.is_not(None)).group_by(Case.village_id)).all()
    figures.overdue_now = sum(int(late or 0) for _v, _n, late, _s in open_rows)
    figures.supervised_now = sum(int(sup or 0) for _v, _n, _l, sup in open_rows)
    figures.worst_villages = sorted(
        ((village_names[v], n, int(late or 0)) for v, n, late, _s in open_rows),
        key=lambda row: (-row[2], -row[1], row[0]))[:10]

    # Screenings.
    screen_scope = [Screening.screened_at >= start, Screening.screened_at < end]
    if village_id:
        screen_scope.append(Screening.village_id == village_id)
    per_village = Counter()
    for village, nil, n in db.session.execute(
            select(Screening.village_id, Screening.nil_return, func.count())
            .where(*screen_scope).group_by(Screening.village_id, Screening.nil_return)):
        per_village[village] += n
        figures.screenings += n
        figures.nil_returns += n * bool(nil)
    village_ids = [village_id] if village_id else list(village_names)
    figures.villages = len(village_ids)
    figures.villages_screened = sum(1 for v in village_ids
                                    if per_village.get(v, 0) >= required_screenings)
    return figures


def parse_period(kind: str, value: str, *, start: str = "", end: str = "") -> Period:
    """A period from a form: month (2026-11), quarter (2026-Q4), year (2026) or custom."""
    today = clock.local(clock.now()).date()
    try:
        if kind == "year":
            return year(int(value or today.year))
        if kind == "quarter":
            y, q = (value or f"{today.year}-Q{(today.month - 1) // 3 + 1}").split("-Q")
            return quarter(int(y), int(q))
        if kind == "custom":
            first, last = date.fromisoformat(start), date.fromisoformat(end)
            if last < first:
                raise ValueError
            return Period(first, last + timedelta(days=1), f"{first}至{last}")
        y, m = (value or f"{today.year}-{today.month:02d}").split("-")
        return month(int(y), int(m))
    except (ValueError, TypeError):
        return month(today.year, today.month)


def disclosure(period: Period, *, threshold: int = 5) -> dict:
    """The month's public figures (每月一公开): by group and by village, with no count small
    enough to point at a person: a cell below `threshold` reads "<5", and villages below it
    are merged into one row (itself shown as "<5" if still small)."""
    figures = compute(period)

    def shown(value: int) -> str:
        return f"<{threshold}" if 0 < value < threshold else str(value)

    groups = [(label, shown(figures.received_by_group.get(label, 0)))
              for label in (g.label for g in CategoryGroup)]
    big = [(name, n) for name, n in figures.received_by_village.items() if n >= threshold]
    small = sum(n for _name, n in figures.received_by_village.items() if n < threshold)
    villages = [(name, str(n)) for name, n in big]
    if small:
        villages.append(("其他各村（合计）", shown(small)))
    return {"period": period, "received": shown(figures.received),
            "resolved": shown(figures.resolved), "closed": shown(figures.closed),
            "resolution_rate": figures.resolution_rate, "groups": groups,
            "villages": villages, "screenings": shown(figures.screenings),
            "threshold": threshold}
