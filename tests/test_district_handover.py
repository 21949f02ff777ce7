"""Escalation as a handover (issue 21, point 1): 上报区级 hands a case to the district's
center, which alone acts on it, on its own clock, in its own queue, may send it to the
district's departments, and hands it back to the town (交回属地)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from server.cases import access, outbox, workflow
from server.db import db
from server.follow_through import sweep
from server.infra import clock
from server.infra.errors import Forbidden, ValidationFailed
from server.models import CaseStatus, CategoryTimeLimit, Notification, Step
from server.organisation import routing
from tests.factories import category
from tests.helpers import case_in, new_report

REASON = "涉及人数多，跨村纠纷，需区级协调。"
# A Monday morning on the town's clock: the working-day clocks below are plain.
MONDAY = datetime(2026, 6, 1, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


def _told(case, kind) -> set[int]:
    return set(
        db.session.scalars(
            select(Notification.user_id).where(
                Notification.case_id == case.id, Notification.kind == kind
            )
        )
    )


def _actions(case, user) -> set[str]:
    return {t.action for t in workflow.allowed_actions(case, user)}


def test_an_escalated_case_is_handed_to_the_district_center_and_back(world, towns):
    district, bureau = towns["district"], towns["district_department"]
    with clock.frozen_at(MONDAY):
        case = case_in("in_progress", world)
    justice_share = case.active_assignments[0]

    went_up = MONDAY + timedelta(hours=2)
    with clock.frozen_at(went_up):
        workflow.apply(case, "escalate", actor=world.center, reason=REASON)

    # Handed over: the town's departments let go, and the district's own dispatch clock
    # runs from now.
    assert case.status == CaseStatus.ACCEPTED
    assert (case.held_by_district, case.escalated) == (True, True)
    assert case.lead_department is None
    assert justice_share.ended_at is not None
    assert case.step == Step.DISPATCH
    assert case.step_started_at == went_up
    assert case.due_at > went_up
    # The district's center and leaders, and the town's leaders, hear of it; the justice
    # office, which held it, is told it went up.
    assert {district.id, towns["district_leader"].id, world.leader.id} <= _told(case, "escalate")
    assert world.justice_handler.id in _told(case, "escalate")

    # The town's center reads it but no longer acts on it; its leader still instructs.
    assert access.can_view_case(world.center, case)
    assert _actions(case, world.center) == set()
    with pytest.raises(Forbidden) as refused:
        workflow.apply(case, "supervise", actor=world.center)
    assert refused.value.code == "held_by_district"
    assert _actions(case, world.leader) == {"instruct"}
    # The district's center acts on it as a center, and may hand it back.
    assert {"dispatch", "return_to_town", "supervise"} <= _actions(case, district)
    assert "escalate" not in _actions(case, district)
    # Its dispatch offers the district's departments beside the town's, not another town's.
    offered = routing.departments_for(case)
    assert bureau in offered
    assert world.justice in offered
    assert towns["justice_office"] not in offered
    with pytest.raises(ValidationFailed) as refused:
        workflow.apply(case, "dispatch", actor=district, lead_department=towns["justice_office"].id)
    assert refused.value.code == "unknown_reference"

    workflow.apply(
        case,
        "dispatch",
        actor=district,
        lead_department=bureau.id,
        co_departments=[world.committee1.id],
        note="区公安分局牵头，村委会配合。",
    )
    assert case.lead_department == bureau
    # The bureau's handler, who sits at the district, sees and works it.
    handler = towns["bureau"]
    assert access.can_view_case(handler, case)
    workflow.apply(case, "sign_for", actor=handler)
    workflow.apply(
        case, "resolve", actor=handler, result_code="mediated", result_text="双方达成协议。"
    )
    # The result awaits the district's check, which its own center is told of.
    assert district.id in _told(case, "resolve")
    assert world.center.id not in _told(case, "resolve")

    # Not handed back before the district has checked the result: a result sent back
    # would go to its own department, which the town cannot reach.
    assert "return_to_town" not in _actions(case, district)
    workflow.apply(case, "verify", actor=district)
    # Settled and checked at the district, it goes back to the town to visit and close.
    # The district was chased for the visit already: the sweep, after the visit was due.
    late = case.due_at + timedelta(minutes=1)
    with clock.frozen_at(late):
        sweep.run()
        db.session.refresh(case)
        assert case.clock_alert == "overdue"
        workflow.apply(case, "return_to_town", actor=district, reason="请属地回访。")
    assert case.held_by_district is False
    assert case.escalated is True  # on the case file for good
    assert case.status == CaseStatus.FOLLOW_UP
    assert case.clock_alert is None  # the town is chased afresh
    assert world.center.id in _told(case, "return_to_town")
    with pytest.raises(Forbidden) as refused:
        workflow.apply(case, "close", actor=district, closing_reason="resolved")
    assert refused.value.code == "held_by_town"
    workflow.apply(
        case,
        "record_visit",
        actor=world.worker1,
        outcome="kept",
        text="回访：协议已履行。",
        satisfaction="satisfied",
    )
    workflow.apply(case, "close", actor=world.center, closing_reason="resolved")
    assert case.status == CaseStatus.CLOSED


def test_handed_back_fresh_the_town_sends_it_on_with_a_new_clock(world, towns):
    district = towns["district"]
    with clock.frozen_at(MONDAY):
        case = case_in("accepted", world)
        workflow.apply(case, "escalate", actor=world.center, reason=REASON)
    went_up = case.due_at
    back = MONDAY + timedelta(days=1, hours=3)  # Tuesday: the town's clock runs to Wednesday
    with clock.frozen_at(back):
        workflow.apply(case, "return_to_town", actor=district, reason="属地可以化解。")
    assert case.status == CaseStatus.ACCEPTED
    assert case.step == Step.DISPATCH
    assert case.step_started_at == back
    assert case.due_at > went_up
    assert "dispatch" in _actions(case, world.center)
    # The district's departments are the district's own again: not for the town.
    assert towns["district_department"] not in routing.departments_for(case)
    with pytest.raises(ValidationFailed) as refused:
        workflow.apply(
            case, "dispatch", actor=world.center, lead_department=towns["district_department"].id
        )
    assert refused.value.code == "unknown_reference"
    # It may go up again.
    workflow.apply(case, "escalate", actor=world.center, reason="再次上报。")
    assert case.held_by_district


def test_only_what_the_town_has_taken_on_goes_up_and_only_once(world, towns):
    submitted = new_report(world)
    assert "escalate" not in _actions(submitted, world.center)
    case = case_in("dispatched", world)
    workflow.apply(case, "escalate", actor=world.center, reason=REASON)
    with pytest.raises(Forbidden):
        workflow.apply(case, "escalate", actor=world.center, reason=REASON)
    # Another town's center neither sees nor moves it; the district's center of no town
    # cannot take up a case the town still holds.
    other = case_in("dispatched", world)
    assert not access.can_view_case(towns["center"], other)
    with pytest.raises(Forbidden) as refused:
        workflow.apply(other, "recall", actor=towns["district"], reason="区里收回。")
    assert refused.value.code == "held_by_town"


def test_the_district_clock_chases_the_district(world, towns):
    """A late step of a case the district holds is the district's: the sweep chases its
    center, not the town's."""
    with clock.frozen_at(MONDAY):
        case = case_in("accepted", world)
        workflow.apply(case, "escalate", actor=world.center, reason=REASON)
    assert outbox.center_staff(case) == [towns["district"]]
    before = {kind: _told(case, kind) for kind in ("supervise", "chase", "due_soon")}
    with clock.frozen_at(case.due_at + timedelta(minutes=1)):
        assert sweep.run()["overdue"] == 1
    db.session.refresh(case)
    assert case.clock_alert == "overdue"
    chased = set().union(*(_told(case, k) - before[k] for k in before))
    assert towns["district"].id in chased
    assert world.center.id not in chased
    workflow.apply(case, "return_to_town", actor=towns["district"], reason="属地办理。")
    assert outbox.center_staff(case) == [world.center]


