"""Time limits and routing set at the district and overridden by a town where it differs
(issue 21, point 1). The categories themselves (names, flags) are the district's: a town's
admin sets their own town's limits and routing only, and a town's own setting moves its
own cases' clocks and routes, never another town's.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.cases import workflow
from server.cases.workflow.assignments import lead_assignment
from server.db import db
from server.figures import league, periods
from server.infra import clock
from server.infra.errors import Forbidden, ValidationFailed
from server.models import (
    AssignmentRole,
    CalendarDay,
    CalendarYear,
    CategoryTimeLimit,
    DepartmentKind,
    LeagueStandard,
    Role,
    RoutingRule,
    Step,
)
from server.organisation import management, reference, routing
from server.organisation.deadlines import Deadlines, limits_of
from server.trust.audit import AuditEntry
from tests.factories import UserFactory, category
from tests.helpers import new_report

STEPS = [s.value for s in Step]


def _limits(**changed: tuple[str, str]) -> dict:
    """The form's limits for D02 as the district has them, with `changed` steps
    ({"accept": ("1", "d")}: due in 1 calendar day, no yellow stage)."""
    found = {}
    for step, (warn, due, _whose) in limits_of(category("D02"), None).items():
        pair = [_pair(warn), _pair(due)]
        if step.value in changed:
            pair = [("", "wd"), changed[step.value]]
        found[step.value] = tuple(pair)
    return found


def _pair(text: str | None) -> tuple[str, str]:
    if text is None:
        return ("", "wd")
    amount, unit = re.fullmatch(r"(\d+)(\D+)", text).groups()
    return (amount, unit)


@pytest.fixture
def admins(world, towns):
    """The district's admin and the second town's (`world.admin` is the first town's)."""
    return {
        "district": UserFactory(username="d_admin", role=Role.ADMIN, town=None),
        "other": UserFactory(username="o_admin", role=Role.ADMIN, town=towns["town"]),
    }


def _save(admin, **changed):
    """Save D02's limits as the district has them but for `changed`, and its routing as
    the district has it (a village committee leads, the justice office joins)."""
    management.save_rules(
        category("D02"),
        actor=admin,
        limits=_limits(**changed),
        lead_kind="village_committee",
        co_kinds=["justice_office"],
    )
    db.session.flush()


def test_a_town_s_own_limit_sets_its_own_cases_clocks_only(world, towns, admins):
    # The district's accept limit for D02 is 2 working days; the second town takes 1 day.
    _save(admins["other"], accept=("1", "d"))
    rows = [r for r in category("D02").time_limits if r.town_id is not None]
    assert [(r.town_id, r.step, r.due) for r in rows] == [(towns["town"].id, Step.ACCEPT, "1d")]
    here = new_report(world)
    there = new_report(world, village=towns["village"], actor=towns["grid"])
    deadlines = Deadlines(reference.calendar)
    assert (there.due_at - there.created_at).total_seconds() == 24 * 3600
    district = deadlines.clock(category("D02"), Step.ACCEPT, here.created_at, town_id=None)
    assert here.due_at == district.due_at  # 2 working days
    assert here.due_at - here.created_at > timedelta(days=1)


def test_a_town_choosing_the_district_s_values_keeps_nothing_of_its_own(world, towns, admins):
    _save(admins["other"], handle=("20", "d"))
    assert limits_of(category("D02"), towns["town"].id)[Step.HANDLE] == (None, "20d", "town")
    # Routing chosen as the district's keeps no rule of the town's.
    assert not [r for r in category("D02").routing_rules if r.town_id is not None]
    # Set back to what the district has: the town follows the district again.
    _save(admins["other"])
    assert not [r for r in category("D02").time_limits if r.town_id is not None]
    assert not management.settings_of(category("D02"), towns["town"].id).own
    # A town's routing of none is refused in words (it would read as the district's).
    with pytest.raises(ValidationFailed) as refused:
        management.save_rules(
            category("D02"), actor=admins["other"], limits=_limits(), lead_kind=None, co_kinds=[]
        )
    assert refused.value.code == "routing_required"
    assert limits_of(category("D02"), towns["town"].id)[Step.HANDLE][2] != "town"
    # "Follow the district" forgets all of a town's own settings of the category at once.
    _save(admins["other"], handle=("20", "d"))
    management.save_rules(
        category("D02"),
        actor=admins["other"],
        limits=_limits(handle=("20", "d")),
        lead_kind="justice_office",
        co_kinds=[],
    )
    assert management.settings_of(category("D02"), towns["town"].id).own
    management.follow_district(category("D02"), actor=admins["other"])
    db.session.flush()
    settings = management.settings_of(category("D02"), towns["town"].id)
    assert not settings.own
    assert settings.routing_whose == "district"
    actions = db.session.scalars(
        select(AuditEntry.action).where(AuditEntry.object_id == "D02").order_by(AuditEntry.id)
    ).all()
    assert actions[-1] == "category.follow_district"


def test_a_town_s_routing_routes_its_own_villages_only(world, towns, admins):
    before_here = routing.route(category("D02"), world.v1).lead
    management.save_rules(
        category("D02"),
        actor=admins["other"],
        limits=_limits(),
        lead_kind="police_station",
        co_kinds=["justice_office"],
    )
    db.session.flush()
    there = routing.route(category("D02"), towns["village"])
    police = towns["police"].department
    assert (there.lead, there.co) == (police, [towns["justice_office"]])
    assert routing.route(category("D02"), world.v1).lead == before_here
    assert before_here.kind == DepartmentKind.VILLAGE_COMMITTEE
    # The district's change reaches the towns that follow it, not the one with its own.
    management.save_rules(
        category("D02"),
        actor=admins["district"],
        limits=_limits(),
        lead_kind="justice_office",
        co_kinds=[],
    )
    db.session.flush()
    assert routing.route(category("D02"), world.v1).lead == world.justice
    assert routing.route(category("D02"), towns["village"]).lead == police


def test_a_rule_never_suggests_another_town_s_department(world, towns):
    d02 = category("D02")
    d02.routing_rules = [RoutingRule(department=world.police, role=AssignmentRole.LEAD)]
    db.session.flush()
    assert routing.route(d02, world.v1).lead == world.police
    assert routing.route(d02, towns["village"]).lead != world.police


def test_what_the_towns_share_is_the_district_s_to_change(world, towns, admins):
    with pytest.raises(Forbidden):
        management.save_category(
            category("D02"),
            actor=admins["other"],
            name="改了名字",
            hint=None,
            urgent=False,
            confidential=False,
            emergency=False,
            active=True,
            default_risk_level="yellow",
            limits=_limits(),
            lead_kind=None,
            co_kinds=[],
        )
    assert not management.shares_settings(world.admin)  # a town's, now that there are two
    assert management.shares_settings(admins["district"])


def test_a_deployment_of_one_town_shares_its_settings_with_no_one(world):
    assert management.shares_settings(world.admin)
    assert management.settings_town(world.admin) is None


def test_the_category_page_of_a_town_and_of_the_district(client, world, towns, admins, signin):
    token = signin(admins["other"])
    page = client.get("/admin/categories").get_data(as_text=True)
    assert 'name="name"' not in page
    assert "由区里统一设置" in page
    data = {"csrf_token": token, "code": "D02", "name": "改了名字", "lead_kind": "police_station"}
    for step, (warn, due) in _limits(accept=("1", "d")).items():
        data |= {f"warn_{step}": warn[0], f"warn_{step}_unit": warn[1]}
        data |= {f"due_{step}": due[0], f"due_{step}_unit": due[1]}
    saved = client.post("/admin/categories", data=data, follow_redirects=True)
    assert "本镇时限和分拨已保存" in saved.get_data(as_text=True)
    db.session.expire_all()
    assert category("D02").name == "邻里纠纷"  # the shared name is untouched
    assert limits_of(category("D02"), towns["town"].id)[Step.ACCEPT] == (None, "1d", "town")
    page = client.get("/admin/categories").get_data(as_text=True)
    assert "本镇自定" in page
    assert "恢复沿用区里的设置" in page
    # The first town's admin sees the district's settings as theirs to follow.
    signin(world.admin)
    page = client.get("/admin/categories").get_data(as_text=True)
    assert "本镇自定" not in page
    # The district's admin sees which towns set their own.
    signin(admins["district"])
    page = client.get("/admin/categories").get_data(as_text=True)
    assert 'name="name"' in page
    own = f"{towns['town'].name}（受理期限1天，分拨自定）"
    assert f'<td data-label="各镇自定">{own}</td>' in page
    # Following the district again, from the page.
    token = signin(admins["other"])
    client.post(
        "/admin/categories",
        data={"csrf_token": token, "code": "D02", "follow_district": "yes"},
        follow_redirects=True,
    )
    db.session.expire_all()
    assert not [r for r in category("D02").time_limits if r.town_id is not None]


def test_a_town_s_row_and_the_district_s_for_one_step_may_stand_side_by_side(world, towns):
    """One row of a step for the district and one for each town; a second district row
    is refused by the database (NULL towns compare unequal in a UNIQUE: a partial index)."""
    d02 = category("D02")
    next(r for r in d02.time_limits if r.step == Step.VERIFY).due = "3wd"  # the district's
    d02.time_limits.append(CategoryTimeLimit(step=Step.VERIFY, due="1wd", town=towns["town"]))
    db.session.flush()
    assert limits_of(d02, None)[Step.VERIFY][1:] == ("3wd", "district")
    assert limits_of(d02, towns["town"].id)[Step.VERIFY][1:] == ("1wd", "town")
    for town in (None, towns["town"]):
        nested = db.session.begin_nested()
        db.session.add(CategoryTimeLimit(category=d02, step=Step.VERIFY, due="2wd", town=town))
        with pytest.raises(IntegrityError):
            db.session.flush()
        nested.rollback()


def test_a_town_s_handling_limit_runs_on_its_dispatched_cases(world, towns, admins):
    """The workflow's clocks (here the handling step's, set at dispatch) go by the case's
    own town too, not only the report's first step."""
    _save(admins["other"], handle=("15", "d"))
    there = new_report(world, village=towns["village"], actor=towns["grid"])
    here = new_report(world)
    with clock.frozen_at(clock.now()):
        workflow.apply(there, "accept", actor=towns["center"])
        workflow.apply(
            there, "dispatch", actor=towns["center"], lead_department=towns["justice_office"].id
        )
        workflow.apply(here, "accept", actor=world.center)
        workflow.apply(here, "dispatch", actor=world.center, lead_department=world.justice.id)
        # Signed for first; the lead department's handling is due from dispatch.
        assert lead_assignment(there).due_at - clock.now() == timedelta(days=15)
        assert lead_assignment(here).due_at - clock.now() == timedelta(days=30)  # a dispute's


def test_a_case_the_district_holds_runs_on_the_district_s_limits(world, towns, admins):
    """The district's center and departments work an escalated case to the district's
    settings, not to its town's own (a district bureau gets the same days whichever town
    a case comes from); handed back, the case runs on its town's again."""
    _save(admins["other"], handle=("15", "d"), dispatch=("1", "h"))
    case = new_report(world, village=towns["village"], actor=towns["grid"])
    with clock.frozen_at(clock.now()):
        workflow.apply(case, "accept", actor=towns["center"])
        assert case.due_at - clock.now() == timedelta(hours=1)  # the town's own dispatch
        workflow.apply(case, "escalate", actor=towns["center"], reason="涉及多个镇，需区里协调。")
        district_dispatch = Deadlines(reference.calendar).clock(
            case.category, Step.DISPATCH, clock.now(), town_id=None
        )
        assert case.due_at == district_dispatch.due_at
        assert district_dispatch.due_at - clock.now() != timedelta(hours=1)
        # Handed back, it runs on the town's dispatch limit again; up again, the district's.
        workflow.apply(case, "return_to_town", actor=towns["district"], reason="交回属地办理。")
        assert case.due_at - clock.now() == timedelta(hours=1)
        workflow.apply(case, "escalate", actor=towns["center"], reason="再次上报。")
        workflow.apply(
            case,
            "dispatch",
            actor=towns["district"],
            lead_department=towns["district_department"].id,
        )
        assert lead_assignment(case).due_at - clock.now() == timedelta(days=30)


def test_the_working_calendar_is_the_district_s_to_keep(client, world, towns, admins, signin):
    """One calendar serves every town (the State Council's holidays): in a district of
    towns a town's admin sees it and cannot change it, by the page or the rules."""
    day = clock.local(clock.now()).date() + timedelta(days=40)
    token = signin(admins["other"])
    page = client.get("/admin/calendar").get_data(as_text=True)
    assert "由区里统一维护" in page
    assert 'name="notice"' not in page
    assert 'name="day"' not in page
    sent = client.post(
        "/admin/calendar",
        data={"csrf_token": token, "day": day.isoformat(), "workday": "no", "name": "本镇放假"},
        follow_redirects=True,
    )
    assert "工作日历由区里统一维护" in sent.get_data(as_text=True)
    with pytest.raises(Forbidden):
        management.confirm_year(day.year + 1, f"{day.year + 1}-01-01 放假", actor=admins["other"])
    db.session.expire_all()
    assert db.session.get(CalendarDay, day) is None
    assert db.session.get(CalendarYear, day.year + 1) is None
    # The district's admin keeps it, for every town's clocks.
    token = signin(admins["district"])
    assert 'name="day"' in client.get("/admin/calendar").get_data(as_text=True)
    client.post(
        "/admin/calendar",
        data={"csrf_token": token, "day": day.isoformat(), "workday": "no", "name": "区里放假"},
        follow_redirects=True,
    )
    db.session.expire_all()
    assert db.session.get(CalendarDay, day).name == "区里放假"


def _standards_form(token: str, rules: dict) -> dict:
    data = {"csrf_token": token}
    for key, rule in rules.items():
        data |= {
            f"{key}_weight": str(rule.weight),
            f"{key}_pass_mark": f"{rule.pass_mark:g}",
            f"{key}_min_sample": str(rule.min_sample),
        }
    return data


def test_a_town_s_own_league_standards_judge_its_own_units_only(
    client, world, towns, admins, signin
):
    """The monthly tables' standards are the district's, which every town follows, and a
    town's admin may set a whole set of their own: it judges their town's units only."""
    other, first = towns["town"].id, world.v1.town_id
    stricter = dict(league.DEFAULTS) | {"resolve": league.Standard(40, 95.0, 2)}
    token = signin(admins["other"])
    page = client.get("/admin/league/standards").get_data(as_text=True)
    assert "本镇沿用区里的考核标准" in page
    assert "恢复沿用区里的考核标准" not in page
    saved = client.post("/admin/league/standards", data=_standards_form(token, stricter))
    assert saved.status_code == 302
    db.session.expire_all()
    assert league.standards(other) == stricter
    assert league.standards(first) == league.DEFAULTS  # the first town follows the district
    assert league.standards(None) == league.DEFAULTS
    today = clock.local(clock.now()).date()
    month = periods.month(today.year, today.month)
    assert league.compute(month, town_id=other).standards["resolve"] == stricter["resolve"]
    assert league.compute(month, town_id=first).standards == league.DEFAULTS
    entry = db.session.scalars(
        select(AuditEntry).where(AuditEntry.action == "league.standards_changed")
    ).one()
    assert entry.detail["for_town"] == towns["town"].name
    page = client.get("/admin/league/standards").get_data(as_text=True)
    assert "本镇按自定的考核标准" in page
    assert "恢复沿用区里的考核标准" in page
    # The district's admin changes the district's: the first town follows, the second
    # keeps its own; the district's page names the town that keeps its own.
    token = signin(admins["district"])
    page = client.get("/admin/league/standards").get_data(as_text=True)
    assert f"另定本镇标准的镇：{towns['town'].name}" in page
    easier = dict(league.DEFAULTS) | {"satisfaction": league.Standard(20, 80.0, 3)}
    client.post("/admin/league/standards", data=_standards_form(token, easier))
    db.session.expire_all()
    assert league.standards(first) == easier
    assert league.standards(other) == stricter
    # A town that saves the district's values keeps nothing of its own; and the button.
    token = signin(admins["other"])
    client.post("/admin/league/standards", data=_standards_form(token, easier))
    db.session.expire_all()
    assert not league.keeps_own(other)
    client.post("/admin/league/standards", data=_standards_form(token, stricter))
    client.post("/admin/league/standards", data={"csrf_token": token, "follow_district": "yes"})
    db.session.expire_all()
    assert not league.keeps_own(other)
    assert league.standards(other) == easier


def test_a_town_s_league_standards_and_the_district_s_stand_side_by_side(world, towns):
    """One row of a measure for the district and one for each town; a second district
    row is refused by the database (NULL towns compare unequal in a UNIQUE)."""
    now = clock.now()
    for town_id in (None, towns["town"].id):
        db.session.add(
            LeagueStandard(
                town_id=town_id,
                measure="resolve",
                weight=1,
                pass_mark=1,
                min_sample=1,
                updated_at=now,
            )
        )
    db.session.flush()
    nested = db.session.begin_nested()
    db.session.add(
        LeagueStandard(measure="resolve", weight=2, pass_mark=2, min_sample=2, updated_at=now)
    )
    with pytest.raises(IntegrityError):
        db.session.flush()
    nested.rollback()
