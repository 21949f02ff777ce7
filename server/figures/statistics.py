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

The counts once per case come from the events by way of `partials` (kept per month);
periods are read as people write them in `periods`; the public figures are `disclosure`.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, select, text

from server.db import db
from server.figures import coverage, standing
from server.figures.partials import (
    DISPUTE,
    ENFORCEMENT,
    HAZARD,
    Received,
    case_scope,
    category_kinds,
    count_range,
    counted_scope,
    month_partials,
    received,
)
from server.figures.periods import (
    Period,
    last_complete_month,
    month,
    parse_period,
    quarter,
    year,
)
from server.infra import clock
from server.models import (
    Case,
    CaseStatus,
    Category,
    Source,
    Town,
    Village,
)
from server.models.places import in_service_since

__all__ = [
    "Figures",
    "Period",
    "compute",
    "last_complete_month",
    "month",
    "parse_period",
    "quarter",
    "rolling_year",
    "year",
]


STEP_LABELS = {
    "accept": "受理",
    "dispatch": "派遣",
    "sign_for": "签收",
    "handle": "处置",
    "verify": "核查",
    "follow_up": "回访",
}


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
    villages_now: list[tuple[int, str, int | None, int | None]] = field(default_factory=list)
    # id, name, open, late: every village (open and late None: withheld from this reader)
    # The district's towns side by side (its people only, in a deployment of several):
    # (town id, name, received in the period, open now, late now).
    by_town: list[tuple[int, str, int, int, int]] = field(default_factory=list)
    village_town: dict[int, int] = field(default_factory=dict)  # with by_town: whose village
    # Each village's id by the name the figures give it (a page's links to its cases).
    village_ids: dict[str, int] = field(default_factory=dict)
    late_by_department: list[tuple[int, str, int, int]] = field(default_factory=list)
    # id, name, open, late: each department leading open cases
    # Cells too small for this reader were left out (server/figures/withheld.py).
    small_cells_withheld: bool = False

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


def _quantiles(runs: list[Sequence[int]]) -> tuple[float | None, float | None]:
    """Median and 90th percentile, in hours, of seconds held in sorted runs (a month's
    values of one bucket each), exactly as of all of them sorted together: each wanted
    value is found by bisecting the runs, not by merging them. A district's year holds
    about a million values a step, and sorting them took longer than the year's SQL."""
    n = sum(len(run) for run in runs)
    if not n:
        return None, None
    if n % 2:
        median = _nth(runs, n // 2) / 3600
    else:
        median = (_nth(runs, n // 2 - 1) / 3600 + _nth(runs, n // 2) / 3600) / 2
    p90 = _nth(runs, min(n - 1, int(0.9 * n + 0.999999) - 1)) / 3600
    return round(median, 1), round(p90, 1)


def _nth(runs: list[Sequence[int]], k: int) -> int:
    """The value at index `k` of the runs' values sorted together (whole numbers): the
    least value with more than `k` values at or below it."""
    low = min(run[0] for run in runs if run)
    high = max(run[-1] for run in runs if run)
    while low < high:
        middle = (low + high) // 2
        if sum(bisect_right(run, middle) for run in runs) > k:
            high = middle
        else:
            low = middle + 1
    return low


def compute(
    period: Period,
    *,
    village_id: int | None = None,
    category_code: str | None = None,
    required_screenings: int = 2,
    required_weekly: int = 1,
    town_id: int | None = None,
) -> Figures:
    """The figures of `period`, optionally for one village or category; for one town's
    people, their town's (`town_id`; None: every town's, the district's)."""
    start, end = period.bounds
    figures = Figures(period)
    categories = {c.id: c for c in db.session.scalars(select(Category))}
    kinds = category_kinds()
    town = [Village.town_id == town_id] if town_id is not None else []
    village_names = dict(db.session.execute(select(Village.id, Village.name).where(*town)).all())
    if town_id is None:
        village_names = with_towns(village_names)
    figures.village_ids = {name: v for v, name in village_names.items()}
    own_town = None  # a town of several, whose months the sweep keeps apart
    if town_villages(town_id) is not None:
        # A town of several: its villages.
        if village_id is None:
            village_id, own_town = tuple(village_names), town_id
        elif village_id not in village_names:
            village_id = ()  # another town's village: nothing of it
    category_ids = (
        [cid for cid, c in categories.items() if c.code == category_code] if category_code else None
    )
    whole_months = period.start.day == 1 and period.end.day == 1 and len(period.months()) <= 12
    if whole_months and (village_id is None or own_town is not None) and category_ids is None:
        parts = month_partials(period, kinds, village_id=village_id, town_id=own_town)
        totals = [got.total for _part, _j, got in parts]
        totals += [0] * (len(period.months()) - len(totals))  # months still to come
        figures.trend = [
            (f"{y}-{m:02d}", n) for (y, m), n in zip(period.months(), totals, strict=True)
        ]
    else:
        scope = {"village_id": village_id, "category_ids": category_ids}
        parts = [
            (
                count_range(start, end, [start], kinds=kinds, **scope),
                0,
                received(start, end, **scope),
            )
        ]
        figures.trend = _trend(period, village_id, category_ids)

    # Received: each month's added up by id (kept by the sweep, or counted), then named.
    got = Received()
    for _part, _j, month_received in parts:
        got.add(month_received)
    by_source, by_group, by_category, by_village = Counter(), Counter(), Counter(), Counter()
    for source, n in got.by_source.items():
        by_source[Source(source).label] += n
    for category_id, n in got.by_category.items():
        category = categories[category_id]
        figures.received += n
        by_group[category.group.label] += n
        by_category[category.name] += n
        figures.hazards_found += n * (kinds[category_id] == HAZARD)
        figures.enforcement_found += n * (kinds[category_id] == ENFORCEMENT)
    for village, n in got.by_village.items():
        by_village[village_names[village]] += n
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
    hours: dict[str, list[Sequence[int]]] = defaultdict(list)  # sorted runs of seconds
    on_time: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for part, j, _received in parts:
        for key, bucket, dispute, n in part.once:
            if bucket <= j:
                once[key, int(dispute)] += n
        for key, by_bucket in part.seconds.items():
            for bucket, values in by_bucket.items():
                if int(bucket) <= j:
                    hours[key].append(values)  # sorted (Partial.seconds)
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

    now = standing.standing(village_names, village_id, category_ids)
    # The duty counts the villages still served when the period began (one merged away
    # later still owes the months before; one retired before owes nothing).
    served = {
        v: village_names.get(v, name)  # the district's: each after its town
        for v, name in db.session.execute(
            select(Village.id, Village.name).where(in_service_since(start), *town)
        )
    }
    duty = coverage.coverage(period, village_id, served, required_screenings, required_weekly)
    for part in (now, duty):  # their fields are the figures' own, by name
        vars(figures).update(vars(part))
    if town_id is None and village_id is None:
        figures.by_town, figures.village_town = _by_town(got.by_village, figures.villages_now)
    return figures


def _by_town(received: dict[int, int], now: list[tuple[int, str, int, int]]) -> tuple:
    """The district's towns side by side, added up from the villages' own figures (the
    period's received reports by village id, and each village's open and late cases now),
    and each village's town (the map groups its villages by town): two small queries for
    the villages' towns and the towns' names, whatever the period. Empty in a deployment
    of one town, whose figures are the town's already."""
    towns = dict(db.session.execute(select(Town.id, Town.name).order_by(Town.id)).all())
    if len(towns) < 2:
        return [], {}
    town_of = dict(db.session.execute(select(Village.id, Village.town_id)).all())
    rows = {town: [0, 0, 0] for town in towns}
    for village, n in received.items():
        rows[town_of[village]][0] += n
    for village, _name, open_now, late_now in now:
        rows[town_of[village]][1] += open_now
        rows[town_of[village]][2] += late_now
    return [(town, towns[town], *rows[town]) for town in towns], town_of


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
                *case_scope(village_id, category_ids),
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
                *counted_scope(village_id, category_ids),
            )
        )
        or 0
    )