def test_the_queues_each_center_works_from(world, towns, client, signin):
    up = case_in("dispatched", world)
    stays = case_in("dispatched", world)
    workflow.apply(up, "escalate", actor=world.center, reason=REASON)
    db.session.flush()
    signin(towns["district"])
    desk = client.get("/admin/").get_data(as_text=True)
    assert "区级承办案件" in desk
    assert up.code in desk
    assert stays.code not in desk
    everything = client.get("/admin/?desk=all").get_data(as_text=True)
    assert up.code in everything
    assert stays.code in everything
    signin(world.center)
    queue = client.get("/admin/").get_data(as_text=True)
    assert stays.code in queue
    assert up.code not in queue
    assert "已上报区级 1 件" in queue
    assert up.code in client.get("/admin/?desk=district").get_data(as_text=True)
    page = client.get(f"/admin/cases/{up.code}").get_data(as_text=True)
    assert "区矛调中心办理" in page
    assert f"/admin/cases/{up.code}/actions/" not in page  # read-only for the town
    signin(towns["district"])
    page = client.get(f"/admin/cases/{up.code}").get_data(as_text=True)
    assert f"/admin/cases/{up.code}/actions/return_to_town" in page
    assert "区公安分局" in page  # the district's departments, offered to dispatch


def test_through_the_api_the_holder_acts_and_the_other_center_is_refused(
    world, towns, client, login
):
    case = case_in("accepted", world)
    workflow.apply(case, "escalate", actor=world.center, reason=REASON)
    db.session.flush()
    url = f"/api/v1/cases/{case.code}/actions"

    def act(user, **body):
        return client.post(
            url,
            headers=login(user) | {"Idempotency-Key": str(uuid.uuid4())},
            json={"version": case.version, **body},
        )

    refused = act(world.center, action="supervise")
    assert refused.status_code == 403
    assert refused.json["code"] == "held_by_district"
    seen = client.get(f"/api/v1/cases/{case.code}", headers=login(world.center)).json
    assert seen["held_by_district"] is True
    assert seen["town"]["name"] == world.town.name
    answer = act(towns["district"], action="return_to_town", reason="属地办理。")
    assert answer.status_code == 200, answer.json
    assert answer.json["held_by_district"] is False
    assert answer.json["escalated"] is True


