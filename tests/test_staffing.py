"""People behind every department: dispatch refuses a department nobody works in, and
routing passes such departments over and says why (core, API and admin)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from server.cases import workflow
from server.db import db
from server.infra.errors import ValidationFailed
from server.models import CaseAssignment, CaseEvent, CaseStatus, Notification
from server.organisation.routing import route
from tests.api.conftest import key
from tests.factories import DepartmentFactory, category
from tests.helpers import case_in


def _counts():
    return tuple(
        db.session.scalar(select(func.count(m.id)))
        for m in (CaseEvent, CaseAssignment, Notification)
    )


@pytest.fixture
def empty_department(world):
    """A village mediation committee for village 1 with nobody in it (yet)."""
    from server.models import DepartmentKind

    return DepartmentFactory(
        town=world.town,
        name="空无一人调委会",
        kind=DepartmentKind.VILLAGE_COMMITTEE,
        villages=[world.v1],
    )


@pytest.mark.parametrize("as_lead", [True, False], ids=["lead", "co-handler"])
def test_dispatch_to_a_department_nobody_works_in_is_refused_and_writes_nothing(
    world, empty_department, as_lead
):
    case = case_in("accepted", world)
    before, version = _counts(), case.version
    fields = (
        {"lead_department": empty_department.id}
        if as_lead
        else {"lead_department": world.justice.id, "co_departments": [empty_department.id]}
    )
    with pytest.raises(ValidationFailed) as refused:
        workflow.apply(case, "dispatch", actor=world.center, **fields)
    assert refused.value.code == "department_unstaffed"
    assert "空无一人调委会没有在岗人员" in refused.value.message
    assert refused.value.details["field"] == ("lead_department" if as_lead else "co_departments")
    assert (case.status, case.version, _counts()) == (CaseStatus.ACCEPTED, version, before)


def test_an_inactive_member_does_not_staff_a_department(world):
    world.advisor1_handler.active = False
    db.session.flush()
    case = case_in("accepted", world)
    with pytest.raises(ValidationFailed, match="东片法律顾问没有在岗人员"):
        workflow.apply(
            case,
            "dispatch",
            actor=world.center,
            lead_department=world.justice.id,
            co_departments=[world.advisor1.id],
        )


def test_routing_skips_a_department_nobody_works_in_and_says_why(world):
    world.committee1_handler.active = False
    world.advisor1_handler.active = False
    db.session.flush()
    suggestion = route(category("D02"), world.v1)
    # The committee cannot act, so the next department of the rules leads.
    assert suggestion.lead is world.justice
    assert suggestion.co == []
    assert suggestion.skipped == [(world.committee1, "无在岗人员"), (world.advisor1, "无在岗人员")]


def test_routing_falls_back_to_a_town_wide_department_of_the_kind(world, session):
    from server.models import DepartmentKind
    from tests.factories import UserFactory

    town_advisor = DepartmentFactory(
        town=world.town, name="镇法律顾问", kind=DepartmentKind.LEGAL_ADVISOR, town_wide=True
    )
    UserFactory(username="t_town_lawyer", role="handler", department=town_advisor)
    assert route(category("D02"), world.v1).co == [world.justice, world.advisor1]
    world.advisor1_handler.active = False
    session.flush()
    suggestion = route(category("D02"), world.v1)
    assert suggestion.co == [world.justice, town_advisor]
    assert suggestion.skipped == [(world.advisor1, "无在岗人员")]


def test_the_api_refuses_the_dispatch_in_chinese_and_shows_the_skipped_department(
    client, world, login, empty_department
):
    world.committee1_handler.active = False
    db.session.flush()
    case = case_in("accepted", world)
    db.session.flush()
    headers = login(world.center)
    shown = client.get(f"/api/v1/cases/{case.code}", headers=headers).json
    suggestion = shown["suggested_dispatch"]
    assert suggestion["lead"] == {"id": world.justice.id, "name": world.justice.name}
    assert {
        "department": {"id": world.committee1.id, "name": "东村村委会"},
        "reason": "无在岗人员",
    } in suggestion["skipped"]
    departments = client.get("/api/v1/departments", headers=headers).json
    staffed = {d["name"]: d["staffed"] for d in departments}
    assert staffed["东村村委会"] is False
    assert staffed["测试司法所"] is True
    before = _counts()
    refused = client.post(
        f"/api/v1/cases/{case.code}/actions",
        headers=headers | key(),
        json={
            "action": "dispatch",
            "version": case.version,
            "lead_department": empty_department.id,
        },
    )
    assert refused.status_code == 422
    assert refused.json["code"] == "department_unstaffed"
    assert "空无一人调委会没有在岗人员" in refused.json["message"]
    assert _counts() == before


def test_the_admin_marks_and_refuses_a_department_nobody_works_in(
    client, world, signin, empty_department
):
    case = case_in("accepted", world)
    db.session.flush()
    token = signin(world.center)
    page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert f'value="{empty_department.id}" disabled' in page
    assert "空无一人调委会（无在岗人员）" in page
    assert "建议：主办 东村村委会，协办 测试司法所、东片法律顾问" in page
    answer = client.post(
        f"/admin/cases/{case.code}/actions/dispatch",
        data={
            "csrf_token": token,
            "version": str(case.version),
            "lead_department": str(empty_department.id),
        },
        follow_redirects=True,
    )
    assert "空无一人调委会没有在岗人员" in answer.get_data(as_text=True)
    assert db.session.get(type(case), case.id).status == CaseStatus.ACCEPTED
