"""The reporter's answer counts (不满意重办): a villager's 不满意, or a complaint after the
case is closed, puts it before the center, which reopens it or keeps the result with a
reason the villager reads on their tracking page."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.cases import workflow
from server.db import db
from server.infra.errors import InvalidTransition
from server.models import Case, CaseStatus, Notification
from server.trust import ratelimit
from tests.api.conftest import key
from tests.helpers import case_in
from tests.test_villager import form, post, tracking_link

WALK = (
    ("accept", "center", {}),
    ("dispatch", "center", {"lead_department": "justice"}),
    ("sign_for", "justice_handler", {}),
    ("resolve", "justice_handler", {"result_code": "mediated", "result_text": "达成协议"}),
    ("verify", "center", {}),
    ("record_visit", "worker1", {"outcome": "kept", "text": "回访：协议已履行"}),
    ("close", "center", {"closing_reason": "resolved"}),
)


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    with app.app_context():
        ratelimit.reset_all()


def villager_case(client, world, until: str):
    """A villager's report walked by staff up to (and with) action `until`: its link."""
    link = tracking_link(post(client, world, form(world)).get_data(as_text=True))
    case = db.session.scalar(select(Case).order_by(Case.id.desc()))
    for action, who, fields in WALK:
        if "lead_department" in fields:
            fields = {"lead_department": getattr(world, fields["lead_department"]).id}
        workflow.apply(case, action, actor=getattr(world, who), **fields)
        if action == until:
            break
    db.session.flush()
    return case, link


def told_center(world, kind):
    return db.session.scalars(
        select(Notification.title).where(
            Notification.user_id == world.center.id,
            Notification.kind == kind,
            Notification.channel == "inbox",
        )
    ).all()


def test_a_villagers_dissatisfaction_is_reviewed_and_the_result_kept_with_a_reason(
    client, world, signin
):
    case, link = villager_case(client, world, "verify")
    page = client.get(link).get_data(as_text=True)
    assert 'value="basically_satisfied"> 基本满意' in page
    client.post(
        f"{link}/feedback",
        data={"satisfaction": "dissatisfied", "text": "对方没有按说好的修排水沟。"},
    )
    case = db.session.get(Case, case.id)
    assert case.complaint_at is not None
    assert told_center(world, "answer_follow_up") == ["群众对处理结果不满意，待复核"]
    assert "已送调处中心复核" in client.get(link).get_data(as_text=True)

    # Before the center: a review item in its queue, with the answer.
    token = signin(world.center)
    queue = client.get("/admin/").get_data(as_text=True)
    assert "待审核事项" in queue
    assert "群众不满意，待复核" in queue
    assert "对方没有按说好的修排水沟。" in queue
    shown = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert "对处理结果不满意，待复核：对方没有按说好的修排水沟。" in shown
    assert "维持原结果" in shown
    with pytest.raises(InvalidTransition, match="请先复核"):
        workflow.apply(case, "close", actor=world.center, closing_reason="resolved")
    client.post(
        f"/admin/cases/{case.code}/actions/confirm_result",
        data={
            "csrf_token": token,
            "version": str(case.version),
            "reason": "经核实排水沟已于上周修好，维持原处理结果。",
        },
    )
    case = db.session.get(Case, case.id)
    assert (case.status, case.complaint_at) == (CaseStatus.FOLLOW_UP, None)
    tracked = client.get(link).get_data(as_text=True)
    assert "调处中心复核后维持处理结果：" in tracked
    assert "经核实排水沟已于上周修好，维持原处理结果。" in tracked
    assert "待审核事项" not in client.get("/admin/").get_data(as_text=True)


