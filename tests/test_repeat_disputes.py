"""Repeat disputes (重复纠纷): the same parties again within the window are flagged for the
center at any status, linking the earlier cases; the center sets the risk and the 民转刑
flag at acceptance or later."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from server.cases import repeats, workflow
from server.cases.operations import Party
from server.db import db
from server.infra import clock
from server.infra.errors import ValidationFailed
from server.models import Case, CaseParty
from tests.api.conftest import key
from tests.helpers import case_in, new_report


def closed_dispute(world, parties, **draft):
    """A dispute between `parties`, walked to closed."""
    case = new_report(world, parties=parties, **draft)
    for action, actor, fields in (
        ("accept", world.center, {}),
        ("dispatch", world.center, {"lead_department": world.committee1.id}),
        ("sign_for", world.committee1_handler, {}),
        (
            "resolve",
            world.committee1_handler,
            {"result_code": "mediated", "result_text": "达成调解协议"},
        ),
        ("verify", world.center, {}),
        ("record_visit", world.worker1, {"outcome": "kept", "text": "协议已履行"}),
        ("close", world.center, {"closing_reason": "resolved"}),
    ):
        workflow.apply(case, action, actor=actor, **fields)
    return case


def test_the_same_two_people_a_month_after_the_first_was_closed(client, world, signin, login):
    start = clock.now() - timedelta(days=40)
    with clock.frozen_at(start):
        first = closed_dispute(
            world, [Party("王建国", phone="13900001111"), Party("赵红梅", side="respondent")]
        )
    with clock.frozen_at(start + timedelta(days=35)):
        # Written a little differently: a space, a full-width +86.
        second = new_report(
            world,
            "D03",
            parties=[
                Party("王 建国", phone="＋86 139-0000-1111"),
                Party("赵红梅", side="respondent"),
            ],
        )
    assert second.repeat_dispute
    (found,) = repeats.repeats_of(second)
    assert (found.case, found.shared) == (first, ["王建国", "赵红梅"])
    db.session.flush()

    signin(world.center)
    page = client.get(f"/admin/cases/{second.code}").get_data(as_text=True)
    assert "重复纠纷：当事人近期已有纠纷" in page
    assert f'href="/admin/cases/{first.code}"' in page
    assert "已结案" in page[page.index("重复纠纷") :]
    assert "相同当事人：王建国、赵红梅" in page
    detail = client.get(f"/api/v1/cases/{second.code}", headers=login(world.center)).json
    assert detail["repeat_dispute"] is True
    assert detail["repeats"] == [
        {
            "code": first.code,
            "status": "closed",
            "status_label": "已结案",
            "created_at": first.created_at.isoformat(),
            "shared_parties": ["王建国", "赵红梅"],
        }
    ]
    # And at any status: the flag stays when the second one is closed too.
    workflow.apply(second, "accept", actor=world.center)
    assert [r.case for r in repeats.repeats_of(second)] == [first]


@pytest.mark.parametrize(
    ("later", "parties", "repeat"),
    [
        (timedelta(days=30), [Party("王建国"), Party("赵红梅", side="respondent")], True),
        # One of two parties in common is another quarrel of one of them.
        (timedelta(days=30), [Party("王建国"), Party("孙小军", side="respondent")], False),
        # The same name with another phone is another person.
        (
            timedelta(days=30),
            [
                Party("王建国", phone="13700000000"),
                Party("赵红梅", side="respondent", phone="13600000000"),
            ],
            False,
        ),
        # Past the window (12 months by default).
        (timedelta(days=370), [Party("王建国"), Party("赵红梅", side="respondent")], False),
    ],
)
def test_what_counts_as_the_same_parties(world, later, parties, repeat):
    start = clock.now() - timedelta(days=400)
    with clock.frozen_at(start):
        closed_dispute(
            world,
            [
                Party("王建国", phone="13900001111"),
                Party("赵红梅", side="respondent", phone="13800002222"),
            ],
        )
    with clock.frozen_at(start + later):
        assert new_report(world, parties=parties).repeat_dispute is repeat


def test_a_report_s_parties_are_written_together_each_with_its_own_id(world):
    """The parties go in one INSERT (on PostgreSQL one statement for all of them): each
    object gets the id of its own row, in the order given."""
    names = ["张三", "李四", "王五", "赵六"]
    case = new_report(world, parties=[Party(name) for name in names])
    in_hand = [(party.id, party.name) for party in case.parties]
    rows = db.session.execute(
        select(CaseParty.id, CaseParty.name)
        .where(CaseParty.case_id == case.id)
        .order_by(CaseParty.id)
    ).all()
    assert in_hand == [tuple(row) for row in rows]
    assert [name for _, name in in_hand] == names


def test_a_one_party_dispute_matches_on_that_party_and_the_window_is_configurable(world, app):
    start = clock.now() - timedelta(days=200)
    with clock.frozen_at(start):
        closed_dispute(world, [Party("周大爷")])
    with clock.frozen_at(start + timedelta(days=100)):
        assert new_report(world, parties=[Party("周大爷"), Party("周小宝")]).repeat_dispute
        app.config["REPEAT_DISPUTE_MONTHS"] = 3
        try:
            assert not new_report(world, parties=[Party("周大爷")]).repeat_dispute
        finally:
            app.config["REPEAT_DISPUTE_MONTHS"] = 12


def test_a_rejected_or_merged_report_is_no_earlier_dispute(world):
    parties = [Party("钱多多"), Party("吴一凡", side="respondent")]
    rejected = new_report(world, parties=parties)
    workflow.apply(rejected, "reject", actor=world.center, reason="不属于本镇")
    survivor = case_in("submitted", world)
    merged = new_report(world, parties=parties)
    workflow.apply(merged, "merge", actor=world.center, into=survivor.code)
    assert not new_report(world, parties=parties).repeat_dispute
    assert not new_report(world, "H01", parties=[]).repeat_dispute


def test_the_center_sets_risk_and_criminal_risk_at_accept_or_later(client, world, login, signin):
    case = case_in("submitted", world)
    workflow.apply(case, "accept", actor=world.center, risk_level="orange", criminal_risk=True)
    assert (case.risk_level, case.criminal_risk) == ("orange", True)
    with pytest.raises(ValidationFailed, match="都没有改变"):
        workflow.apply(
            case, "assess_risk", actor=world.center, risk_level="orange", reason="再看一次"
        )
    db.session.flush()
    headers = login(world.center)
    answer = client.post(
        f"/api/v1/cases/{case.code}/actions",
        headers=headers | key(),
        json={
            "action": "assess_risk",
            "version": case.version,
            "risk_level": "red",
            "reason": "一方扬言报复，风险升高。",
        },
    )
    assert answer.status_code == 200, answer.json
    assert (answer.json["risk_level"], answer.json["criminal_risk"]) == ("red", True)
    event = db.session.get(Case, case.id).events[-1]
    assert (event.action, event.internal, event.data["risk_level_from"]) == (
        "assess_risk",
        True,
        "orange",
    )
    refused = client.post(
        f"/api/v1/cases/{case.code}/actions",
        headers=login(world.worker1) | key(),
        json={
            "action": "assess_risk",
            "version": answer.json["version"],
            "criminal_risk": False,
            "reason": "没事了",
        },
    )
    assert refused.status_code == 403
    token = signin(world.center)
    page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert 'name="criminal_risk" value="yes" checked> 有民转刑风险' in page
    client.post(
        f"/admin/cases/{case.code}/actions/assess_risk",
        data={
            "csrf_token": token,
            "version": str(answer.json["version"]),
            "risk_level": "yellow",
            "reason": "双方已和解，风险解除。",
        },
    )  # the box left unticked: no 民转刑 risk
    case = db.session.get(Case, case.id)
    assert (case.risk_level, case.criminal_risk) == ("yellow", False)


def test_the_figures_count_repeat_disputes(world, client, signin):
    from server.figures import statistics

    start = clock.now() - timedelta(days=40)
    with clock.frozen_at(start):
        closed_dispute(world, [Party("冯一"), Party("冯二", side="respondent")])
    with clock.frozen_at(start + timedelta(days=30)):
        again = new_report(world, parties=[Party("冯一"), Party("冯二", side="respondent")])
        new_report(world, parties=[Party("冯三"), Party("冯四", side="respondent")])
    db.session.flush()
    day = clock.local(again.created_at).date()
    period = statistics.Period(day, day + timedelta(days=1), "那天")
    assert statistics.compute(period).repeat_disputes == 1
    assert statistics.compute(period, village_id=world.v2.id).repeat_disputes == 0
    signin(world.center)
    page = client.get(f"/admin/dashboard?kind=custom&from={day}&to={day}").get_data(as_text=True)
    assert 'id="fig-repeat">1<' in page


def test_names_kept_back_match_only_by_the_same_phone(world):
    start = clock.now() - timedelta(days=60)
    with clock.frozen_at(start):
        closed_dispute(world, [Party("张某", phone="13900001111"), Party("李某某")])
    with clock.frozen_at(start + timedelta(days=30)):
        # 张某 and 李某某 are how records keep names back: no phone, no match.
        assert not new_report(world, parties=[Party("张某"), Party("李某某")]).repeat_dispute
        assert (
            new_report(
                world, parties=[Party("张某", phone="13900001111"), Party("李某某")]
            ).repeat_dispute
            is False
        )
        assert new_report(world, parties=[Party("张某", phone="13900001111")]).repeat_dispute


def test_a_change_of_category_at_acceptance_reconsiders_the_flag(world):
    parties = [Party("郑国庆"), Party("卫红霞", side="respondent")]
    start = clock.now() - timedelta(days=60)
    with clock.frozen_at(start):
        closed_dispute(world, parties)
    with clock.frozen_at(start + timedelta(days=30)):
        hazard = new_report(world, "H01", parties=parties)
        dispute = new_report(world, parties=parties)
    assert (hazard.repeat_dispute, dispute.repeat_dispute) == (False, True)
    workflow.apply(hazard, "accept", actor=world.center, category="D02")
    workflow.apply(dispute, "accept", actor=world.center, category="H01")
    assert (hazard.repeat_dispute, dispute.repeat_dispute) == (True, False)


def test_a_dispute_repeats_its_own_town_s_only(world, towns):
    """The same names in another town are no repeat: the flag is the town's warning, and
    its center could not open what it would point to. The town's own earlier dispute is."""
    parties = [Party("郑大山"), Party("王小河", side="respondent")]
    there = new_report(world, village=towns["village"], actor=towns["grid"], parties=parties)
    here = new_report(world, parties=parties)
    assert not here.repeat_dispute
    assert repeats.repeats_of(here) == []
    again = new_report(world, parties=parties)
    assert again.repeat_dispute
    assert [r.case for r in repeats.repeats_of(again)] == [here]
    # Found afresh (a change of category) it is the same: the other town's is not seen.
    db.session.expire_all()
    assert not repeats.repeats(here)
    assert repeats.repeats(again)
    assert there.town_id != here.town_id
