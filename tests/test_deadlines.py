"""Deadlines on the Chinese working calendar: holidays, make-up workdays, corrections."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.cases import workflow
from server.db import db
from server.infra import clock
from server.models import CalendarDay, Step
from server.organisation.deadlines import (
    Deadlines,
    Duration,
    WorkCalendar,
    load_calendar,
    parse_duration,
)
from tests.factories import category
from tests.helpers import case_in

SH = ZoneInfo("Asia/Shanghai")


def at(*args) -> datetime:
    """A wall-clock time in the town."""
    return datetime(*args, tzinfo=SH)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", Duration(30, "m")),
        ("4h", Duration(4, "h")),
        ("30d", Duration(30, "d")),
        ("2wd", Duration(2, "wd")),
        (" 10wd ", Duration(10, "wd")),
    ],
)
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "2", "wd", "2 days", "-1d", "1.5d", "2w"])
def test_parse_duration_refuses_nonsense(text):
    with pytest.raises(ValueError, match="时限格式"):
        parse_duration(text)


def test_national_day_holiday_is_skipped():
    # 2026: 1-7 October off; 8 and 9 October (Thu, Fri) work; Saturday 10 October is a
    # make-up workday (调休).
    calendar = WorkCalendar()
    start = at(2026, 9, 30, 10, 0)
    assert calendar.add_workdays(start, 1) == at(2026, 10, 8, 10, 0)
    assert calendar.add_workdays(start, 2) == at(2026, 10, 9, 10, 0)


def test_make_up_workday_counts():
    calendar = WorkCalendar()
    assert calendar.is_workday(date(2026, 10, 10))  # a Saturday
    assert calendar.add_workdays(at(2026, 9, 30, 10, 0), 3) == at(2026, 10, 10, 10, 0)
    # Sunday 20 September 2026 is also worked (before the holiday).
    assert calendar.add_workdays(at(2026, 9, 18, 16, 0), 1) == at(2026, 9, 20, 16, 0)


def test_weekend_start_counts_from_the_next_working_day():
    calendar = WorkCalendar()
    # Saturday 6 June 2026: one working day is the whole of Monday.
    assert calendar.add_workdays(at(2026, 6, 6, 11, 0), 1) == at(2026, 6, 9, 0, 0)
    # Friday afternoon + 1 is Monday afternoon.
    assert calendar.add_workdays(at(2026, 6, 5, 15, 30), 1) == at(2026, 6, 8, 15, 30)


def test_a_year_the_library_does_not_know_keeps_its_holidays_by_rule(library_stops_at_2026):
    from server.organisation.deadlines import BY_RULE, LIBRARY

    calendar = WorkCalendar()
    assert (calendar.year_source(2026), calendar.year_source(2027)) == (LIBRARY, BY_RULE)
    # The 2027 Spring Festival (5-10 February by rule) is not counted as working days:
    # two working days from Thursday 4 February end on Friday 12 February, not Monday 8.
    assert calendar.add_workdays(at(2027, 2, 4, 10, 0), 2) == at(2027, 2, 12, 10, 0)
    assert not calendar.is_workday(date(2027, 10, 1))  # National Day
    assert calendar.is_workday(date(2027, 3, 1))


def test_corrections_win_over_every_source(library_stops_at_2026):
    corrected = WorkCalendar({date(2027, 12, 31): False, date(2028, 1, 1): True})
    assert corrected.add_workdays(at(2027, 12, 30, 9, 0), 1) == at(2028, 1, 1, 9, 0)
    # 3 January 2028 is New Year's Day observed, by rule: the next working day is the 4th.
    assert corrected.add_workdays(at(2027, 12, 30, 9, 0), 2) == at(2028, 1, 4, 9, 0)


def test_calendar_corrections_are_read_from_the_database(session):
    session.add(CalendarDay(day=date(2026, 6, 8), workday=False, name="测试停工"))
    session.flush()
    calendar = load_calendar()
    assert not calendar.is_workday(date(2026, 6, 8))
    assert calendar.add_workdays(at(2026, 6, 5, 15, 30), 1) == at(2026, 6, 9, 15, 30)


def test_clock_minutes_run_at_night_and_on_holidays(session):
    urgent = category("S01")  # 涉暴恐: 30 minutes, any hour
    start = at(2026, 10, 3, 2, 10)  # a holiday, at night
    step = Deadlines(WorkCalendar()).clock(urgent, Step.ACCEPT, start, town_id=None)
    assert step.due_at == start + timedelta(minutes=30)
    assert step.warn_at == start + timedelta(minutes=15)


def test_a_category_row_overrides_the_default(session):
    dispute = category("D02")
    row = next(r for r in dispute.time_limits if r.step == Step.ACCEPT)
    row.warn, row.due = None, "3wd"
    step = Deadlines(WorkCalendar()).clock(dispute, Step.ACCEPT, at(2026, 6, 1, 9, 0), town_id=None)
    assert step.due_at == at(2026, 6, 4, 9, 0)
    assert step.warn_at is None


def test_default_when_a_category_lacks_a_row(session):
    dispute = category("D02")
    dispute.time_limits = [r for r in dispute.time_limits if r.step != Step.HANDLE]
    session.flush()
    step = Deadlines(WorkCalendar()).clock(dispute, Step.HANDLE, at(2026, 6, 1, 9, 0), town_id=None)
    assert step.due_at == at(2026, 7, 1, 9, 0)  # 30 days of mediation


def test_deadlines_are_stored_in_utc_and_follow_the_step(world):
    submitted = at(2026, 9, 30, 10, 0)
    with clock.frozen_at(submitted):
        case = case_in("submitted", world)
    assert case.due_at.tzinfo == UTC
    # Accept: red at 2 working days, across the National Day holiday.
    assert case.due_at == at(2026, 10, 9, 10, 0)
    assert case.warn_at == at(2026, 10, 8, 10, 0)
    db.session.expire(case)
    assert case.due_at == at(2026, 10, 9, 10, 0)  # and so it reads back from the database
    with clock.frozen_at(at(2026, 9, 30, 11, 0)):
        workflow.apply(case, "accept", actor=world.center)
        workflow.apply(case, "dispatch", actor=world.center, lead_department=world.justice.id)
    # The dispute's mediation clock: 30 calendar days from dispatch, holidays included.
    assert case.active_assignments[0].due_at == at(2026, 10, 30, 11, 0)
    assert case.step == Step.SIGN_FOR
    assert case.due_at == at(2026, 10, 8, 11, 0)


def test_edited_limits_apply_to_new_steps_only(world):
    with clock.frozen_at(at(2026, 6, 1, 9, 0)):
        case = case_in("submitted", world)
        row = next(r for r in category("D02").time_limits if r.step == Step.ACCEPT)
        row.warn, row.due = None, "5wd"
        db.session.flush()
        later = case_in("submitted", world)
    db.session.expire(case)
    assert case.due_at == at(2026, 6, 3, 9, 0)  # the old 2 working days
    assert later.due_at == at(2026, 6, 8, 9, 0)  # the new 5


def _walked(calendar: WorkCalendar, start: date, stop: date) -> int:
    """The definition, day by day: the working days after `start` up to `stop`."""
    days, day = 0, start
    while day < stop:
        day += timedelta(days=1)
        days += calendar.is_workday(day)
    return days


@given(
    start=st.dates(date(2023, 1, 1), date(2028, 12, 31)),
    span=st.integers(-40, 1200),
    corrected=st.lists(st.dates(date(2023, 1, 1), date(2028, 12, 31)), max_size=5),
)
@settings(max_examples=300, deadline=None)
def test_working_days_between_two_days_match_counting_them_one_by_one(start, span, corrected):
    """The queue counts with a running total per year; it must agree with walking the
    calendar day by day, across new years, holidays, make-up workdays, the admin's
    corrections, and years the library does not know (counted by rule)."""
    calendar = WorkCalendar(corrections={day: day.weekday() >= 5 for day in corrected})
    stop = start + timedelta(days=span)
    assert calendar.workdays_between(start, stop) == _walked(calendar, start, stop)


def test_working_days_across_a_holiday_and_a_new_year():
    calendar = WorkCalendar()
    # 2025-12-31 (Wed) to 2026-01-05 (Mon): New Year's Day off (1–3 January 2026), the
    # weekend, then Monday: the 4th is a make-up workday in 2026's schedule.
    assert calendar.workdays_between(date(2025, 12, 31), date(2026, 1, 5)) == _walked(
        calendar, date(2025, 12, 31), date(2026, 1, 5)
    )
    assert calendar.workdays_between(date(2026, 1, 5), date(2026, 1, 5)) == 0
    assert calendar.workdays_between(date(2026, 1, 9), date(2026, 1, 5)) == 0
    assert calendar.workdays_between(date(2026, 1, 5), date(2026, 1, 12)) == 5
