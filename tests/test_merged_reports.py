"""A villager whose report was merged follows the surviving case; the survivor lists the
reports merged into it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.cases import workflow
from server.db import db
from server.models import Case
from server.trust import ratelimit
from tests.helpers import case_in
from tests.test_villager import form, post, tracking_link


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    with app.app_context():
        ratelimit.reset_all()


def test_a_merged_report_follows_the_survivor(client, world, signin, login):
    survivor = case_in("submitted", world)
    link = tracking_link(post(client, world, form(world)).get_data(as_text=True))
    merged = db.session.scalar(select(Case).order_by(Case.id.desc()))
    workflow.apply(merged, "merge", actor=world.center, into=survivor.code)
    workflow.apply_as_reporter(survivor, "add_info", text="另一位群众的私下补充")
    workflow.apply(survivor, "accept", actor=world.center)
    workflow.apply(survivor, "dispatch", actor=world.center, lead_department=world.justice.id)
    workflow.apply(survivor, "sign_for", actor=world.justice_handler)
    workflow.apply(
        survivor,
        "resolve",
        actor=world.justice_handler,
        result_code="mediated",
        result_text="双方和解",
    )
    db.session.flush()

    page = client.get(link).get_data(as_text=True)
    assert '当前状态：<strong id="status">已办结</strong>' in page
    assert "合并后的处理进展" in page
    progress = page[page.index("合并后的处理进展") :]
    for step in (
        "调处中心已受理",
        "已交由相关部门处理",
        "相关部门已签收",
        "已处理完毕",
        "调解成功",
    ):
        assert step in progress
    # What the survivor's own reporter wrote stays theirs.
    assert "另一位群众的私下补充" not in page

    signin(world.center)
    shown = client.get(f"/admin/cases/{survivor.code}").get_data(as_text=True)
    assert "并入本案的报告" in shown
    assert f'href="/admin/cases/{merged.code}"' in shown
    detail = client.get(f"/api/v1/cases/{survivor.code}", headers=login(world.center)).json
    assert [m["code"] for m in detail["merged_reports"]] == [merged.code]


def test_a_chain_of_merges_ends_at_the_last_survivor(world):
    last, middle, first = (case_in("submitted", world) for _ in range(3))
    workflow.apply(first, "merge", actor=world.center, into=middle.code)
    workflow.apply(middle, "merge", actor=world.center, into=last.code)
    workflow.apply(last, "accept", actor=world.center)
    assert workflow.survivor(first) is last
    assert workflow.public_status(first) == ("accepted", "已受理")
    assert workflow.survivor(last) is last
