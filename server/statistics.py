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
from sqlalchemy import func, select

from server import clock
from server.extensions import db
from server.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Category,
    CategoryGroup,
    ClosingReason,
    ResultCode,
    Screening,
    Source,
    Village,
)
from server.workflow import OPEN

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
    """The figures of `period`, optionally for one village or category."""
    start, end = period.bounds
    figures = Figures(period)
    scope = [Case.status != CaseStatus.MERGED]
    if village_id:
        scope.append(Case.village_id == village_id)
    if category_code:
        scope.append(Case.category_id.in_(select(Category.id).where(
            Category.code == category_code)))

    # Received: submitted in the period.
    rows = db.session.execute(
        select(Case.id, Case.source, Case.created_at, Category.group, Category.name,
               Village.name).join(Category).join(Village)
        .where(*scope, Case.created_at >= start, Case.created_at < end)).all()
    figures.received = len(rows)
    figures.received_by_source = dict(Counter(Source(r[1]).label for r in rows))
    figures.received_by_group = dict(Counter(CategoryGroup(r[3]).label for r in rows))
    figures.received_by_category = dict(Counter(r[4] for r in rows).most_common())
    figures.received_by_village = dict(Counter(r[5] for r in rows).most_common())
    per_month = Counter((clock.local(r[2]).year, clock.local(r[2]).month) for r in rows)
    figures.trend = [(f"{y}-{m:02d}", per_month.get((y, m), 0)) for y, m in period.months()]
    figures.hazards_found = sum(1 for r in rows if CategoryGroup(r[3]) != CategoryGroup.DISPUTE)

    # Events in the period, for the cases in scope: plain columns, not ORM objects, as a
    # year holds hundreds of thousands of them.
    events = db.session.execute(
        select(CaseEvent.case_id, CaseEvent.action, CaseEvent.at, CaseEvent.data,
               Case.created_at, Category.group).join(Case, CaseEvent.case_id == Case.id)
        .join(Category, Case.category_id == Category.id)
        .where(*scope, CaseEvent.at >= start, CaseEvent.at < end)
        .order_by(CaseEvent.id)).all()
    accepted, resolved, closed = set(), set(), set()
    last_result: dict[int, str] = {}
    disputes_closed, disputes_closed_resolved, removed = set(), set(), set()
    dispute_cases: set[int] = set()
    on_time: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    satisfied = answered = 0
    to_accept, to_resolve, to_close = [], [], []
    dispute_group = CategoryGroup.DISPUTE.value
    for case_id, action, at, data, created_at, group in events:
        dispute = (group.value if hasattr(group, "value") else group) == dispute_group
        if dispute:
            dispute_cases.add(case_id)
        data = data or {}
        if "step_due_at" in data:
            tally = on_time[data["step"]]
            tally[1] += 1
            tally[0] += at <= datetime.fromisoformat(data["step_due_at"])
        if action == "accept" and case_id not in accepted:
            accepted.add(case_id)
            to_accept.append((at - created_at).total_seconds() / 3600)
        elif action == "resolve":
            if case_id not in resolved:
                to_resolve.append((at - created_at).total_seconds() / 3600)
            resolved.add(case_id)
            last_result[case_id] = data.get("result_code", "")
            if not dispute and data.get("result_code") == ResultCode.HAZARD_REMOVED.value:
                removed.add(case_id)
        elif action == "close":
            if case_id not in closed:
                to_close.append((at - created_at).total_seconds() / 3600)
            closed.add(case_id)
            if dispute:
                disputes_closed.add(case_id)
                if data.get("closing_reason") == ClosingReason.RESOLVED.value:
                    disputes_closed_resolved.add(case_id)
        elif action in {"record_visit", "answer_follow_up"}:
            figures.follow_ups += action == "record_visit"
            if data.get("satisfaction"):
                answered += 1
                satisfied += data["satisfaction"] in {"satisfied", "basically_satisfied"}
    figures.accepted, figures.resolved, figures.closed = len(accepted), len(resolved), len(closed)
    figures.disputes_handled = len(dispute_cases & (accepted | resolved | closed))
    figures.disputes_closed = len(disputes_closed)
    figures.disputes_closed_resolved = len(disputes_closed_resolved)
    mediated = {cid for cid in resolved if cid in dispute_cases}
    figures.mediations = len(mediated)
    figures.mediations_succeeded = sum(1 for cid in mediated
                                       if last_result.get(cid) == ResultCode.MEDIATED.value)
    figures.hazards_removed = len(removed)
    figures.on_time = {step: (tally[0], tally[1]) for step, tally in on_time.items()}
    figures.hours_to_accept = _quantiles(to_accept)
    figures.hours_to_resolve = _quantiles(to_resolve)
    figures.hours_to_close = _quantiles(to_close)
    figures.satisfied, figures.answered = satisfied, answered

    # Now: what is open, late and supervised.
    now = clock.now()
    open_rows = db.session.execute(
        select(Village.name, func.count(Case.id),
               func.sum(sql_case((Case.due_at < now, 1), else_=0)))
        .join(Village).where(*scope, Case.status.in_(OPEN)).group_by(Village.name)).all()
    figures.overdue_now = db.session.scalar(select(func.count(Case.id)).where(
        *scope, Case.status.in_(OPEN), Case.due_at < now)) or 0
    figures.supervised_now = db.session.scalar(select(func.count(Case.id)).where(
        *scope, Case.status.in_(OPEN), Case.supervised.is_(True))) or 0
    figures.worst_villages = sorted(((name, n, int(late or 0)) for name, n, late in open_rows),
                                    key=lambda row: (-row[2], -row[1], row[0]))[:10]

    # Screenings.
    screen_scope = [Screening.screened_at >= start, Screening.screened_at < end]
    if village_id:
        screen_scope.append(Screening.village_id == village_id)
    screened = db.session.execute(select(Screening.village_id, Screening.nil_return)
                                  .where(*screen_scope)).all()
    figures.screenings = len(screened)
    figures.nil_returns = sum(1 for _v, nil in screened if nil)
    per_village = Counter(v for v, _nil in screened)
    village_ids = [village_id] if village_id else db.session.scalars(select(Village.id)).all()
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
