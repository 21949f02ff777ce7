"""The villagers' QR page and tracking page, through the test client."""

from __future__ import annotations

import io
import logging
import re
import uuid

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import func, select

from server.cases import workflow
from server.db import db
from server.models import AuditEntry, Case, CaseEvent, Photo
from server.organisation import qr
from server.trust import ratelimit
from tests.api.test_media import jpeg_with_gps

PHONE = {"REMOTE_ADDR": "10.77.66.55"}
UA = "Mozilla/5.0 (Linux; Android 12) MicroMessenger/8.0.40 NetType/4G TestPhone-XYZ"


@pytest.fixture(autouse=True)
def _fresh_limits(app):
    with app.app_context():
        ratelimit.reset_all()


def form(world, kind="D02", **changes):
    return {
        "kind": kind,
        "form_key": str(uuid.uuid4()),
        "description": "村东头两家为排水沟吵架。",
        "place_text": "村东头",
        "anonymous": "yes",
        "website": "",
    } | changes


def post(client, world, data, token=None):
    return client.post(
        f"/q/{token or world.v1.qr_token}",
        data=data,
        content_type="multipart/form-data",
        environ_base=PHONE,
        headers={"User-Agent": UA},
    )


def tracking_link(page: str) -> str:
    return re.search(r'href="(/t/[0-9A-Z]+)"', page).group(1)


def test_the_qr_code_decodes_to_the_village_page(client, world, app):
    decoded = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.png(world.v1))))
    assert len(decoded) == 1
    url = decoded[0].text
    assert url == f"{app.config['PUBLIC_BASE_URL']}/q/{world.v1.qr_token}"
    page = client.get(url.removeprefix(app.config["PUBLIC_BASE_URL"]))
    assert page.status_code == 200
    assert "东村" in page.get_data(as_text=True)
    svg = client.get(f"/q/{world.v1.qr_token}/qr.svg")
    assert svg.mimetype == "image/svg+xml"
    assert svg.data.startswith(b"<")
    assert client.get(f"/q/{world.v1.qr_token}/qr.png").mimetype == "image/png"


def test_tokens_are_unguessable_and_rotation_retires_the_old_one(client, world, app):
    assert len(world.v1.qr_token) >= 22
    assert world.v1.qr_token != world.v2.qr_token
    old = world.v1.qr_token
    qr.rotate(world.v1, actor=world.admin)
    db.session.flush()
    replaced = client.get(f"/q/{old}")
    assert replaced.status_code == 410
    assert "已经更换" in replaced.get_data(as_text=True)
    assert client.get(f"/q/{world.v1.qr_token}").status_code == 200
    assert client.get("/q/not-a-real-token").status_code == 404
    api_old = client.get(f"/api/v1/qr/{old}")
    assert (api_old.status_code, api_old.json["code"]) == (410, "qr_replaced")
    assert client.get(f"/api/v1/qr/{world.v1.qr_token}").json["name"] == "东村"
    assert (
        db.session.scalar(select(AuditEntry.action).where(AuditEntry.object_id == world.v1.code))
        == "village.rotate_qr"
    )


def test_an_emergency_kind_says_call_110_first(client, world):
    page = client.get(f"/q/{world.v1.qr_token}?kind=S01").get_data(as_text=True)
    assert page.index("拨打 110") < page.index("<form")
    assert 'href="tel:110"' in page
    ordinary = client.get(f"/q/{world.v1.qr_token}?kind=D02").get_data(as_text=True)
    assert "请先报警" not in ordinary


