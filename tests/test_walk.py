"""The walk of issue 12, in the demo town and through the phone API: nothing stalls.

A dispute filed by grid05 is accepted and dispatched as routing suggests, signed for by
the village's mediator med05, mediated and resolved, verified; the follow-up finds the
agreement broken, which reopens it; the center sends it on to the justice office, whose
handler resolves it; the next follow-up finds the agreement kept, and it is closed. The
year's figures count it once, with one reopen.
"""

from __future__ import annotations

from dataclasses import asdict

from server.figures import statistics
from server.infra import clock
from tests.api.conftest import key


def test_a_dispute_walks_the_whole_loop_in_the_demo_town(client, demo, login, app):
    year = statistics.year(clock.local(clock.now()).year)
    before = asdict(statistics.compute(year))
    grid05, center, med05, justice = (
        login(demo[n], app.config["DEMO_PASSWORD"])
        for n in ("grid05", "center", "med05", "justice")
    )
    village = demo["grid05"].grids[0].village

    def act(headers, action, **fields):
        url = f"/api/v1/cases/{code}"
        version = client.get(url, headers=headers).json["version"]
        answer = client.post(
            f"{url}/actions",
            headers=headers | key(),
            json={"action": action, "version": version, **fields},
        )
        assert answer.status_code == 200, (action, answer.json)
        return answer.json

    filed = client.post(
        "/api/v1/reports",
        headers=grid05 | key(),
        json={
            "category": "D03",
            "village": village.id,
            "description": "两户为宅基地边界争执，已推搡。",
            "parties": [{"name": "马长河"}, {"name": "罗玉兰", "side": "respondent"}],
        },
    )
    assert filed.status_code == 201, filed.json
    code = filed.json["code"]

    accepted = act(center, "accept")
    suggestion = accepted["suggested_dispatch"]
    assert suggestion["lead"]["name"] == f"{village.name}调委会"
    assert suggestion["skipped"] == []
    dispatched = act(
        center,
        "dispatch",
        lead_department=suggestion["lead"]["id"],
        co_departments=[d["id"] for d in suggestion["co"]],
    )
    assert [a["department"]["name"] for a in dispatched["assignments"]] == [
        f"{village.name}调委会",
        "大钟庄司法所",
        "法律顾问（第1片区）",
    ]
    # The village's mediator sees it and signs for it.
    assert "sign_for" in [
        a["action"] for a in client.get(f"/api/v1/cases/{code}", headers=med05).json["actions"]
    ]
    act(med05, "sign_for")
    act(med05, "resolve", result_code="mediated", result_text="双方达成调解协议，按原界址砌墙。")
    act(center, "verify")
    reopened = act(
        grid05,
        "record_visit",
        outcome="broken",
        satisfaction="dissatisfied",
        text="被申请人未按协议砌墙，双方又起争执。",
    )
    assert reopened["status"] == "accepted"
    # The reopen took it back; the center sends it on, as suggested, then moves it to the
    # justice office (改派): the mediators could not hold the agreement.
    act(center, "dispatch", lead_department=suggestion["lead"]["id"])
    moved = act(
        center,
        "reassign",
        lead_department=demo["justice"].department_id,
        reason="村调委会调解协议未履行，改由司法所调处。",
    )
    assert moved["lead_department"]["name"] == "大钟庄司法所"
    assert client.get(f"/api/v1/cases/{code}", headers=med05).json["actions"] == []
    act(justice, "sign_for")
    act(justice, "resolve", result_code="mediated", result_text="司法所主持调解，当场履行完毕。")
    act(center, "verify")
    act(grid05, "record_visit", outcome="kept", satisfaction="satisfied", text="协议已履行。")
    closed = act(center, "close", closing_reason="resolved")
    assert closed["status"] == "closed"
    actions = [e["action"] for e in closed["timeline"]]
    assert actions == [
        "submit",
        "accept",
        "dispatch",
        "sign_for",
        "resolve",
        "verify",
        "record_visit",
        "reopen",
        "dispatch",
        "reassign",
        "sign_for",
        "resolve",
        "verify",
        "record_visit",
        "close",
    ]

    after = asdict(statistics.compute(year))
    grew = {
        name: after[name] - before[name]
        for name in (
            "received",
            "accepted",
            "resolved",
            "closed",
            "disputes_handled",
            "mediations",
            "mediations_succeeded",
            "disputes_closed_resolved",
            "reopened",
        )
    }
    assert grew == dict.fromkeys(grew, 1)