def test_papers_and_reviews_belong_to_the_center_holding_the_case(world, towns):
    from server.casefile import documents
    from server.cases import queue

    up = case_in("in_progress", world)
    workflow.apply(up, "escalate", actor=world.center, reason=REASON)
    stays = case_in("extension_pending", world)
    district = towns["district"]
    assert documents.can_keep_papers(district, up)
    assert not documents.can_keep_papers(world.center, up)
    assert documents.can_keep_papers(world.center, stays)
    assert not documents.can_keep_papers(district, stays)
    # The town's extension request is the town's to decide, not on the district's desk.
    assert [i.case for i in queue.awaiting_review(world.center, desk="town")] == [stays]
    assert queue.awaiting_review(district, desk="district") == []
    assert [i.case for i in queue.awaiting_review(district)] == [stays]  # ?desk=all


def test_a_case_changes_hands_clean_and_the_district_may_close_it_itself(world, towns):
    """督办 and an overdue step already chased stay with the desk that had them; a case
    the district closes is filed with its town's; a duplicate is not folded into a case
    another desk holds; the leader who instructed hears it was carried out."""
    district, district_leader = towns["district"], towns["district_leader"]
    case = case_in("in_progress", world)
    workflow.apply(case, "supervise", actor=world.center)
    # The town's desk was chased for its late step (the sweep, once it was due) ...
    with clock.frozen_at(case.due_at + timedelta(minutes=1)):
        sweep.run()
        db.session.refresh(case)
        assert case.clock_alert == "overdue"
        workflow.apply(case, "escalate", actor=world.center, reason=REASON)
    # ... and the district's starts afresh: not supervised, not yet chased.
    assert (case.supervised, case.clock_alert) == (False, None)
    assert "supervise" in _actions(case, district)
    # A duplicate reported in the town is not merged into the district's case.
    twin = new_report(world)
    with pytest.raises(Forbidden) as refused:
        workflow.apply(twin, "merge", actor=world.center, into=case.code)
    assert refused.value.code == "held_by_district"
    # Nor does the town's routing suggest the department that just let it go.
    from server.cases import operations

    assert operations.suggest_dispatch(case).lead is None
    # A district leader's instruction, carried out by the district's center.
    workflow.apply(case, "instruct", actor=district_leader, text="请区司法局牵头。")
    workflow.apply(case, "carry_out", actor=district, instruction=case.open_instructions[0].id)
    assert district_leader.id in _told(case, "carry_out")
    # The district settles and closes it itself: it is filed with the town's.
    workflow.apply(
        case, "dispatch", actor=district, lead_department=towns["district_department"].id
    )
    handler = towns["bureau"]
    workflow.apply(case, "sign_for", actor=handler)
    workflow.apply(case, "resolve", actor=handler, result_code="mediated", result_text="已调解。")
    workflow.apply(case, "verify", actor=district)
    workflow.apply(
        case,
        "record_visit",
        actor=district,
        outcome="kept",
        text="回访。",
        satisfaction="satisfied",
    )
    workflow.apply(case, "close", actor=district, closing_reason="resolved")
    assert (case.status, case.held_by_district, case.escalated) == (CaseStatus.CLOSED, False, True)
    assert "reopen" in _actions(case, world.center)


