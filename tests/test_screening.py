"""Screenings: nil returns count, findings become linked cases, gaps show, the late are reminded."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from server.cases.operations import ReportDraft
from server.db import db
from server.follow_through import screening, sweep
from server.infra import clock
from server.infra.errors import Forbidden
from server.models import Case, Notification
from tests.admin.conftest import csrf_from
from tests.api.conftest import key
from tests.factories import PASSWORD

WEDNESDAY = datetime(2026, 6, 3, 2, 0, tzinfo=UTC)  # 10:00 in the town
CHECKLIST = ["D02", "S04", "S06", "S07", "H01"]


def test_a_nil_return_counts(client, world, login):
    with clock.frozen_at(WEDNESDAY):
        response = client.post(
            "/api/v1/screenings",
            headers=login(world.worker1) | key(),
            json={"village": world.v1.id, "checked": CHECKLIST},
        )
        assert response.status_code == 201, response.json
        assert response.json["nil_return"] is True
        assert response.json["case_codes"] == []
        periods = screening.weeks(clock.local(clock.now()).date(), 1, 1)
    counts = dict(screening.coverage(periods, world.center))
    assert counts[world.v1] == [1]
    assert counts[world.v2] == [0]


def test_a_finding_becomes_a_linked_case(client, world, login):
    response = client.post(
        "/api/v1/screenings",
        headers=login(world.worker1) | key(),
        json={
            "village": world.v1.id,
            "checked": CHECKLIST,
            "findings": [
                {"category": "H01", "description": "柴草堆靠着电线杆。"},
                {
                    "category": "D02",
                    "description": "两户为排水争吵。",
                    "parties": [{"name": "甲"}, {"name": "乙", "side": "respondent"}],
                },
            ],
        },
    )
    assert response.status_code == 201, response.json
    assert response.json["nil_return"] is False
    codes = response.json["case_codes"]
    assert len(codes) == 2
    cases = db.session.scalars(select(Case).where(Case.code.in_(codes))).all()
    assert {c.source for c in cases} == {"screening"}
    assert {c.screening_id for c in cases} == {response.json["id"]}
    assert {c.status for c in cases} == {"submitted"}


def test_only_ones_own_village_and_a_bad_finding_writes_nothing(world):
    with pytest.raises(Forbidden):
        screening.file_screening(
            actor=world.worker1, village=world.v2, checked=CHECKLIST, findings=[]
        )
    before = db.session.scalar(select(func.count(Case.id)))
    from server.infra.errors import ValidationFailed

    with pytest.raises(ValidationFailed):
        screening.file_screening(
            actor=world.worker1,
            village=world.v1,
            checked=CHECKLIST,
            findings=[
                ReportDraft(village=world.v1, category="D02", description="好的"),
                ReportDraft(village=world.v1, category="NOPE", description="坏的"),
            ],
        )
    assert db.session.scalar(select(func.count(Case.id))) == before


def test_the_coverage_page_shows_the_village_that_missed_the_week(client, world):
    last_week = WEDNESDAY - timedelta(weeks=1)
    with clock.frozen_at(last_week):
        screening.file_screening(
            actor=world.worker1, village=world.v1, checked=CHECKLIST, findings=[]
        )
    db.session.flush()
    with clock.frozen_at(WEDNESDAY):
        token = csrf_from(client.get("/admin/login").get_data(as_text=True))
        client.post(
            "/admin/login", data={"csrf_token": token, "username": "t_center", "password": PASSWORD}
        )
        page = client.get("/admin/coverage").get_data(as_text=True)
    west = page[page.index("西村") :].split("</tr>")[0]
    east = page[page.index("东村") :].split("</tr>")[0]
    assert "盲区" in west  # the west village screened in no finished week
    assert "零报告" in page  # who screened, and how
    assert world.worker1.display_name in page
    assert east.count('class="gap"') < west.count('class="gap"')


def test_late_villages_are_reminded_once_a_week(world):
    thursday = WEDNESDAY + timedelta(days=1)
    with clock.frozen_at(thursday):
        screening.file_screening(
            actor=world.worker1, village=world.v1, checked=CHECKLIST, findings=[]
        )
        sweep.run()
        sweep.run()
    reminders = db.session.scalars(
        select(Notification).where(Notification.kind == "screening_due")
    ).all()
    assert {n.user_id for n in reminders} == {world.worker2.id}
    assert len({n.channel for n in reminders}) == len(reminders)  # one per channel, once


def test_each_town_s_late_villages_are_reminded_and_a_worker_is_told_once(world, towns):
    """The district's sweep reminds the late villages of every town; a worker whose grids
    lie in two late villages gets one reminder, not two; a second sweep sends none."""
    from tests.factories import GridFactory

    both = GridFactory(village=world.v2)
    world.worker1.grids.append(both)  # worker1 now works v1 and v2
    db.session.flush()
    thursday = WEDNESDAY + timedelta(days=1)
    with clock.frozen_at(thursday):
        assert sweep.run()["screening_reminders"] >= 2
        assert sweep.run()["screening_reminders"] == 0
    told = db.session.scalars(
        select(Notification.user_id).where(
            Notification.kind == "screening_due", Notification.channel == "inbox"
        )
    ).all()
    assert towns["grid"].id in told  # the other town's village
    assert sorted(told) == sorted(set(told))  # nobody twice
    assert world.worker1.id in told


def test_a_worker_of_two_late_villages_hears_of_both_once(world):
    """One message a week to each worker, naming every late village of theirs (found by
    an independent review: the second village's only worker was never told of it)."""
    from zoneinfo import ZoneInfo

    from server.models import Notification, Role
    from tests.factories import GridFactory, UserFactory, VillageFactory

    south = VillageFactory(town=world.town, name="南村")
    north = VillageFactory(town=world.town, name="北村")
    both = UserFactory(
        username="t_grid34",
        role=Role.GRID_WORKER,
        grids=[GridFactory(village=south), GridFactory(village=north)],
    )
    db.session.flush()
    thursday = datetime(2026, 6, 4, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with clock.frozen_at(thursday):
        first = screening.remind_late_villages(required_per_week=1)
        again = screening.remind_late_villages(required_per_week=1)
    bodies = list(
        db.session.scalars(
            select(Notification.body).where(
                Notification.user_id == both.id,
                Notification.kind == "screening_due",
                Notification.channel == "inbox",
            )
        )
    )
    assert len(bodies) == 1
    assert "南村" in bodies[0]
    assert "北村" in bodies[0]
    assert first >= 2  # both villages (and the world's own, late too)
    assert again == 0