def test_a_complaint_after_closing_reopens_the_case(client, world, login):
    case, link = villager_case(client, world, "close")
    page = client.get(link).get_data(as_text=True)
    assert "满意吗" in page
    assert "问题还没有解决" not in page  # the answer first, then a complaint if need be
    client.post(f"{link}/feedback", data={"satisfaction": "satisfied"})
    assert db.session.get(Case, case.id).complaint_at is None
    assert "问题还没有解决" in client.get(link).get_data(as_text=True)
    sent = client.post(f"{link}/complaint", data={"text": "下雨后排水沟又堵了，又吵起来。"})
    assert sent.status_code == 303
    again = client.post(f"{link}/complaint", data={"text": "再说一次"})
    assert again.status_code == 409
    assert "正在复核中" in again.get_data(as_text=True)
    assert told_center(world, "complain") == ["群众反映问题未解决，待复核"]

    headers = login(world.center)
    listed = client.get("/api/v1/cases?awaiting_review=true", headers=headers).json
    assert [c["code"] for c in listed["items"]] == [case.code]
    detail = client.get(f"/api/v1/cases/{case.code}", headers=headers).json
    assert detail["complaint_at"] is not None
    assert detail["timeline"][-1]["note"] == "下雨后排水沟又堵了，又吵起来。"
    assert {"reopen", "confirm_result"} <= {a["action"] for a in detail["actions"]}
    reopened = client.post(
        f"/api/v1/cases/{case.code}/actions",
        headers=headers | key(),
        json={
            "action": "reopen",
            "version": detail["version"],
            "reason": "群众反映问题复发，重新派遣。",
        },
    )
    assert reopened.status_code == 200, reopened.json
    assert (reopened.json["status"], reopened.json["complaint_at"]) == ("accepted", None)
    assert client.get("/api/v1/cases?awaiting_review=true", headers=headers).json["items"] == []
    tracked = client.get(link).get_data(as_text=True)
    assert '您反映问题未解决：<span class="detail">下雨后排水沟又堵了，又吵起来。' in tracked
    assert "问题再次出现，已重新处理" in tracked


def test_a_resolved_case_with_a_complaint_is_sent_back_not_verified(client, world):
    case, link = villager_case(client, world, "resolve")
    client.post(f"{link}/feedback", data={"satisfaction": "dissatisfied", "text": "没调好"})
    case = db.session.get(Case, case.id)
    assert workflow.ACTIONS["verify"] not in workflow.allowed_actions(case, world.center)
    workflow.apply(case, "send_back", actor=world.center, reason="群众不满意，请继续调解。")
    assert (case.status, case.complaint_at) == (CaseStatus.IN_PROGRESS, None)


def test_a_complaint_comes_after_the_answer(client, world):
    case, _link = villager_case(client, world, "close")
    with pytest.raises(InvalidTransition, match="请先评价处理结果"):
        workflow.apply_as_reporter(case, "complain", text="没解决")
    workflow.apply_as_reporter(case, "answer_follow_up", satisfaction="satisfied")
    assert told_center(world, "answer_follow_up") == []  # a satisfied answer says nothing
    workflow.apply_as_reporter(case, "complain", text="又坏了")
    assert told_center(world, "complain") == ["群众反映问题未解决，待复核"]


def test_what_awaits_review_is_listed_only_to_those_who_may_see_the_case(client, world, login):
    # The review condition is three ORs: left bare beside the access policy's AND, it once
    # listed every case awaiting a return's review to any grid worker or department.
    case, _link = villager_case(client, world, "sign_for")
    workflow.apply(case, "return", actor=world.justice_handler, reason="不是本所职责")
    db.session.commit()
    assert case.village_id == world.v1.id  # worker2 has v2; police was never sent it
    for outsider in (world.worker2, world.police_handler):
        listed = client.get("/api/v1/cases?awaiting_review=true", headers=login(outsider)).json
        assert listed["items"] == [], outsider.username
    listed = client.get("/api/v1/cases?awaiting_review=true", headers=login(world.center)).json
    assert [c["code"] for c in listed["items"]] == [case.code]


def test_a_complaint_on_a_result_awaiting_the_check_may_be_reviewed_by_reopening(world):
    """DESIGN: resolved, follow_up, closed | the reporter's 不满意 → review: reopen or keep
    (center). At the check, reopening sends the case back to be dispatched afresh, to
    another department if need be; send_back could only return it to the same one.
    Found by an independent review of the workflow (helper-33)."""
    case = case_in("resolved", world)
    workflow.apply_as_reporter(case, "answer_follow_up", satisfaction="dissatisfied")
    assert case.complaint_at is not None
    assert "reopen" in [t.action for t in workflow.allowed_actions(case, world.center)]
    assert "reopen" not in [t.action for t in workflow.allowed_actions(case, world.worker1)]
    workflow.apply(case, "reopen", actor=world.center, reason="群众不满意，重新派遣。")
    assert case.status == CaseStatus.ACCEPTED
    assert case.complaint_at is None
    assert case.active_assignments == []