def test_an_anonymous_report_with_a_photo(client, world, caplog):
    data = form(world) | {"photos": (io.BytesIO(jpeg_with_gps()), "IMG_0001.jpg")}
    with caplog.at_level(logging.DEBUG):
        response = post(client, world, data)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    page = response.get_data(as_text=True)
    assert "报告已提交" in page
    assert "1个工作日" in page or "2个工作日" in page  # when the center will accept it
    assert "Set-Cookie" not in response.headers
    link = tracking_link(page)
    case = db.session.scalar(select(Case).order_by(Case.id.desc()))
    assert (case.source, case.reporter_anonymous, case.created_by_id) == ("qr", True, None)
    assert case.tracking_hash
    assert link.split("/")[-1] not in case.tracking_hash
    # Nothing about the phone is kept: not in the case, its events, the audit or the log.
    rows = [
        case,
        *db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)),
        *db.session.scalars(select(AuditEntry)),
    ]
    stored = " ".join(str(getattr(row, c.key)) for row in rows for c in row.__table__.columns)
    for trace in ("10.77.66.55", "TestPhone-XYZ", "MicroMessenger"):
        assert trace not in stored
        assert trace not in caplog.text
    photo = db.session.scalar(select(Photo).where(Photo.case_id == case.id))
    assert photo is not None
    assert photo.uploaded_by_id is None
    tracked = client.get(link)
    assert tracked.status_code == 200
    assert "已收到" in tracked.get_data(as_text=True)
    assert tracked.headers["Cache-Control"] == "no-store"
    assert tracked.headers["Referrer-Policy"] == "no-referrer"


def test_a_refused_report_leaves_no_photo_file_behind(client, world, app):
    """The photos are stored before the core checks the report; when it refuses (a named
    report with only a full-width space for a name passes the form and not the core),
    their rows roll back and their files go with them. A report taken keeps its files."""
    from pathlib import Path

    def files() -> set[Path]:
        return {p for p in Path(app.config["MEDIA_ROOT"]).rglob("*") if p.is_file()}

    before = files()
    named = form(world, anonymous="no", name="\u3000", phone="")
    refused = post(client, world, named | {"photos": (io.BytesIO(jpeg_with_gps()), "a.jpg")})
    assert refused.status_code == 422
    assert "实名上报请至少留下姓名或联系方式" in refused.get_data(as_text=True)
    assert files() == before
    taken = post(client, world, form(world) | {"photos": (io.BytesIO(jpeg_with_gps()), "b.jpg")})
    assert taken.status_code == 200
    assert len(files() - before) == 2  # the photo and its thumbnail


def test_a_savepoint_decides_nothing_about_a_photo_s_file(fresh_app):
    """Only the request's own transaction decides: photos stored, then a step in a
    savepoint refused and recovered from, then a commit, keep their files; photos
    stored, a savepoint released, then a rollback, lose theirs."""
    from pathlib import Path

    from sqlalchemy import text

    from server.cases import media
    from server.models import Photo

    def files() -> set[Path]:
        return {p for p in Path(fresh_app.config["MEDIA_ROOT"]).rglob("*") if p.is_file()}

    before = files()
    with fresh_app.test_request_context("/"):
        media.store_photos([jpeg_with_gps()], uploader=None)
        try:
            with db.session.begin_nested():
                db.session.execute(text("SELECT 1"))
                raise ValueError("a refused step, caught")
        except ValueError:
            pass
        db.session.commit()
        kept = files()
        assert len(kept - before) == 2
    with fresh_app.test_request_context("/"):
        media.store_photos([jpeg_with_gps()], uploader=None)
        with db.session.begin_nested():
            db.session.execute(text("SELECT 1"))
        db.session.rollback()
        assert files() == kept
        assert db.session.scalar(select(func.count()).select_from(Photo)) == 1


def test_a_resend_makes_one_report_and_shows_the_same_code(client, world):
    data = form(world)
    first = post(client, world, data)
    before = db.session.scalar(select(func.count(Case.id)))
    again = post(client, world, data)
    assert again.status_code == 200
    assert db.session.scalar(select(func.count(Case.id))) == before
    assert tracking_link(again.get_data(as_text=True)) == tracking_link(
        first.get_data(as_text=True)
    )
    assert "已经提交过" in again.get_data(as_text=True)