def test_the_town_desk_counts_what_it_lists(world, towns):
    from server.cases import queue

    up = case_in("accepted", world)
    workflow.apply(up, "escalate", actor=world.center, reason=REASON)
    case_in("accepted", world)
    case_in("dispatched", world)
    town = queue.QueueFilters(desk="town")
    listed = queue.page(world.center, town).items
    counted = queue.counts(world.center, town)
    assert sum(counted.values()) == len(listed) == 2
    assert counted["accepted"] == 1
    assert queue.counts(world.center, queue.QueueFilters())["accepted"] == 2
    assert queue.counts(towns["district"], queue.QueueFilters(desk="district"))["accepted"] == 1


# A town's own limits must not leak into the clocks of a case the district holds
# (Case.limits_town_id): found by an independent review of the workflow (helper-33).
DISTRICT_MONDAY = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)


def test_a_district_held_case_s_follow_up_clock_runs_on_the_district_s_limits(world, towns):
    d02 = category("D02")
    # The town's own limits for D02's handling: 3 and 5 days (the district's: 25 and 30).
    db.session.add(
        CategoryTimeLimit(
            category=d02, town_id=world.town.id, step=Step.HANDLE, warn="3d", due="5d"
        )
    )
    db.session.add(
        CategoryTimeLimit(
            category=d02, town_id=world.town.id, step=Step.FOLLOW_UP, warn="1d", due="2d"
        )
    )
    db.session.flush()
    district = towns["district"]
    with clock.frozen_at(DISTRICT_MONDAY):
        case = case_in("accepted", world)
        workflow.apply(case, "escalate", actor=world.center, reason="需区级协调。")
        assert case.limits_town_id is None
        workflow.apply(case, "dispatch", actor=district, lead_department=world.justice.id)
        lead_due = case.active_assignments[0].due_at
        assert lead_due == DISTRICT_MONDAY + timedelta(days=30)
        workflow.apply(case, "sign_for", actor=world.justice_handler)
        workflow.apply(
            case,
            "resolve",
            actor=world.justice_handler,
            result_code="mediated",
            result_text="调解成功。",
        )
        workflow.apply(case, "verify", actor=district)
        follow_due = case.due_at
    assert follow_due == DISTRICT_MONDAY + timedelta(days=7), "follow-up clock used the town's row"


def test_a_district_held_case_signed_for_warns_on_the_district_s_limits(world, towns):
    d02 = category("D02")
    db.session.add(
        CategoryTimeLimit(
            category=d02, town_id=world.town.id, step=Step.HANDLE, warn="3d", due="5d"
        )
    )
    db.session.flush()
    district = towns["district"]
    with clock.frozen_at(DISTRICT_MONDAY):
        case = case_in("accepted", world)
        workflow.apply(case, "escalate", actor=world.center, reason="需区级协调。")
        workflow.apply(case, "dispatch", actor=district, lead_department=world.justice.id)
        workflow.apply(case, "sign_for", actor=world.justice_handler)
    # Yellow at the district's 25 days, not at the town's own 3.
    assert case.warn_at == DISTRICT_MONDAY + timedelta(days=25)
