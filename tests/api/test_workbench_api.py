"""What the phone workbench (/m/) needs of the API: sign-out, the official account's web
sign-in, 我的待办, the inbox, and filing on a villager's behalf."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from server.cases import outbox
from server.db import db
from server.infra import clock
from server.models import AuditEntry, Case, Notification, Screening
from tests.api.conftest import key
from tests.fakes import FakeWeChat
from tests.helpers import case_in

SH = ZoneInfo("Asia/Shanghai")


def test_signing_out_takes_the_token_back(client, world, login):
    first, second = login(world.worker1), login(world.worker1)  # two phones
    assert client.get("/api/v1/auth/me", headers=first).status_code == 200
    out = client.post("/api/v1/auth/logout", headers=first)  # no body at all
    assert out.status_code == 200
    assert out.json == {"signed_out": True}
    for headers in (first, second):
        refused = client.get("/api/v1/auth/me", headers=headers)
        assert refused.status_code == 401
        assert refused.json["code"] == "token_revoked"
    assert client.get("/api/v1/auth/me", headers=login(world.worker1)).status_code == 200
    assert (
        db.session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "auth.logout")
        )
        == 1
    )
    assert client.post("/api/v1/auth/logout").status_code == 401


@pytest.fixture
def official_account(app):
    """The fake WeChat server, with the app pointed at it (live mode, an official
    account configured)."""
    with FakeWeChat() as fake:
        keys = ("WECHAT_MODE", "WECHAT_API_BASE", "WECHAT_OA_APPID", "WECHAT_OA_SECRET")
        saved = {k: app.config[k] for k in keys}
        app.config.update(
            WECHAT_MODE="live",
            WECHAT_API_BASE=fake.base_url,
            WECHAT_APPID="wx-mini",
            WECHAT_SECRET="mini-secret",
            WECHAT_OA_APPID="wx-oa-town",
            WECHAT_OA_SECRET="oa-secret",
        )
        yield fake
        app.config.update(saved)


def test_the_official_account_signs_a_bound_user_in_without_a_password(
    client, world, login, official_account
):
    unbound = client.post("/api/v1/auth/wechat-web", json={"code": "ok-OA-1"})
    assert unbound.status_code == 403
    assert unbound.json["code"] == "wechat_not_bound"
    assert "账号密码登录" in unbound.json["message"]
    bound = client.post(
        "/api/v1/auth/wechat-web/bind", json={"code": "ok-OA-1"}, headers=login(world.worker1)
    )
    assert bound.status_code == 200
    assert world.worker1.wechat_oa_openid == "OA-1"
    path, query = official_account.calls[-1]
    assert path == "/sns/oauth2/access_token"
    assert query == {
        "appid": "wx-oa-town",
        "secret": "oa-secret",
        "code": "ok-OA-1",
        "grant_type": "authorization_code",
    }
    signed_in = client.post("/api/v1/auth/wechat-web", json={"code": "ok-OA-1"})
    assert signed_in.status_code == 200, signed_in.json
    assert signed_in.json["user"]["username"] == "t_grid1"
    assert signed_in.json["user"]["wechat_web_bound"] is True
    # Another account cannot take the same WeChat user.
    taken = client.post(
        "/api/v1/auth/wechat-web/bind", json={"code": "ok-OA-1"}, headers=login(world.worker2)
    )
    assert taken.status_code == 409
    assert client.post("/api/v1/auth/wechat-web", json={"code": "bad"}).status_code == 400
    assert client.post("/api/v1/auth/wechat-web", json={"code": "busy"}).status_code == 503
    url = client.get("/api/v1/auth/wechat-web/authorize?state=abcdefgh12").json["url"]
    assert url.startswith("https://open.weixin.qq.com/connect/oauth2/authorize?appid=wx-oa-town")
    assert "redirect_uri=http%3A%2F%2F" in url
    assert "%2Fm%2F" in url
    assert "scope=snsapi_base&state=abcdefgh12#wechat_redirect" in url


def test_web_sign_in_is_refused_where_no_official_account_is_set(client, world, app):
    app.config.update(WECHAT_MODE="live", WECHAT_APPID="wx-mini", WECHAT_SECRET="s")
    try:
        refused = client.post("/api/v1/auth/wechat-web", json={"code": "ok-X"})
        assert refused.status_code == 403
        assert refused.json["code"] == "wechat_disabled"
        assert client.get("/api/v1/auth/wechat-web/authorize?state=abcdefgh12").status_code == 403
    finally:
        app.config.update(WECHAT_MODE="fake")


def test_fake_mode_comes_straight_back_with_a_code_of_the_phone_s_own(client, world, login):
    url = client.get("/api/v1/auth/wechat-web/authorize?state=phone-0001").json["url"]
    assert url.endswith("/m/?code=fake-phone-0001&state=phone-0001")
    client.post(
        "/api/v1/auth/wechat-web/bind",
        json={"code": "fake-phone-0001"},
        headers=login(world.worker1),
    )
    again = client.post("/api/v1/auth/wechat-web", json={"code": "fake-phone-0001"})
    assert again.json["user"]["username"] == "t_grid1"


def test_todo_lists_what_each_person_has_to_do_now(client, world, login, app):
    with clock.frozen_at(datetime(2026, 6, 3, 10, tzinfo=SH)):  # a Wednesday
        dispatched = case_in("dispatched", world)  # to the justice office
        in_progress = case_in("in_progress", world)
        follow_up = case_in("follow_up", world)
        case_in("closed", world)
        outbox.queue(
            [world.justice_handler], "chase", case=in_progress, title="催办", body="请尽快办理。"
        )
        db.session.add(
            Screening(
                village_id=world.v1.id,
                user_id=world.worker1.id,
                screened_at=clock.now(),
                nil_return=True,
                checked=["D02"],
            )
        )
        db.session.flush()
        handler = client.get("/api/v1/todo", headers=login(world.justice_handler)).json
        assert [i["case"]["code"] for i in handler["to_sign"]] == [dispatched.code]
        assert [i["case"]["code"] for i in handler["in_hand"]] == [in_progress.code]
        assert handler["visits"] == []
        assert handler["screening"] == []
        assert handler["unread"] >= 1
        chase = next(m for m in handler["messages"] if m["kind"] == "chase")
        assert chase["case_code"] == in_progress.code

        worker = client.get("/api/v1/todo", headers=login(world.worker1)).json
        assert [i["case"]["code"] for i in worker["visits"]] == [follow_up.code]
        assert worker["to_sign"] == []
        assert worker["in_hand"] == []
        assert worker["screening"] == [
            {
                "village": {"id": world.v1.id, "name": "东村"},
                "done": 1,
                "required": app.config["SCREENINGS_PER_WEEK"],
                "nil_returns": 1,
                "complete": True,
            }
        ]
    # A step past its due turns red; within a day of it, yellow.
    with clock.frozen_at(in_progress.due_at + timedelta(minutes=1)):
        late = client.get("/api/v1/todo", headers=login(world.justice_handler)).json
        assert late["in_hand"][0]["due"] == "overdue"
    with clock.frozen_at(in_progress.due_at - timedelta(hours=2)):
        soon = client.get("/api/v1/todo", headers=login(world.justice_handler)).json
        assert soon["in_hand"][0]["due"] == "soon"


def test_the_inbox_is_read_and_marked_by_its_owner_only(client, world, login):
    case = case_in("dispatched", world)
    outbox.queue([world.justice_handler], "chase", case=case, title="催办", body="请尽快签收。")
    outbox.queue([world.police_handler], "chase", case=None, title="别人的", body="不是你的。")
    db.session.flush()
    headers = login(world.justice_handler)
    inbox = client.get("/api/v1/inbox", headers=headers).json
    assert "别人的" not in str(inbox)
    assert inbox["unread"] == len([m for m in inbox["items"] if not m["read"]]) >= 1
    first = inbox["items"][0]["id"]
    marked = client.post("/api/v1/inbox/read", json={"ids": [first]}, headers=headers).json
    assert marked["marked"] == 1
    assert marked["unread"] == inbox["unread"] - 1
    everything = client.post("/api/v1/inbox/read", json={}, headers=headers).json
    assert everything["unread"] == 0
    others = db.session.scalars(
        select(Notification).where(
            Notification.user_id == world.police_handler.id, Notification.channel == "inbox"
        )
    ).all()
    assert others
    assert all(n.read_at is None for n in others)


def _report(**reporter):
    return {
        "category": "D02",
        "description": "邻里为排水沟争吵",
        "parties": [
            {"name": "王大海", "side": "applicant"},
            {"name": "李小河", "side": "respondent"},
        ],
        "reporter": reporter,
    }


def test_filing_on_a_villager_s_behalf_records_what_they_agreed_to(client, world, login):
    headers = login(world.worker1) | key()
    named = client.post(
        "/api/v1/reports",
        headers=headers,
        json=_report(on_behalf=True, anonymous=False, name="赵村民", phone="13800000000")
        | {"village": world.v1.id},
    )
    assert named.status_code == 201, named.json
    assert named.json["reporter_consent"] == "named"
    assert "赵村民" not in named.get_data(as_text=True)  # the grid worker is not the center
    anonymous = client.post(
        "/api/v1/reports",
        headers=login(world.worker1) | key(),
        json=_report(on_behalf=True) | {"village": world.v1.id},
    )
    assert anonymous.json["reporter_consent"] == "anonymous"
    stored = db.session.scalar(select(Case).where(Case.code == named.json["code"]))
    from server.trust import identity

    assert (stored.reporter_consent, identity.unseal(stored.reporter_name)) == ("named", "赵村民")
    center = client.get(f"/api/v1/cases/{named.json['code']}", headers=login(world.center))
    assert center.json["reporter"]["name"] == "赵村民"
    # Only a grid worker files for a villager; nothing is written when refused.
    before = db.session.scalar(select(func.count(Case.id)))
    refused = client.post(
        "/api/v1/reports",
        headers=login(world.center) | key(),
        json=_report(on_behalf=True) | {"village": world.v1.id, "source": "walk_in"},
    )
    assert refused.status_code == 422
    assert refused.json["code"] == "not_on_behalf"
    assert db.session.scalar(select(func.count(Case.id))) == before


def test_the_sweep_s_screening_reminder_arrives_on_the_home_page(client, world, login, app):
    from server.follow_through import screening

    with clock.frozen_at(datetime(2026, 6, 4, 9, tzinfo=SH)):  # a Thursday
        reminded = screening.remind_late_villages(
            required_per_week=app.config["SCREENINGS_PER_WEEK"]
        )
        db.session.flush()
        assert reminded == 2  # neither village has screened this week
        home = client.get("/api/v1/todo", headers=login(world.worker2)).json
    assert [m["title"] for m in home["messages"]] == ["本周排查未完成"]
    assert "西村" in home["messages"][0]["body"]
    assert home["unread"] == 1
    assert home["screening"][0]["complete"] is False


def test_a_visit_recorded_leaves_the_grid_worker_s_list(client, world, login):
    from server.cases import workflow

    case = case_in("follow_up", world)
    headers = login(world.worker1)
    before = client.get("/api/v1/todo", headers=headers).json
    assert [i["case"]["code"] for i in before["visits"]] == [case.code]
    workflow.apply(case, "record_visit", actor=world.worker1, outcome="kept", text="已履行")
    db.session.flush()
    after = client.get("/api/v1/todo", headers=headers).json
    assert after["visits"] == []
    assert after["truncated"] is False
    # The center's and leaders' homes list no cases: they work from the admin's queue.
    center = client.get("/api/v1/todo", headers=login(world.center)).json
    assert center["to_sign"] == center["in_hand"] == center["visits"] == []


def test_a_token_in_use_is_renewed_and_a_stale_one_is_not(client, world, login, app):
    from datetime import UTC

    start = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)
    ttl = timedelta(seconds=app.config["TOKEN_TTL_SECONDS"])
    assert ttl <= timedelta(days=1)  # shorter than the seven days it was
    with clock.frozen_at(start):
        headers = login(world.worker1)
    with clock.frozen_at(start + ttl - timedelta(hours=1)):
        renewed = client.post("/api/v1/auth/refresh", headers=headers)  # no body at all
        assert renewed.status_code == 200
    fresh = {"Authorization": f"Bearer {renewed.json['token']}"}
    with clock.frozen_at(start + ttl + timedelta(hours=1)):
        assert client.get("/api/v1/auth/me", headers=headers).status_code == 401
        assert client.get("/api/v1/auth/me", headers=fresh).status_code == 200
    with clock.frozen_at(start + 3 * ttl):
        stale = client.post("/api/v1/auth/refresh", headers=fresh)
        assert stale.status_code == 401