def test_the_robot_trap_and_bad_input(client, world):
    before = db.session.scalar(select(func.count(Case.id)))
    assert post(client, world, form(world, website="http://spam.example")).status_code == 422
    empty = post(client, world, form(world, description="  "))
    assert empty.status_code == 422
    assert "请描述发生了什么" in empty.get_data(as_text=True)
    named_without_name = post(client, world, form(world, anonymous="no"))
    assert named_without_name.status_code == 422
    not_an_image = form(world) | {"photos": (io.BytesIO(b"hello"), "x.jpg")}
    assert post(client, world, not_an_image).status_code == 415  # the page again, kept
    assert post(client, world, form(world, kind="ZZZ")).status_code == 404
    assert post(client, world, form(world, form_key="nope")).status_code == 400
    assert db.session.scalar(select(func.count(Case.id))) == before


def test_a_named_report_keeps_the_name_for_the_center_only(client, world):
    page = post(client, world, form(world, anonymous="no", name="王大妈", phone="13900001111"))
    assert page.status_code == 200
    case = db.session.scalar(select(Case).order_by(Case.id.desc()))
    from server.trust import identity

    # Sealed in the database, read back by the app alone (issue 15, point 7).
    assert "王大妈" not in case.reporter_name
    assert "13900001111" not in case.reporter_phone
    assert (identity.unseal(case.reporter_name), identity.unseal(case.reporter_phone)) == (
        "王大妈",
        "13900001111",
    )
    tracked = client.get(tracking_link(page.get_data(as_text=True))).get_data(as_text=True)
    assert "王大妈" not in tracked
    assert "13900001111" not in tracked


def test_too_many_reports_get_a_friendly_page(client, world, app):
    app.config["QR_SUBMIT_LIMIT_PER_ADDRESS"] = "2/hour"
    try:
        for _ in range(2):
            assert post(client, world, form(world)).status_code == 200
        limited = post(client, world, form(world))
    finally:
        app.config["QR_SUBMIT_LIMIT_PER_ADDRESS"] = "10/hour"
    assert limited.status_code == 429
    assert "请稍后再试" in limited.get_data(as_text=True)
    assert "110" in limited.get_data(as_text=True)
    assert int(limited.headers["Retry-After"]) > 0


def test_a_resent_report_gets_its_tracking_code_and_uses_up_no_limit(client, world, app):
    """The confirmation page is the only place a tracking code is shown: a villager whose
    answer was lost sends the same form again, and is shown it, however many reports
    their address (a whole village behind one carrier address) has sent this hour."""
    app.config["QR_SUBMIT_LIMIT_PER_ADDRESS"] = "2/hour"
    try:
        sent = form(world)
        first = post(client, world, sent)
        resends = [post(client, world, sent) for _ in range(3)]
        another = post(client, world, form(world, description="另一件事。"))
        past_the_limit = post(client, world, form(world, description="第三件事。"))
    finally:
        app.config["QR_SUBMIT_LIMIT_PER_ADDRESS"] = "10/hour"
    link = tracking_link(first.get_data(as_text=True))
    for resent in resends:
        assert resent.status_code == 200
        assert tracking_link(resent.get_data(as_text=True)) == link
    assert another.status_code == 200  # the resends counted for nothing
    assert past_the_limit.status_code == 429


def test_the_village_limit_never_silences_a_village(client, world, app, signin):
    """Past the village's limit (a flood from many addresses) a report is taken and held
    apart for the center: the next drug report is never refused (issue 15, point 5)."""
    from sqlalchemy import select

    from server.models import Case, Notification

    app.config["QR_SUBMIT_LIMIT_PER_VILLAGE"] = "1/hour"
    try:
        assert post(client, world, form(world)).status_code == 200
        other_phone = client.post(
            f"/q/{world.v1.qr_token}",
            data=form(world, kind="S04", description="后山有人贩毒，天天晚上来。"),
            content_type="multipart/form-data",
            environ_base={"REMOTE_ADDR": "10.9.9.9"},
        )
        other_village = post(client, world, form(world), token=world.v2.qr_token)
    finally:
        app.config["QR_SUBMIT_LIMIT_PER_VILLAGE"] = "120/hour"
    assert other_phone.status_code == 200
    assert "/t/" in other_phone.get_data(as_text=True)  # a tracking link, as for anyone
    assert other_village.status_code == 200
    held = db.session.scalar(select(Case).where(Case.held_as_spam.is_(True)))
    assert held.category.code == "S04"
    assert (
        db.session.scalars(select(Notification).where(Notification.case_id == held.id)).all() == []
    )  # the flood alerts nobody
    signin(world.center)
    queue = client.get("/admin/").get_data(as_text=True)
    assert "待甄别 1 件" in queue
    from server.infra import codes

    assert codes.display(held.code) not in queue
    apart = client.get("/admin/?held=1").get_data(as_text=True)
    assert codes.display(held.code) in apart


