"""Periods of the figures: half-open ranges of days on the town's calendar, read as
people write them (2026年11月, 2026-Q4, 2026年第四季度, 2026年)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from server.infra import clock
from server.infra.errors import ValidationFailed


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
    first = clock.month_of(clock.now())
    previous = first - timedelta(days=1)
    return month(previous.year, previous.month)


def parse_period(kind: str, value: str, *, start: str = "", end: str = "") -> Period:
    """A period from a form (`read_period`), within the years people give dates in."""
    period = read_period(kind, value, start=start, end=end)
    clock.check_year(period.start, "value")
    clock.check_year(period.end - timedelta(days=1), "value")
    return period


def read_period(kind: str, value: str, *, start: str = "", end: str = "") -> Period:
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
            clock.check_year(first, "from")
            clock.check_year(last, "to")
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