def with_towns(village_names: dict[int, str]) -> dict[int, str]:
    """The district's village names, each after its town's (小王庄镇·东村) where the
    deployment holds several towns: two towns may each have a 东村, which the figures
    keyed by name would add together."""
    towns = dict(db.session.execute(select(Town.id, Town.name)).all())
    if len(towns) < 2:
        return village_names
    town_of = dict(db.session.execute(select(Village.id, Village.town_id)).all())
    return {v: f"{towns[town_of[v]]}·{name}" for v, name in village_names.items()}


def town_villages(town_id: int | None) -> tuple[int, ...] | None:
    """The villages a town's figures count, when the deployment holds other towns too;
    None for the district, or for a town alone (its figures are everything's)."""
    if town_id is None or not db.session.scalar(select(Town.id).where(Town.id != town_id)):
        return None
    return tuple(db.session.scalars(select(Village.id).where(Village.town_id == town_id)))


def rolling_year(town_id: int | None = None) -> list[tuple[str, int, int, int]]:
    """The last twelve months to this one: (month, received, closed, gone late), whatever
    period a page shows, from the months kept by the sweep where it can; for a town's
    people in a district of towns, their town's (`town_id`: its own kept months)."""
    today = clock.local(clock.now()).date()
    number = today.year * 12 + today.month - 1 - 11
    first = date(number // 12, number % 12 + 1, 1)
    span = Period(first, date(today.year + (today.month == 12), today.month % 12 + 1, 1), "")
    months = span.months()
    villages = town_villages(town_id)
    out = []
    for (y, m), (part, _j, got) in zip(
        months,
        month_partials(
            span,
            category_kinds(),
            village_id=villages,
            town_id=town_id if villages is not None else None,
        ),
        strict=False,
    ):
        own = 11  # a month's own start is the last of its marks
        closed = sum(n for key, b, _d, n in part.once if key == "close" and b <= own)
        late = sum(n - kept for kept, n in part.on_time.values())
        start, end = month(y, m).bounds
        late += sum(n for _step, n in _late_open_steps(start, end, villages, None))
        out.append((f"{y}-{m:02d}", got.total, closed, late))
    return out


def _trend(period: Period, village_id, category_ids) -> list[tuple[str, int]]:
    """Reports received in each month of `period` (its first and last month in part)."""
    start, end = period.bounds
    scope = [Case.status != CaseStatus.MERGED, *case_scope(village_id, category_ids)]
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
