"""Browser tests: Debian's Chromium driven by Playwright, against the app on 127.0.0.1.

Every request that leaves the app is blocked and recorded; a test fails if its page
reached for anything outside (a CDN, a font host). Screenshots go to TEST_OUTPUT
(default test-artifacts/). Without Chromium the tests skip, except under CI, where
.ci/run installs it and a missing browser is a failure.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.factories import PASSWORD

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# The flags ECOSYSTEM.md verified for Debian's Chromium as root in a sandbox.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]
OUTPUT = Path(os.environ.get("TEST_OUTPUT", Path(__file__).parents[2] / "test-artifacts"))
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 12; M2012K11AC) AppleWebKit/537.36 (KHTML, like "
    "Gecko) Version/4.0 Chrome/116.0 Mobile Safari/537.36 MicroMessenger/8.0.47"
)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the session."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium is missing at {CHROMIUM}: .ci/run should install it")
        pytest.skip("no Chromium on this machine")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def live(fresh_app):
    """The app on a real HTTP server (its own committed database)."""
    server = make_server("127.0.0.1", 0, fresh_app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    fresh_app.config["PUBLIC_BASE_URL"] = base
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        server.server_close()


class Phone:
    """A phone-sized browser context whose outside requests are blocked and recorded."""

    def __init__(self, browser, base: str, *, javascript: bool = True):
        self.base = base
        self.blocked: list[str] = []
        self.context = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            user_agent=WECHAT_UA,
            java_script_enabled=javascript,
        )
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()

    def _route(self, route):
        url = route.request.url
        if url.startswith(self.base + "/") or url == self.base or url.startswith("data:"):
            return route.continue_()
        self.blocked.append(url)
        return route.abort()

    def screenshot(self, name: str) -> Path:
        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def phone(browser, live):
    """A phone in WeChat's browser, pointed at the live app."""
    device = Phone(browser, live)
    yield device
    device.context.close()
    assert device.blocked == [], f"the page reached outside the app: {device.blocked}"


DESK = {"width": 1366, "height": 900}


@pytest.fixture
def screen(browser, live):
    """`screen(viewport=DESK, javascript=True)`: a page of the admin in a fresh context
    sized so (a phone's below 1000 px wide), outside requests blocked and recorded."""
    blocked, contexts = [], []

    def open_screen(viewport=DESK, *, javascript=True):
        small = viewport["width"] < 1000
        context = browser.new_context(
            viewport=viewport,
            is_mobile=small,
            has_touch=small,
            user_agent=WECHAT_UA if small else None,
            locale="zh-CN",
            timezone_id="Asia/Shanghai",
            java_script_enabled=javascript,
        )
        context.route(
            "**/*",
            lambda route: (
                route.continue_()
                if route.request.url.startswith(live)
                else (blocked.append(route.request.url), route.abort())
            ),
        )
        contexts.append(context)
        return context.new_page()

    yield open_screen
    for context in contexts:
        context.close()
    assert blocked == [], f"the admin reached outside the app: {blocked}"


@pytest.fixture
def desk(screen):
    """`desk()`: a desktop page of the admin (see `screen`)."""
    return lambda: screen(DESK)


def sign_in(page, base, username, password=PASSWORD):
    """Sign `page` in to the admin as `username` and wait for the landing page."""
    page.goto(f"{base}/admin/login")
    page.fill("#username", username)
    page.fill("#password", password)
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/admin/(?!login).*"))


def shot(page, name):
    """A full-page screenshot into OUTPUT."""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"), full_page=True)
