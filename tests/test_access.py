"""The access policy: who sees which case and which fields."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.cases import access, lookup, operations, queries, workflow
from server.cases.operations import Reporter
from server.db import db
from server.infra.errors import NotFound
from server.models import AuditEntry, Case
from tests.helpers import case_in, new_report


def _visible(user) -> set[int]:
    return set(db.session.scalars(select(Case.id).where(access.case_filter(user))))


def _everyone(world):
    return [
        world.center,
        world.leader,
        world.admin,
        world.police_handler,
        world.justice_handler,
        world.committee1_handler,
        world.worker1,
        world.worker2,
    ]


def test_who_sees_which_case(world):
    east = case_in("dispatched", world)  # dispute in village 1, justice + committee 1
    west = new_report(world, village=world.v2)
    drugs_by_villager = new_report(world, "S04", actor=None, source="qr", parties=[])
    drugs_by_worker = new_report(world, "S04", parties=[])
    expected = {
        "t_center": {east, west, drugs_by_villager, drugs_by_worker},
        "t_leader": {east, west, drugs_by_villager, drugs_by_worker},
        "t_admin": set(),
        "t_police": set(),
        "t_justice": {east},
        "t_cw1": {east},
        # A confidential tip is not the village grid worker's unless they filed it.
        "t_grid1": {east, drugs_by_worker},
        "t_grid2": {west},
    }
    for user in _everyone(world):
        mine = {c.id for c in expected[user.username]}
        assert (
            _visible(user) & {c.id for c in (east, west, drugs_by_villager, drugs_by_worker)}
            == mine
        ), user.username
        for case in (east, west, drugs_by_villager, drugs_by_worker):
            assert access.can_view_case(user, case) == (case.id in mine), (user.username, case)


def test_a_department_keeps_sight_of_a_case_it_handled(world):
    case = case_in("in_progress", world)
    workflow.apply(case, "return", actor=world.justice_handler, reason="不是本所职责")
    workflow.apply(case, "approve_return", actor=world.center)
    assert case.active_assignments == []
    assert access.can_view_case(world.justice_handler, case)
    assert case.id in _visible(world.justice_handler)


def test_a_disabled_account_sees_nothing(world):
    case = case_in("submitted", world)
    world.center.active = False
    assert not access.can_view_case(world.center, case)
    assert _visible(world.center) == set()


def test_only_the_center_sees_the_informant_and_each_look_is_audited(world):
    case = new_report(
        world,
        "D02",
        actor=None,
        source="qr",
        parties=[],
        reporter=Reporter(anonymous=False, name="王大妈", phone="13900000000"),
    )
    for user in _everyone(world):
        assert access.can_see_informant(user, case) == (user is world.center)
        revealed = access.reveal_informant(case, actor=user, ip="10.0.0.8")
        assert (revealed is not None) == (user is world.center)
    assert revealed is None
    identity = access.reveal_informant(case, actor=world.center)
    assert identity == {"name": "王大妈", "phone": "13900000000", "wechat": None}
    looks = db.session.scalars(
        select(AuditEntry).where(
            AuditEntry.action == "case.view_informant", AuditEntry.object_id == case.code
        )
    ).all()
    assert [entry.actor_id for entry in looks] == [world.center.id, world.center.id]
    assert looks[0].ip == "10.0.0.8"


def test_exact_place_of_a_confidential_report_is_for_the_center(world):
    case = new_report(world, "S04", parties=[], latitude=39.5, longitude=117.2)
    assert access.can_see_exact_location(world.center, case)
    assert access.can_see_exact_location(world.worker1, case) is False  # they filed it, but
    # the coordinates point at where the informant stood
    ordinary = new_report(world, "H01", parties=[], latitude=39.5, longitude=117.2)
    assert access.can_see_exact_location(world.worker1, ordinary)
    assert not access.can_see_exact_location(world.worker2, ordinary)


def test_the_reporter_timeline_hides_internal_events(world):
    case = case_in("in_progress", world)
    workflow.apply(case, "supervise", actor=world.center, note="请加快")
    workflow.apply(case, "note", actor=world.center, text="当事人情绪激动")
    staff = [e.action for e in operations.timeline(case, viewer=world.center)]
    public = [e.action for e in operations.timeline(case, viewer=None)]
    assert staff == ["submit", "accept", "dispatch", "sign_for", "supervise", "note"]
    assert public == ["submit", "accept", "dispatch", "sign_for"]
    assert operations.timeline(case, viewer=world.worker2) == operations.timeline(case, viewer=None)


def test_get_case_for_does_not_reveal_existence(world):
    case = new_report(world, village=world.v2)
    assert lookup.get_case_for(case.code.lower(), world.center) is case
    # Someone else's case and a case that does not exist answer the same way.
    for user, code in ((world.worker1, case.code), (world.center, "ZZZZZZZZZZZZ")):
        with pytest.raises(NotFound):
            lookup.get_case_for(code, user)


def test_a_departments_open_list_follows_its_cases_through_closing_and_reopening(world):
    # A handler's list of open cases is read from assignments marked open by the
    # workflow's engine: the mark must follow the case out and back in, for every
    # department sent it (the co-handler too), or the list shows a closed case or loses a
    # reopened one.
    case = case_in("closed", world)
    open_list = queries.CaseFilters(status="accepted")
    for handler in (world.justice_handler, world.committee1_handler):
        assert queries.list_cases(handler, open_list).items == []
        assert queries.list_cases(handler, queries.CaseFilters()).items == [case]
    assert {a.case_open for a in case.assignments} == {False}
    workflow.apply(case, "reopen", actor=world.center, reason="群众反映问题复发。")
    db.session.flush()
    assert {a.case_open for a in case.assignments} == {True}
    for handler in (world.justice_handler, world.committee1_handler):
        assert queries.list_cases(handler, open_list).items == [case]
