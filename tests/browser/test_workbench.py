"""The phone workbench (/m/) in Debian's Chromium at 390×844, zh-CN, against the demo town
of `make run` on a real HTTP server: the people of the issue, doing their day's work.

Every request to anything but the app is blocked (tests/browser/conftest.Phone), no
resource may fail, and each step leaves a screenshot in TEST_OUTPUT.
"""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from datetime import time as day_time

import pytest
import requests
from sqlalchemy import delete, func, select
from werkzeug.serving import make_server

from server.db import db
from server.infra import clock
from server.models import Case, Photo, Screening, User, Village
from tests.browser.conftest import OUTPUT, Phone
from tests.conftest import fresh_database, make_app
from tests.test_phone_photos import phone_photo

PASSWORD = "Demo@2026"


@pytest.fixture(scope="module")
def town(tmp_path_factory):
    """The demo town, committed, served on 127.0.0.1: (base URL, app)."""
    from server import demo

    tmp = tmp_path_factory.mktemp("workbench")
    with fresh_database(tmp) as url:
        app = make_app(url, INSTANCE_PATH=str(tmp))
        with app.app_context():
            demo.seed()
            db.session.commit()
            db.session.remove()
        server = make_server("127.0.0.1", 0, app, threaded=True)
        base = f"http://127.0.0.1:{server.server_port}"
        app.config["PUBLIC_BASE_URL"] = base
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield base, app
        finally:
            server.shutdown()
            server.server_close()
            with app.app_context():
                db.session.remove()
                db.engine.dispose()


class Workbench(Phone):
    """A phone on the workbench: failed resources are recorded too."""

    def __init__(self, browser, base):
        super().__init__(browser, base)
        self.failed: list[str] = []
        self.page.on("requestfailed", self._request_failed)
        self.page.on(
            "response",
            lambda r: (
                self.failed.append(f"{r.url} {r.status}")
                if r.status >= 500 or (r.status == 404 and "/static/" in r.url)
                else None
            ),
        )
        self.page.on("pageerror", lambda e: self.failed.append(f"script error: {e}"))
        self.shots = 0

    def _request_failed(self, request):
        if getattr(self, "expect_failures", False):
            return
        if request.failure == "net::ERR_ABORTED" and request.resource_type in {"fetch", "xhr"}:
            return  # the test navigated on while the page was still asking: cancelled
        self.failed.append(f"{request.url} {request.failure}")

    def shot(self, name):
        self.shots += 1
        return self.screenshot(f"workbench-{name}")

    def sign_in(self, username):
        self.page.goto(f"{self.base}/m/")
        self.page.fill("#username", username)
        self.page.fill("#password", PASSWORD)
        self.page.get_by_role("button", name="登录", exact=True).click()
        self.page.wait_for_selector("h1:has-text('我的待办')")

    def tab(self, name):
        self.page.locator("#tabs a", has_text=name).click()


@pytest.fixture
def phones(browser, town):
    base, _app = town
    opened = []

    def open_phone():
        device = Workbench(browser, base)
        opened.append(device)
        return device

    yield open_phone
    for device in opened:
        device.context.close()
        assert device.blocked == [], f"the workbench reached outside the app: {device.blocked}"
        assert device.failed == [], f"a resource failed: {device.failed}"


