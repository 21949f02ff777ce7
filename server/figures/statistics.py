"""The town's figures, computed from the events (the case file is the source of truth).

A period is a half-open range of days [start, end) on the town's calendar. Counting rules:
- a report counts once, in the period it was submitted; a merged duplicate never counts;
- accepted / resolved / closed count distinct cases with that event in the period, so a
  case reopened and resolved again counts once; so do "disputes handled" (accepted,
  resolved or closed), "mediated successfully" (a resolve with result mediated), "hazards
  removed" and "closed as resolved";
- a step is on time when the event that ended it came no later than the due time it ran
  against (recorded on the event; working days and holidays are already in it);
- 化解率 (resolution rate): disputes closed as resolved / disputes closed;
  mediation success: disputes mediated successfully / disputes resolved;
- reopened: distinct cases reopened in the period (a case reopened twice counts once, and
  still once as a case received, accepted, resolved); 重开率 (reopen rate): reopened /
  resolved in the period, as the hotline's 重办率 counts it;
- repeat disputes: disputes received in the period between the same parties as an
  earlier one (server/cases/repeats.py), counted afresh like the reports received.

How, at a million cases: each event carries, as columns, when its case last had the same
action (and the same result, and any counted action). A case counts once in a period by
its one event there whose previous time is before the period, so counting needs no
DISTINCT, and a month's counts can be kept with the previous times' month (a `Partial`):
a quarter or a year adds up its months, each read from `MonthlyFigures` once the month is
over (the sweep keeps them) and counted from the indexes otherwise; the reports received
are counted afresh each time.
"""

from __future__ import annotations

import re
import statistics as stats
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import case as sql_case
from sqlalchemy import delete, func, or_, select, text
from sqlalchemy.exc import IntegrityError

from server.cases.workflow.table import COUNTED_ACTIONS
from server.db import db
from server.infra import clock
from server.infra.errors import ValidationFailed
from server.models import (
    Case,
    CaseStatus,
    Category,
    CategoryGroup,
    ClosingReason,
    Department,
    MonthlyFigures,
    ResultCode,
    Screening,
    Source,
    Step,
    Village,
)
from server.models import (
    CaseEvent as Event,
)

STEP_LABELS = {
    "accept": "受理",
    "dispatch": "派遣",
    "sign_for": "签收",
    "handle": "处置",
    "verify": "核查",
    "follow_up": "回访",
}


@dataclass
class Period:
    """Days [start, end) on the town's calendar, with a name for pages."""

    start: date
    end: date
    label: str

    @property
    def bounds(self) -> tuple[datetime, datetime]:
        tz = clock.town_tz()
        return (
            datetime.combine(self.start, time(0), tzinfo=tz),
            datetime.combine(self.end, time(0), tzinfo=tz),
        )

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
    hazards_found: int = 0  # public-security and safety hazards (not enforcement)
    hazards_removed: int = 0
    enforcement_found: int = 0  # 综合执法: illegal building, fishing, burning, …
    enforcement_handled: int = 0  # resolved: the town's "参与…各项活动N起"
    enforcement_by_category: list[str] = field(default_factory=list)  # the kinds received
    on_time: dict[str, tuple[int, int]] = field(default_factory=dict)  # step -> (on time, all)
    late_open: dict[str, int] = field(default_factory=dict)  # step -> open and late (in all)
    hours_to_accept: tuple[float | None, float | None] = (None, None)  # median, p90
    hours_to_resolve: tuple[float | None, float | None] = (None, None)
    hours_to_close: tuple[float | None, float | None] = (None, None)
    overdue_now: int = 0
    supervised_now: int = 0
    reopened: int = 0
    disputes_reopened: int = 0
    repeat_disputes: int = 0
    follow_ups: int = 0
    satisfied: int = 0
    answered: int = 0
    screenings: int = 0
    nil_returns: int = 0
    villages: int = 0
    villages_screened: int = 0  # the monthly duty met in every month of the period
    villages_screened_weekly: int | None = None  # the weekly duty, every whole week
    villages_missed: list[str] = field(default_factory=list)  # names, for the report
    worst_villages: list[tuple[str, int, int]] = field(default_factory=list)  # name, open, late
    villages_now: list[tuple[int, str, int, int]] = field(default_factory=list)  # id, name,
    # open, late: every village
    late_by_department: list[tuple[int, str, int, int]] = field(default_factory=list)
    # id, name, open, late: each department leading open cases

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
    def reopen_rate(self) -> float | None:
        return self.rate(self.reopened, self.resolved)

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


