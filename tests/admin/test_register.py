"""来访 / 来电登记: the center files what a villager says at the desk or on the phone."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from server.cases import tracking
from server.db import db
from server.models import Case


def visit(world, **changes) -> dict:
    return {
        "form_key": str(uuid.uuid4()),
        "source": "walk_in",
        "village": str(world.v1.id),
        "category": "D02",
        "description": "邻居家扩建占了我家的排水沟，多次协商不成。",
        "place_text": "东村三组",
        "people_involved": "2",
        "party_applicant_name": "赵大",
        "party_applicant_phone": "13900001111",
        "party_respondent_name": "钱二",
        "name": "赵大",
        "phone": "139 0000 1111",
    } | changes


def test_a_walk_in_is_filed_like_any_report_and_gets_a_receipt(client, world, signin):
    token = signin(world.center)
    form = client.get("/admin/register")
    assert form.status_code == 200
    data = visit(world, csrf_token=token)
    answer = client.post("/admin/register", data=data)
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200, page
    case = db.session.scalar(select(Case).order_by(Case.id.desc()))
    assert case.source.value == "walk_in"
    assert case.status == "submitted"
    assert case.category.code == "D02"
    assert [p.name for p in case.parties] == ["赵大", "钱二"]
    # The receipt carries a tracking code that leads to this case, on the villager's page.
    secret = re.search(r'id="tracking-code">([^<]+)<', page).group(1)
    assert tracking.find(secret).id == case.id
    assert case.code in page
    assert "来访登记回执" in page
    assert client.get(f"/t/{secret.replace(' ', '').replace('-', '')}").status_code == 200
    # The informant is sealed like any other: no plain name or phone in the row.
    assert case.reporter_anonymous is False
    assert case.reporter_phone
    assert "1111" not in case.reporter_phone
    assert "赵" not in case.reporter_name
    # A second click of the same form: the same case and the same receipt.
    again = client.post("/admin/register", data=data)
    assert (
        re.search(r'id="tracking-code">([^<]+)<', again.get_data(as_text=True)).group(1) == secret
    )
    assert db.session.scalar(select(Case).order_by(Case.id.desc())).id == case.id


def test_a_hotline_call_refused_keeps_what_was_typed(client, world, signin):
    token = signin(world.center)
    answer = client.post(
        "/admin/register",
        data=visit(world, csrf_token=token, source="hotline", place_text="地" * 201),
    )
    assert answer.status_code == 422
    page = answer.get_data(as_text=True)
    assert "地点" in page
    assert "邻居家扩建占了我家的排水沟" in page
    assert 'value="hotline" checked' in page


def test_only_the_center_registers(client, world, signin):
    signin(world.leader)
    assert client.get("/admin/register").status_code == 403
