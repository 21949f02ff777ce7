"""Urgency by what is happening now (正在发生): any report the reporter says is happening
now is urgent, on the 30-minute clock, and the center and the category's own lead
department hear of it at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from server.cases import workflow
from server.db import db
from server.infra import clock
from server.models import Case, Notification
from server.trust import ratelimit
from tests.api.conftest import key
from tests.helpers import new_report
from tests.test_villager import form, post

START = datetime(2026, 6, 5, 14, 0, tzinfo=UTC)  # a Friday, 22:00 in the town


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    with app.app_context():
        ratelimit.reset_all()


def alerted(case) -> set[str]:
    """Who got the urgent alert in their inbox, by username."""
    from server.models import User

    return set(
        db.session.scalars(
            select(User.username)
            .join(Notification, Notification.user_id == User.id)
            .where(
                Notification.case_id == case.id,
                Notification.kind == "urgent_report",
                Notification.channel == "inbox",
            )
        )
    )


def test_a_villager_says_the_haystack_is_smoking_now(client, world):
    with clock.frozen_at(START):
        page = post(
            client,
            world,
            form(world, "H01", happening_now="yes", description="柴草垛冒烟了，挨着电线杆。"),
        )
    assert page.status_code == 200
    assert "30分钟" in page.get_data(as_text=True)  # the promise on the confirmation
    case = db.session.scalar(select(Case).order_by(Case.id.desc()))
    assert (case.category.code, case.happening_now, case.urgent) == ("H01", True, True)
    assert case.due_at == START + timedelta(minutes=30)  # not two working days
    # The center and the work-safety office, the category's own lead; not the police.
    assert alerted(case) == {"t_center", "t_safety"}
    assert (
        db.session.scalar(
            select(Notification.title).where(
                Notification.case_id == case.id, Notification.kind == "urgent_report"
            )
        )
        == "紧急：正在发生"
    )


def test_the_form_offers_it_and_an_unticked_box_changes_nothing(client, world):
    page = client.get(f"/q/{world.v1.qr_token}?kind=H01").get_data(as_text=True)
    assert 'name="happening_now" value="yes"' in page
    assert "正在发生" in page
    post(client, world, form(world, "H01"))
    case = db.session.scalar(select(Case).order_by(Case.id.desc()))
    assert (case.happening_now, case.urgent) == (False, False)
    assert alerted(case) == set()


def test_a_fight_happening_now_through_the_api(client, world, login):
    with clock.frozen_at(START):
        response = client.post(
            "/api/v1/reports",
            headers=login(world.worker1) | key(),
            json={
                "category": "D02",
                "village": world.v1.id,
                "description": "两家正在村口打架。",
                "happening_now": True,
                "parties": [{"name": "甲"}, {"name": "乙", "side": "respondent"}],
            },
        )
    assert response.status_code == 201, response.json
    body = response.json
    assert (body["happening_now"], body["urgent"]) == (True, True)
    assert body["due_at"] == (START + timedelta(minutes=30)).isoformat()
    case = db.session.scalar(select(Case).where(Case.code == body["code"]))
    # A dispute's lead is the village's mediation committee; a fight now, the police too.
    assert alerted(case) == {"t_center", "t_cw1", "t_police"}
    # The departments read where and what, not the report: they see it once dispatched.
    bodies = dict(
        db.session.execute(
            select(Notification.user_id, Notification.body).where(
                Notification.case_id == case.id, Notification.kind == "urgent_report"
            )
        ).all()
    )
    assert "两家正在村口打架" in bodies[world.center.id]
    assert "两家正在村口打架" not in bodies[world.police_handler.id]
    assert "调处中心即将派遣" in bodies[world.police_handler.id]
    with clock.frozen_at(START + timedelta(minutes=10)):
        workflow.apply(case, "accept", actor=world.center, category="D06")
    # Still urgent after a change of category: dispatch due 30 minutes after the report.
    assert case.urgent
    assert case.due_at == START + timedelta(minutes=30)
    with clock.frozen_at(START + timedelta(minutes=20)):
        workflow.apply(case, "dispatch", actor=world.center, lead_department=world.committee1.id)
    assert case.due_at == START + timedelta(minutes=50)  # signed for within 30 minutes


@pytest.mark.parametrize(
    ("code", "happening_now", "who"),
    [
        ("S01", False, {"t_center", "t_police"}),  # 涉暴恐: urgent by its category
        ("S09", True, {"t_center", "t_police"}),  # 赌博 happening now: the police lead
        ("E05", True, {"t_center", "t_enforce"}),  # burning rubbish now: the enforcement team
        ("S09", False, set()),
    ],
)
def test_the_lead_department_of_the_category_is_alerted(world, code, happening_now, who):
    case = new_report(world, code, parties=[], happening_now=happening_now)
    assert alerted(case) == who


def test_the_admin_shows_it_first_and_tagged(client, world, signin):
    calm = new_report(world, "H01", parties=[])
    now = new_report(world, "H01", parties=[], happening_now=True)
    db.session.flush()
    signin(world.center)
    queue = client.get("/admin/").get_data(as_text=True)
    shown = [c.code[:4] + "-" + c.code[4:8] for c in (now, calm)]
    assert queue.index(shown[0]) < queue.index(shown[1])
    page = client.get(f"/admin/cases/{now.code}").get_data(as_text=True)
    assert '<span class="tag tag-urgent">正在发生</span>' in page


def test_once_resolved_the_emergency_is_over(world):
    with clock.frozen_at(START):
        case = new_report(world, "H01", parties=[], happening_now=True)
        for action, actor, fields in (
            ("accept", world.center, {}),
            ("dispatch", world.center, {"lead_department": world.safety.id}),
            ("sign_for", world.safety_handler, {}),
            (
                "resolve",
                world.safety_handler,
                {"result_code": "hazard_removed", "result_text": "已扑灭并清走柴草"},
            ),
            ("verify", world.center, {}),
        ):
            workflow.apply(case, action, actor=actor, **fields)
    assert not case.urgent
    with clock.frozen_at(START + timedelta(days=10)):
        workflow.apply(case, "reopen", actor=world.center, reason="柴草又堆回来了")
    # Dispatch within a working day again, not within 30 minutes.
    assert case.due_at - (START + timedelta(days=10)) > timedelta(hours=12)
    assert case.happening_now  # what the reporter said stays on record
