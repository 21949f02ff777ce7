"""The whole loop in a real browser: a phone report reaches the queue, and the center and
a department take it to a closed case, every step on the timeline."""

from __future__ import annotations

import uuid

import requests

from server.db import db
from tests.browser.conftest import shot, sign_in
from tests.factories import PASSWORD, build_world


def _act(page, action, fill=None):
    form = page.locator(f"form[data-action={action}]")
    details = page.locator("details.action", has=form)
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    for selector, value in (fill or {}).items():
        field = form.locator(selector)
        if value is True:  # a radio button or a checkbox
            field.check()
        elif field.evaluate("e => e.tagName") == "SELECT":
            field.select_option(value)
        else:
            field.fill(value)
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".flash-success")


def test_a_report_from_a_phone_is_followed_to_the_end(desk, live, fresh_app):
    with fresh_app.app_context():
        world = build_world()
        justice_id = world.justice.id
        db.session.commit()
        db.session.remove()

    token = requests.post(
        f"{live}/api/v1/auth/login", timeout=10, json={"username": "t_grid1", "password": PASSWORD}
    ).json()["token"]
    report = requests.post(
        f"{live}/api/v1/reports",
        timeout=10,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())},
        json={
            "category": "D02",
            "village": 1,
            "description": "两户邻居因院墙排水问题多次争吵。",
            "place_text": "村东头",
            "parties": [{"name": "张某"}, {"name": "李某", "side": "respondent"}],
        },
    )
    assert report.status_code == 201, report.text
    code = report.json()["code"]
    shown = f"{code[:4]}-{code[4:8]}-{code[8:]}"

    center = desk()
    sign_in(center, live, "t_center")
    assert center.locator("table.queue").get_by_text(shown).is_visible()
    shot(center, "admin-1-queue")
    center.get_by_role("link", name=shown).click()
    _act(center, "accept", {"select[name=risk_level]": "orange"})
    _act(center, "dispatch", {"select[name=lead_department]": str(justice_id)})
    assert "已派遣" in center.locator(".status").inner_text()

    handler = desk()
    sign_in(handler, live, "t_justice")
    handler.get_by_role("link", name=shown).click()
    _act(handler, "sign_for")
    _act(
        handler,
        "resolve",
        {
            "select[name=result_code]": "mediated",
            "textarea[name=result_text]": "双方达成调解协议，排水沟改道。",
        },
    )

    center.reload()
    _act(center, "verify")
    _act(
        center,
        "record_visit",
        {
            "input[name=outcome][value=kept]": True,
            "input[name=satisfaction][value=satisfied]": True,
            "textarea[name=text]": "回访两户，协议已履行。",
        },
    )
    _act(center, "close", {"select[name=closing_reason]": "resolved"})
    assert center.locator(".status").inner_text() == "已结案"

    timeline = center.locator("ol.timeline").inner_text()
    steps = ["上报", "受理", "派遣", "签收", "办结", "核查通过", "回访", "结案"]
    positions = [timeline.index(step) for step in steps]
    assert positions == sorted(positions)
    for who in ("t_grid1", "t_center", "t_justice"):
        assert who in timeline
    assert timeline.count("-") >= len(steps)  # each entry carries its date and time
    shot(center, "admin-2-case-closed")
    center.goto(f"{live}/admin/cases/{code}/print")
    assert "矛盾纠纷调处化解案卷" in center.locator("h1").inner_text()
    shot(center, "admin-3-case-file")


def test_the_dashboard_draws_its_charts_from_the_app_alone(desk, live, fresh_app):
    from server.db import db as database
    from server.infra import clock
    from tests.helpers import new_report

    with fresh_app.app_context():
        world = build_world()
        for code in ("D02", "D02", "D03", "H01", "S04", "E03"):
            new_report(world, code, parties=[])
        database.session.commit()
        month = clock.local(clock.now()).strftime("%Y-%m")
        database.session.remove()
    page = desk()
    sign_in(page, live, "t_leader")
    page.goto(f"{live}/admin/dashboard?kind=month&value={month}")
    assert page.locator("#fig-received").inner_text() == "6"
    assert page.locator(".chart svg rect.bar").count() >= 5
    page.locator(".chart details summary").first.click()  # the numbers, one click away
    assert page.locator(".chart details table").first.is_visible()
    shot(page, "admin-4-dashboard")
