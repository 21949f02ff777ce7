"""Every bad parameter gets a 4xx in the one error shape, never a 500 (issue 13, point 5)."""

from __future__ import annotations

import pytest

from server.db import db
from tests.helpers import case_in

HUGE = "99999999999999999999"


def test_the_village_filter_of_the_api_takes_a_query_string(client, world, login):
    east = case_in("submitted", world)
    case_in("submitted", world).village = world.v2
    db.session.flush()
    headers = login(world.center)
    listed = client.get(f"/api/v1/cases?village={world.v1.id}", headers=headers)
    assert listed.status_code == 200, listed.json
    assert [c["code"] for c in listed.json["items"]] == [east.code]
    screenings = client.get(
        f"/api/v1/screenings?village={world.v1.id}", headers=login(world.worker1)
    )
    assert screenings.status_code == 200, screenings.json


@pytest.mark.parametrize(
    "url",
    [
        f"/api/v1/cases?village={HUGE}",
        "/api/v1/cases?village=东村",
        f"/api/v1/screenings?village={HUGE}",
        "/api/v1/cases?village=-3",
    ],
)
def test_a_bad_id_in_the_api_is_a_422(client, world, login, url):
    answer = client.get(url, headers=login(world.center))
    assert answer.status_code == 422
    assert set(answer.json) >= {"code", "message"}


@pytest.mark.parametrize(
    "url",
    [
        f"/admin/?village={HUGE}",
        f"/admin/?department={HUGE}",
        "/admin/?village=x",
        f"/admin/audit?before={HUGE}",
        f"/admin/dashboard?village={HUGE}",
    ],
)
def test_a_bad_id_on_an_admin_page_is_a_page_saying_so(client, world, signin, url):
    signin(world.auditor if "audit" in url else world.admin if "dashboard" in url else world.center)
    answer = client.get(url)
    assert answer.status_code == 422, url
    assert "须为有效的编号" in answer.get_data(as_text=True)


def test_a_username_longer_than_any_is_refused_as_a_wrong_one(client, world):
    from tests.admin.conftest import csrf_from

    long_name = "甲" * 300
    api = client.post("/api/v1/auth/login", json={"username": long_name, "password": "x"})
    assert api.status_code in (401, 422)
    assert "code" in api.json
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    page = client.post(
        "/admin/login", data={"csrf_token": token, "username": long_name, "password": "x"}
    )
    assert page.status_code == 401
    assert "用户名或密码错误" in page.get_data(as_text=True)


@pytest.mark.parametrize(
    ("url", "who"),
    [
        ("/admin/?village=²", "center"),  # "²".isdigit() is true; int("²") fails
        ("/admin/?department=١٢", "center"),  # Arabic-Indic digits
        ("/admin/dashboard?village=³", "admin"),
        ("/admin/audit?before=²", "auditor"),
    ],
)
def test_digits_that_are_not_ascii_are_no_id(client, world, signin, url, who):
    signin(getattr(world, who))
    answer = client.get(url)
    assert answer.status_code == 422, url
    assert "须为有效的编号" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    ("url", "who"),
    [
        (f"/admin/users/{HUGE}/active", "security"),
        ("/admin/users/2147483648/active", "security"),  # PostgreSQL's INTEGER ends below
        (f"/admin/approvals/{HUGE}/approve", "security"),
        (f"/admin/villages/{HUGE}", "admin"),
    ],
)
def test_an_id_in_a_path_larger_than_any_is_no_page(client, world, signin, url, who):
    token = signin(getattr(world, who))
    answer = client.post(url, data={"csrf_token": token})
    assert answer.status_code == 404, url
    assert "找不到" in answer.get_data(as_text=True) or "不存在" in answer.get_data(as_text=True)


@pytest.mark.parametrize(
    "url",
    [
        "/q/%00",
        "/q/%00/qr.png",
        "/admin/?category=%00",
        "/admin/media/%00",
        "/admin/audit?action=%00",
        "/admin/audit?user=a&user=%00",  # a repeated field: every value, not the first
    ],
)
def test_a_nul_character_anywhere_in_an_address_is_refused(client, world, signin, url):
    """No text column takes a NUL character, and PostgreSQL refuses a statement carrying
    one even to look something up: a 500 there, before it was refused at the door."""
    if url.startswith("/admin"):
        signin(world.auditor if "audit" in url else world.center)
    answer = client.get(url)
    assert answer.status_code == 422, url
    assert "空字符" in answer.get_data(as_text=True)