def test_the_tracking_page_follows_the_case_and_shows_nothing_private(client, world):
    page = post(client, world, form(world, description="<script>alert('x')</script>有人打架"))
    link = tracking_link(page.get_data(as_text=True))
    case = db.session.scalar(select(Case).order_by(Case.id.desc()))
    workflow.apply(case, "accept", actor=world.center)
    workflow.apply(case, "note", actor=world.center, text="内部：当事人是村干部亲戚")
    workflow.apply(case, "dispatch", actor=world.center, lead_department=world.justice.id)
    db.session.flush()
    tracked = client.get(link).get_data(as_text=True)
    assert "处理中" in tracked
    assert "已交由相关部门处理" in tracked
    for private in ("内部", "t_center", world.justice.name, world.center.display_name):
        assert private not in tracked
    assert "<script>alert" not in tracked
    assert "&lt;script&gt;alert(" in tracked


def test_information_sent_again_from_the_same_page_is_added_once(client, world):
    """The tracking page works without script: a lost answer, and the browser resends the
    form (or the villager taps again). The page's form key finds what the first one did:
    one entry on the timeline, one message to the center; a form drawn afresh adds anew."""
    from server.models import Notification

    page = post(client, world, form(world))
    link = tracking_link(page.get_data(as_text=True))
    case = db.session.scalar(select(Case).order_by(Case.id.desc()))

    def form_key() -> str:
        tracked = client.get(link).get_data(as_text=True)
        return re.search(r'name="form_key" value="([0-9a-f-]{36})"', tracked).group(1)

    def added() -> tuple[int, int]:
        return (
            sum(
                e.action == "add_info"
                for e in db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id))
            ),
            db.session.scalar(
                select(func.count(Notification.id)).where(Notification.case_id == case.id)
            ),
        )

    before = added()
    sent = {"text": "昨晚又吵了一次。", "form_key": form_key()}
    for _ in range(3):
        assert client.post(f"{link}/info", data=sent).status_code == 303
    once = added()
    assert once[0] == before[0] + 1
    assert once[1] > before[1]  # the center is told
    assert client.post(f"{link}/info", data=sent).status_code == 303
    assert added() == once
    # Another case's page with the same key is another form.
    other = post(client, world, form(world, description="另一件事。"))
    other_link = tracking_link(other.get_data(as_text=True))
    assert client.post(f"{other_link}/info", data=sent).status_code == 303
    assert added() == once
    # The page drawn again carries a new key: new information is added.
    again = {"text": "今天又来了。", "form_key": form_key()}
    assert again["form_key"] != sent["form_key"]
    assert client.post(f"{link}/info", data=again).status_code == 303
    assert added()[0] == once[0] + 1


