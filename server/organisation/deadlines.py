"""Deadlines: time limits per category and step, counted on the Chinese working calendar.

A limit is written as a number and a unit: ``30m`` (clock minutes, any hour: urgent
steps), ``4h`` (clock hours), ``30d`` (calendar days: the 30-day mediation period) or
``2wd`` (working days: weekends and public holidays skipped, make-up workdays (调休)
counted).

Each year's schedule is published by the State Council in November or December, so the
sources are tried in order:
1. the admin's corrections (`calendar_day`); a year the admin confirmed from the notice
   (`calendar_year`) takes its days from there and weekdays otherwise;
2. the `chinese_calendar` library, which knows the published years (1.11: to 2026);
3. for a later year, the `holidays` package, which lists China's holidays by rule (the
   Spring Festival, National Day, …) but not the make-up workdays: such a year is
   provisional (`WorkCalendar.year_source`), and the admin's pages say so from November.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from typing import TYPE_CHECKING

import chinese_calendar
from sqlalchemy import select

from server.db import db
from server.infra import clock
from server.models import CalendarDay, CalendarYear, Category, CategoryGroup, Step

if TYPE_CHECKING:
    import holidays

_DURATION = re.compile(r"^(\d{1,4})(m|h|d|wd)$")


@dataclass(frozen=True)
class Duration:
    """A parsed time limit."""

    amount: int
    unit: str  # m, h, d or wd

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"

    @property
    def label(self) -> str:
        """The limit in Chinese, for pages: 30分钟, 2个工作日, ..."""
        names = {"m": "分钟", "h": "小时", "d": "天", "wd": "个工作日"}
        return f"{self.amount}{names[self.unit]}"


def parse_duration(text: str) -> Duration:
    """Parse ``30m``/``4h``/``30d``/``2wd``; raise ValueError with a Chinese message."""
    match = _DURATION.match((text or "").strip())
    if not match:
        raise ValueError(f"时限格式应为数字加单位（m/h/d/wd），例如 2wd：{text!r}")
    return Duration(int(match.group(1)), match.group(2))


# The units a limit is given in on the admin's pages (a number, then one of these).
UNITS: dict[str, str] = {"h": "小时", "wd": "工作日", "d": "自然日", "m": "分钟"}
MAX_AMOUNT = 9999
_AMOUNT = re.compile(r"\d{1,4}")  # Unicode digits too: a full-width １２ typed in Chinese


def duration_of(amount: str, unit: str) -> Duration:
    """A limit from a number and a unit as a form sends them (``"2"``, ``"wd"``); raise
    ValueError with a Chinese message a clerk can act on."""
    amount = (amount or "").strip()
    if unit not in UNITS:
        raise ValueError("请选择时限的单位（" + "、".join(UNITS.values()) + "）。")
    if not _AMOUNT.fullmatch(amount) or not 1 <= int(amount) <= MAX_AMOUNT:
        raise ValueError(f"时限须填 1 到 {MAX_AMOUNT} 之间的整数，“{amount}”不行。")
    return Duration(int(amount), unit)


# The defaults of DESIGN.md; a category's own `CategoryTimeLimit` rows override them.
# (warn, due); warn None: no yellow stage.
DEFAULT_LIMITS: dict[Step, tuple[str | None, str]] = {
    Step.ACCEPT: ("1wd", "2wd"),
    Step.DISPATCH: (None, "1wd"),
    Step.SIGN_FOR: (None, "1wd"),
    Step.HANDLE: ("5wd", "10wd"),
    Step.VERIFY: ("1wd", "2wd"),
    Step.FOLLOW_UP: ("5d", "7d"),
}
# A dispute's handling is its mediation: 30 days (人民调解工作若干规定 art. 33).
DISPUTE_HANDLE_LIMIT = ("25d", "30d")
# Urgent categories: accepted, dispatched and signed for within 30 minutes, any hour.
URGENT_LIMITS: dict[Step, tuple[str | None, str]] = {
    Step.ACCEPT: ("15m", "30m"),
    Step.DISPATCH: ("15m", "30m"),
    Step.SIGN_FOR: ("15m", "30m"),
}


def default_limits(group: CategoryGroup, urgent: bool) -> dict[Step, tuple[str | None, str]]:
    """The starting limits for a new category of `group`."""
    limits = dict(DEFAULT_LIMITS)
    if group == CategoryGroup.DISPUTE:
        limits[Step.HANDLE] = DISPUTE_HANDLE_LIMIT
    if urgent:
        limits.update(URGENT_LIMITS)
    return limits


# Where a year's working days come from (see the module's docstring).
CONFIRMED, LIBRARY, BY_RULE = "confirmed", "library", "by_rule"
YEAR_SOURCE_LABELS = {
    CONFIRMED: "已按国务院通知确认",
    LIBRARY: "已按国家公布的安排",
    BY_RULE: "尚未确认：按节日规则推算，不含调休上班日",
}


def limits_of(category: Category, town_id: int | None) -> dict[Step, tuple[str | None, str, str]]:
    """Each step's (warn, due, whose) for `category`'s cases in `town_id`: the town's own
    row where it has one ("town"), else the district's ("district"), else DESIGN.md's
    default ("default"). `town_id` None: the district's own (its rows, else the default).
    Read from the category's loaded rows (the reference copy holds them): no query."""
    found = {
        step: (warn, due, "default")
        for step, (warn, due) in default_limits(category.group, category.urgent).items()
    }
    for row in category.time_limits:
        if row.town_id is None and found[row.step][2] == "default":
            found[row.step] = (row.warn, row.due, "district")
        elif row.town_id is not None and row.town_id == town_id:
            found[row.step] = (row.warn, row.due, "town")
    return found


