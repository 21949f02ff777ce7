"""A follow-up visit records what it found as a choice, in Chinese, on every surface; the
negative outcomes reopen the case in the same transaction."""

from __future__ import annotations

import pytest

from server.cases import workflow
from server.db import db
from server.infra.errors import ValidationFailed
from server.models import Case, CaseStatus
from tests.api.conftest import key
from tests.helpers import case_in


def test_the_outcomes_are_the_towns_words_and_a_hazard_has_no_agreement(world):
    dispute, hazard = case_in("follow_up", world), case_in("follow_up", world, "H01")
    visit = workflow.ACTIONS["record_visit"]
    assert workflow.field_choices(dispute, visit) == {
        "outcome": {
            "gone": "问题已消除",
            "back_again": "问题再次出现",
            "kept": "协议已履行",
            "broken": "协议未履行",
        },
        "satisfaction": {
            "satisfied": "满意",
            "basically_satisfied": "基本满意",
            "dissatisfied": "不满意",
        },
    }
    assert workflow.field_choices(hazard, visit)["outcome"] == {
        "gone": "问题已消除",
        "back_again": "问题再次出现",
    }
    with pytest.raises(ValidationFailed, match="回访结果须为：问题已消除、问题再次出现"):
        workflow.apply(hazard, "record_visit", actor=world.worker1, outcome="kept", text="协议？")
    with pytest.raises(ValidationFailed, match="请填写回访结果"):
        workflow.apply(dispute, "record_visit", actor=world.worker1, text="去看了")


@pytest.mark.parametrize(
    ("outcome", "status"),
    [
        ("kept", CaseStatus.FOLLOW_UP),
        ("gone", CaseStatus.FOLLOW_UP),
        ("broken", CaseStatus.ACCEPTED),
        ("back_again", CaseStatus.ACCEPTED),
    ],
)
def test_a_grid_worker_records_the_outcome_through_the_api(client, world, login, outcome, status):
    case = case_in("follow_up", world)
    db.session.flush()
    url = f"/api/v1/cases/{case.code}"
    headers = login(world.worker1)
    offered = {a["action"]: a for a in client.get(url, headers=headers).json["actions"]}
    visit = offered["record_visit"]
    assert visit["required"] == ["outcome", "text"]
    assert {"value": "broken", "label": "协议未履行"} in visit["choices"]["outcome"]
    response = client.post(
        f"{url}/actions",
        headers=headers | key(),
        json={
            "action": "record_visit",
            "version": case.version,
            "outcome": outcome,
            "satisfaction": "basically_satisfied",
            "text": "回访双方当事人。",
        },
    )
    assert response.status_code == 200, response.json
    assert response.json["status"] == status.value
    actions = [e["action"] for e in response.json["timeline"]]
    if status == CaseStatus.ACCEPTED:
        # One request, both events: the visit and the reopening it caused.
        assert actions[-2:] == ["record_visit", "reopen"]
        reopen = db.session.get(Case, case.id).events[-1]
        assert reopen.note.startswith(f"回访发现{workflow.VISIT_OUTCOMES[outcome]}：")
    else:
        assert actions[-1] == "record_visit"


def test_the_api_refuses_an_outcome_it_does_not_know(client, world, login):
    case = case_in("follow_up", world, "H01")
    db.session.flush()
    url = f"/api/v1/cases/{case.code}/actions"
    for outcome, code in (("fine", "validation_failed"), ("kept", "invalid_choice")):
        response = client.post(
            url,
            headers=login(world.worker1) | key(),
            json={
                "action": "record_visit",
                "version": case.version,
                "outcome": outcome,
                "text": "回访",
            },
        )
        assert response.status_code == 422, response.json
        assert response.json["code"] == code
    assert db.session.get(Case, case.id).version == case.version


def test_the_admin_offers_the_outcomes_as_radio_buttons_and_a_broken_agreement_reopens(
    client, world, signin
):
    case = case_in("follow_up", world)
    db.session.flush()
    token = signin(world.center)
    page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    for value, label in workflow.VISIT_OUTCOMES.items():
        assert f'name="outcome" value="{value}" required> {label}' in page
    assert 'name="satisfaction" value="basically_satisfied"> 基本满意' in page
    assert ">outcome<" not in page
    client.post(
        f"/admin/cases/{case.code}/actions/record_visit",
        data={
            "csrf_token": token,
            "version": str(case.version),
            "outcome": "broken",
            "satisfaction": "dissatisfied",
            "text": "被申请人未按协议赔偿。",
        },
    )
    case = db.session.get(Case, case.id)
    assert case.status == CaseStatus.ACCEPTED
    assert [e.action for e in case.events][-2:] == ["record_visit", "reopen"]
    assert case.satisfaction == "dissatisfied"