# Counted once per case by a resolve or close with this result, each by the previous time
# of the same action with the same result: key -> (action, result).
_BY_RESULT = {
    "mediated": ("resolve", ResultCode.MEDIATED.value),
    "removed": ("resolve", ResultCode.HAZARD_REMOVED.value),
    "closed_resolved": ("close", ClosingReason.RESOLVED.value),
}


@dataclass
class Partial:
    """What the events of a range of time [start, end) add to any period containing it.

    Only events: they are written at the moment they happen and never change, so a month
    that is over keeps its partial for good. The reports received are counted afresh
    each time (a duplicate merged later, a report reclassified at acceptance, change them).

    A count "once per case" is kept by the *bucket* of its event's previous time: the
    number of the range's `marks` (period starts it may belong to, ascending, the last
    being its own start) at or before that time, 0 when there is none. In a period that
    starts at marks[j], the event counts when its bucket is at most j.
    """

    once: list[list] = field(default_factory=list)  # [key, bucket, dispute, n]
    seconds: dict[str, dict[str, list[int]]] = field(default_factory=dict)  # key->bucket->
    on_time: dict[str, list[int]] = field(default_factory=dict)  # step -> [kept, all]
    follow_ups: list[list] = field(default_factory=list)  # [action, satisfaction, n]

    # Bumped when what a partial holds changes: kept rows of an older version are ignored
    # (counted again) until the sweep replaces them. 3: reopened cases; 4: enforcement
    # counted apart from hazards.
    VERSION = 4

    def as_json(self) -> dict:
        return {
            "once": self.once,
            "seconds": self.seconds,
            "on_time": self.on_time,
            "follow_ups": self.follow_ups,
        }