def _token(base, username):
    answer = requests.post(
        f"{base}/api/v1/auth/login", timeout=10, json={"username": username, "password": PASSWORD}
    )
    answer.raise_for_status()
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def _act(base, headers, code, action, **fields):
    version = requests.get(f"{base}/api/v1/cases/{code}", headers=headers, timeout=10).json()[
        "version"
    ]
    answer = requests.post(
        f"{base}/api/v1/cases/{code}/actions",
        timeout=10,
        headers=headers | {"Idempotency-Key": str(uuid.uuid4())},
        json={"action": action, "version": version, **fields},
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _user(app, username):
    with app.app_context():
        user = db.session.scalar(select(User).where(User.username == username))
        return {
            "id": user.id,
            "department": user.department_id,
            "village": next(iter(user.village_ids), None),
        }


def _fill_dispute(page, description, photo_path=None):
    page.locator("details.group summary", has_text="矛盾纠纷").click()
    page.locator("input[name=category][value=D02]").check()
    page.fill("#description", description)
    page.fill("#place_text", "三组水渠边")
    names = page.locator("input[name=party-name]")
    names.nth(0).fill("王大海")
    names.nth(1).fill("李小河")
    if photo_path is not None:
        page.set_input_files("#photos", str(photo_path))
        page.wait_for_selector("#photo-note:has-text('已选 1 张')", timeout=30000)


def test_a_grid_worker_files_a_dispute_with_a_phone_photo(phones, town, tmp_path):
    base, app = town
    photo = tmp_path / "IMG_20261202_093015.jpg"
    photo.write_bytes(phone_photo(seed=5, size=(4000, 3000)))
    assert photo.stat().st_size > 3_000_000  # what a phone camera writes
    phone = phones()
    page = phone.page
    phone.page.goto(f"{base}/m/")
    phone.shot("1-sign-in")
    phone.sign_in("grid05")
    phone.shot("1-home")
    phone.tab("上报")
    # The village and grid are preset from the grid worker's own grid.
    assert (
        page.locator("#village option:checked")
        .inner_text()
        .startswith(page.locator("#grid option:checked").inner_text()[:2])
    )
    _fill_dispute(page, "两户为水渠放水时间争吵，已劝开，需调解。", photo)
    page.locator("input[name=happening_now]").check()
    phone.shot("1-report-filled")
    page.get_by_role("button", name="提交上报").click()
    sent = page.locator("#outbox .entry.sent").first
    sent.wait_for(timeout=30000)
    code_text = sent.locator(".code").inner_text()
    phone.shot("1-sent")
    phone.tab("案件")
    page.wait_for_selector(f"#case-list .code:has-text('{code_text}')")
    phone.shot("1-my-cases")
    page.locator("#case-list a", has_text=code_text).click()
    page.wait_for_selector("#case-code")
    assert page.locator("#case-code").inner_text() == code_text
    # The photo is shown, not only its frame (it is read with the token).
    page.wait_for_function("() => document.querySelector('.photos img').naturalWidth > 0")
    phone.shot("1-case")
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.code == code_text.replace("-", "")))
        assert sorted(p.name for p in case.parties) == ["李小河", "王大海"]
        assert case.happening_now
        assert case.urgent
        assert case.source.value == "grid_worker"
        assert case.grid is not None
        (stored,) = db.session.scalars(select(Photo).where(Photo.case_id == case.id)).all()
        assert max(stored.width, stored.height) <= 1920  # made small on the phone


def test_a_lost_answer_is_resent_and_makes_one_case(phones, town):
    _base, app = town
    phone = phones()
    page = phone.page
    phone.sign_in("grid05")
    phone.tab("上报")
    description = f"答复丢失测试 {uuid.uuid4().hex[:8]}：邻居堆放柴草堵路。"
    _fill_dispute(page, description)
    # A draft survives a reload.
    page.reload()
    page.wait_for_selector("#description")
    assert page.input_value("#description") == description
    lost = []

    def lose_the_answer(route):
        if not lost:
            lost.append(route.fetch().status)  # the server got it and answered...
            phone.expect_failures = True
            route.abort("connectionreset")  # ...and the answer never reached the phone
        else:
            route.continue_()

    page.route("**/api/v1/reports", lose_the_answer)
    page.get_by_role("button", name="提交上报").click()
    page.wait_for_selector("#outbox .entry.pending")
    phone.shot("2-answer-lost")
    page.locator("#outbox .entry.sent").first.wait_for(timeout=30000)
    phone.expect_failures = False
    phone.shot("2-resent")
    assert lost == [201]
    with app.app_context():
        assert (
            db.session.scalar(select(func.count(Case.id)).where(Case.description == description))
            == 1
        )


