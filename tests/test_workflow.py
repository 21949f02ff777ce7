"""The lifecycle walked end to end, the reporter's view of it, and stale forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.cases import workflow
from server.infra import clock
from server.infra.errors import InvalidTransition, StaleCase
from server.models import AssignmentRole, CaseStatus
from tests.helpers import case_in, district_center, new_report

START = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)


def test_a_dispute_from_report_to_closed_and_back(world):
    with clock.frozen_at(START):
        case = new_report(world, people_involved=6, group_dispute=True)
        assert workflow.public_status(case) == ("received", "已收到")
        clock.advance(timedelta(hours=1))
        workflow.apply(case, "accept", actor=world.center, risk_level="orange")
        assert case.accepted_at == clock.now()
        assert case.risk_level == "orange"
        workflow.apply(
            case,
            "dispatch",
            actor=world.center,
            lead_department=world.justice.id,
            co_departments=[world.committee1.id],
            handler=world.justice_handler.id,
            note="请司法所牵头",
        )
        assert [(a.department, a.role) for a in case.active_assignments] == [
            (world.justice, AssignmentRole.LEAD),
            (world.committee1, AssignmentRole.CO),
        ]
        assert workflow.public_status(case) == ("handling", "处理中")
        workflow.apply(case, "sign_for", actor=world.justice_handler)
        workflow.apply(case, "feedback", actor=world.committee1_handler, text="已做双方工作")
        assert case.active_assignments[1].feedback == "已做双方工作"

        until = case.due_at + timedelta(days=10)
        workflow.apply(
            case,
            "request_extension",
            actor=world.justice_handler,
            until=until,
            reason="一方外出务工",
            parties_consent=True,
        )
        assert case.extension_requested_until == until
        workflow.apply(case, "approve_extension", actor=world.center)
        assert case.due_at == until
        assert case.extension_requested_until is None

        workflow.apply(
            case,
            "resolve",
            actor=world.justice_handler,
            result_code="mediated",
            result_text="达成书面调解协议",
        )
        workflow.apply(case, "send_back", actor=world.center, reason="缺少协议照片")
        assert case.status == CaseStatus.IN_PROGRESS
        assert case.result_code is None
        workflow.apply(
            case,
            "resolve",
            actor=world.justice_handler,
            result_code="mediated",
            result_text="达成书面调解协议，已补照片",
        )
        workflow.apply(case, "verify", actor=world.center)
        workflow.apply(
            case,
            "record_visit",
            actor=world.worker1,
            text="双方履行协议",
            outcome="kept",
            satisfaction="satisfied",
        )
        workflow.apply(case, "close", actor=world.center, closing_reason="resolved")
        assert (case.status, case.closed_at, case.due_at) == ("closed", clock.now(), None)
        assert case.active_assignments == []
        assert workflow.public_status(case) == ("closed", "已结案")

        workflow.apply(case, "reopen", actor=world.worker1, reason="回访时又吵起来了")
        assert (case.status, case.closed_at, case.closing_reason) == ("accepted", None, None)
        assert case.lead_department is None

    actions = [e.action for e in case.events]
    assert actions == [
        "submit",
        "accept",
        "dispatch",
        "sign_for",
        "feedback",
        "request_extension",
        "approve_extension",
        "resolve",
        "send_back",
        "resolve",
        "verify",
        "record_visit",
        "close",
        "reopen",
    ]
    dispatch = case.events[2]
    assert dispatch.note == "请司法所牵头"
    assert dispatch.data["lead_department"] == world.justice.name
    assert dispatch.actor is world.center
    assert case.version == len(actions)  # one bump per action, even at the same instant


def test_reporter_sees_a_merged_report_follow_its_twin(world):
    first = case_in("in_progress", world)
    twin = new_report(world)
    workflow.apply(twin, "merge", actor=world.center, into=first.code)
    assert twin.merged_into is first
    assert workflow.public_status(twin) == ("handling", "处理中")
    assert workflow.public_status(case_in("rejected", world)) == ("rejected", "不予受理")


def test_public_status_covers_every_status():
    assert set(workflow.PUBLIC_STATUS) == set(CaseStatus)
    assert set(CaseStatus) == workflow.OPEN | workflow.ENDED
    assert not workflow.OPEN & workflow.ENDED


def test_a_stale_form_is_refused_and_says_what_is_current(world):
    case = case_in("submitted", world)
    seen = case.version
    workflow.apply(case, "accept", actor=world.center)
    with pytest.raises(StaleCase) as refused:
        workflow.apply(case, "escalate", actor=world.center, expected_version=seen, reason="重大")
    assert refused.value.details == {"current_status": "accepted", "current_version": seen + 1}
    assert not case.escalated


def test_allowed_actions_follow_the_actor(world):
    case = case_in("dispatched", world)

    def names(actor):
        return [t.action for t in workflow.allowed_actions(case, actor)]

    # With no district center yet (a town's own deployment), nothing goes up: the case
    # would wait on a desk nobody sits at (found by an independent review, helper-33).
    assert names(world.center) == [
        "reassign",
        "change_co_handlers",
        "recall",
        "assess_risk",
        "supervise",
        "note",
    ]
    with pytest.raises(InvalidTransition, match="区矛调中心尚未开通账号"):
        workflow.apply(case, "escalate", actor=world.center, reason="需区级协调。")
    district_center(world)
    assert "escalate" in names(world.center)
    assert names(world.justice_handler) == ["sign_for", "return", "note"]
    assert names(world.committee1_handler) == ["feedback", "note"]
    assert names(world.police_handler) == []
    assert names(world.leader) == ["instruct"]  # read-only but for 批示
    assert names(world.worker1) == []


def test_an_urgent_report_must_be_dispatched_within_30_minutes_of_the_report(world):
    with clock.frozen_at(START):
        case = new_report(world, "S01", parties=[])  # 涉暴恐
        assert case.due_at == START + timedelta(minutes=30)
        clock.advance(timedelta(minutes=20))
        workflow.apply(case, "accept", actor=world.center)
    # Dispatch is due 30 minutes after the report, not after the acceptance.
    assert case.due_at == START + timedelta(minutes=30)
    assert case.warn_at == START + timedelta(minutes=15)


def test_recategorising_at_accept_carries_the_new_categorys_rules(world):
    with clock.frozen_at(START):
        case = new_report(world, "D02")
        assert not case.urgent
        workflow.apply(case, "accept", actor=world.center, category="S02")
    assert case.category.code == "S02"
    assert case.urgent
    assert case.due_at == START + timedelta(minutes=30)
    assert case.events[-1].data["category_from"] == "D02"


def test_the_dispatch_event_names_each_department_once(world):
    case = case_in("accepted", world)
    event = workflow.apply(
        case,
        "dispatch",
        actor=world.center,
        lead_department=world.justice.id,
        co_departments=[world.justice.id, world.committee1.id, world.committee1.id],
    )
    assert event.data["lead_department"] == world.justice.name
    assert event.data["co_departments"] == [world.committee1.name]
    assert len(case.active_assignments) == 2


def test_an_approved_extension_moves_the_whole_team_and_the_yellow_line(world):
    case = case_in("extension_pending", world)
    until = case.extension_requested_until
    gap = case.due_at - case.warn_at
    workflow.apply(case, "approve_extension", actor=world.center)
    assert case.due_at == until
    assert case.due_at - case.warn_at == gap
    assert {a.due_at for a in case.active_assignments} == {until}
