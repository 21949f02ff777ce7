"""The month's league tables (考核) in a real browser: a screenshot of September 2026."""

from __future__ import annotations

from server.db import db
from tests.browser.conftest import OUTPUT, shot, sign_in
from tests.factories import build_world
from tests.test_league import build_september


def test_the_months_league_table(desk, live, fresh_app):
    with fresh_app.app_context():
        build_september(build_world())
        db.session.commit()
        db.session.remove()
    page = desk()
    sign_in(page, live, "t_leader")
    page.get_by_role("link", name="考核", exact=True).click()
    page.fill("input[name=value]", "2026-09")
    page.get_by_role("button", name="查看").click()
    page.wait_for_selector("h1:has-text('2026年9月考核')")
    # Under the default standards (three cases at least), the justice office's rates are
    # judged; of the police station's, only its returns (1 of 3 dispatches).
    justice = page.locator("table.league tr", has_text="测试司法所").first
    assert justice.locator("td").first.inner_text().strip() == "1"
    assert "68.5" in justice.inner_text()
    police = page.locator("table.league tr", has_text="测试派出所").first
    assert police.locator("td").first.inner_text().strip() == "2"
    assert "件数少" in police.inner_text()
    assert "未达标" in police.inner_text()
    shot(page, "admin-league-1-september")

    page.get_by_role("link", name="打印考核通报").click()
    page.wait_for_selector("h1:has-text('考核情况的通报')")
    assert "2026年9月，全镇共收到各类报告5件次" in page.inner_text("body")
    shot(page, "admin-league-2-bulletin")


def test_the_joint_meetings_brief_prints_on_a4(desk, live, fresh_app):
    with fresh_app.app_context():
        build_september(build_world())
        db.session.commit()
        db.session.remove()
    page = desk()
    sign_in(page, live, "t_center")
    page.goto(f"{live}/admin/brief?value=2026-09")
    page.wait_for_selector("h1:has-text('党委联席会不稳定因素研判')")
    text = page.inner_text("body")
    assert "2026年9月，全镇共收到各类报告5件次" in text
    assert "西村（1次）" in text
    shot(page, "admin-brief-1-september")
    # Each item's cases are a click away: the overdue one (E, never signed for).
    page.get_by_role("link", name="全部", exact=False).first.click()
    page.wait_for_selector("h1:has-text('的案件')")
    assert page.locator("table.queue tbody tr").count() >= 1
    page.go_back()
    page.emulate_media(media="print")
    assert not page.locator(".screen-only").first.is_visible()
    pdf = page.pdf(format="A4")
    (OUTPUT / "admin-brief-1-september.pdf").write_bytes(pdf)
    assert pdf.startswith(b"%PDF")
