"""A villager scans the poster, reports, and follows the report: in a real browser."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import func, select

from server.cases import workflow
from server.db import db
from server.models import Case, User, Village
from server.organisation import qr
from tests.api.test_media import jpeg_with_gps
from tests.factories import build_world


@pytest.fixture
def town(fresh_app):
    """A small town, committed; returns the village's QR token."""
    with fresh_app.app_context():
        world = build_world()
        token = world.v1.qr_token
        db.session.commit()
        db.session.remove()
    return token


def _cases(app) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count(Case.id)))
        db.session.remove()
    return count


def test_scan_report_with_a_photo_and_follow_it(phone, town, fresh_app, tmp_path):
    page = phone.page
    page.goto(f"{phone.base}/q/{town}")
    assert page.locator("h1").inner_text() == "东村"
    phone.screenshot("villager-1-kinds")
    page.get_by_role("link", name=re.compile("邻里纠纷")).click()
    page.fill("#description", "两户邻居为排水沟吵了三天，今天差点动手。")
    page.fill("#place_text", "村东头第二排")
    photo = tmp_path / "IMG_20261126.jpg"
    photo.write_bytes(jpeg_with_gps())
    page.set_input_files("#photos", str(photo))
    assert page.locator("input[name=anonymous][value=yes]").is_checked()
    assert page.locator(".identity").is_hidden()  # no name asked for unless chosen
    phone.screenshot("villager-2-form")
    page.get_by_role("button", name="提交").click()
    page.wait_for_selector("#tracking-code")
    code = page.locator("#tracking-code").inner_text()
    assert re.fullmatch(r"[0-9A-Z]{4}(-[0-9A-Z]{1,4}){6}", code)
    phone.screenshot("villager-3-submitted")

    page.locator("a.button", has_text="查看处理进展").click()
    assert page.locator("#status").inner_text() == "已收到"
    with fresh_app.app_context():
        case = db.session.scalar(select(Case))
        assert case.reporter_anonymous
        assert len(case.photos) == 1
        center = db.session.scalar(select(User).where(User.username == "t_center"))
        workflow.apply(case, "accept", actor=center)
        db.session.commit()
        db.session.remove()
    page.reload()
    assert page.locator("#status").inner_text() == "已受理"
    assert "调处中心已受理" in page.locator(".timeline").inner_text()
    phone.screenshot("villager-4-tracking")


def test_a_double_tap_makes_one_report(phone, town, fresh_app):
    page = phone.page
    posts = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.goto(f"{phone.base}/q/{town}?kind=D02")
    page.fill("#description", "有人在村口乱倒垃圾。")
    page.get_by_role("button", name="提交").dblclick()
    page.wait_for_selector("#tracking-code")
    assert len(posts) == 1
    assert _cases(fresh_app) == 1


def test_without_javascript_a_resend_makes_one_report(browser, live, town, fresh_app):
    from tests.browser.conftest import Phone

    phone = Phone(browser, live, javascript=False)
    try:
        page = phone.page
        page.goto(f"{phone.base}/q/{town}?kind=D02")
        page.fill("#description", "有人在村口乱倒垃圾。")
        page.get_by_role("button", name="提交").click()
        page.wait_for_selector("#tracking-code")
        first = page.locator("#tracking-code").inner_text()
        page.reload()  # the browser sends the same form again
        page.wait_for_selector("#tracking-code")
        assert page.locator("#tracking-code").inner_text() == first
        assert "已经提交过" in page.locator("h1").inner_text()
        assert _cases(fresh_app) == 1
    finally:
        phone.context.close()
    assert phone.blocked == []


def test_an_emergency_kind_says_call_first(phone, town):
    page = phone.page
    page.goto(f"{phone.base}/q/{town}")
    page.get_by_role("link", name=re.compile("涉枪涉爆")).click()
    alert = page.get_by_role("alert")
    assert "110" in alert.inner_text()
    assert alert.bounding_box()["y"] < page.locator("form.report").bounding_box()["y"]
    assert page.locator("a.call[href='tel:110']").is_visible()
    phone.screenshot("villager-5-emergency")


