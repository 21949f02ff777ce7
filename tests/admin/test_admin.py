"""The web admin through the test client: sign-in, CSRF, the queue, a case, management."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from server.cases import workflow
from server.cases.operations import Reporter
from server.db import db
from server.infra import clock
from server.models import AuditEntry, Case, CaseStatus, Role, User, WebSession
from tests.admin.conftest import csrf_from
from tests.factories import PASSWORD
from tests.helpers import case_in, new_report


def test_sign_in_and_out(client, world, signin):
    assert client.get("/admin/").status_code == 302  # to the sign-in page
    token = signin(world.center)
    cookie = client.get_cookie("gr_admin", path="/admin")
    assert cookie is not None
    assert cookie.http_only
    assert cookie.same_site == "Lax"
    assert db.session.scalar(select(func.count(WebSession.id_hash))) == 1
    assert client.get("/admin/").status_code == 200
    assert client.post("/admin/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/admin/").status_code == 302
    assert db.session.scalar(select(func.count(WebSession.id_hash))) == 0


def test_the_villager_and_api_pages_set_no_cookie(client, world):
    for url in (f"/q/{world.v1.qr_token}", "/healthz", "/api/v1/openapi.json"):
        assert "Set-Cookie" not in client.get(url).headers


def test_an_idle_session_ends(client, world, signin, app):
    start = clock.now()
    with clock.frozen_at(start):
        signin(world.center)
    with clock.frozen_at(start + timedelta(minutes=app.config["ADMIN_IDLE_MINUTES"] - 1)):
        assert client.get("/admin/").status_code == 200
    later = start + timedelta(minutes=2 * app.config["ADMIN_IDLE_MINUTES"])
    with clock.frozen_at(later):
        assert client.get("/admin/").status_code == 302


def test_a_busy_session_still_ends_after_its_lifetime(client, world, signin, app):
    """Kept alive by someone at the desk, a session still ends ADMIN_SESSION_HOURS after
    sign-in (issue 15, point 10)."""
    start = clock.now()
    with clock.frozen_at(start):
        signin(world.center)
    step = timedelta(minutes=app.config["ADMIN_IDLE_MINUTES"] - 5)
    moment = start
    while moment + step < start + timedelta(hours=app.config["ADMIN_SESSION_HOURS"]):
        moment += step
        with clock.frozen_at(moment):
            assert client.get("/admin/").status_code == 200
    with clock.frozen_at(start + timedelta(hours=app.config["ADMIN_SESSION_HOURS"], minutes=1)):
        assert client.get("/admin/").status_code == 302


def test_wrong_passwords_slow_the_next_try_and_never_lock_the_account(client, world):
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    now = clock.now()
    with clock.frozen_at(now):
        for attempt in range(5):
            if attempt:
                clock.advance(timedelta(seconds=5))  # past the slowing down
            page = client.post(
                "/admin/login",
                data={"csrf_token": token, "username": "t_center", "password": "Wrong@2026x"},
            )
            assert page.status_code == 401
            assert "用户名或密码错误" in page.get_data(as_text=True)
        sixth = client.post(
            "/admin/login", data={"csrf_token": token, "username": "t_center", "password": PASSWORD}
        )
        assert sixth.status_code == 429
        text = sixth.get_data(as_text=True)
        assert "秒后再试" in text
        assert "已锁定" not in text
    assert (
        db.session.scalar(
            select(func.count(AuditEntry.id)).where(AuditEntry.action == "auth.slowed")
        )
        == 1
    )
    with clock.frozen_at(now + timedelta(minutes=1)):
        ok = client.post(
            "/admin/login", data={"csrf_token": token, "username": "t_center", "password": PASSWORD}
        )
    assert ok.status_code == 302


def test_a_grid_worker_cannot_use_the_admin(client, world):
    token = csrf_from(client.get("/admin/login").get_data(as_text=True))
    page = client.post(
        "/admin/login", data={"csrf_token": token, "username": "t_grid1", "password": PASSWORD}
    )
    assert page.status_code == 401
    assert "手机工作台" in page.get_data(as_text=True)
    # On record as a refused sign-in, not as a sign-in (issue 15, point 9).
    from sqlalchemy import select

    from server.models import AuditEntry

    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert "auth.login_refused_role" in actions
    assert "auth.login" not in actions


def _forms(world):
    """Every admin form: (url, data) with valid fields besides the CSRF token."""
    case = case_in("submitted", world)
    db.session.flush()
    return [
        ("/admin/login", {"username": "t_center", "password": PASSWORD}),
        ("/admin/logout", {}),
        (f"/admin/cases/{case.code}/actions/accept", {"version": str(case.version)}),
        (f"/admin/villages/{world.v1.code}/rotate", {}),
        (
            "/admin/users",
            {"username": "n1", "display_name": "n", "role": "center", "password": PASSWORD},
        ),
        (f"/admin/users/{world.worker2.id}/active", {"active": "no"}),
        (f"/admin/users/{world.worker2.id}/password", {"password": PASSWORD}),
        (f"/admin/users/{world.worker2.id}/bind", {"grids": str(world.g1.id)}),
        ("/admin/departments", {"name": "新部门", "kind": "other"}),
        ("/admin/categories", {"code": "D02", "name": "邻里纠纷"}),
        ("/admin/calendar", {"day": "2027-01-01", "workday": "no"}),
        ("/admin/inbox/read", {}),
    ]


@pytest.mark.parametrize("token", [None, "forged-token"], ids=["missing", "wrong"])
def test_every_form_refuses_a_missing_or_wrong_csrf_token(client, world, signin, token):
    signin(world.admin)
    for url, data in _forms(world):
        sent = data | ({"csrf_token": token} if token else {})
        before = db.session.scalar(select(func.count(AuditEntry.id)))
        response = client.post(url, data=sent)
        assert response.status_code == 400, url
        assert "页面已过期" in response.get_data(as_text=True)
        assert db.session.scalar(select(func.count(AuditEntry.id))) == before, url


def test_the_queue_puts_urgent_and_late_first(client, world, signin):
    with clock.frozen_at(clock.now() - timedelta(days=10)):
        late = new_report(world)
    calm = new_report(world, village=world.v2)
    urgent = new_report(world, "S01", actor=None, source="qr", parties=[])
    db.session.flush()
    signin(world.center)
    page = client.get("/admin/").get_data(as_text=True)
    codes = [c.code for c in (urgent, late, calm)]
    positions = [page.index(c[:4] + "-" + c[4:8]) for c in codes]
    assert positions == sorted(positions)
    assert "超期" in page
    filtered = client.get(f"/admin/?village={world.v2.id}").get_data(as_text=True)
    assert calm.code[:4] in filtered
    assert late.code[:4] + "-" + late.code[4:8] not in filtered
    data = client.get("/admin/queue/urgent.json?since=2000-01-01T00:00:00+00:00").json
    assert [c["category"] for c in data["cases"]] == ["涉暴恐"]


def test_a_handler_sees_only_their_departments_cases(client, world, signin):
    theirs = case_in("dispatched", world)
    other = case_in("submitted", world)
    db.session.flush()
    signin(world.justice_handler)
    queue = client.get("/admin/").get_data(as_text=True)
    assert theirs.code[:4] + "-" + theirs.code[4:8] in queue
    assert other.code[:4] + "-" + other.code[4:8] not in queue
    assert client.get(f"/admin/cases/{theirs.code}").status_code == 200
    typed = client.get(f"/admin/cases/{other.code}")
    assert typed.status_code == 404
    assert other.description not in typed.get_data(as_text=True)


def test_the_informant_is_shown_to_the_center_only_and_each_view_is_logged(client, world, signin):
    case = new_report(
        world,
        actor=None,
        source="qr",
        parties=[],
        reporter=Reporter(anonymous=False, name="王秀英", phone="13911112222"),
    )
    workflow.apply(case, "accept", actor=world.center)
    workflow.apply(case, "dispatch", actor=world.center, lead_department=world.justice.id)
    db.session.flush()
    for user in (world.justice_handler, world.leader):
        signin(user)
        page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
        assert "王秀英" not in page
        assert "13911112222" not in page
        printed = client.get(f"/admin/cases/{case.code}/print").get_data(as_text=True)
        assert "王秀英" not in printed
    signin(world.center)
    page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert "王秀英" in page
    assert "13911112222" in page
    views = db.session.scalar(
        select(func.count(AuditEntry.id)).where(
            AuditEntry.action == "case.view_informant", AuditEntry.object_id == case.code
        )
    )
    assert views == 1


def test_markup_in_a_description_is_shown_as_text(client, world, signin):
    case = new_report(world, description="<script>alert('x')</script><img src=x onerror=1>")
    db.session.flush()
    signin(world.center)
    for url in (f"/admin/cases/{case.code}", f"/admin/cases/{case.code}/print", "/admin/"):
        page = client.get(url).get_data(as_text=True)
        assert "<script>alert" not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;" in page


def test_accept_and_dispatch_through_the_forms(client, world, signin):
    case = case_in("submitted", world)
    db.session.flush()
    token = signin(world.center)
    url = f"/admin/cases/{case.code}/actions"
    accepted = client.post(
        f"{url}/accept",
        data={"csrf_token": token, "version": str(case.version), "risk_level": "orange"},
    )
    assert accepted.status_code == 302
    case = db.session.get(Case, case.id)
    assert (case.status, case.risk_level) == (CaseStatus.ACCEPTED, "orange")
    page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert "已受理" in page
    # Routing preselects the village committee for a neighbours' dispute.
    assert f'value="{world.committee1.id}" selected' in page
    client.post(
        f"{url}/dispatch",
        data={
            "csrf_token": token,
            "version": str(case.version),
            "lead_department": str(world.justice.id),
            "co_departments": [str(world.committee1.id)],
            "note": "请司法所牵头",
        },
    )
    case = db.session.get(Case, case.id)
    assert case.status == CaseStatus.DISPATCHED
    assert [a.department for a in case.active_assignments] == [world.justice, world.committee1]


def test_a_stale_form_says_so_and_shows_the_new_state(client, world, signin):
    case = case_in("submitted", world)
    db.session.flush()
    token = signin(world.center)
    seen = case.version
    workflow.apply(case, "accept", actor=world.center)  # someone else, first
    db.session.flush()
    response = client.post(
        f"/admin/cases/{case.code}/actions/reject",
        data={"csrf_token": token, "version": str(seen), "reason": "重复"},
        follow_redirects=True,
    )
    page = response.get_data(as_text=True)
    assert "刚被其他人更新过" in page
    assert "已受理" in page
    assert db.session.get(Case, case.id).status == CaseStatus.ACCEPTED


def test_a_form_sent_again_after_it_was_done_is_told_it_was_done(client, world, signin):
    """The browser resends the accept form (its answer lost, or 重新提交 on a refresh): it
    is not done twice, and the desk is told it was done, not that someone else changed
    the case and its action was not carried out."""
    import re

    from server.models import CaseEvent

    case = case_in("submitted", world)
    db.session.flush()
    signin(world.center)
    page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    form_key = re.search(r'name="form_key" value="([0-9a-f-]{36})"', page).group(1)
    sent = {"csrf_token": csrf_from(page), "version": str(case.version), "form_key": form_key}
    url = f"/admin/cases/{case.code}/actions/accept"
    assert "已受理" in client.post(url, data=sent, follow_redirects=True).get_data(as_text=True)
    again = client.post(url, data=sent, follow_redirects=True).get_data(as_text=True)
    assert "刚被其他人更新过" not in again
    assert "您的操作没有执行" not in again
    assert "已受理" in again

    def count(action):
        return db.session.scalar(
            select(func.count(CaseEvent.id)).where(
                CaseEvent.case_id == case.id, CaseEvent.action == action
            )
        )

    assert count("accept") == 1
    # Without the page's key (a form from before keys) a resend is stale, as before.
    stale = client.post(url, data=sent | {"form_key": ""}, follow_redirects=True)
    assert "刚被其他人更新过" in stale.get_data(as_text=True)
    assert count("accept") == 1


def test_leaders_read_only(client, world, signin):
    case = case_in("submitted", world)
    db.session.flush()
    token = signin(world.leader)
    page = client.get(f"/admin/cases/{case.code}").get_data(as_text=True)
    assert "领导账号只读" in page
    refused = client.post(
        f"/admin/cases/{case.code}/actions/accept",
        data={"csrf_token": token, "version": str(case.version)},
    )
    assert refused.status_code == 403


def test_management_changes_are_audited(client, world, signin):
    token = signin(world.security)  # accounts are the security admin's (三员分立)
    created = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "zhangsan",
            "display_name": "张三",
            "role": "handler",
            "department": str(world.police.id),
            "password": PASSWORD,
        },
    )
    assert created.status_code == 302
    user = db.session.scalar(select(User).where(User.username == "zhangsan"))
    assert user.department == world.police
    weak = client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "lisi",
            "display_name": "李四",
            "role": "center",
            "password": "password",
        },
        follow_redirects=True,
    )
    assert "密码至少" in weak.get_data(as_text=True)
    client.post(f"/admin/users/{user.id}/active", data={"csrf_token": token, "active": "no"})
    assert not db.session.get(User, user.id).active
    token = signin(world.admin)  # configuration is the system admin's
    client.post(
        "/admin/calendar",
        data={"csrf_token": token, "day": "2027-01-01", "workday": "no", "name": "元旦"},
    )
    client.post(
        "/admin/categories",
        data={
            "csrf_token": token,
            "code": "H01",
            "name": "火灾隐患",
            "default_risk_level": "red",
            "urgent": "yes",
            "active": "yes",
            "lead_kind": "work_safety_office",
            "co_kinds": ["village_committee"],
            **{
                field: value
                for s, n, unit in (
                    ("accept", "30", "m"),
                    ("dispatch", "1", "h"),
                    ("sign_for", "1", "h"),
                    ("handle", "5", "wd"),
                    ("verify", "2", "wd"),
                    ("follow_up", "7", "d"),
                )
                for field, value in ((f"due_{s}", n), (f"due_{s}_unit", unit))
            },
        },
    )
    old = world.v1.qr_token
    client.post(f"/admin/villages/{world.v1.code}/rotate", data={"csrf_token": token})
    assert db.session.get(type(world.v1), world.v1.id).qr_token != old
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {
        "user.create",
        "user.disable",
        "calendar.set",
        "category.save",
        "village.rotate_qr",
    } <= actions
    token = signin(world.auditor)  # the log is the auditor's to read
    audit_page = client.get("/admin/audit?action=user.").get_data(as_text=True)
    logged = audit_page[audit_page.index("<tbody>") :]  # the rows, not the filter's list
    assert "新建账号" in logged
    assert "更正某一天是否上班" not in logged
    # The log can be read, not changed.
    assert client.post("/admin/audit", data={"csrf_token": token}).status_code == 405
    assert client.delete("/admin/audit").status_code == 405


def test_disabling_a_user_ends_their_session(client, app, world, signin):
    signin(world.center)
    assert client.get("/admin/").status_code == 200
    world.center.active = False
    db.session.flush()
    assert client.get("/admin/").status_code == 302


def test_a_leader_made_a_handler_in_the_account_form(client, world, signin):
    """A new role and its department in one save: the account signs out everywhere
    before it is bound, and that must not write the role alone (the database refuses a
    handler without a department: this was a 500)."""
    leader = world.leader
    token = signin(world.security)
    sent = client.post(
        f"/admin/users/{leader.id}/bind",
        data={
            "csrf_token": token,
            "display_name": leader.display_name,
            "role": "handler",
            "department": str(world.police.id),
        },
    )
    assert sent.status_code == 302
    db.session.expire_all()
    assert (leader.role, leader.department_id) == (Role.HANDLER, world.police.id)


def test_the_poster_sheet_and_villages(client, world, signin):
    signin(world.center)
    page = client.get("/admin/villages").get_data(as_text=True)
    assert world.v1.qr_token in page
    sheet = client.get("/admin/villages/posters").get_data(as_text=True)
    assert sheet.count('class="poster"') >= 2


def test_a_background_poll_does_not_keep_an_idle_session_alive(client, world, signin, app):
    start = clock.now()
    idle = timedelta(minutes=app.config["ADMIN_IDLE_MINUTES"])
    with clock.frozen_at(start):
        signin(world.center)
    for step in range(1, 5):  # the queue page polls while nobody is at the desk
        with clock.frozen_at(start + step * idle / 3):
            client.get("/admin/queue/urgent.json", headers={"X-Background-Poll": "1"})
    with clock.frozen_at(start + idle * 4 / 3 + timedelta(minutes=1)):
        assert client.get("/admin/").status_code == 302
        from server.trust import websession

        assert websession.purge_expired(app.config["ADMIN_IDLE_MINUTES"]) == 1


def test_a_handler_asks_for_more_time_at_the_desk_and_the_center_decides(client, world, signin):
    case = case_in("in_progress", world)
    db.session.flush()
    until = clock.local(case.due_at + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M")
    token = signin(world.justice_handler)
    asked = client.post(
        f"/admin/cases/{case.code}/actions/request_extension",
        data={
            "csrf_token": token,
            "version": str(case.version),
            "until": until,
            "reason": "一方外出务工",
            "parties_consent": "yes",
        },
    )
    assert asked.status_code == 302
    case = db.session.get(Case, case.id)
    assert clock.local(case.extension_requested_until).strftime("%Y-%m-%dT%H:%M") == until
    token = signin(world.center)
    client.post(
        f"/admin/cases/{case.code}/actions/approve_extension",
        data={"csrf_token": token, "version": str(case.version)},
    )
    case = db.session.get(Case, case.id)
    assert clock.local(case.due_at).strftime("%Y-%m-%dT%H:%M") == until
    assert case.extension_requested_until is None
