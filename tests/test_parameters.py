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