def test_the_villager_adds_information_and_answers_the_follow_up(client, world):
    page = post(client, world, form(world))
    link = tracking_link(page.get_data(as_text=True))
    added = client.post(f"{link}/info", data={"text": "昨晚又吵了一次。"})
    assert added.status_code == 303
    case = db.session.scalar(select(Case).order_by(Case.id.desc()))
    assert [e.action for e in case.events][-1] == "add_info"
    assert "昨晚又吵了一次" in client.get(link).get_data(as_text=True)
    # Not before the case is resolved.
    assert client.post(f"{link}/feedback", data={"satisfaction": "satisfied"}).status_code == 409
    for action, actor, fields in (
        ("accept", world.center, {}),
        ("dispatch", world.center, {"lead_department": world.justice.id}),
        ("sign_for", world.justice_handler, {}),
        ("resolve", world.justice_handler, {"result_code": "mediated", "result_text": "和好"}),
        ("verify", world.center, {}),
    ):
        workflow.apply(case, action, actor=actor, **fields)
    db.session.flush()
    tracked = client.get(link).get_data(as_text=True)
    assert "满意吗" in tracked
    assert "调解成功" in tracked
    assert (
        client.post(
            f"{link}/feedback", data={"satisfaction": "dissatisfied", "text": "还没解决"}
        ).status_code
        == 303
    )
    event = db.session.scalar(
        select(CaseEvent).where(
            CaseEvent.case_id == case.id, CaseEvent.action == "answer_follow_up"
        )
    )
    assert event.data == {"satisfaction": "dissatisfied"}
    assert event.actor_id is None
    assert client.post(f"{link}/feedback", data={"satisfaction": "satisfied"}).status_code == 409


def test_tracking_lookup(client, world):
    page = post(client, world, form(world))
    link = tracking_link(page.get_data(as_text=True))
    secret = link.split("/")[-1]
    typed = "-".join(secret[i : i + 4] for i in range(0, len(secret), 4)).lower()
    response = client.post("/t", data={"code": typed})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(link)
    assert client.get("/t/" + "A" * 26).status_code == 404
    assert client.get("/t/short").status_code == 404


def test_the_access_log_leaves_out_who_sent_a_report():
    from datetime import timedelta
    from types import SimpleNamespace

    from gunicorn.config import Config

    from server.trust.accesslog import PrivateAccessLogger

    logger = PrivateAccessLogger(Config())
    response = SimpleNamespace(status="200 OK", sent=10, headers=[])
    request = SimpleNamespace(headers=[("USER-AGENT", UA)])

    def atoms(path):
        environ = {
            "REMOTE_ADDR": "10.77.66.55",
            "REQUEST_METHOD": "GET",
            "RAW_URI": path,
            "SERVER_PROTOCOL": "HTTP/1.1",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "HTTP_USER_AGENT": UA,
        }
        return logger.atoms(response, request, environ, timedelta(milliseconds=5))

    for path in ("/q/TOKEN", "/t/SECRETSECRETSECRET"):
        line = " ".join(str(v) for v in atoms(path).values())
        assert "10.77.66.55" not in line
        assert "TestPhone-XYZ" not in line
        assert "SECRETSECRET" not in line
    assert atoms("/api/v1/cases")["h"] == "10.77.66.55"


