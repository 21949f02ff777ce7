"""Nothing waits on a desk nobody sits at: the center reassigns (改派) and recalls (收回)
a case, and reviews a department's return (退单审核); core, API and admin."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from server.cases import workflow
from server.db import db
from server.infra import clock
from server.infra.errors import Forbidden, InvalidTransition, ValidationFailed
from server.models import Case, CaseStatus, Notification, Step
from tests.api.conftest import key
from tests.helpers import case_in


def inbox(user, kind: str) -> list[Notification]:
    """The inbox notifications of `user` of `kind`."""
    return list(
        db.session.scalars(
            select(Notification).where(
                Notification.user_id == user.id,
                Notification.kind == kind,
                Notification.channel == "inbox",
            )
        )
    )


@pytest.mark.parametrize("situation", ["dispatched", "in_progress", "extension_pending"])
def test_reassign_moves_the_case_to_another_lead_on_a_fresh_clock(world, situation):
    start = clock.now()
    with clock.frozen_at(start):
        case = case_in(situation, world)
    old_lead = case.active_assignments[0]
    later = start + timedelta(days=3)
    with clock.frozen_at(later):
        event = workflow.apply(
            case,
            "reassign",
            actor=world.center,
            lead_department=world.committee1.id,
            co_departments=[world.advisor1.id],
            reason="属村内邻里纠纷，由村调委会先行调解。",
        )
    assert case.status == CaseStatus.DISPATCHED
    assert case.lead_department is world.committee1
    assert case.handler is None
    assert case.extension_requested_until is None
    assert old_lead.ended_at == later
    lead, co = case.active_assignments
    assert (lead.department, co.department) == (world.committee1, world.advisor1)
    assert lead.assigned_at == later
    assert lead.due_at == later + timedelta(days=30)  # a dispute's mediation, from now
    # The new lead signs for it first, on a clock started now.
    assert (case.step, case.step_started_at) == (Step.SIGN_FOR, later)
    assert event.note == "属村内邻里纠纷，由村调委会先行调解。"
    assert event.data["from_lead_department"] == "测试司法所"
    assert event.data["from_co_departments"] == ["东村村委会"]
    assert event.data["lead_department"] == "东村村委会"
    # One event; the old department is told it moved, the new ones that it came.
    assert [e.action for e in case.events].count("reassign") == 1
    assert [n.title for n in inbox(world.justice_handler, "reassign")] == ["案件已改派其他部门"]
    assert "由村调委会先行调解" in inbox(world.justice_handler, "reassign")[0].body
    assert [n.title for n in inbox(world.advisor1_handler, "reassign")] == ["改派：新派遣案件"]
    # The committee was a co-handler and is now the lead: told once, as the new lead.
    assert [n.title for n in inbox(world.committee1_handler, "reassign")] == ["改派：新派遣案件"]
    # The old lead can no longer act on it; the new one can.
    assert workflow.allowed_actions(case, world.justice_handler) == []
    workflow.apply(case, "sign_for", actor=world.committee1_handler)
    assert case.handler is world.committee1_handler


def test_reassign_to_the_same_lead_is_refused(world):
    case = case_in("in_progress", world)
    with pytest.raises(ValidationFailed) as refused:
        workflow.apply(
            case,
            "reassign",
            actor=world.center,
            lead_department=world.justice.id,
            co_departments=[world.advisor1.id],
            reason="再派一次",
        )
    assert refused.value.code == "no_change"
    assert "调整协办" in refused.value.message


def test_other_co_handlers_leave_the_lead_and_its_clock_alone(world):
    case = case_in("extension_pending", world)
    workflow.apply(case, "approve_extension", actor=world.center)
    lead = case.active_assignments[0]
    due, status, handler = case.due_at, case.status, case.handler
    workflow.apply(
        case,
        "change_co_handlers",
        actor=world.center,
        co_departments=[world.advisor1.id],
        reason="改由法律顾问协办。",
    )
    assert (case.status, case.due_at, case.handler) == (status, due, handler)
    assert case.active_assignments[0] is lead
    assert lead.signed_at is not None
    assert [(a.department, a.due_at) for a in case.active_assignments] == [
        (world.justice, due),
        (world.advisor1, due),
    ]
    assert [n.title for n in inbox(world.committee1_handler, "change_co_handlers")] == [
        "已不再协办此案件"
    ]
    assert [n.title for n in inbox(world.advisor1_handler, "change_co_handlers")] == [
        "协办：新派遣案件"
    ]
    assert inbox(world.justice_handler, "change_co_handlers") == []
    with pytest.raises(ValidationFailed, match="协办部门没有改变"):
        workflow.apply(
            case,
            "change_co_handlers",
            actor=world.center,
            co_departments=[world.advisor1.id],
            reason="再调一次",
        )
    # None at all is a change too.
    workflow.apply(case, "change_co_handlers", actor=world.center, reason="不再需要协办。")
    assert [a.department for a in case.active_assignments] == [world.justice]


def test_a_note_reaches_the_inbox_but_not_a_text_message(world):
    world.justice_handler.phone = "13912345678"
    case = case_in("in_progress", world)
    workflow.apply(
        case,
        "reassign",
        actor=world.center,
        lead_department=world.committee1.id,
        reason="当事人张某要求由村里调解。",
    )
    bodies = dict(
        db.session.execute(
            select(Notification.channel, Notification.body).where(
                Notification.user_id == world.justice_handler.id, Notification.kind == "reassign"
            )
        ).all()
    )
    assert "当事人张某要求由村里调解" in bodies["inbox"]
    assert "张某" not in bodies["sms"]


def test_signing_for_it_withdraws_a_return_and_tells_the_center(world):
    case = case_in("dispatched", world)
    workflow.apply(case, "return", actor=world.justice_handler, reason="不属于本所职责。")
    event = workflow.apply(case, "sign_for", actor=world.justice_handler)
    assert case.return_requested_at is None
    assert event.data["return_withdrawn"] is True
    assert [n.title for n in inbox(world.center, "sign_for")] == ["部门已撤回退回申请并签收"]
    workflow.apply(case_in("dispatched", world), "sign_for", actor=world.justice_handler)
    assert len(inbox(world.center, "sign_for")) == 1  # an ordinary sign-for says nothing


def test_recall_takes_the_case_back_to_the_center(world):
    case = case_in("in_progress", world)
    workflow.apply(case, "recall", actor=world.center, reason="情况有变，需重新研判。")
    assert (case.status, case.lead_department, case.active_assignments) == (
        CaseStatus.ACCEPTED,
        None,
        [],
    )
    assert case.step == Step.DISPATCH
    assert [n.title for n in inbox(world.justice_handler, "recall")] == ["案件已被调处中心收回"]
    assert [n.title for n in inbox(world.committee1_handler, "recall")] == ["案件已被调处中心收回"]
    with pytest.raises(Forbidden):
        workflow.apply(
            case_in("dispatched", world), "recall", actor=world.justice_handler, reason="想收回"
        )


def test_a_refused_return_leaves_the_case_with_its_department(world):
    case = case_in("in_progress", world)
    due = case.due_at
    workflow.apply(case, "return", actor=world.justice_handler, reason="不属于司法所职责。")
    assert (case.status, case.lead_department) == (CaseStatus.IN_PROGRESS, world.justice)
    assert case.return_requested_at is not None
    assert [n.title for n in inbox(world.center, "return")] == ["部门申请退回，待审核"]
    with pytest.raises(InvalidTransition, match="已有退回申请"):
        workflow.apply(case, "return", actor=world.justice_handler, reason="再申请")
    workflow.apply(
        case, "refuse_return", actor=world.center, reason="涉及调解协议，属司法所职责，请继续办理。"
    )
    assert (case.status, case.lead_department, case.due_at) == (
        CaseStatus.IN_PROGRESS,
        world.justice,
        due,
    )
    assert case.return_requested_at is None
    (told,) = inbox(world.justice_handler, "refuse_return")
    assert told.title == "退回申请未获同意"
    assert "属司法所职责，请继续办理" in told.body
    assert [e.action for e in case.events][-2:] == ["return", "refuse_return"]


def test_an_approved_return_is_back_at_the_center(world):
    case = case_in("dispatched", world)
    workflow.apply(case, "return", actor=world.justice_handler, reason="不属于司法所职责。")
    workflow.apply(case, "approve_return", actor=world.center, note="同意，改派村调委会。")
    assert (case.status, case.lead_department, case.active_assignments) == (
        CaseStatus.ACCEPTED,
        None,
        [],
    )
    assert case.return_requested_at is None
    assert [n.title for n in inbox(world.justice_handler, "approve_return")] == ["退回申请已同意"]
    assert [e.action for e in case.events][-2:] == ["return", "approve_return"]
    with pytest.raises(InvalidTransition):
        workflow.apply(case_in("dispatched", world), "approve_return", actor=world.center)


def test_the_center_reassigns_recalls_and_reviews_returns_through_the_api(client, world, login):
    center, handler = login(world.center), login(world.justice_handler)
    moving, returned, refused = (case_in("in_progress", world) for _ in range(3))
    db.session.flush()

    def act(headers, case, **body):
        version = client.get(f"/api/v1/cases/{case.code}", headers=headers).json["version"]
        return client.post(
            f"/api/v1/cases/{case.code}/actions",
            headers=headers | key(),
            json={"version": version, **body},
        )

    moved = act(
        center,
        moving,
        action="reassign",
        lead_department=world.committee1.id,
        reason="由村调委会调解。",
    )
    assert moved.status_code == 200, moved.json
    assert (moved.json["status"], moved.json["lead_department"]["name"]) == (
        "dispatched",
        "东村村委会",
    )
    assert [a["department"]["name"] for a in moved.json["assignments"]] == ["东村村委会"]
    missing = act(center, moving, action="reassign", lead_department=world.justice.id)
    assert (missing.status_code, missing.json["code"]) == (422, "missing_field")
    for case in (returned, refused):
        asked = act(handler, case, action="return", reason="不属于司法所职责。")
        assert asked.json["status"] == "in_progress"
        assert "approve_return" in [
            a["action"]
            for a in client.get(f"/api/v1/cases/{case.code}", headers=center).json["actions"]
        ]
    approved = act(center, returned, action="approve_return")
    assert (approved.json["status"], approved.json["lead_department"]) == ("accepted", None)
    kept = act(center, refused, action="refuse_return", reason="请继续办理。")
    assert (kept.json["status"], kept.json["return_requested_at"]) == ("in_progress", None)
    timeline = [e["action"] for e in kept.json["timeline"]]
    assert timeline[-2:] == ["return", "refuse_return"]
    back = act(center, refused, action="recall", reason="收回重新研判。")
    assert back.json["status"] == "accepted"


def test_the_admin_reviews_a_return_and_reassigns(client, world, signin):
    case = case_in("in_progress", world)
    other = case_in("in_progress", world)
    db.session.flush()
    token = signin(world.justice_handler)
    client.post(
        f"/admin/cases/{case.code}/actions/return",
        data={"csrf_token": token, "version": str(case.version), "reason": "不属于本所职责。"},
    )
    token = signin(world.center)
    page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert "申请退回，待调处中心审核：不属于本所职责。" in page
    assert "同意退回" in page
    assert "不同意退回" in page
    case = db.session.get(Case, case.id)
    answer = client.post(
        f"/admin/cases/{case.code}/actions/refuse_return",
        data={"csrf_token": token, "version": str(case.version), "reason": "请继续办理。"},
        follow_redirects=True,
    )
    assert "已不同意退回" in answer.get_data(as_text=True)
    case = db.session.get(Case, case.id)
    assert (case.status, case.return_requested_at) == (CaseStatus.IN_PROGRESS, None)
    client.post(
        f"/admin/cases/{other.code}/actions/reassign",
        data={
            "csrf_token": token,
            "version": str(other.version),
            "lead_department": str(world.committee1.id),
            "reason": "改由村调委会调解。",
        },
    )
    other = db.session.get(Case, other.id)
    assert (other.status, other.lead_department) == (CaseStatus.DISPATCHED, world.committee1)


def test_a_step_cut_short_is_not_counted_as_ended(world):
    case = case_in("in_progress", world)
    moved = workflow.apply(
        case,
        "reassign",
        actor=world.center,
        lead_department=world.committee1.id,
        reason="改由村调委会调解。",
    )
    back = workflow.apply(case, "recall", actor=world.center, reason="收回。")
    assert (moved.step, moved.step_due_at, back.step, back.step_due_at) == (None,) * 4
    signed = next(e for e in case.events if e.action == "sign_for")
    assert signed.step == "sign_for"  # a step the department ended itself still counts