def library_knows(year: int) -> bool:
    """Whether the `chinese_calendar` library has `year`'s published schedule."""
    try:
        chinese_calendar.is_workday(date(year, 6, 1))
    except NotImplementedError:
        return False
    return True


class WorkCalendar:
    """Which days are working days: the admin's corrections, else the published schedule
    (the library), else the holidays by rule; weekdays otherwise."""

    def __init__(
        self,
        corrections: dict[date, bool] | None = None,
        confirmed_years: set[int] | frozenset[int] = frozenset(),
    ):
        self.corrections = corrections or {}
        self.confirmed_years = set(confirmed_years)
        self._known: dict[date, bool] = {}  # the answers so far (a calendar is shared)
        # year -> working days of that year up to and including each day (index: day of
        # the year - 1), so that a count between two days costs a subtraction, not a walk.
        self._running: dict[int, list[int]] = {}
        self._sources: dict[int, str] = {}
        self._by_rule: dict[int, holidays.HolidayBase] = {}

    def year_source(self, year: int) -> str:
        """Where `year`'s working days come from: CONFIRMED, LIBRARY or BY_RULE."""
        source = self._sources.get(year)
        if source is None:
            source = (
                CONFIRMED
                if year in self.confirmed_years
                else LIBRARY
                if library_knows(year)
                else BY_RULE
            )
            self._sources[year] = source
        return source

    def is_workday(self, day: date) -> bool:
        """Whether `day` is a working day in the town."""
        if day in self.corrections:
            return self.corrections[day]
        known = self._known.get(day)
        if known is None:
            source = self.year_source(day.year)
            if source == LIBRARY:
                known = chinese_calendar.is_workday(day)
            elif source == CONFIRMED:  # the notice's days are all corrections
                known = day.weekday() < 5
            else:
                rule = self._by_rule.get(day.year)
                if rule is None:
                    # Here: `holidays` (every country's rules, 4 MiB) loads with the first
                    # day of a year the library does not know.
                    import holidays

                    rule = self._by_rule[day.year] = holidays.country_holidays("CN", years=day.year)
                known = day.weekday() < 5 and day not in rule
            self._known[day] = known
        return known

    def next_workday(self, day: date) -> date:
        """The first working day strictly after `day`."""
        day += timedelta(days=1)
        for _ in range(366):
            if self.is_workday(day):
                return day
            day += timedelta(days=1)
        raise ValueError("no working day within a year: check the calendar corrections")

    def _running_count(self, year: int) -> list[int]:
        running = self._running.get(year)
        if running is None:
            running, count, day = [], 0, date(year, 1, 1)
            while day.year == year:
                count += self.is_workday(day)
                running.append(count)
                day += timedelta(days=1)
            self._running[year] = running
        return running

    def workdays_between(self, start: date, stop: date) -> int:
        """The working days after `start` up to and including `stop` (0 when stop <= start;
        counted at most ten years on).

        Every row of the queue asks this: a running count per year (built once per year a
        calendar is asked about) makes it two look-ups and a subtraction, however far apart
        the days are, where walking day by day cost the queue page most of its time.
        """
        if stop <= start:
            return 0
        # A date decades away (a mistyped year) would build a count for every year between;
        # beyond ten years the figure says nothing more to a clerk.
        stop = min(stop, start.replace(year=start.year + 10, day=min(start.day, 28)))
        first, last = self._running_count(start.year), self._running_count(stop.year)
        before, through = first[start.timetuple().tm_yday - 1], last[stop.timetuple().tm_yday - 1]
        if stop.year == start.year:
            return through - before
        between = sum(self._running_count(year)[-1] for year in range(start.year + 1, stop.year))
        return first[-1] - before + between + through

    def add_workdays(self, start: datetime, days: int) -> datetime:
        """`days` working days after `start` (aware), on the town's wall clock.

        Friday 15:00 + 1 is Monday 15:00. A start on a day off counts from the beginning
        of the next working day: Saturday + 1 is the end of Monday (Tuesday 00:00).
        """
        local = clock.local(start)
        day, at = local.date(), local.timetz()
        if not self.is_workday(day):
            day, at = self.next_workday(day), time(0, tzinfo=local.tzinfo)
            if days == 0:
                return datetime.combine(day, at)
        for _ in range(days):
            day = self.next_workday(day)
        return datetime.combine(day, at.replace(tzinfo=None), tzinfo=local.tzinfo)

    def add(self, start: datetime, duration: Duration) -> datetime:
        """`start` plus `duration`, in UTC (as everything is stored)."""
        if duration.unit == "wd":
            return self.add_workdays(start, duration.amount).astimezone(UTC)
        step = {"m": timedelta(minutes=1), "h": timedelta(hours=1), "d": timedelta(days=1)}
        return (start + duration.amount * step[duration.unit]).astimezone(UTC)