def test_a_too_large_upload_gets_a_friendly_page(client, world, app):
    from werkzeug.datastructures import FileStorage
    from werkzeug.test import encode_multipart

    from villager.views import form_bound

    # More than the form takes at all (three photos at their bound): refused at the door.
    big = FileStorage(io.BytesIO(b"\xff\xd8\xff" + b"0" * form_bound(app.config)), "big.jpg")
    boundary, body = encode_multipart(form(world) | {"photos": big})
    response = client.post(
        f"/q/{world.v1.qr_token}",
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 413
    assert "照片太大" in response.get_data(as_text=True)


def test_limits_are_shared_by_every_worker_through_redis(world, app, redis_url):
    """Two app processes (here: two apps) on one Redis count together."""
    from server import create_app

    uri = redis_url(15)
    workers = [
        create_app(
            {
                "DATABASE_URL": app.config["DATABASE_URL"],
                "ENV": "testing",
                "RATELIMIT_STORAGE_URI": uri,
                "QR_SUBMIT_LIMIT_PER_ADDRESS": "3/hour",
            }
        )
        for _ in range(2)
    ]
    answers = []
    for attempt in range(4):
        with workers[attempt % 2].app_context():
            try:
                ratelimit.check("QR_SUBMIT_LIMIT_PER_ADDRESS", "phone-1")
                answers.append("ok")
            except ratelimit.RateLimited:
                answers.append("limited")
    assert answers == ["ok", "ok", "ok", "limited"]
    redis_url(15)  # emptied after, too
    for worker in workers:
        with worker.app_context():
            db.engine.dispose()


def test_a_stale_form_key_with_another_report_makes_its_own_report(client, world):
    key = str(uuid.uuid4())
    one = post(client, world, form(world, form_key=key))
    other = post(
        client,
        world,
        form(world, form_key=key, kind="E03", description="完全不同的事：河里有人电鱼。"),
        token=world.v2.qr_token,
    )
    assert other.status_code == 200
    assert "已经提交过" not in other.get_data(as_text=True)
    first_link = tracking_link(one.get_data(as_text=True))
    assert first_link != tracking_link(other.get_data(as_text=True))
    assert "完全不同" not in client.get(first_link).get_data(as_text=True)
    assert "no-store" in client.get(f"/q/{world.v1.qr_token}").headers["Cache-Control"]


def test_behind_the_proxy_each_phone_counts_for_itself(fresh_app):
    from server import create_app
    from tests.factories import build_world

    with fresh_app.app_context():
        token = build_world().v1.qr_token
        db.session.commit()
        db.session.remove()
    proxied = create_app(
        {
            "DATABASE_URL": fresh_app.config["DATABASE_URL"],
            "ENV": "testing",
            "PROXY_COUNT": 1,
            "QR_SUBMIT_LIMIT_PER_ADDRESS": "1/hour",
            "RATELIMIT_STORAGE_URI": "memory://",
        }
    )
    with proxied.app_context():
        ratelimit.reset_all()
    client = proxied.test_client()
    answers = []
    for phone in ("10.0.0.1", "10.0.0.2", "10.0.0.1"):
        data = {"kind": "D02", "form_key": str(uuid.uuid4()), "description": f"来自{phone}"}
        answers.append(
            client.post(f"/q/{token}", data=data, headers={"X-Forwarded-For": phone}).status_code
        )
    with proxied.app_context():
        ratelimit.reset_all()
        db.session.remove()
        db.engine.dispose()  # before the test database is dropped
    assert answers == [200, 200, 429]


def test_a_nul_character_in_a_form_is_refused(client, world):
    response = post(client, world, form(world, description="有\x00人"))
    assert response.status_code == 422
    assert "空字符" in response.get_data(as_text=True)


def test_a_rate_limited_report_comes_back_with_what_was_typed(client, world, app):
    app.config["QR_SUBMIT_LIMIT_PER_ADDRESS"] = "1/hour"
    try:
        assert post(client, world, form(world)).status_code == 200
        again = post(client, world, form(world, description="第二件事：村北桥栏杆断了。"))
    finally:
        app.config["QR_SUBMIT_LIMIT_PER_ADDRESS"] = "10/hour"
    assert again.status_code == 429
    assert int(again.headers["Retry-After"]) > 0
    page = again.get_data(as_text=True)
    assert "提交太频繁" in page
    assert "第二件事：村北桥栏杆断了。" in page  # the form again, as the villager left it


def test_the_front_door_is_in_chinese_and_leads_everyone_on(client, world):
    page = client.get("/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for link in (
        'href="/t"',
        'href="/admin/"',
        'href="/api/v1/docs"',
        f'href="/q/{world.v1.qr_token}"',
    ):
        assert link in text
    assert "Not Found" not in text
    icon = client.get("/favicon.ico", buffered=True)
    assert icon.status_code == 200
    assert icon.mimetype in {"image/vnd.microsoft.icon", "image/x-icon"}


def test_a_failure_of_ours_on_a_villager_page_is_said_in_chinese(client, world, monkeypatch):
    """Any page, not only the report form: an unexpected failure answers a Chinese page
    (before, the error handler raised it again and the server sent its own English 500)."""
    from server.figures import disclosure

    def broken(*args, **kwargs):
        raise RuntimeError("the disk controller hiccuped")

    monkeypatch.setattr(disclosure, "disclosure", broken)
    page = client.get("/disclosure")
    assert page.status_code == 500
    assert "服务器出了点问题" in page.get_data(as_text=True)


def test_a_refused_form_that_cannot_be_drawn_again_says_why(client, world):
    """A robot's post (the hidden field filled) with no form key: refused, and since the
    form cannot be drawn again without its key, a page that says why."""
    page = client.post(
        f"/q/{world.v1.qr_token}",
        data={"kind": "D02", "description": "x", "website": "http://spam.example"},
    )
    assert page.status_code == 422
    assert "提交失败" in page.get_data(as_text=True)


def test_a_villager_s_report_reads_its_kind_and_town_from_the_reference_copy(client, world):
    """The QR page reads the village by its token, afresh, and takes the kind (with its
    time limits) and the village's town from the per-process copy: two queries less on
    every report (and three from the category's own)."""
    from sqlalchemy import event

    assert post(client, world, form(world)).status_code == 200  # the copy is loaded
    statements = []

    def seen(_conn, _cursor, statement, *_):
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        answer = post(client, world, form(world))
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    assert answer.status_code == 200
    assert world.v1.town.name in answer.get_data(as_text=True)  # shown, all the same
    reads = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert [s for s in reads if "FROM village" in s]  # by its token, afresh
    assert not [s for s in reads if "FROM category" in s or "FROM town" in s], reads


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("get", "/nope", 404),
        ("get", "/t/", 404),
        ("get", "/m/nope", 404),
        ("get", "/static/villager/nope.css", 404),
        ("put", "/q/{token}", 405),
        ("delete", "/", 405),
        ("get", "/t/ABCDEFGHJKMNPQRSTVWX/info", 405),  # a form's action, opened as a link
    ],
)
def test_an_address_no_page_answers_gets_a_page_in_chinese(client, world, method, url, status):
    """Werkzeug's own pages are English: every address outside the admin and the API
    that no page answers, or not with this method, gets the villagers' error page."""
    answer = getattr(client, method)(url.format(token=world.v1.qr_token))
    assert answer.status_code == status
    page = answer.get_data(as_text=True)
    assert '<html lang="zh-CN"' in page
    assert "Not Found" not in page
    assert "Method Not Allowed" not in page
    assert ("找不到这个页面" if status == 404 else "不能这样打开这个页面") in page
    if status == 405:
        assert answer.headers["Allow"]
    api = client.get("/api/v1/nowhere")  # the API keeps its own shape
    assert api.json["code"] == "not_found"