def _marks_of_month(first: date) -> list[datetime]:
    """The starts of the 12 months that end with `first`'s: a year or a quarter containing
    this month starts at one of them."""
    number = first.year * 12 + first.month - 1
    tz = clock.town_tz()
    return [datetime(n // 12, n % 12 + 1, 1, tzinfo=tz) for n in range(number - 11, number + 1)]


def _bucket(column, marks: list[datetime]):
    """SQL: how many of `marks` are at or before `column` (0 when NULL)."""
    whens = [(column >= mark, len(marks) - i) for i, mark in enumerate(reversed(marks))]
    return sql_case((column.is_(None), 0), *whens, else_=0)  # NULL first: the usual case


def _first_since(previous, start: datetime):
    """SQL: the event is its case's first of its kind since `start` (counted once there)."""
    return or_(previous.is_(None), previous < start)


def _case_scope(village_id: int | None, category_ids: list[int] | None) -> list:
    """The conditions on cases of a dashboard for one village or category."""
    scope = []
    if village_id:
        scope.append(Case.village_id == village_id)
    if category_ids is not None:
        scope.append(Case.category_id.in_(category_ids))
    return scope


# What a once-per-case count is kept by, besides its bucket: the kind of case.
HAZARD, DISPUTE, ENFORCEMENT = 0, 1, 2


def _partial(
    start: datetime,
    end: datetime,
    marks: list[datetime],
    *,
    kinds: dict[int, int],
    village_id: int | None = None,
    category_ids: list[int] | None = None,
) -> Partial:
    """Count [start, end) from the indexes; `marks` end with `start`."""
    out = Partial()
    # Core, not the ORM session's execute: rows come back as plain tuples, without the
    # ORM's per-row loading (several times the cost on a month's tens of thousands).
    read = db.session.connection().execute
    in_range = [Event.at >= start, Event.at < end]
    if village_id:
        in_range.append(Event.village_id == village_id)
    if category_ids is not None:
        in_range.append(Event.category_id.in_(category_ids))
    dispute = _kind_of(Event.category_id, kinds)
    for key, (action, result) in _BY_RESULT.items():
        bucket = _bucket(Event.previous_result_at, marks)
        out.once += [
            [key, b, d, n]
            for b, d, n in read(
                select(bucket, dispute, func.count())
                .where(
                    Event.action == action,
                    Event.result == result,
                    *in_range,
                    _first_since(Event.previous_result_at, start),
                )
                .group_by(bucket, dispute)
            )
        ]
    # Reopened: once per case, by the previous reopen of the case.
    bucket = _bucket(Event.previous_at, marks)
    out.once += [
        ["reopen", b, d, n]
        for b, d, n in read(
            select(bucket, dispute, func.count())
            .where(Event.action == "reopen", *in_range, _first_since(Event.previous_at, start))
            .group_by(bucket, dispute)
        )
    ]
    # Accept, resolve and close: one read each gives the counts, the hours from the report,
    # and "handled" (an event first of any counted action in a range is first of its own
    # action too, so these rows hold every one).
    counted = Event.previous_counted_at
    handled = sql_case(
        (counted.is_(None), 0), (counted >= start, -1), else_=_bucket(counted, marks)
    )
    bucket = _bucket(Event.previous_at, marks)
    for action in COUNTED_ACTIONS:
        counts, handled_counts = Counter(), Counter()
        seconds: dict[str, list[int]] = defaultdict(list)
        for b, d, h, value in _raw_rows(
            read(
                select(bucket, dispute, handled, Event.seconds_since_report).where(
                    Event.action == action, *in_range, _first_since(Event.previous_at, start)
                )
            )
        ):
            counts[b, d] += 1
            seconds[str(b)].append(value)
            if h >= 0:
                handled_counts[h, d] += 1
        out.once += [[action, b, d, n] for (b, d), n in counts.items()]
        out.once += [["handled", h, d, n] for (h, d), n in handled_counts.items()]
        out.seconds[action] = dict(seconds)
    # On time: each status change against the step clock it ran on (a merge ends a
    # duplicate, which counts nowhere).
    # Naming every step lets the index (step, at, ...) give each step's range in order; the
    # IS NOT NULL stays, as SQLite uses the partial index only when a query says so.
    out.on_time = {
        step: [int(kept or 0), n]
        for step, kept, n in read(
            select(
                Event.step,
                func.sum(sql_case((Event.at <= Event.step_due_at, 1), else_=0)),
                func.count(),
            )
            .where(
                Event.step.in_([s.value for s in Step]),
                Event.step.is_not(None),
                *in_range,
                Event.action != "merge",
            )
            .group_by(Event.step)
        )
    }
    out.follow_ups = [
        list(row)
        for row in read(
            select(Event.action, Event.result, func.count())
            .where(Event.action.in_(("record_visit", "answer_follow_up")), *in_range)
            .group_by(Event.action, Event.result)
        )
    ]
    return out


def _received(
    start: datetime,
    end: datetime,
    *,
    village_id: int | None = None,
    category_ids: list[int] | None = None,
) -> list[tuple]:
    """(source, category, village, n) of the reports received in [start, end), not merged."""
    where = [
        Case.status != CaseStatus.MERGED,
        Case.created_at >= start,
        Case.created_at < end,
        *_case_scope(village_id, category_ids),
    ]
    return _raw_rows(
        db.session.connection().execute(
            select(Case.source, Case.category_id, Case.village_id, func.count())
            .where(*where)
            .group_by(Case.source, Case.category_id, Case.village_id)
        )
    )


def _raw_rows(result) -> list[tuple]:
    """A result's rows as the driver gives them: for tens of thousands of plain numbers,
    SQLAlchemy's row objects would cost more than the database's own work."""
    try:
        return result.cursor.fetchall()
    finally:
        result.close()


def _kind_of(column, kinds: dict[int, int]):
    """SQL: the kind (HAZARD, DISPUTE, ENFORCEMENT) of the category in `column`."""
    of = {kind: [cid for cid, k in kinds.items() if k == kind] for kind in (DISPUTE, ENFORCEMENT)}
    return sql_case(
        (column.in_(of[DISPUTE] or [-1]), DISPUTE),
        (column.in_(of[ENFORCEMENT] or [-1]), ENFORCEMENT),
        else_=HAZARD,
    )


def _month_partials(period: Period, kinds: dict[int, int]) -> list[tuple[Partial, int, list]]:
    """For each month of `period`: its partial (kept for the months that are over, counted
    for the others), the index of the period's start in its marks, and its reports."""
    now = clock.now()
    months = period.months()
    kept = {
        row.month: row.partial
        for row in db.session.scalars(
            select(MonthlyFigures).where(
                MonthlyFigures.version == Partial.VERSION,
                MonthlyFigures.month.in_([date(y, m, 1) for y, m in months]),
            )
        )
    }
    out = []
    for i, (y, m) in enumerate(months):
        first, after = month(y, m).bounds
        if first > now:
            break
        marks = _marks_of_month(date(y, m, 1))
        stored = kept.get(date(y, m, 1))
        partial = (
            Partial(**stored) if stored is not None else _partial(first, after, marks, kinds=kinds)
        )
        out.append((partial, len(marks) - 1 - i, _received(first, after)))
    return out


# A month is kept this long after it ended: an event stamped just before midnight may
# still be waiting for the write lock, or its transaction be committing, at midnight.
KEEP_AFTER = timedelta(hours=1)


def keep_month_figures(*, limit: int = 24) -> int:
    """Compute and keep the partials of months that are over and have none (the sweep runs
    this): at most `limit` at a time, newest first. Returns how many were kept.

    Each month is counted, then written and committed on its own: the counting only
    reads (on SQLite it holds no lock), the writing is one row.
    """
    now = clock.now()
    last = clock.local(now - KEEP_AFTER).date().replace(day=1)  # the first month not kept
    oldest = db.session.scalar(select(func.min(Case.created_at)))
    if oldest is None:
        return 0
    first = clock.local(oldest).date().replace(day=1)
    wanted, day = [], last
    while day > first and len(wanted) < limit * 4:
        day = (day - timedelta(days=1)).replace(day=1)
        wanted.append(day)
    stale = db.session.scalar(
        select(func.count())
        .select_from(MonthlyFigures)
        .where(MonthlyFigures.version < Partial.VERSION)
    )
    have = set(
        db.session.scalars(
            select(MonthlyFigures.month).where(
                MonthlyFigures.month.in_(wanted), MonthlyFigures.version >= Partial.VERSION
            )
        )
    )
    kinds = _category_kinds()
    if stale:  # kept by an older version: counted again below (a newer one's rows stay)
        db.session.execute(delete(MonthlyFigures).where(MonthlyFigures.version < Partial.VERSION))
        db.session.commit()
    done = 0
    for day in wanted:
        if day in have:
            continue
        start, end = month(day.year, day.month).bounds
        partial = _partial(start, end, _marks_of_month(day), kinds=kinds)
        try:
            with db.session.begin_nested():
                db.session.add(
                    MonthlyFigures(
                        month=day,
                        partial=partial.as_json(),
                        version=Partial.VERSION,
                        computed_at=now,
                    )
                )
        except IntegrityError:
            continue  # another sweep kept it meanwhile: the same figures
        db.session.commit()
        done += 1
        if done >= limit:
            break
    return done


def _category_kinds() -> dict[int, int]:
    """Each category's kind for the counts: dispute, enforcement or (any other) hazard."""
    kind = {CategoryGroup.DISPUTE: DISPUTE, CategoryGroup.ENFORCEMENT: ENFORCEMENT}
    return {
        cid: kind.get(group, HAZARD)
        for cid, group in db.session.execute(select(Category.id, Category.group))
    }


def compute(
    period: Period,
    *,
    village_id: int | None = None,
    category_code: str | None = None,
    required_screenings: int = 2,
    required_weekly: int = 1,
) -> Figures:
    """The figures of `period`, optionally for one village or category."""
    start, end = period.bounds
    figures = Figures(period)
    categories = {c.id: c for c in db.session.scalars(select(Category))}
    kinds = _category_kinds()
    village_names = dict(db.session.execute(select(Village.id, Village.name)).all())
    category_ids = (
        [cid for cid, c in categories.items() if c.code == category_code] if category_code else None
    )
    whole_months = period.start.day == 1 and period.end.day == 1 and len(period.months()) <= 12
    if whole_months and not village_id and category_ids is None:
        parts = _month_partials(period, kinds)
        totals = [sum(row[3] for row in received) for _part, _j, received in parts]
        totals += [0] * (len(period.months()) - len(totals))  # months still to come
        figures.trend = [
            (f"{y}-{m:02d}", n) for (y, m), n in zip(period.months(), totals, strict=True)
        ]
    else:
        scope = {"village_id": village_id, "category_ids": category_ids}
        parts = [
            (_partial(start, end, [start], kinds=kinds, **scope), 0, _received(start, end, **scope))
        ]
        figures.trend = _trend(period, village_id, category_ids)

    # Received.
    by_source, by_group, by_category, by_village = Counter(), Counter(), Counter(), Counter()
    for _part, _j, received in parts:
        for source, category_id, village, n in received:
            category = categories[category_id]
            figures.received += n
            by_source[Source(source).label] += n
            by_group[category.group.label] += n
            by_category[category.name] += n
            by_village[village_names[village]] += n
            figures.hazards_found += n * (kinds[category_id] == HAZARD)
            figures.enforcement_found += n * (kinds[category_id] == ENFORCEMENT)
    figures.received_by_source = dict(by_source)
    figures.received_by_group = dict(by_group)
    figures.received_by_category = dict(by_category.most_common())
    figures.received_by_village = dict(by_village.most_common())
    figures.enforcement_by_category = [
        name
        for name in figures.received_by_category
        if any(c.name == name and kinds[c.id] == ENFORCEMENT for c in categories.values())
    ]

    # Counted once per case: the events whose previous time is before the period.
    once: Counter = Counter()
    hours: dict[str, list[float]] = defaultdict(list)
    on_time: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for part, j, _received_rows in parts:
        for key, bucket, dispute, n in part.once:
            if bucket <= j:
                once[key, int(dispute)] += n
        for key, by_bucket in part.seconds.items():
            for bucket, values in by_bucket.items():
                if int(bucket) <= j:
                    hours[key] += [v / 3600 for v in values]
        for step, (kept, n) in part.on_time.items():
            on_time[step][0] += kept
            on_time[step][1] += n
        for action, satisfaction, n in part.follow_ups:
            figures.follow_ups += n * (action == "record_visit")
            if satisfaction:
                figures.answered += n
                figures.satisfied += n * (satisfaction in {"satisfied", "basically_satisfied"})

    def every(key: str) -> int:
        return once[key, HAZARD] + once[key, DISPUTE] + once[key, ENFORCEMENT]

    figures.accepted = every("accept")
    figures.resolved = every("resolve")
    figures.closed = every("close")
    figures.disputes_handled = once["handled", DISPUTE]
    figures.mediations = once["resolve", DISPUTE]
    figures.mediations_succeeded = once["mediated", DISPUTE]
    figures.hazards_removed = once["removed", HAZARD]
    figures.enforcement_handled = once["resolve", ENFORCEMENT]
    figures.disputes_closed = once["close", DISPUTE]
    figures.disputes_closed_resolved = once["closed_resolved", DISPUTE]
    figures.reopened = every("reopen")
    figures.disputes_reopened = once["reopen", DISPUTE]
    figures.repeat_disputes = _repeat_disputes(start, end, village_id, category_ids)
    figures.hours_to_accept = _quantiles(hours["accept"])
    figures.hours_to_resolve = _quantiles(hours["resolve"])
    figures.hours_to_close = _quantiles(hours["close"])
    # A step still open and late counts too, as late, in the period it went late in (once
    # it ends, its event counts it where it ended): rates beside "当前超期" tell the truth.
    for step, n in _late_open_steps(start, end, village_id, category_ids):
        on_time[step][1] += n
        figures.late_open[step] = n
    figures.on_time = {step: (kept, n) for step, (kept, n) in on_time.items()}

    _now_figures(figures, village_names, village_id, category_ids)
    _screening_figures(
        figures, period, village_id, village_names, required_screenings, required_weekly
    )
    return figures


def _late_open_steps(start: datetime, end: datetime, village_id, category_ids) -> list:
    """(step, n): open steps whose due time fell in [start, end) and has passed, by step
    (the open cases are those with a running clock, served by the queue's indexes)."""
    until = min(end, clock.now())
    if until <= start:
        return []
    return [
        (step.value if hasattr(step, "value") else step, n)
        for step, n in db.session.execute(
            select(Case.step, func.count())
            .where(
                Case.due_at.is_not(None),
                Case.due_at >= start,
                Case.due_at < until,
                *_case_scope(village_id, category_ids),
            )
            .group_by(Case.step)
        )
    ]


def _repeat_disputes(start: datetime, end: datetime, village_id, category_ids) -> int:
    """Repeat disputes received in [start, end), neither merged nor rejected (from the
    partial index of them; the flag is kept for disputes only, see workflow.effects.accept)."""
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Case)
            .where(
                # Written as the index's own condition, so both databases use it.
                text("repeat_dispute"),
                Case.created_at >= start,
                Case.created_at < end,
                Case.status.not_in([CaseStatus.MERGED, CaseStatus.REJECTED]),
                *_case_scope(village_id, category_ids),
            )
        )
        or 0
    )


