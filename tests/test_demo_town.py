"""The demo town of `make run`: everyone routing can name has people who can act."""

from __future__ import annotations

from sqlalchemy import select

from server.models import Category, Department, DepartmentKind, Role, Village
from server.organisation.routing import route, unstaffed
from server.trust import passwords


def test_every_village_committee_and_legal_advisor_has_an_account(demo, session, app):
    town = demo["center"].town_id  # 大钟庄镇 (the second town's are xw-med01 …)
    committees = session.scalars(
        select(Department)
        .where(Department.kind == DepartmentKind.VILLAGE_COMMITTEE, Department.town_id == town)
        .order_by(Department.id)
    ).all()
    villages = session.scalars(
        select(Village).where(Village.town_id == town).order_by(Village.code)
    ).all()
    for number, (village, committee) in enumerate(zip(villages, committees, strict=True), 1):
        mediator = demo[f"med{number:02d}"]
        assert mediator.role == Role.HANDLER
        assert mediator.department is committee
        assert committee.villages == [village]
        assert committee.name == f"{village.name}调委会"
    advisors = [demo[f"lawyer{n:02d}"].department for n in range(1, 11)]
    assert {d.kind for d in advisors} == {DepartmentKind.LEGAL_ADVISOR}
    # lawyer01 … lawyer09 cover villages 1-5, 6-10, …; lawyer10 is the town government's.
    assert [v.code for v in advisors[1].villages] == ["V06", "V07", "V08", "V09", "V10"]
    assert advisors[9].town_wide
    assert passwords.verify_password(demo["med45"].password_hash, app.config["DEMO_PASSWORD"])
    assert passwords.verify_password(demo["lawyer10"].password_hash, app.config["DEMO_PASSWORD"])


def test_routing_suggests_no_department_nobody_staffs(demo, session):
    villages = session.scalars(select(Village)).all()
    categories = session.scalars(select(Category)).all()
    suggested = set()
    for category in categories:
        for village in villages:
            suggestion = route(category, village)
            assert suggestion.lead is not None, (category.code, village.code)
            assert suggestion.skipped == [], (category.code, village.code)
            suggested |= {suggestion.lead, *suggestion.co}
    assert unstaffed(list(suggested)) == []
    assert unstaffed(session.scalars(select(Department)).all()) == []


def test_the_demo_shows_every_new_part_of_the_loop(demo, session):
    from server.models import Case, CaseEvent

    cases = session.scalars(select(Case)).all()
    assert any(c.return_requested_at for c in cases)
    assert any(c.complaint_at for c in cases)
    assert any(c.repeat_dispute for c in cases)
    assert any(c.happening_now and c.urgent for c in cases)
    assert session.scalar(select(CaseEvent.id).where(CaseEvent.action == "reassign"))
    # Disputes are signed for by the villages' own mediators.
    signed = session.scalars(select(CaseEvent).where(CaseEvent.action == "sign_for")).all()
    assert any(e.actor.username.startswith("med") for e in signed)


def test_the_demo_district_holds_a_second_town_that_sees_only_its_own(demo, session, client):
    """make run's district: 大钟庄镇 and 小王庄镇, each center with its own cases, and the
    district's center with both; the API's case summaries name the town."""
    from server.cases import access
    from server.models import Case, Town

    towns = {t.name: t for t in session.scalars(select(Town))}
    assert set(towns) == {"大钟庄镇", "小王庄镇"}
    second = towns["小王庄镇"]
    cases = session.scalars(select(Case)).all()
    theirs = {c.id for c in cases if c.town_id == second.id}
    assert 0 < len(theirs) < len(cases)
    assert {"submitted", "closed"} <= {c.status.value for c in cases if c.id in theirs}

    def seen(username):
        query = select(Case.id).where(access.case_filter(demo[username]))
        return set(session.scalars(query))

    assert seen("xw-center") == seen("xw-leader") == theirs
    assert seen("center") == {c.id for c in cases} - theirs
    assert seen("district") == seen("district-leader") == {c.id for c in cases}
    assert demo["xw-grid01"].town_id == demo["xw-police"].town_id == second.id

    password = client.application.config["DEMO_PASSWORD"]
    token = client.post(
        "/api/v1/auth/login", json={"username": "district", "password": password}
    ).json["token"]
    listed = client.get("/api/v1/cases?limit=100", headers={"Authorization": f"Bearer {token}"})
    assert {item["town"]["name"] for item in listed.json["items"]} == set(towns)


def test_the_demo_district_works_a_case_escalated_to_it(demo, session):
    """make run's district center has work of its own: a group dispute the town handed up,
    sent on to the district's justice bureau, whose mediator holds it."""
    from server.cases import queue, workflow
    from server.models import Case

    held = session.scalars(select(Case).where(Case.held_by_district.is_(True))).all()
    assert len(held) == 1
    (case,) = held
    assert case.escalated
    assert case.lead_department.name == "区司法局"
    assert case.lead_department.town_id is None
    desk = queue.page(demo["district"], queue.QueueFilters(desk="district"))
    assert [c.id for c in desk.items] == [case.id]
    assert workflow.allowed_actions(case, demo["center"]) == []
    assert "sign_for" in {
        t.action for t in workflow.allowed_actions(case, demo["district-justice"])
    }
