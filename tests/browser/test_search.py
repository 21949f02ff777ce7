"""Search in a real browser: the header's box finds a case by phone for the center, and
shows the leader neither the case nor anyone's identity (outside requests blocked)."""

from __future__ import annotations

from server.cases.operations import Party, ReportDraft, Reporter, submit_report
from server.db import db
from server.infra import codes
from tests.browser.conftest import shot, sign_in
from tests.factories import build_world, category

NAME, PHONE = "刘备", "13800138000"


def _search(page, typed):
    box = page.locator("header form.search-box input[name=q]")
    box.fill(typed)
    box.press("Enter")
    page.wait_for_load_state()


def test_a_search_by_phone_finds_the_case_for_the_center_only(desk, live, fresh_app):
    with fresh_app.app_context():
        world = build_world()
        case = submit_report(
            ReportDraft(
                village=world.v1,
                category=category("D02"),
                source="qr",
                description="张家与李家因土地边界纠纷多次争吵。",
                place_text="东村三组路口",
                parties=[Party("王五"), Party("赵六", side="respondent")],
                reporter=Reporter(anonymous=False, name=NAME, phone=PHONE),
            ),
            actor=None,
        )
        shown = codes.display(case.code)
        db.session.commit()
        db.session.remove()

    center = desk()
    sign_in(center, live, "t_center")
    _search(center, "+86 138-0013-8000")
    results = center.locator("#search-results")
    assert results.get_by_role("link", name=shown).is_visible()
    assert "举报人电话" in results.inner_text()
    assert NAME not in center.content()  # a result shows no identity, even to the center
    shot(center, "search-1-center-by-phone")
    center.set_viewport_size({"width": 390, "height": 844})  # on a phone too
    assert center.locator("header form.search-box input[name=q]").is_visible()
    shot(center, "search-1-center-by-phone-narrow")
    center.set_viewport_size({"width": 1366, "height": 900})
    results.get_by_role("link", name=shown).click()
    assert NAME in center.locator(".informant").inner_text()  # the case page, audited

    leader = desk()
    sign_in(leader, live, "t_leader")
    _search(leader, "138 0013 8000")
    assert "按电话号码查找仅限调处中心" in leader.locator("#search-message").inner_text()
    assert leader.locator("#search-results").get_by_role("link").count() == 0
    html = leader.content()
    assert shown not in html
    assert NAME not in html
    shot(leader, "search-2-leader-by-phone")
    _search(leader, NAME)
    assert leader.locator("#search-results").get_by_role("link").count() == 0
    # By the words of the description the leader finds it, and sees no identity there.
    _search(leader, "土地")
    assert leader.locator("#search-results").get_by_role("link", name=shown).is_visible()
    html = leader.content()
    assert NAME not in html
    assert PHONE not in html
    shot(leader, "search-3-leader-by-words")
    leader.locator("#search-results").get_by_role("link", name=shown).click()
    html = leader.content()
    assert NAME not in html
    assert PHONE not in html