def rolling_year() -> list[tuple[str, int, int, int]]:
    """The last twelve months to this one: (month, received, closed, gone late), whatever
    period a page shows, from the months kept by the sweep where it can."""
    today = clock.local(clock.now()).date()
    number = today.year * 12 + today.month - 1 - 11
    first = date(number // 12, number % 12 + 1, 1)
    span = Period(first, date(today.year + (today.month == 12), today.month % 12 + 1, 1), "")
    months = span.months()
    out = []
    for (y, m), (part, _j, received) in zip(
        months, _month_partials(span, _category_kinds()), strict=False
    ):
        own = 11  # a month's own start is the last of its marks
        closed = sum(n for key, b, _d, n in part.once if key == "close" and b <= own)
        late = sum(n - kept for kept, n in part.on_time.values())
        start, end = month(y, m).bounds
        late += sum(n for _step, n in _late_open_steps(start, end, None, None))
        out.append((f"{y}-{m:02d}", sum(row[3] for row in received), closed, late))
    return out


def _trend(period: Period, village_id, category_ids) -> list[tuple[str, int]]:
    """Reports received in each month of `period` (its first and last month in part)."""
    start, end = period.bounds
    scope = [Case.status != CaseStatus.MERGED, *_case_scope(village_id, category_ids)]
    trend = []
    for y, m in period.months():
        first, after = month(y, m).bounds
        trend.append(
            (
                f"{y}-{m:02d}",
                db.session.scalar(
                    select(func.count())
                    .select_from(Case)
                    .where(
                        *scope,
                        Case.created_at >= max(first, start),
                        Case.created_at < min(after, end),
                    )
                )
                or 0,
            )
        )
    return trend


def _now_figures(figures: Figures, village_names, village_id, category_ids) -> None:
    """What is open, late and supervised now. An open case is one with a running clock
    (ck_case_file_clock_iff_open): the queue's partial indexes serve this."""
    scope = _case_scope(village_id, category_ids)
    now = clock.now()
    # Two reads, each answered by one of the queue's indexes alone.
    open_rows = db.session.execute(
        select(
            Case.village_id,
            func.count(Case.id),
            func.sum(sql_case((Case.due_at < now, 1), else_=0)),
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
            func.sum(sql_case((Case.due_at < now, 1), else_=0)),
        )
        .join(Department, Department.id == Case.lead_department_id)
        .where(*scope, Case.due_at.is_not(None))
        .group_by(Department.id, Department.name)
    ).all()
    figures.late_by_department = sorted(
        ((d, name, n, int(late or 0)) for d, name, n, late in rows),
        key=lambda row: (-row[3], -row[2], row[1]),
    )


def _screening_figures(
    figures: Figures,
    period: Period,
    village_id,
    village_names: dict[int, str],
    required: int,
    required_weekly: int = 1,
) -> None:
    """Screenings in the period, and the villages that met the duty in every month and in
    every week of it (排查无盲区): a year of two screenings meets no monthly minimum. The
    months and weeks counted are those the period holds whole and that have ended, or the
    period's own, when it holds none such."""
    start, end = period.bounds
    scope = [Screening.screened_at >= start, Screening.screened_at < end]
    if village_id:
        scope.append(Screening.village_id == village_id)
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
        figures.screenings += 1
        figures.nil_returns += bool(nil)
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
    village_ids = [village_id] if village_id else sorted(village_names)
    figures.villages = len(village_ids)

    def met(v) -> bool:
        if not months:  # a part of a month, or the month still running: its own count
            return per_village.get(v, 0) >= required
        return all(per_month.get((v, y, m), 0) >= required for y, m in months)

    figures.villages_screened = sum(1 for v in village_ids if met(v))
    figures.villages_missed = [village_names[v] for v in village_ids if not met(v)]
    figures.villages_screened_weekly = (
        sum(
            1 for v in village_ids if all(per_week.get((v, w), 0) >= required_weekly for w in weeks)
        )
        if weeks
        else None
    )


_MONTH = re.compile(r"^\s*(\d{4})\s*(?:年|[-/.])\s*(\d{1,2})\s*月?\s*$")
_QUARTER = re.compile(
    r"^\s*(\d{4})\s*(?:年)?\s*[-/]?\s*"
    r"(?:第\s*([1-4一二三四])\s*季度?|[Qq]([1-4]))\s*$"
)
_YEAR = re.compile(r"^\s*(\d{4})\s*年?\s*$")
_QUARTER_NUMBERS = {"一": 1, "二": 2, "三": 3, "四": 4}


def last_complete_month() -> Period:
    """The month before this one: what the figures open on, unless asked for another
    (on the 1st, this month is still empty)."""
    first = clock.local(clock.now()).date().replace(day=1)
    previous = first - timedelta(days=1)
    return month(previous.year, previous.month)


def parse_period(kind: str, value: str, *, start: str = "", end: str = "") -> Period:
    """A period from a form: a month (2026-11, 2026年11月, 2026/11), a quarter (2026-Q4,
    2026年第四季度), a year (2026, 2026年) or custom days; the last complete month when
    nothing is given. ValidationFailed, in Chinese, for what cannot be read (never a
    silent other period)."""
    value = (value or "").strip()
    today = clock.local(clock.now()).date()

    def refuse(what: str) -> ValidationFailed:
        return ValidationFailed(
            f"无法识别的{what}：{value or start}。请写成例如 2026-11、"
            "2026年11月、2026-Q4 或 2026。",
            code="invalid_period",
            field="value",
        )

    try:
        if kind == "custom":
            first, last = date.fromisoformat(start), date.fromisoformat(end)
            if last < first:
                raise ValidationFailed("截止日期早于起始日期。", code="invalid_period", field="to")
            return Period(first, last + timedelta(days=1), f"{first}至{last}")
        if kind == "year":
            found = _YEAR.match(value) if value else None
            if value and not found:
                raise refuse("年份")
            return year(int(found.group(1)) if found else today.year)
        if kind == "quarter":
            if not value:
                return quarter(today.year, (today.month - 1) // 3 + 1)
            found = _QUARTER.match(value)
            if not found:
                raise refuse("季度")
            number = found.group(2) or found.group(3)
            return quarter(int(found.group(1)), int(_QUARTER_NUMBERS.get(number, number)))
        if not value:
            return last_complete_month()
        found = _MONTH.match(value)
        if not found or not 1 <= int(found.group(2)) <= 12:
            raise refuse("月份")
        return month(int(found.group(1)), int(found.group(2)))
    except ValueError:
        raise refuse("日期") from None


HIDDEN = "—"  # a count not published, so that a small one beside it cannot be worked out


def _domain(kind: str, threshold: int, hidden_sum: int) -> range | list[int]:
    """What a reader knows a hidden cell may hold: a "<5" one 1..4; a "—" one 0 or at
    least the threshold (or anything, when every cell of the table is hidden)."""
    if kind == "small":
        return range(1, threshold)
    if kind == "any":
        return range(0, hidden_sum + 1)
    return [0, *range(threshold, hidden_sum + 1)]


def _worked_out(hidden: dict[int, str], hidden_sum: int, threshold: int) -> bool:
    """Whether a reader can work out a hidden cell's value: given what each may hold and
    that together they make what the total leaves, one of them has a single value."""
    domains = {i: _domain(kind, threshold, hidden_sum) for i, kind in hidden.items()}
    for i, domain in domains.items():
        reachable = {0}  # the sums the other hidden cells can make together
        for j, other in domains.items():
            if j != i:
                reachable = {a + v for a in reachable for v in other if a + v <= hidden_sum}
        if len([v for v in domain if hidden_sum - v in reachable]) <= 1:
            return True
    return False


def suppress(cells: list[tuple[str, int]], total: int, threshold: int) -> list[tuple[str, str]]:
    """The cells of a table adding up to `total`, as published. A count below `threshold`
    reads "<5" (primary suppression); while the shown total and cells still give a hidden
    one away, the smallest count shown is hidden too, as "—" (complementary suppression);
    and if even that cannot protect them, the table shows no cell at all, only its total.
    So no hidden cell can be derived by subtraction."""
    hidden = {i: "small" for i, (_label, n) in enumerate(cells) if 0 < n < threshold}
    if hidden and total >= threshold:  # a total shown as "<5" gives nothing away

        def left() -> int:
            return sum(cells[i][1] for i in hidden)

        while _worked_out(hidden, left(), threshold):
            shown = [(n, i) for i, (_label, n) in enumerate(cells) if n and i not in hidden]
            if not shown:
                hidden = dict.fromkeys(range(len(cells)), "any")
                break
            _n, smallest = min(shown)
            hidden[smallest] = "complementary"
    return [
        (label, f"<{threshold}" if hidden.get(i) == "small" else HIDDEN if i in hidden else str(n))
        for i, (label, n) in enumerate(cells)
    ]


def disclosure(period: Period, *, threshold: int = 5) -> dict:
    """The month's public figures (每月一公开): by group and by village, with no count that
    could point at a person: a count below `threshold` reads "<5", villages below it are
    merged into one row, and a count that would give a small one away by subtraction from
    the total is hidden too (`suppress`)."""
    figures = compute(period)

    def shown(value: int) -> str:
        return f"<{threshold}" if 0 < value < threshold else str(value)

    total = figures.received
    groups = suppress(
        [
            (label, figures.received_by_group.get(label, 0))
            for label in (g.label for g in CategoryGroup)
        ],
        total,
        threshold,
    )
    big = [(name, n) for name, n in figures.received_by_village.items() if n >= threshold]
    small = sum(n for _name, n in figures.received_by_village.items() if n < threshold)
    villages = suppress(big + ([("其他各村（合计）", small)] if small else []), total, threshold)
    return {
        "period": period,
        "received": shown(total),
        "resolved": shown(figures.resolved),
        "closed": shown(figures.closed),
        "resolution_rate": figures.resolution_rate,
        "groups": groups,
        "villages": villages,
        "screenings": shown(figures.screenings),
        "threshold": threshold,
        "hidden": HIDDEN,
    }
