"""The triage queue: order, keyset paging across the urgent run, filters, time left."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.cases import lateness, workflow
from server.cases import queue as triage
from server.cases.lateness import TimeLeft
from server.infra import clock
from server.organisation.deadlines import WorkCalendar
from tests.helpers import case_in, new_report

START = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)


def _all_pages(user, filters, limit):
    seen, cursor = [], None
    while True:
        page = triage.page(user, filters, cursor=cursor, limit=limit)
        seen += page.items
        if not page.next_cursor:
            return seen
        cursor = page.next_cursor


def test_urgent_first_then_by_due_time_across_pages(world):
    made = []
    for hours, code in (
        (5, "D02"),
        (1, "S01"),
        (3, "D02"),
        (2, "S02"),
        (4, "H01"),
        (0, "D02"),
        (6, "D02"),
    ):
        with clock.frozen_at(START + timedelta(hours=hours)):
            made.append(new_report(world, code, parties=[]))
    closed = case_in("closed", world)
    order = _all_pages(world.center, triage.QueueFilters(), limit=3)
    assert closed not in order
    assert [c.urgent for c in order] == sorted((c.urgent for c in order), reverse=True)
    for run in (True, False):
        dues = [(c.due_at, c.id) for c in order if c.urgent is run]
        assert dues == sorted(dues)
    assert {c.id for c in order} == {c.id for c in made}
    assert len(order) == len(made)


def test_finished_cases_page_newest_first(world):
    closed = []
    for day in range(4):
        with clock.frozen_at(START + timedelta(days=day)):
            closed.append(case_in("closed", world))
    listed = _all_pages(world.center, triage.QueueFilters(status="closed"), limit=3)
    assert [c.id for c in listed] == [c.id for c in reversed(closed)]


def test_filters_and_scope(world):
    east = new_report(world)
    west = new_report(world, village=world.v2)
    mine = case_in("dispatched", world)
    workflow.apply(mine, "supervise", actor=world.center)
    village = triage.page(world.center, triage.QueueFilters(village=world.v2.id)).items
    assert village == [west]
    supervised = triage.page(world.center, triage.QueueFilters(supervised=True)).items
    assert supervised == [mine]
    department = triage.page(world.center, triage.QueueFilters(department=world.justice.id))
    assert department.items == [mine]
    handler = triage.page(world.justice_handler, triage.QueueFilters()).items
    assert handler == [mine]
    assert east in triage.page(world.center, triage.QueueFilters(status="submitted")).items
    counts = triage.counts(world.center, triage.QueueFilters())
    assert counts["submitted"] == 2
    assert counts["dispatched"] == 1


def test_time_left_in_hours_or_working_days(world):
    with clock.frozen_at(START):  # Monday 09:00 in the town
        case = new_report(world)  # accept: yellow at 1, red at 2 working days
    calendar = WorkCalendar()
    assert lateness.time_left(case, calendar=calendar, now=START) == TimeLeft("ok", "剩余2个工作日")
    almost = case.due_at - timedelta(hours=3)
    assert lateness.time_left(case, calendar=calendar, now=almost) == TimeLeft("warn", "剩余3小时")
    late = case.due_at + timedelta(days=3)  # Wednesday 09:00 + 3 days: Saturday
    assert lateness.time_left(case, calendar=calendar, now=late) == TimeLeft(
        "overdue", "超期2个工作日"
    )
    assert lateness.time_left(case, calendar=calendar, now=late).label == "已超期"