def test_a_replaced_code_shows_the_replaced_page(phone, town, fresh_app):
    with fresh_app.app_context():
        village = db.session.scalar(select(Village).where(Village.qr_token == town))
        qr.rotate(village, actor=None)
        db.session.commit()
        db.session.remove()
    response = phone.page.goto(f"{phone.base}/q/{town}")
    assert response.status == 410
    assert "已经更换" in phone.page.locator("h1").inner_text()
    phone.screenshot("villager-6-replaced")


def test_the_poster_prints_on_one_a4_page(browser, live, fresh_app, tmp_path):
    with fresh_app.app_context():
        world = build_world()
        token = world.v1.qr_token
        db.session.commit()
        db.session.remove()
    context = browser.new_context()
    blocked = []
    context.route(
        "**/*",
        lambda route: (
            route.continue_()
            if route.request.url.startswith(live)
            else (blocked.append(route.request.url), route.abort())
        ),
    )
    page = context.new_page()
    page.goto(f"{live}/q/{token}/poster")
    page.emulate_media(media="print")
    pdf = tmp_path / "poster.pdf"
    page.pdf(path=str(pdf), format="A4", print_background=True, prefer_css_page_size=True)
    reader = PdfReader(str(pdf))
    assert len(reader.pages) == 1
    width, height = float(reader.pages[0].mediabox.width), float(reader.pages[0].mediabox.height)
    assert (round(width), round(height)) == (595, 842)  # A4 in points
    assert "东村" in reader.pages[0].extract_text()
    context.close()
    assert blocked == []


def test_phone_photos_are_made_small_before_they_are_sent(phone, town, fresh_app, tmp_path):
    from tests.test_phone_photos import phone_photo

    paths = []
    for n in range(3):
        path = tmp_path / f"IMG_{n}.jpg"
        path.write_bytes(phone_photo(n + 1))
        paths.append(str(path))
    assert sum(Path(p).stat().st_size for p in paths) > 12_000_000
    page = phone.page
    sent = []
    page.on(
        "request",
        lambda r: sent.append(len(r.post_data_buffer or b"")) if r.method == "POST" else None,
    )
    # A rural uplink: slow enough to see the upload's progress.
    cdp = phone.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 50, "downloadThroughput": -1, "uploadThroughput": 400 * 1024},
    )
    page.goto(f"{phone.base}/q/{town}?kind=H01")
    page.fill("#description", "三户人家院外堆着秸秆，紧挨电线杆。")
    page.set_input_files("#photos", paths)
    page.get_by_role("button", name="提交").click()
    page.wait_for_selector("progress.upload")
    page.wait_for_selector(".upload-label:has-text('正在上传')")
    phone.screenshot("villager-7-uploading")
    page.wait_for_selector("#tracking-code", timeout=60_000)
    assert sent
    assert max(sent) < 3_000_000  # three 1920-px JPEGs, not 12 MB
    with fresh_app.app_context():
        case = db.session.scalar(select(Case).order_by(Case.id.desc()))
        assert len(case.photos) == 3
        assert all(max(p.width, p.height) <= 1920 for p in case.photos)
        db.session.remove()


def test_a_refusal_keeps_what_was_typed(phone, town, fresh_app):
    fresh_app.config["QR_SUBMIT_LIMIT_PER_ADDRESS"] = "1/hour"
    page = phone.page
    page.goto(f"{phone.base}/q/{town}?kind=D02")
    page.fill("#description", "第一份报告。")
    page.get_by_role("button", name="提交").click()
    page.wait_for_selector("#tracking-code")
    page.goto(f"{phone.base}/q/{town}?kind=D02")
    page.fill("#description", "第二份报告，写了很久的一段话。")
    page.fill("#place_text", "村北")
    page.get_by_role("button", name="提交").click()
    page.wait_for_selector("p.error")
    assert "提交太频繁" in page.locator("p.error").inner_text()
    assert page.input_value("#description") == "第二份报告，写了很久的一段话。"
    assert page.input_value("#place_text") == "村北"
    assert page.locator("button[type=submit]").is_enabled()
    phone.screenshot("villager-8-refused")
    assert _cases(fresh_app) == 1