def test_a_photo_whose_answer_was_lost_is_stored_once(phones, town, tmp_path):
    """The outbox uploads a photo; the server stores it and the answer is lost. The
    resend carries the photo's key on this phone and gets the stored one: one photo on
    the case, none left over on the server."""
    _base, app = town
    photo = tmp_path / "IMG_20261203_101500.jpg"
    photo.write_bytes(phone_photo(seed=9, size=(1600, 1200)))
    phone = phones()
    page = phone.page
    phone.sign_in("grid05")
    phone.tab("上报")
    description = f"照片答复丢失 {uuid.uuid4().hex[:8]}：路边电线垂落。"
    _fill_dispute(page, description, photo)
    with app.app_context():
        before = db.session.scalar(select(func.count(Photo.id)))
    keys = []

    def lose_the_answer(route):
        keys.append(route.request.headers.get("idempotency-key"))
        if len(keys) == 1:
            route.fetch()  # stored on the server...
            phone.expect_failures = True
            route.abort("connectionreset")  # ...and the answer never came back
        else:
            route.continue_()

    page.route("**/api/v1/media", lose_the_answer)
    page.get_by_role("button", name="提交上报").click()
    page.locator("#outbox .entry.sent").first.wait_for(timeout=60000)
    phone.expect_failures = False
    assert len(keys) == 2
    assert keys[0] is not None
    assert keys[0] == keys[1]
    with app.app_context():
        case = db.session.scalar(select(Case).where(Case.description == description))
        assert len(case.photos) == 1
        assert db.session.scalar(select(func.count(Photo.id))) == before + 1


def test_a_report_written_offline_waits_and_goes_when_the_network_is_back(phones, town):
    base, app = town
    phone = phones()
    page = phone.page
    phone.sign_in("grid05")
    phone.tab("上报")
    description = f"离线测试 {uuid.uuid4().hex[:8]}：山边电线垂落。"
    _fill_dispute(page, description)
    phone.expect_failures = True
    phone.context.set_offline(True)
    page.get_by_role("button", name="提交上报").click()
    page.wait_for_selector("#outbox .entry.pending")
    assert page.locator("#net").is_visible()
    phone.shot("2-offline-pending")
    page.close()  # the tab is closed before the network comes back
    phone.context.set_offline(False)
    phone.expect_failures = False
    phone.page = page = phone.context.new_page()
    page.goto(f"{base}/m/#/report")
    page.locator("#outbox .entry.sent").first.wait_for(timeout=30000)
    with app.app_context():
        assert (
            db.session.scalar(select(func.count(Case.id)).where(Case.description == description))
            == 1
        )