def test_each_value_of_a_repeated_form_field_is_checked_for_nul(client, world, signin):
    from server.casefile import documents
    from server.cases import workflow
    from server.models import DocumentKind
    from tests.helpers import new_report

    case = new_report(world, "D02")
    workflow.apply(case, "accept", actor=world.center)
    workflow.apply(case, "dispatch", actor=world.center, lead_department=world.committee1.id)
    paper = documents.make(case, DocumentKind.AGREEMENT, actor=world.center)
    db.session.flush()
    token = signin(world.center)
    url = f"/admin/cases/{case.code}/documents/{paper.id}"
    terms = {"term_performance": ["甲", "乙"], "term_due_on": ["", ""]}
    nul = client.post(
        url,
        data={"csrf_token": token, "version": paper.version, "term_text": ["一", "二\x00"]} | terms,
    )
    assert nul.status_code == 422
    assert "空字符" in nul.get_data(as_text=True)
    # Three lists of a term's fields that do not pair up: a cut-off or hand-made form.
    uneven = client.post(
        url,
        data={"csrf_token": token, "version": paper.version, "term_text": ["一", "二"]}
        | terms
        | {"term_performance": ["甲"]},
        follow_redirects=True,
    )
    assert uneven.status_code == 200
    assert "不成套" in uneven.get_data(as_text=True)
    db.session.refresh(paper)
    assert paper.terms == []


@pytest.mark.parametrize(
    ("path", "body"),
    [
        # Year 1 at +14:00 is before year 1 in UTC: past what a datetime holds.
        ("/api/v1/reports", {"occurred_at": "0001-01-01T00:00:00+14:00"}),
        ("/api/v1/reports", {"occurred_at": "1899-12-31T00:00:00+08:00"}),
        ("/api/v1/screenings", {"screened_at": "0001-01-01T00:00:00+14:00"}),
    ],
)
def test_a_time_at_the_calendar_s_ends_is_refused_and_writes_nothing(
    client, world, login, path, body
):
    from sqlalchemy import func, select

    from server.models import Case, Screening
    from tests.api.conftest import key
    from tests.api.test_reports import report_body

    sent = report_body(world) if path.endswith("reports") else {"village": world.v1.id}
    if path.endswith("screenings"):
        sent["checked"] = ["D02"]
    before = [db.session.scalar(select(func.count()).select_from(m)) for m in (Case, Screening)]
    answer = client.post(path, headers=login(world.worker1) | key(), json=sent | body)
    assert answer.status_code == 422, answer.json
    assert answer.json["code"] == "date_out_of_range"
    assert "1900年至2100年" in answer.json["message"]
    after = [db.session.scalar(select(func.count()).select_from(m)) for m in (Case, Screening)]
    assert after == before


def test_a_due_time_at_the_calendar_s_end_is_refused(client, world, login):
    from tests.api.conftest import key

    case = case_in("accepted", world)
    db.session.flush()
    answer = client.post(
        f"/api/v1/cases/{case.code}/actions",
        headers=login(world.center) | key(),
        json={
            "action": "dispatch",
            "version": case.version,
            "lead_department": world.committee1.id,
            "due_at": "9999-12-31T23:59:59-12:00",
        },
    )
    assert answer.status_code == 422, answer.json
    assert answer.json["code"] == "date_out_of_range"
    db.session.refresh(case)
    assert case.status == "accepted"


@pytest.mark.parametrize(
    ("url", "who"),
    [
        ("/admin/audit?to=9999-12-31", "auditor"),
        ("/admin/audit?from=0001-01-01", "auditor"),
        ("/admin/counted?event=accept&from=2026-01-01&to=9999-12-31", "center"),
        ("/admin/report?value=0001-01", "center"),
        ("/admin/dashboard?kind=year&value=0001", "center"),
        ("/admin/dashboard?kind=custom&from=2026-01-01&to=9999-12-31", "center"),
        ("/admin/league?value=0001-01", "center"),
        ("/admin/league.xlsx?value=0001-01", "center"),
        ("/admin/brief?value=0001-01", "center"),
    ],
)
def test_a_date_at_the_calendar_s_ends_is_a_page_saying_so(client, world, signin, url, who):
    signin(getattr(world, who))
    answer = client.get(url)
    assert answer.status_code == 422, url
    assert "1900年至2100年" in answer.get_data(as_text=True)


def test_the_queue_s_poll_from_the_calendar_s_start_answers(client, world, signin):
    signin(world.center)
    answer = client.get("/admin/queue/urgent.json?since=0001-01-01T00:00:00%2B14:00")
    assert answer.status_code == 200
    assert answer.json["cases"] == []
