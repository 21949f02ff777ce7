"""A case's lateness reads the same on every page: the queue, the supervision list (督办)
and the case page count it in working days, with one function (server/cases/lateness.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from server.cases import workflow
from server.db import db
from server.infra import clock, codes
from tests.helpers import case_in

MONDAY = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)  # Monday 09:00 in the town


def _row(page: str, case) -> str:
    """The table row of `case` on `page`."""
    shown = codes.display(case.code)
    return next(row for row in page.split("<tr") if shown in row)


def _cell(row: str) -> str:
    return re.search(r'class="left"[^>]*>([^<]*)<', row).group(1).strip()


def test_the_queue_the_supervision_list_and_the_case_page_count_lateness_alike(
    client, world, signin
):
    with clock.frozen_at(MONDAY):
        case = case_in("dispatched", world)  # to sign for within a working day: Tuesday 09:00
        workflow.apply(case, "supervise", actor=world.center)
    db.session.flush()
    # The next Monday 10:00: six days on the wall clock, four working days (Wed, Thu, Fri,
    # Mon); the weekend is no one's fault.
    with clock.frozen_at(case.due_at + timedelta(days=6, hours=1)):
        signin(world.center)
        queue = _row(client.get("/admin/?supervised=1").get_data(as_text=True), case)
        supervision = _row(client.get("/admin/supervision").get_data(as_text=True), case)
        page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert _cell(queue) == _cell(supervision) == "超期4个工作日"
    assert "time-overdue" in queue
    assert "time-overdue" in supervision
    deadline = re.search(r'<span class="deadline time-overdue">(.*?)</span>\s*<a', page, re.S)
    assert deadline is not None, "the case page marks the overdue deadline"
    assert "（超期4个工作日）" in deadline.group(1)
    assert "已超期" in deadline.group(1)


def test_the_case_page_marks_a_deadline_due_soon(client, world, signin):
    with clock.frozen_at(MONDAY):
        case = case_in("submitted", world)  # accept: yellow after 1, red after 2 working days
    db.session.flush()
    with clock.frozen_at(case.due_at - timedelta(hours=3)):
        signin(world.center)
        page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
        queue = _row(client.get("/admin/").get_data(as_text=True), case)
    assert '<span class="deadline time-warn">' in page
    assert "（剩余3小时）" in page
    assert "即将到期" in page
    assert "time-warn" in queue
    assert _cell(queue) == "剩余3小时"
    with clock.frozen_at(MONDAY + timedelta(hours=1)):
        calm = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert '<span class="deadline time-ok">' in calm
    assert "即将到期" not in calm
    assert "已超期" not in calm