def load_calendar(session=None) -> WorkCalendar:
    """The calendar with the admin's corrections and confirmed years from the database."""
    session = session or db.session
    rows = session.execute(select(CalendarDay.day, CalendarDay.workday)).all()
    years = set(session.scalars(select(CalendarYear.year)))
    return WorkCalendar(dict(rows), years)


def unconfirmed_year(calendar: WorkCalendar, today: date) -> int | None:
    """The year the admin's pages warn about until its schedule is confirmed: this year,
    whenever its deadlines run on the festival rules alone (no make-up workdays); from 1
    November (the State Council publishes the notice around then), next year too."""
    if calendar.year_source(today.year) == BY_RULE:
        return today.year
    upcoming = today.year + 1
    if today.month >= 11 and calendar.year_source(upcoming) == BY_RULE:
        return upcoming
    return None


@dataclass(frozen=True)
class StepClock:
    """When a step started, turns yellow and turns red."""

    step: Step
    started_at: datetime
    warn_at: datetime | None
    due_at: datetime


class Deadlines:
    """Computes step clocks for categories; one per unit of work (it caches the calendar)."""

    def __init__(self, calendar: WorkCalendar | Callable[[], WorkCalendar] | None = None):
        # A calendar, or where to get one when first needed (server.organisation.reference.calendar,
        # the process's copy of the corrections: passed in, so this module needs no
        # import of the one that builds on it); by default read afresh.
        self._calendar = calendar

    @cached_property
    def calendar(self) -> WorkCalendar:
        if callable(self._calendar):
            return self._calendar()
        return self._calendar or load_calendar()

    def limits(
        self, category: Category, step: Step, *, town_id: int | None, urgent: bool = False
    ) -> tuple[str | None, str]:
        """The (warn, due) limits of `step` for a case of `category` in `town_id`
        (`limits_of`).

        `urgent`: the case is urgent though its category is not (the reporter says it is
        happening now): accepted, dispatched and signed for within the urgent limits.
        """
        if urgent and not category.urgent and step in URGENT_LIMITS:
            return URGENT_LIMITS[step]
        return limits_of(category, town_id)[step][:2]

    def clock(
        self,
        category: Category,
        step: Step,
        start: datetime | None = None,
        *,
        town_id: int | None,
        urgent: bool = False,
    ) -> StepClock:
        """The clock of `step` for a case of `category` in `town_id` starting at `start`
        (now); `urgent` as for `limits`."""
        start = start or clock.now()
        warn, due = self.limits(category, step, town_id=town_id, urgent=urgent)
        due_at = self.calendar.add(start, parse_duration(due))
        warn_at = self.calendar.add(start, parse_duration(warn)) if warn else None
        if warn_at is not None and warn_at > due_at:
            warn_at = due_at
        return StepClock(step, start, warn_at, due_at)
