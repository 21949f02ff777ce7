"""The notification sender against faults, found by a review of it: a WeChat that
behaves as it documents stable_token (normal mode returns the current token; a forced
refresh makes a new one, voids the one before, 20 times a day; subscribe/send answers
40001 to any token but the current one, 43101 to an openid starting REFUSED, 40003 to
one starting BAD), a WeChat switched off, a reader moved to another town, an SMS log,
and two senders on PostgreSQL."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest
from sqlalchemy import select

from server.cases import outbox
from server.db import db
from server.follow_through import notifications
from server.infra import clock, wechat
from server.models import Notification, ServiceToken, User, WeChatConsent
from tests.factories import build_towns, build_world
from tests.fakes import FakeWeChat
from tests.helpers import case_in, new_report

START = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)


class ScriptedWeChat:
    def __init__(self):
        self.current, self.issued, self.forced, self.sent = "T-1", 1, 0, []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                url = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(url.query).items()}
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if url.path == "/cgi-bin/stable_token":
                    if body.get("force_refresh"):
                        if fake.forced >= 20:
                            return self._send({"errcode": 45009, "errmsg": "api quota"})
                        fake.forced += 1
                        fake.issued += 1
                        fake.current = f"T-{fake.issued}"
                    return self._send({"access_token": fake.current, "expires_in": 7200})
                if query.get("access_token") != fake.current:
                    return self._send({"errcode": 40001, "errmsg": "invalid credential"})
                if body["touser"].startswith("REFUSED"):
                    return self._send({"errcode": 43101, "errmsg": "user refuse to accept"})
                if body["touser"].startswith("BAD"):
                    return self._send({"errcode": 40003, "errmsg": "invalid openid"})
                fake.sent.append(body["touser"])
                return self._send({"errcode": 0, "errmsg": "ok"})

            def _send(self, answer):
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def _configure(app, base_url):
    app.config.update(
        WECHAT_MODE="live",
        WECHAT_API_BASE=base_url,
        WECHAT_APPID="wx-app",
        WECHAT_SECRET="s",
        WECHAT_TIMEOUT_SECONDS=2,
        WECHAT_TEMPLATE_ID="TPL-1",
    )


@pytest.fixture
def scripted(app, world):
    fake = ScriptedWeChat()
    saved = dict(app.config)
    _configure(app, fake.base_url)
    yield fake
    fake.server.shutdown()
    fake.server.server_close()
    app.config.clear()
    app.config.update(saved)


def _bind(person, openid, credits=1):
    person.wechat_openid = openid
    db.session.add(WeChatConsent(user_id=person.id, template_id="TPL-1", credits=credits))


def _stale_token():
    """The token we keep was replaced at WeChat (another machine, another tool)."""
    db.session.add(
        ServiceToken(name="wechat", value="T-0", expires_at=clock.now() + timedelta(hours=1))
    )


def _wechat_note(user):
    return db.session.scalars(
        select(Notification).where(
            Notification.user_id == user.id, Notification.channel == "wechat"
        )
    ).one()


# --- a token fetched, then thrown away with a failed send ------------------------------


def test_a_failed_send_keeps_the_token_it_fetched(app, world):
    with FakeWeChat() as fake:  # the project's own fake
        saved = dict(app.config)
        _configure(app, fake.base_url)
        try:
            people = [world.justice_handler, world.police_handler, world.committee1_handler]
            for person in people:
                _bind(person, f"OPENID-{person.username}")
            db.session.flush()
            outbox.queue(people, "test", case=None, title="测试", body="测试")
            fake.send_mode = "down"  # subscribe/send answers 503 for a while
            notifications.deliver_due()
        finally:
            app.config.clear()
            app.config.update(saved)
    sends = [c for c in fake.calls if c[0] == "/cgi-bin/message/subscribe/send"]
    tokens = [c for c in fake.calls if c[0] == "/cgi-bin/stable_token"]
    assert len(sends) == 3
    assert len(tokens) == 1, f"{len(tokens)} stable_token calls for {len(sends)} sends"


def test_one_bad_recipient_does_not_make_every_later_message_force_refresh(world, scripted):
    _stale_token()
    bad, good = world.justice_handler, world.police_handler
    _bind(bad, "BAD-OPENID", credits=30)  # unbound their WeChat: 40003
    _bind(good, "OPENID-P", credits=30)
    db.session.flush()
    for _ in range(20):
        outbox.queue([bad], "test", case=None, title="测试", body="测试")
    outbox.queue([good], "test", case=None, title="测试", body="测试")
    notifications.deliver_due()
    note = _wechat_note(good)
    # The stored token was refused: WeChat's current one is asked for (normal mode), and
    # none is forced, as it is not the one refused. Before, each failed message rolled its
    # new token back, the next found the old one refused and forced another, and the good
    # message found the day's 20 forced refreshes spent.
    assert (note.status, scripted.forced) == ("sent", 0), (
        note.status,
        note.last_error,
        scripted.forced,
    )


# --- a refusal answered to the retried send ---------------------------------------------


def test_a_refusal_answered_after_a_token_refresh_is_a_refusal(world, scripted):
    _stale_token()
    person = world.justice_handler
    _bind(person, "REFUSED-J")  # has withdrawn consent: 43101
    db.session.flush()
    outbox.queue([person], "test", case=None, title="测试", body="测试")
    notifications.deliver_due()
    note = _wechat_note(person)
    consent = db.session.get(WeChatConsent, (person.id, "TPL-1"))
    # As with a good token: skipped at once, the credit cleared.
    assert (note.status, consent.credits) == ("skipped", 0), (
        note.status,
        note.last_error,
        consent.credits,
    )


def _every_try_an_hour_apart() -> None:
    """The sender run MAX_ATTEMPTS times an hour apart from START: every retry a message
    gets before it is given up."""
    moment = START
    for _ in range(notifications.MAX_ATTEMPTS):
        with clock.frozen_at(moment):
            notifications.deliver_due()
        moment += timedelta(hours=1)


# --- why a message died ------------------------------------------------------------------


def test_the_dead_letter_page_says_what_wechat_answered(client, world, scripted, signin):
    person = world.justice_handler
    _bind(person, "BAD-J")  # WeChat: 40003 invalid openid
    db.session.flush()
    with clock.frozen_at(START):
        outbox.queue([person], "test", case=None, title="测试", body="测试")
    _every_try_an_hour_apart()
    note = _wechat_note(person)
    assert note.status == "dead"
    signin(world.center)
    page = client.get("/admin/dead-letters").get_data(as_text=True)
    assert note.last_error == "40003", note.last_error
    assert "错误码 40003" in page


def test_wechat_switched_off_skips_rather_than_filling_the_dead_letters(app, world):
    saved = dict(app.config)
    # WeChat turned off (an offline town), the template id left in the env file; a worker
    # bound their WeChat while it was on.
    app.config.update(WECHAT_MODE="off", WECHAT_TEMPLATE_ID="TPL-1")
    try:
        person = world.justice_handler
        person.wechat_openid = "OPENID-J"
        db.session.add(WeChatConsent(user_id=person.id, template_id="TPL-1", credits=1))
        db.session.flush()
        with clock.frozen_at(START):
            outbox.queue([person], "test", case=None, title="测试", body="测试")
        _every_try_an_hour_apart()
    finally:
        app.config.clear()
        app.config.update(saved)
    note = db.session.scalars(
        select(Notification).where(
            Notification.user_id == person.id, Notification.channel == "wechat"
        )
    ).one()
    assert note.status == "skipped", (note.status, note.attempts, note.last_error)


def test_a_message_queued_before_its_reader_left_the_town_is_not_sent_to_them(world, monkeypatch):
    towns = build_towns()
    sent: list[tuple[str, str]] = []

    class Gateway:
        def send(self, phone, text):
            sent.append((phone, text))

    monkeypatch.setattr(notifications, "sms_gateway", lambda: Gateway())
    person = world.justice_handler
    person.phone = "13800000001"
    case_in("dispatched", world)  # queues 新派遣案件 to the justice office
    # Before the sender runs (or a dead letter is resent), district security moves the
    # account to the other town's justice office.
    person.town_id = towns["town"].id
    person.department = towns["justice_office"]
    db.session.flush()
    notifications.deliver_due()
    leaked = [text for phone, text in sent if phone == "13800000001"]
    assert leaked == [], leaked


def test_the_sms_log_names_no_one(world, caplog):
    world.center.phone = "13800000009"
    db.session.flush()
    new_report(
        world,
        "H01",
        actor=None,
        source="qr",
        parties=[],
        happening_now=True,
        description="王大明家柴草垛着火了，我是邻居刘小红13912345678。",
    )
    with caplog.at_level(logging.INFO, logger="server.follow_through.notifications"):
        notifications.deliver_due()
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sms to" in logged
    assert "王大明" not in logged
    assert "13912345678" not in logged


def test_a_message_put_back_for_later_is_not_tried_again_by_the_other_sender(
    fresh_app, monkeypatch
):
    if not fresh_app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("row locks of PostgreSQL (SKIP LOCKED): several senders")
    with fresh_app.app_context():
        world = build_world()
        slow, failing = world.justice_handler, world.police_handler
        slow.phone, failing.phone = "13800000001", "13900000000"
        outbox.queue([slow, failing], "test", case=None, title="测试", body="测试")
        db.session.commit()
        failing_id = failing.id
        db.session.remove()

    release, in_slow = threading.Event(), threading.Event()
    tries: list[str] = []

    class Gateway:  # one carrier slow, the other down
        def send(self, phone, text):
            tries.append(phone)
            if phone == "13800000001":
                in_slow.set()
                release.wait(20)
                return
            raise ConnectionError("carrier down")

    gateway = Gateway()
    monkeypatch.setattr(notifications, "sms_gateway", lambda: gateway)

    def machine_one():
        with fresh_app.app_context():
            try:
                notifications.deliver_due()
            finally:
                db.session.remove()

    with clock.frozen_at(clock.now()):
        one = threading.Thread(target=machine_one)
        one.start()
        assert in_slow.wait(20)  # machine one listed every message, and is on the slow one
        with fresh_app.app_context():
            notifications.deliver_due()  # machine two: skips the slow one, tries the other
            db.session.remove()
        release.set()
        one.join(30)
    with fresh_app.app_context():
        note = db.session.scalar(
            select(Notification).where(
                Notification.user_id == failing_id, Notification.channel == "sms"
            )
        )
        # Machine two tried it and put it back for a minute later: machine one, reaching it
        # in the list it read at its start, must not try it again at once.
        assert tries.count("13900000000") == 1, tries
        assert note.attempts == 1
        db.session.remove()


# --- SQLite: the send holds no write lock ---------------------------------------------


def test_a_slow_wechat_send_does_not_hold_up_every_writer(fresh_app, monkeypatch):
    if fresh_app.config["DATABASE_URL"].startswith("postgresql"):
        pytest.skip("SQLite's single writer")
    with FakeWeChat() as fake:
        fresh_app.config.update(
            WECHAT_MODE="live",
            WECHAT_API_BASE=fake.base_url,
            WECHAT_APPID="wx-app",
            WECHAT_SECRET="s",
            WECHAT_TIMEOUT_SECONDS=5,
            WECHAT_TEMPLATE_ID="TPL-1",
        )
        with fresh_app.app_context():
            world = build_world()
            handler = world.justice_handler
            handler.wechat_openid = "OPENID-J"
            db.session.add(WeChatConsent(user_id=handler.id, template_id="TPL-1", credits=1))
            # a token already cached: the sender writes nothing before it sends
            db.session.add(
                ServiceToken(
                    name="wechat", value="TOKEN-1", expires_at=clock.now() + timedelta(hours=1)
                )
            )
            outbox.queue([handler], "test", case=None, title="测试", body="测试")
            db.session.commit()
            other_id = world.police_handler.id
            db.session.remove()

        sending = threading.Event()
        real_send = wechat.subscribe_send

        def slow_send(*args, **kwargs):  # WeChat answers in 2 s (the timeout is 5)
            sending.set()
            time.sleep(2)
            return real_send(*args, **kwargs)

        monkeypatch.setattr(wechat, "subscribe_send", slow_send)

        def sender():
            with fresh_app.app_context():
                try:
                    notifications.deliver_due()
                finally:
                    db.session.remove()

        thread = threading.Thread(target=sender)
        thread.start()
        assert sending.wait(10)
        # Meanwhile someone (a request, the sweep) writes something unrelated.
        with fresh_app.app_context():
            started = time.monotonic()
            db.session.get(User, other_id).phone = "13800000001"
            db.session.commit()
            waited = time.monotonic() - started
            db.session.remove()
        thread.join(30)
        assert len(fake.sent) == 1
    assert waited < 0.5, f"an unrelated write waited {waited:.1f} s for the WeChat call"
