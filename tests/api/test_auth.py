"""Sign-in: passwords, tokens (expiry, revocation), throttling, WeChat."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from server import auth
from server.db import db
from server.infra import clock
from server.models import AuditEntry, Notification
from tests.factories import PASSWORD
from tests.fakes import FakeWeChat

NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)


def _login(client, username, password=PASSWORD):
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def test_login_gives_a_working_token(client, world):
    response = _login(client, "t_grid1")
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer"
    assert body["user"]["role"] == "grid_worker"
    assert "password" not in response.get_data(as_text=True)
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json["username"] == "t_grid1"


@pytest.mark.parametrize(
    ("headers", "code"),
    [
        ({}, "token_missing"),
        ({"Authorization": "Basic abc"}, "token_missing"),
        ({"Authorization": "Bearer not-a-token"}, "token_invalid"),
    ],
)
def test_requests_without_a_good_token_are_refused(client, world, headers, code):
    response = client.get("/api/v1/cases", headers=headers)
    assert response.status_code == 401
    assert response.json["code"] == code
    assert response.json["message"]


def test_wrong_password_and_unknown_user_answer_alike(client, world):
    wrong = _login(client, "t_grid1", "Wrong@2026x")
    unknown = _login(client, "nobody", "Wrong@2026x")
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json
        == unknown.json
        == {"code": "invalid_credentials", "message": "用户名或密码错误。"}
    )


def test_a_token_expires(client, world, app):
    with clock.frozen_at(NOW):
        token = _login(client, "t_grid1").json["token"]
    headers = {"Authorization": f"Bearer {token}"}
    ttl = app.config["TOKEN_TTL_SECONDS"]
    with clock.frozen_at(NOW + timedelta(seconds=ttl - 5)):
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    with clock.frozen_at(NOW + timedelta(seconds=ttl + 1)):
        response = client.get("/api/v1/auth/me", headers=headers)
    assert response.status_code == 401
    assert response.json["code"] == "token_expired"


def test_a_token_dies_with_a_disabled_account_or_a_new_password(client, world, login):
    headers = login(world.worker1)
    world.worker1.active = False
    db.session.flush()
    assert client.get("/api/v1/auth/me", headers=headers).json["code"] == "token_revoked"
    world.worker1.active = True
    db.session.flush()
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    with clock.frozen_at(clock.now() + timedelta(seconds=1)):
        auth.set_password(world.worker1, "New@Password1", actor=world.worker1)
    db.session.flush()
    assert client.get("/api/v1/auth/me", headers=headers).json["code"] == "token_revoked"
    response = _login(client, "t_grid1", "New@Password1")
    assert response.status_code == 200, response.json


def test_a_grid_workers_villages_are_read_afresh_for_each_request(client, world, login):
    """An admin moving a grid worker to another grid takes effect at their next request,
    and within a request a change of grids is seen at once."""
    from tests.helpers import new_report

    headers = login(world.worker1)
    code = new_report(world).code  # in village 1, the worker's
    assert client.get(f"/api/v1/cases/{code}", headers=headers).status_code == 200
    world.worker1.grids = [world.g2]
    db.session.flush()
    assert client.get(f"/api/v1/cases/{code}", headers=headers).status_code == 404
    worker = auth.user_from_token(headers["Authorization"].split()[1])
    assert worker.village_ids == {world.v2.id}
    worker.grids.append(world.g1)
    assert worker.village_ids == {world.v1.id, world.v2.id}
    worker.grids.remove(world.g2)
    assert worker.village_ids == {world.v1.id}


def _login_from(client, address, username, password=PASSWORD):
    return client.post(
        "/api/v1/auth/login",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def test_failed_logins_from_one_place_are_slowed_more_and_more(client, world):
    with clock.frozen_at(NOW) as _:
        for _attempt in range(3):
            assert _login(client, "t_grid1", "Wrong@2026x").status_code == 401
        slowed = _login(client, "t_grid1", PASSWORD)  # even the right password must wait
        assert slowed.status_code == 429
        assert slowed.json["code"] == "login_throttled"
        assert int(slowed.headers["Retry-After"]) >= 1
        clock.advance(timedelta(seconds=2))
        assert _login(client, "t_grid1", "Wrong@2026x").status_code == 401  # 4th failure
        waits = []
        for _attempt in range(7):  # 5th ... 11th: each try waits twice as long
            refused = _login(client, "t_grid1", "Wrong@2026x")
            assert refused.status_code == 429
            waits.append(int(refused.headers["Retry-After"]))
            clock.advance(timedelta(seconds=waits[-1]))
            assert _login(client, "t_grid1", "Wrong@2026x").status_code == 401
        assert waits == sorted(waits)
        assert waits[-1] > 60
        # Never locked: a wait served, the right password gets in.
        refused = _login(client, "t_grid1", PASSWORD)
        clock.advance(timedelta(seconds=int(refused.headers["Retry-After"])))
        assert _login(client, "t_grid1", PASSWORD).status_code == 200
        # A success wipes the count of this username (this address's count of failures
        # stays: one account's good password does not clear a spray from it).
        assert _login_from(client, "10.0.0.9", "t_grid1", "Wrong@2026x").status_code == 401
        assert _login_from(client, "10.0.0.9", "t_grid1", PASSWORD).status_code == 200
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert actions.count("auth.login_failed") == 12
    assert "auth.locked" not in actions


def test_nobody_can_lock_an_account_out_from_many_addresses(client, world):
    """Issue 15, point 10: five wrong passwords at `center` used to lock it for 15
    minutes. From many addresses an attacker now only slows every try at it to a minute
    at most: the real user, elsewhere, gets in after that minute, and the security admin
    is told once."""
    with clock.frozen_at(NOW) as _:
        for n in range(40):  # one guess from each of 40 addresses, one second apart
            answer = _login_from(client, f"10.9.{n}.1", "t_center", "Wrong@2026x")
            assert answer.status_code in (401, 429)
            clock.advance(timedelta(seconds=1))
        real = _login_from(client, "192.168.1.20", "t_center", PASSWORD)
        assert real.status_code == 429
        assert real.json["code"] == "login_throttled"
        assert "该账号" in real.json["message"]
        assert int(real.headers["Retry-After"]) <= 61
        clock.advance(timedelta(seconds=int(real.headers["Retry-After"])))
        assert _login_from(client, "192.168.1.20", "t_center", PASSWORD).status_code == 200
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert "auth.locked" not in actions
    assert actions.count("auth.slowed") == 1
    told = db.session.scalars(
        select(Notification).where(Notification.user_id == world.security.id)
    ).all()
    assert [n.channel for n in told] == ["inbox"]
    assert "t_center" in told[0].body
    assert "未被锁定" in told[0].body


def test_a_spray_from_one_address_is_slowed_whatever_the_usernames(client, world):
    with clock.frozen_at(NOW) as _:
        for n in range(10):
            answer = _login_from(client, "10.1.1.1", f"someone{n}", "Wrong@2026x")
            assert answer.status_code == 401
        sprayed = _login_from(client, "10.1.1.1", "t_grid1", PASSWORD)
        assert sprayed.status_code == 429
        assert "本机" in sprayed.json["message"]
        # Another address is not held back by it.
        assert _login_from(client, "10.1.1.2", "t_grid1", PASSWORD).status_code == 200


@pytest.fixture
def wechat(app):
    """The fake WeChat server, with the app pointed at it (live mode)."""
    with FakeWeChat(slow_seconds=2.0) as fake:
        saved = {
            k: app.config[k] for k in ("WECHAT_MODE", "WECHAT_API_BASE", "WECHAT_TIMEOUT_SECONDS")
        }
        app.config.update(
            WECHAT_MODE="live",
            WECHAT_API_BASE=fake.base_url,
            WECHAT_APPID="wx-test-app",
            WECHAT_SECRET="test-secret",
            WECHAT_TIMEOUT_SECONDS=0.5,
        )
        yield fake
        app.config.update(saved)


def test_wechat_login_for_a_bound_account(client, world, wechat, caplog):
    world.worker1.wechat_openid = "OPENID-1"
    db.session.flush()
    with caplog.at_level(logging.DEBUG):
        response = client.post("/api/v1/auth/wechat", json={"code": "ok-OPENID-1"})
    assert response.status_code == 200, response.json
    assert response.json["user"]["username"] == "t_grid1"
    assert "SK-OPENID-1-secret" not in response.get_data(as_text=True)
    assert "SK-OPENID-1-secret" not in caplog.text
    assert world.worker1.wechat_session_key == "SK-OPENID-1-secret"  # kept server-side
    path, query = wechat.calls[-1]
    assert path == "/sns/jscode2session"
    assert query == {
        "appid": "wx-test-app",
        "secret": "test-secret",
        "js_code": "ok-OPENID-1",
        "grant_type": "authorization_code",
    }


def _audit_count():
    return db.session.scalar(select(func.count(AuditEntry.id)))


@pytest.mark.parametrize(
    ("code", "status", "error"),
    [
        ("ok-STRANGER", 403, "wechat_not_bound"),
        ("bad", 400, "wechat_invalid_code"),
        ("busy", 503, "wechat_unavailable"),
        ("boom", 503, "wechat_unavailable"),
        ("slow", 503, "wechat_unavailable"),
    ],
)
def test_wechat_login_failures_are_clear_and_store_nothing(
    client, world, wechat, code, status, error
):
    before = _audit_count()
    response = client.post("/api/v1/auth/wechat", json={"code": code})
    assert response.status_code == status
    assert response.json["code"] == error
    assert response.json["message"]
    assert _audit_count() == before
    assert world.worker1.wechat_session_key is None


def test_wechat_down_entirely(client, world, app, wechat):
    app.config["WECHAT_API_BASE"] = "http://127.0.0.1:1"  # nothing listens there
    response = client.post("/api/v1/auth/wechat", json={"code": "ok-X"})
    assert response.status_code == 503
    assert response.json["code"] == "wechat_unavailable"


def test_binding_wechat_needs_a_signed_in_user(client, world, wechat, login):
    assert client.post("/api/v1/auth/wechat/bind", json={"code": "ok-W1"}).status_code == 401
    response = client.post(
        "/api/v1/auth/wechat/bind", json={"code": "ok-W1"}, headers=login(world.worker1)
    )
    assert response.json == {"bound": True}
    assert world.worker1.wechat_openid == "W1"
    assert client.post("/api/v1/auth/wechat", json={"code": "ok-W1"}).status_code == 200
    taken = client.post(
        "/api/v1/auth/wechat/bind", json={"code": "ok-W1"}, headers=login(world.worker2)
    )
    assert taken.status_code == 409
    assert taken.json["code"] == "wechat_already_bound"


def test_fake_mode_works_offline_and_off_mode_refuses(client, world, app):
    assert app.config["WECHAT_MODE"] == "fake"
    assert (
        client.post("/api/v1/auth/wechat", json={"code": "anything"}).json["code"]
        == "wechat_not_bound"
    )
    app.config["WECHAT_MODE"] = "off"
    try:
        response = client.post("/api/v1/auth/wechat", json={"code": "anything"})
    finally:
        app.config["WECHAT_MODE"] = "fake"
    assert response.status_code == 403
    assert response.json["code"] == "wechat_disabled"


def test_wrong_passwords_sent_at_once_each_count(fresh_app):
    """Each failure is one atomic upsert: six wrong passwords sent together count six
    (counted from a value read before the write, a burst counted as one)."""
    import threading

    from server.models import LoginThrottle
    from server.trust import throttle
    from tests.factories import build_world

    with fresh_app.app_context():
        build_world()
        db.session.commit()
        db.session.remove()
    answers, barrier = [], threading.Barrier(6)

    def guess(n):
        barrier.wait(timeout=30)
        answer = fresh_app.test_client().post(
            "/api/v1/auth/login",
            json={"username": "t_center", "password": "Wrong@2026x"},
            environ_base={"REMOTE_ADDR": f"10.7.0.{n}"},
        )
        answers.append(answer.status_code)

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(answers) == [401] * 6
    with fresh_app.app_context():
        row = db.session.get(LoginThrottle, throttle._throttle_key("t_center"))
        assert row.failures == 6
        db.session.remove()
