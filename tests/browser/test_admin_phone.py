"""The admin on a phone (390 x 844) and a tablet (768 x 1024), in Debian's Chromium with
every outside request blocked: no page is wider than the screen, the queue is a list of
cards, each value under its column's name, and the menu folds behind a button that works
without JavaScript. On a desk (1366) the menu stands open as before."""

from __future__ import annotations

import re

import pytest

from server import demo as demo_town
from server.db import db
from tests.browser.conftest import DESK, shot, sign_in

PHONE = {"width": 390, "height": 844}
TABLET = {"width": 768, "height": 1024}
ROLES = ["center", "leader", "police", "admin", "security", "auditor"]


@pytest.fixture
def town(fresh_app):
    """The demo town of `make run`, committed, on the live app's database."""
    with fresh_app.app_context():
        demo_town.seed()
        db.session.commit()
        password = fresh_app.config["DEMO_PASSWORD"]
        db.session.remove()
    return password


def _overflow(page) -> int:
    """How far the page reaches past the screen's right edge (0: not at all).

    On a phone the browser widens its layout to content that does not fit (and zooms
    out), so `innerWidth` grows with the overflow: both are held to the screen's width.
    """
    width = page.viewport_size["width"]
    return page.evaluate(
        "w => Math.max(document.documentElement.scrollWidth, window.innerWidth) - w", width
    )


def test_the_queue_at_390_is_cards_with_no_sideways_scrolling(screen, live, town):
    page = screen(PHONE, javascript=False)  # the menu and the cards need no script
    sign_in(page, live, "center", town)
    assert page.evaluate("window.innerWidth") == 390
    assert _overflow(page) <= 0
    queue = page.locator("table.queue").last
    assert queue.locator("thead").bounding_box()["height"] <= 1  # left for screen readers
    first = queue.locator("tbody tr").first
    box = first.bounding_box()
    assert box["width"] > 330  # a card across the screen, not a column one character wide
    labels = first.locator("td[data-label]").evaluate_all(
        "cells => cells.map(c => getComputedStyle(c, '::before').content)"
    )
    assert '"类别"' in labels
    assert '"时限"' in labels
    # The menu: folded behind its button until tapped.
    nav = page.locator("header nav")
    assert not nav.is_visible()
    assert page.locator("label.menu-button").is_visible()
    page.locator("label.menu-button").click()
    assert nav.is_visible()
    assert nav.get_by_role("link", name="督办").is_visible()
    assert _overflow(page) <= 0
    shot(page, "admin-phone-queue")
    nav.get_by_role("link", name="督办").click()
    page.wait_for_url(f"{live}/admin/supervision")
    assert _overflow(page) <= 0


def test_the_case_page_and_the_dashboard_fit_a_phone(screen, live, town):
    page = screen(PHONE)
    sign_in(page, live, "center", town)
    page.locator("table.queue tbody tr td:first-child a").first.click()
    page.wait_for_url(re.compile(r".*/admin/cases/\w+$"))
    assert _overflow(page) <= 0
    assert page.locator(".deadline").is_visible()
    # The form of an action fills the screen's width, and still fits.
    page.locator("details.action summary").first.click()
    assert _overflow(page) <= 0
    shot(page, "admin-phone-case")
    page.goto(f"{live}/admin/dashboard")
    assert _overflow(page) <= 0
    shot(page, "admin-phone-dashboard")


@pytest.mark.parametrize("username", ROLES)
def test_every_admin_page_fits_a_phone_and_a_tablet(screen, live, town, username):
    page = screen(PHONE)
    sign_in(page, live, username, town)
    pages = page.locator("header nav a").evaluate_all("links => links.map(a => a.href)")
    cases = page.locator("a[href*='/admin/cases/']").evaluate_all("links => links.map(a => a.href)")
    if cases:  # a case, and its printable file
        pages += [cases[0], cases[0] + "/print"]
    if username in ("admin", "security"):
        pages += [f"{live}/admin/setup"]  # linked from 村与二维码 and 账号
    pages += [f"{live}/admin/password"]
    wide = {}
    for url in dict.fromkeys(pages):
        for viewport in (PHONE, TABLET):
            page.set_viewport_size(viewport)
            page.goto(url)
            if (over := _overflow(page)) > 0:
                wide[f"{url} at {viewport['width']}"] = over
            # Every form opened, as someone filling it would see it.
            page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true; })")
            if (over := _overflow(page)) > 0:
                wide[f"{url} at {viewport['width']}, forms open"] = over
    assert not wide, f"pages wider than the screen (px past the edge): {wide}"


def test_on_a_desk_the_menu_stands_open(screen, live, town):
    page = screen(DESK)
    sign_in(page, live, "center", town)
    assert page.locator("header nav").is_visible()
    assert not page.locator("label.menu-button").is_visible()
    assert page.locator("table.queue thead").last.is_visible()
    assert _overflow(page) <= 0