def test_a_tracking_code_of_only_dashes_asks_for_one(client, world):
    answer = client.post("/t", data={"code": " - / "})
    assert answer.status_code == 422
    assert "请输入跟踪码" in answer.get_data(as_text=True)


def test_looking_up_too_often_says_looking_up(client, world, app):
    app.config["TRACKING_LIMIT_PER_ADDRESS"] = "1/hour"
    try:
        client.get("/t/ABCDEFGHJKMNPQRSTVWX", environ_base=PHONE)
        again = client.get("/t/ABCDEFGHJKMNPQRSTVWY", environ_base=PHONE)
    finally:
        app.config["TRACKING_LIMIT_PER_ADDRESS"] = "60/hour"
    assert again.status_code == 429
    page = again.get_data(as_text=True)
    assert "查询得太频繁" in page
    assert "提交太频繁" not in page


def test_a_name_typed_into_the_phone_box_is_refused_with_what_was_typed_kept(client, world):
    """The villager's form: a phone that is not one comes back with the form as it was
    typed and why, and no case is written."""
    before = db.session.scalar(select(func.count()).select_from(Case))
    refused = post(client, world, form(world, anonymous="no", name="钱先生", phone="找村支书"))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422
    assert "电话号码请填写数字" in page
    assert 'value="钱先生"' in page
    assert db.session.scalar(select(func.count()).select_from(Case)) == before