def test_a_nil_return_in_one_tap_is_counted_on_the_coverage_page(phones, town, browser):
    base, app = town
    worker = _user(app, "grid29")
    with app.app_context():  # nothing screened in grid29's village yet this week
        today = clock.local(clock.now()).date()
        monday = datetime.combine(
            today - timedelta(days=today.weekday()), day_time(0), tzinfo=clock.town_tz()
        )
        db.session.execute(
            delete(Screening).where(
                Screening.village_id == worker["village"], Screening.screened_at >= monday
            )
        )
        db.session.commit()
        village = db.session.get(Village, worker["village"]).name
    phone = phones()
    page = phone.page
    phone.sign_in("grid29")
    row = page.locator("#screening-week li", has_text=village)
    assert "未完成" in row.inner_text()
    phone.shot("3-screening-due")
    row.get_by_role("button", name="零报告（本周排查无发现）").click()
    page.wait_for_selector(f"#screening-week li.done:has-text('{village}')", timeout=30000)
    phone.shot("3-nil-return-done")
    with app.app_context():
        (done,) = db.session.scalars(
            select(Screening).where(
                Screening.village_id == worker["village"], Screening.screened_at >= monday
            )
        ).all()
        assert done.nil_return
    desk = browser.new_context(
        viewport={"width": 1366, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai"
    )
    try:
        admin = desk.new_page()
        admin.goto(f"{base}/admin/login")
        admin.fill("#username", "center")
        admin.fill("#password", PASSWORD)
        admin.get_by_role("button", name="登录", exact=True).click()
        admin.goto(f"{base}/admin/coverage")
        cells = admin.locator("table.coverage tr", has_text=village).locator("td")
        this_week = cells.nth(8).inner_text()  # village, then eight weeks, this one last
        assert this_week == "1", this_week
        OUTPUT.mkdir(parents=True, exist_ok=True)
        admin.screenshot(path=str(OUTPUT / "workbench-3-coverage.png"), full_page=True)
    finally:
        desk.close()


def test_a_nil_return_sent_late_counts_when_it_was_tapped(phones, town):
    """Tapped with no network, sent when it comes back: the screening is dated by the tap
    (a Sunday-night screening delivered after midnight still counts for its own week),
    and its checklist is the one the phone kept from an earlier load."""
    _base, app = town
    worker = _user(app, "grid31")
    with app.app_context():
        today = clock.local(clock.now()).date()
        monday = datetime.combine(
            today - timedelta(days=today.weekday()), day_time(0), tzinfo=clock.town_tz()
        )
        db.session.execute(
            delete(Screening).where(
                Screening.village_id == worker["village"], Screening.screened_at >= monday
            )
        )
        db.session.commit()
        village = db.session.get(Village, worker["village"]).name
    phone = phones()
    page = phone.page
    phone.sign_in("grid31")
    phone.tab("上报")  # the checklist is loaded once, with signal...
    page.wait_for_selector("details.group summary")
    page.goto(f"{phone.base}/m/#/")
    page.reload()  # ...and kept on the phone, not only in the page's memory
    row = page.locator("#screening-week li", has_text=village)
    row.wait_for()
    phone.expect_failures = True
    phone.context.set_offline(True)  # no signal in the village
    tapped = clock.now()
    row.get_by_role("button", name="零报告（本周排查无发现）").click()
    page.wait_for_selector("#screening-week li .status:has-text('零报告已保存')")
    page.wait_for_timeout(3000)  # the network is back three seconds later
    back = clock.now()
    phone.context.set_offline(False)
    phone.expect_failures = False
    page.goto(page.url)  # the outbox tries again at once on a new page
    found = []
    for _ in range(60):
        with app.app_context():
            found = db.session.scalars(
                select(Screening).where(
                    Screening.village_id == worker["village"], Screening.screened_at >= monday
                )
            ).all()
            db.session.remove()
        if found:
            break
        page.wait_for_timeout(500)
    (done,) = found
    with app.app_context():
        assert done.created_at >= back
        assert tapped - timedelta(seconds=1) <= done.screened_at < back


def test_mediator_police_and_grid_worker_finish_their_cases(phones, town, tmp_path):
    base, app = town
    med05, police = _user(app, "med05"), _user(app, "police")
    worker = _token(base, "grid05")
    center = _token(base, "center")
    dispute = requests.post(
        f"{base}/api/v1/reports",
        timeout=10,
        headers=worker | {"Idempotency-Key": str(uuid.uuid4())},
        json={
            "category": "D02",
            "village": _user(app, "grid05")["village"],
            "description": "宅基地界址争议，双方同意调解。",
            "parties": [
                {"name": "周春生", "side": "applicant"},
                {"name": "吴秋实", "side": "respondent"},
            ],
        },
    ).json()["code"]
    _act(base, center, dispute, "accept")
    _act(base, center, dispute, "dispatch", lead_department=med05["department"])
    hazard = requests.post(
        f"{base}/api/v1/reports",
        timeout=10,
        headers=worker | {"Idempotency-Key": str(uuid.uuid4())},
        json={
            "category": "S04",
            "village": _user(app, "grid05")["village"],
            "description": "废弃厂房有人存放烟花爆竹。",
        },
    ).json()["code"]
    _act(base, center, hazard, "accept")
    _act(base, center, hazard, "dispatch", lead_department=police["department"])

    # The village mediator signs for the dispute and settles it.
    phone = phones()
    page = phone.page
    phone.sign_in("med05")
    shown = page.locator("#to-sign .code", has_text=dispute[:4] + "-" + dispute[4:8])
    shown.wait_for()
    phone.shot("4-mediator-home")
    shown.click()
    page.locator("button[data-action=sign_for]").click()
    page.get_by_role("button", name="确认签收").click()
    page.wait_for_selector("#case-status:has-text('处置中')")
    page.locator("button[data-action=resolve]").click()
    page.locator("#f-result_code label", has_text="调解成功").click()
    page.fill("#f-result_text", "双方在村调委会主持下签订调解协议，界址以老墙为准。")
    phone.shot("4-mediator-resolve")
    page.get_by_role("button", name="确认办结").click()
    page.wait_for_selector("#case-status:has-text('已办结')")
    phone.shot("4-mediator-resolved")

    # The center verifies it; the grid worker goes back to see.
    _act(base, center, dispute, "verify")
    phone = phones()
    page = phone.page
    phone.sign_in("grid05")
    page.locator("#visits a", has_text=dispute[:4] + "-" + dispute[4:8]).click()
    page.locator("button[data-action=record_visit]").click()
    page.locator("#f-outcome label", has_text="协议已履行").click()
    page.locator("#f-satisfaction label", has_text="满意").first.click()
    page.fill("#f-text", "回访双方，协议已履行，关系缓和。")
    phone.shot("4-visit")
    page.get_by_role("button", name="确认回访").click()
    page.wait_for_selector("#case-messages .notice:has-text('已回访')")
    phone.shot("4-visited")

    # The police sign for the hazard and remove it, with a photo of the place.
    photo = tmp_path / "IMG_scene.jpg"
    photo.write_bytes(phone_photo(seed=9, size=(4000, 3000)))
    phone = phones()
    page = phone.page
    phone.sign_in("police")
    page.locator("#to-sign a", has_text=hazard[:4] + "-" + hazard[4:8]).click()
    page.locator("button[data-action=sign_for]").click()
    page.get_by_role("button", name="确认签收").click()
    page.wait_for_selector("#case-status:has-text('处置中')")
    page.locator("button[data-action=resolve]").click()
    page.locator("#f-result_code label", has_text="隐患已消除").click()
    page.fill("#f-result_text", "已收缴烟花爆竹，厂房已封闭。")
    page.set_input_files("#action-photos", str(photo))
    page.wait_for_selector(".action-form .meta:has-text('已上传 1 张照片')", timeout=30000)
    page.get_by_role("button", name="确认办结").click()
    page.wait_for_selector("#case-status:has-text('已办结')")
    page.wait_for_function("() => document.querySelector('.photos img').naturalWidth > 0")
    phone.shot("4-police-resolved")
    with app.app_context():
        settled = db.session.scalar(select(Case).where(Case.code == dispute))
        assert settled.status.value == "follow_up"
        assert settled.result_code.value == "mediated"
        removed = db.session.scalar(select(Case).where(Case.code == hazard))
        assert removed.status.value == "resolved"
        assert (
            db.session.scalar(select(func.count(Photo.id)).where(Photo.case_id == removed.id)) == 1
        )


# Checks every visible control and text of the screen: text at least 16 px, every tap
# target at least 44 px high (links inside a sentence excepted), nothing wider than the
# screen. Returns what breaks a rule.
MEASURE = """() => {
  const broken = [];
  const width = document.documentElement.clientWidth;
  if (document.documentElement.scrollWidth > width) {
    broken.push('sideways scroll: ' + document.documentElement.scrollWidth + ' > ' + width);
  }
  for (const node of document.querySelectorAll('main *, nav *, header *')) {
    const box = node.getBoundingClientRect();
    if (!box.width || !box.height || getComputedStyle(node).visibility === 'hidden') continue;
    if (box.right > width + 1) broken.push('too wide: ' + node.outerHTML.slice(0, 80));
    const own = [...node.childNodes].some(c => c.nodeType === 3 && c.textContent.trim());
    if (own && parseFloat(getComputedStyle(node).fontSize) < 16) {
      broken.push('small text: ' + node.outerHTML.slice(0, 80));
    }
    const tap = node.matches('button, select, input:not([type=checkbox]):not([type=radio]), '
      + 'textarea, summary, nav a, .cases a, .choice, .photo-pick');
    if (tap && box.height < 44) broken.push('small target: ' + node.outerHTML.slice(0, 80));
  }
  return broken;
}"""


def test_the_workbench_fits_older_eyes_and_thumbs_at_360_px(browser, town):
    base, _app = town
    phone = Workbench(browser, base)
    try:
        phone.page.set_viewport_size({"width": 360, "height": 740})
        page = phone.page
        page.goto(f"{base}/m/")
        page.wait_for_selector("#username")
        assert page.evaluate(MEASURE) == []
        phone.sign_in("police")
        screens = {"home": None, "cases": "#case-list li", "inbox": "h1:has-text('消息')"}
        for name, ready in screens.items():
            if ready:
                page.goto(f"{base}/m/#/{name}")
                page.wait_for_selector(ready)
            assert page.evaluate(MEASURE) == [], name
        page.goto(f"{base}/m/#/cases")
        page.locator("#case-list a").first.click()
        page.wait_for_selector("#case-code")
        assert page.evaluate(MEASURE) == [], "case"
        page.locator("#me-link").click()
        page.get_by_role("button", name="退出登录").click()
        page.wait_for_selector("#username")
        assert page.locator(".notice").inner_text() == "已退出登录。"
        phone.sign_in("grid05")
        for name in ("report", "screening"):
            page.goto(f"{base}/m/#/{name}")
            page.wait_for_selector("details.group")
            page.locator("details.group summary").first.click()
            assert page.evaluate(MEASURE) == [], name
        phone.screenshot("workbench-360-report")
        # No English left on a page: every text of every screen is Chinese (codes aside).
        text = page.locator("body").inner_text()
        assert not [w for w in text.split() if w.isascii() and w.isalpha() and len(w) > 2]
    finally:
        phone.context.close()
    assert phone.blocked == []
    assert phone.failed == []


def test_the_official_account_link_signs_a_bound_phone_in_without_typing(browser, town):
    """Fake mode (offline): the authorization comes straight back with a code of the
    phone's own. Unbound, it asks for the password once and binds; then no typing."""
    base, _app = town
    phone = Workbench(browser, base)
    try:
        page = phone.page
        page.goto(f"{base}/m/")
        page.get_by_role("button", name="微信登录（已绑定的账号）").click()
        page.wait_for_selector(".error:has-text('该微信尚未绑定账号')")
        phone.shot("wechat-unbound")
        page.fill("#username", "grid12")
        page.fill("#password", PASSWORD)
        page.get_by_role("button", name="登录", exact=True).click()
        page.wait_for_selector(".notice:has-text('已绑定微信')")
        phone.shot("wechat-bound")
        page.locator("#me-link").click()
        page.get_by_role("button", name="退出登录").click()
        page.get_by_role("button", name="微信登录（已绑定的账号）").click()
        page.wait_for_selector("h1:has-text('我的待办')")
        assert "网格员" in page.locator("h1").inner_text()
        assert "code=" not in page.url  # the code is not left in the address bar
    finally:
        phone.context.close()
    assert phone.blocked == []
    assert phone.failed == []


def test_a_shared_phone_sends_each_account_s_reports_as_that_account_only(phones, town):
    _base, app = town
    phone = phones()
    page = phone.page
    page.on("dialog", lambda dialog: dialog.accept())
    phone.sign_in("grid05")
    phone.tab("上报")
    description = f"共用手机测试 {uuid.uuid4().hex[:8]}：路口积水。"
    _fill_dispute(page, description)
    phone.expect_failures = True
    phone.context.set_offline(True)
    page.get_by_role("button", name="提交上报").click()
    page.wait_for_selector("#outbox .entry.pending")
    # Still not through when the network is back (the route first: 'online' sends at once).
    page.route("**/api/v1/reports", lambda route: route.abort())
    phone.context.set_offline(False)
    page.locator("#me-link").click()
    page.get_by_role("button", name="退出登录").click()  # warned, and accepted
    page.wait_for_selector("#username")
    page.unroute("**/api/v1/reports")
    phone.expect_failures = False
    phone.sign_in("grid29")
    phone.tab("上报")
    page.wait_for_selector("#description")
    assert page.input_value("#description") == ""  # nobody else's draft
    assert page.locator("#outbox").count() == 0  # nor their reports
    page.wait_for_timeout(2500)  # the outbox's first retry would have gone by now
    with app.app_context():
        assert (
            db.session.scalar(select(func.count(Case.id)).where(Case.description == description))
            == 0
        )
    page.locator("#me-link").click()
    page.get_by_role("button", name="退出登录").click()
    page.wait_for_selector("#username")
    phone.sign_in("grid05")
    phone.tab("上报")
    page.locator("#outbox .entry.sent").first.wait_for(timeout=30000)
    with app.app_context():
        filed = db.session.scalar(select(Case).where(Case.description == description))
        assert filed.created_by.username == "grid05"


def test_after_a_reset_the_phone_asks_for_a_new_password_first(phones, town):
    _base, app = town
    from server.organisation import accounts

    with app.app_context():
        worker = db.session.scalar(select(User).where(User.username == "grid33"))
        security = db.session.scalar(select(User).where(User.username == "security"))
        accounts.reset_password(worker, "Given@Grid3355", actor=security)
        db.session.commit()
    phone = phones()
    page = phone.page
    page.goto(f"{phone.base}/m/")
    page.fill("#username", "grid33")
    page.fill("#password", "Given@Grid3355")
    page.get_by_role("button", name="登录", exact=True).click()
    page.wait_for_selector("h1:has-text('设置新密码')")
    phone.shot("reset-new-password")
    page.fill("#new-password", "Mine@Grid3366")
    page.fill("#new-password-again", "Mine@Grid3366")
    page.get_by_role("button", name="保存新密码并登录").click()
    page.wait_for_selector("h1:has-text('我的待办')")
    with app.app_context():
        assert not db.session.scalar(
            select(User).where(User.username == "grid33")
        ).must_change_password


def test_a_leader_s_instruction_is_on_the_handler_s_phone_until_carried_out(phones, town):
    base, app = town
    med07 = _user(app, "med07")
    center, leader = _token(base, "center"), _token(base, "leader")
    code = requests.post(
        f"{base}/api/v1/reports",
        timeout=10,
        headers=_token(base, "grid07") | {"Idempotency-Key": str(uuid.uuid4())},
        json={
            "category": "D02",
            "village": _user(app, "grid07")["village"],
            "description": "两户为自来水管漏水争执。",
            "parties": [{"name": "孙一", "side": "applicant"}],
        },
    ).json()["code"]
    _act(base, center, code, "accept")
    _act(base, center, code, "dispatch", lead_department=med07["department"])
    _act(base, leader, code, "instruct", text="请村调委会三日内上门调解，结果报我。")

    phone = phones()
    page = phone.page
    phone.sign_in("med07")
    page.goto(f"{base}/m/#/case/{code}")
    box = page.locator("#instructions")
    box.wait_for()
    assert "请村调委会三日内上门调解" in box.inner_text()
    phone.shot("9-instruction")
    detail = requests.get(f"{base}/api/v1/cases/{code}", headers=center, timeout=10).json()
    _act(base, center, code, "carry_out", instruction=detail["instructions"][0]["id"])
    page.reload()
    page.wait_for_selector("#case-code")
    assert page.locator("#instructions").count() == 0
