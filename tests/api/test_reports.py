"""Reports and cases through the API: idempotent creates and actions, lists, access."""

from __future__ import annotations

import io
import json
import re
import threading
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select

from server.cases.operations import Reporter
from server.db import db
from server.infra import clock
from server.models import AuditEntry, Case, CaseEvent, IdempotencyRecord, Role, Screening
from server.trust import idempotency
from tests.api.conftest import key
from tests.api.test_media import jpeg_with_gps
from tests.factories import PASSWORD, UserFactory
from tests.helpers import case_in, new_report


def report_body(world, **changes):
    return {
        "category": "D02",
        "village": world.v1.id,
        "grid": world.g1.id,
        "description": "两户邻居因排水沟争吵。",
        "place_text": "村东头",
        "latitude": 39.1,
        "longitude": 117.3,
        "occurred_at": "2026-05-30T08:00:00+08:00",
        "people_involved": 4,
        "parties": [{"name": "张三"}, {"name": "李四", "side": "respondent"}],
    } | changes


def _cases():
    return db.session.scalar(select(func.count(Case.id)))


def test_a_grid_worker_files_a_report(client, world, login):
    headers = login(world.worker1) | key()
    response = client.post("/api/v1/reports", headers=headers, json=report_body(world))
    assert response.status_code == 201, response.json
    body = response.json
    assert body["status"] == "submitted"
    assert body["village"] == {"id": world.v1.id, "name": "东村"}
    assert body["occurred_at"] == "2026-05-30T00:00:00+00:00"
    assert body["due_at"].endswith("+00:00")
    assert [p["name"] for p in body["parties"]] == ["张三", "李四"]
    assert body["timeline"][0]["action"] == "submit"
    assert body["actions"] == []  # a grid worker cannot accept
    assert "reporter" not in body
    assert (body["latitude"], body["longitude"]) == (39.1, 117.3)  # the reporter's own village
    case = db.session.scalar(select(Case).where(Case.code == body["code"]))
    assert case.created_by_id == world.worker1.id
    assert case.idempotency_key == headers["Idempotency-Key"]
    # The answer is made before the case is written: it is the case as it is then read.
    shown = client.get(f"/api/v1/cases/{body['code']}", headers=login(world.worker1))
    assert shown.json == body


def test_a_report_reads_nothing_once_it_writes(client, world, login):
    """On SQLite a request holds the one write lock from its first write to its commit,
    and every report waits for it: all a report reads, it reads before its first INSERT
    (a new case's collections are known empty, its answer is made from what is in hand)."""
    headers = login(world.worker1) | key()
    statements = []

    def seen(_conn, _cursor, statement, *_):
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    sa_event.listen(db.engine, "before_cursor_execute", seen)
    try:
        response = client.post("/api/v1/reports", headers=headers, json=report_body(world))
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", seen)
    assert response.status_code == 201, response.json
    after_first_write = statements[statements.index("INSERT") :]
    assert "SELECT" not in after_first_write, statements


def test_a_retry_gets_the_first_answer_and_makes_no_second_case(client, world, login):
    headers = login(world.worker1) | key()
    first = client.post("/api/v1/reports", headers=headers, json=report_body(world))
    before = _cases()
    again = client.post("/api/v1/reports", headers=headers, json=report_body(world))
    assert again.status_code == first.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert again.json == first.json
    assert _cases() == before


def test_a_replay_ignores_json_spacing_and_key_order(client, world, login):
    headers = login(world.worker1) | key()
    body = report_body(world)
    first = client.post("/api/v1/reports", headers=headers, json=body)
    respaced = json.dumps(dict(reversed(body.items())), indent=2)
    again = client.post(
        "/api/v1/reports", headers=headers, data=respaced, content_type="application/json"
    )
    assert again.status_code == 201
    assert again.json["code"] == first.json["code"]


def test_the_same_key_with_another_body_is_refused(client, world, login):
    headers = login(world.worker1) | key()
    client.post("/api/v1/reports", headers=headers, json=report_body(world))
    before = _cases()
    other = client.post(
        "/api/v1/reports", headers=headers, json=report_body(world, description="另一件事。")
    )
    assert other.status_code == 422
    assert other.json["code"] == "idempotency_key_reused"
    assert _cases() == before


@pytest.mark.parametrize(
    ("value", "code"),
    [
        (None, "idempotency_key_missing"),
        ("not-a-uuid", "idempotency_key_invalid"),
        ("", "idempotency_key_invalid"),
    ],
)
def test_a_missing_or_malformed_key_is_refused(client, world, login, value, code):
    headers = login(world.worker1)
    if value is not None:
        headers["Idempotency-Key"] = value
    before = _cases()
    response = client.post("/api/v1/reports", headers=headers, json=report_body(world))
    assert response.status_code == 400
    assert response.json["code"] == code
    assert _cases() == before


def test_a_request_in_flight_with_the_same_key_gets_409(client, world, login):
    from server.trust import idempotency

    headers = login(world.worker1) | key()
    scope = f"user:{world.worker1.id}"
    # Another worker is working on this request: it holds the key in the shared store.
    assert idempotency.hold(scope, headers["Idempotency-Key"])
    try:
        response = client.post("/api/v1/reports", headers=headers, json=report_body(world))
        assert response.status_code == 409
        assert response.json["code"] == "request_in_flight"
        assert not idempotency.hold(scope, headers["Idempotency-Key"])
    finally:
        idempotency.release(scope, headers["Idempotency-Key"])
    # Once it is done (here: gone without an answer), the retry does the work.
    again = client.post("/api/v1/reports", headers=headers, json=report_body(world))
    assert again.status_code == 201
    assert idempotency.hold(scope, headers["Idempotency-Key"])  # released after answering
    idempotency.release(scope, headers["Idempotency-Key"])


def test_an_unfinished_claim_of_an_older_release_gets_409(client, world, login):
    headers = login(world.worker1) | key()
    # An older release claimed keys with a row before working; this one was not answered.
    from server.trust import idempotency

    digest = idempotency.fingerprint(
        "POST", "/api/v1/reports", json.dumps(report_body(world)).encode()
    )
    db.session.add(
        IdempotencyRecord(
            scope=f"user:{world.worker1.id}", key=headers["Idempotency-Key"], fingerprint=digest
        )
    )
    db.session.flush()
    response = client.post("/api/v1/reports", headers=headers, json=report_body(world))
    assert response.status_code == 409
    assert response.json["code"] == "request_in_flight"


def test_keys_of_different_users_do_not_meet(client, world, login):
    shared = key()
    first = client.post(
        "/api/v1/reports", headers=login(world.worker1) | shared, json=report_body(world)
    )
    assert first.status_code == 201
    center = client.post(
        "/api/v1/reports",
        headers=login(world.center) | shared,
        json=report_body(world, source="walk_in"),
    )
    # Never another user's stored answer; the key on the case row refuses a double.
    assert "Idempotent-Replayed" not in center.headers
    assert center.status_code == 409
    assert center.json["code"] == "already_submitted"


def test_an_error_answer_is_replayed_too(client, world, login):
    headers = login(world.worker1) | key()
    body = report_body(world, village=world.v2.id, grid=None)  # not the worker's village
    first = client.post("/api/v1/reports", headers=headers, json=body)
    assert first.status_code == 403
    again = client.post("/api/v1/reports", headers=headers, json=body)
    assert again.status_code == 403
    assert again.headers["Idempotent-Replayed"] == "true"


def test_twenty_sends_ten_at_once_make_one_case(fresh_app):
    """The same create, sent 20 times (10 of them concurrently), makes one case."""
    from tests.factories import build_world

    with fresh_app.app_context():
        world = build_world()
        body = report_body(world)
        db.session.commit()
        db.session.remove()
    client = fresh_app.test_client()
    token = client.post(
        "/api/v1/auth/login", json={"username": "t_grid1", "password": PASSWORD}
    ).json["token"]
    headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": str(uuid.uuid4())}
    answers = []
    lock = threading.Lock()

    def send():
        response = fresh_app.test_client().post("/api/v1/reports", headers=headers, json=body)
        with lock:
            answers.append(response)

    barrier = threading.Barrier(10)

    def send_together():
        barrier.wait(timeout=30)
        send()

    threads = [threading.Thread(target=send_together) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for _ in range(10):
        send()

    assert len(answers) == 20
    statuses = sorted(r.status_code for r in answers)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in answers if r.status_code == 201]
    assert len({r.json["code"] for r in created}) == 1
    assert sum(1 for r in created if "Idempotent-Replayed" not in r.headers) == 1
    assert all(r.json["code"] == "request_in_flight" for r in answers if r.status_code == 409)
    assert answers[-1].status_code == 201  # once the first has answered, retries replay
    with fresh_app.app_context():
        assert db.session.scalar(select(func.count(Case.id))) == 1
        db.session.remove()


def test_listing_is_scoped_filtered_and_paged_by_cursor(client, world, login):
    mine = [new_report(world) for _ in range(5)]
    hazard = new_report(world, "H01", parties=[])
    new_report(world, village=world.v2)  # another village
    db.session.flush()
    headers = login(world.worker1)
    seen, cursor = [], None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get("/api/v1/cases", headers=headers, query_string=query).json
        seen += [item["code"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(c.code for c in [*mine, hazard])
    assert len(seen) == len(set(seen))
    hazards = client.get("/api/v1/cases", headers=headers, query_string={"category": "H01"}).json[
        "items"
    ]
    assert [i["code"] for i in hazards] == [hazard.code]
    assert (
        client.get("/api/v1/cases", headers=headers, query_string={"limit": 101}).status_code == 422
    )
    bad = client.get("/api/v1/cases", headers=headers, query_string={"cursor": "zzz"})
    assert bad.status_code == 422
    assert bad.json["code"] == "invalid_cursor"


def test_overdue_filter(client, world, login):
    from datetime import timedelta

    from server.infra import clock

    old = new_report(world)
    db.session.flush()
    with clock.frozen_at(old.due_at + timedelta(hours=1)):
        fresh = new_report(world)
        db.session.flush()
        response = client.get(
            "/api/v1/cases", headers=login(world.center), query_string={"overdue": "true"}
        )
        assert response.status_code == 200, response.json
        items = response.json["items"]
    codes = [i["code"] for i in items]
    assert old.code in codes
    assert fresh.code not in codes
    assert all(i["overdue"] for i in items)


def test_a_grid_worker_cannot_read_or_act_on_another_village(client, world, login):
    other = new_report(world, village=world.v2)
    db.session.flush()
    headers = login(world.worker1)
    assert client.get(f"/api/v1/cases/{other.code}", headers=headers).status_code == 404
    acted = client.post(
        f"/api/v1/cases/{other.code}/actions",
        headers=headers | key(),
        json={"action": "note", "version": other.version, "text": "x"},
    )
    assert acted.status_code == 404
    missing = client.get("/api/v1/cases/ZZZZZZZZZZZZ", headers=headers)
    assert missing.status_code == 404
    assert missing.json == acted.json  # the same answer: ids do not leak


def test_a_handler_sees_only_their_departments_cases(client, world, login):
    theirs = case_in("dispatched", world)
    db.session.flush()
    assert (
        client.get(f"/api/v1/cases/{theirs.code}", headers=login(world.justice_handler)).status_code
        == 200
    )
    assert (
        client.get(f"/api/v1/cases/{theirs.code}", headers=login(world.police_handler)).status_code
        == 404
    )
    listed = client.get("/api/v1/cases", headers=login(world.police_handler)).json["items"]
    assert theirs.code not in [i["code"] for i in listed]


def test_the_informant_is_shown_to_the_center_only(client, world, login):
    case = new_report(
        world,
        actor=None,
        source="qr",
        parties=[],
        reporter=Reporter(anonymous=False, name="王秀英", phone="13911112222"),
    )
    db.session.flush()
    leader = login(world.leader)
    for headers in (leader, login(world.worker1)):
        for url in (f"/api/v1/cases/{case.code}", "/api/v1/cases"):
            text = client.get(url, headers=headers).get_data(as_text=True)
            assert "王秀英" not in text
            assert "13911112222" not in text
    center = client.get(f"/api/v1/cases/{case.code}", headers=login(world.center)).json
    assert center["reporter"] == {
        "anonymous": False,
        "name": "王秀英",
        "phone": "13911112222",
        "wechat": None,
    }


def test_a_handler_works_a_case_from_the_phone(client, world, login):
    case = case_in("dispatched", world)
    db.session.flush()
    headers = login(world.justice_handler)
    url = f"/api/v1/cases/{case.code}"
    detail = client.get(url, headers=headers).json
    assert [a["action"] for a in detail["actions"]] == ["sign_for", "return", "note"]
    signed = client.post(
        f"{url}/actions",
        headers=headers | key(),
        json={"action": "sign_for", "version": detail["version"]},
    )
    assert signed.status_code == 200, signed.json
    assert signed.json["status"] == "in_progress"

    from tests.api.test_media import jpeg_with_gps, upload

    photo = upload(client, headers, jpeg_with_gps()).json
    resolved = client.post(
        f"{url}/actions",
        headers=headers | key(),
        json={
            "action": "resolve",
            "version": signed.json["version"],
            "result_code": "mediated",
            "result_text": "双方签订调解协议。",
            "photos": [photo["id"]],
        },
    )
    assert resolved.status_code == 200, resolved.json
    assert resolved.json["status"] == "resolved"
    assert photo["id"] in [p["id"] for p in resolved.json["photos"]]
    event = db.session.scalar(
        select(CaseEvent).where(CaseEvent.case_id == case.id, CaseEvent.action == "resolve")
    )
    assert event.idempotency_key is not None


def test_a_stale_version_gets_409_with_the_current_state(client, world, login):
    case = case_in("dispatched", world)
    db.session.flush()
    seen = case.version
    headers = login(world.justice_handler)
    url = f"/api/v1/cases/{case.code}/actions"
    assert (
        client.post(
            url,
            headers=headers | key(),
            json={"action": "note", "version": seen, "text": "先记一笔"},
        ).status_code
        == 200
    )
    stale = client.post(url, headers=headers | key(), json={"action": "sign_for", "version": seen})
    assert stale.status_code == 409
    assert stale.json["code"] == "stale_case"
    assert stale.json["details"] == {"current_status": "dispatched", "current_version": seen + 1}


def test_an_action_retry_is_applied_once(client, world, login):
    case = case_in("dispatched", world)
    db.session.flush()
    headers = login(world.justice_handler) | key()
    body = {"action": "sign_for", "version": case.version}
    url = f"/api/v1/cases/{case.code}/actions"
    first = client.post(url, headers=headers, json=body)
    again = client.post(url, headers=headers, json=body)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert (
        db.session.scalar(
            select(func.count(CaseEvent.id)).where(
                CaseEvent.case_id == case.id, CaseEvent.action == "sign_for"
            )
        )
        == 1
    )


def test_a_grid_worker_records_a_visit(client, world, login):
    case = case_in("follow_up", world)
    db.session.flush()
    response = client.post(
        f"/api/v1/cases/{case.code}/actions",
        headers=login(world.worker1) | key(),
        json={
            "action": "record_visit",
            "version": case.version,
            "outcome": "kept",
            "text": "双方履行了协议",
            "satisfaction": "satisfied",
        },
    )
    assert response.status_code == 200, response.json
    assert response.json["timeline"][-1]["action"] == "record_visit"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"action": "sign_for"}, 422, "validation_failed"),  # no version
        ({"action": "fly", "version": 1}, 422, "validation_failed"),
        ({"action": "sign_for", "version": 1, "colour": "red"}, 422, "validation_failed"),
        ({"action": "supervise", "version": 1}, 403, "forbidden"),
        ({"action": "accept", "version": 1}, 409, "invalid_transition"),
        ({"action": "resolve", "version": 1, "result_code": "mediated"}, 409, "invalid_transition"),
    ],
)
def test_bad_actions(client, world, login, body, status, code):
    case = case_in("dispatched", world)
    db.session.flush()
    if "version" in body:
        body = body | {"version": case.version}
    response = client.post(
        f"/api/v1/cases/{case.code}/actions",
        headers=login(world.justice_handler) | key(),
        json=body,
    )
    assert response.status_code == status, response.json
    assert response.json["code"] == code
    assert response.json["message"]


def test_reference_data(client, world, login):
    headers = login(world.worker1)
    categories = client.get("/api/v1/categories", headers=headers).json
    by_code = {c["code"]: c for c in categories}
    assert by_code["S01"]["emergency"]
    assert by_code["S01"]["urgent"]
    assert by_code["D02"]["group"] == "dispute"
    villages = client.get("/api/v1/villages", headers=headers).json
    assert [v["id"] for v in villages] == [world.v1.id]
    assert villages[0]["grids"][0]["id"] == world.g1.id
    assert len(client.get("/api/v1/villages", headers=login(world.center)).json) >= 2
    departments = client.get("/api/v1/departments", headers=headers).json
    assert {"测试派出所", "东村村委会"} <= {d["name"] for d in departments}


def test_errors_share_one_shape(client, world, login, app):
    headers = login(world.worker1)
    not_found = client.get("/api/v1/nowhere", headers=headers)
    assert not_found.status_code == 404
    assert not_found.json == {"code": "not_found", "message": "找不到请求的内容。"}
    wrong_method = client.delete("/api/v1/reports", headers=headers)
    assert wrong_method.status_code == 405
    assert "POST" in wrong_method.headers["Allow"]
    assert wrong_method.json["code"] == "method_not_allowed"
    not_json = client.post(
        "/api/v1/reports",
        headers=headers | key(),
        data="category=D02",
        content_type="application/x-www-form-urlencoded",
    )
    assert not_json.status_code == 415
    assert not_json.json["code"] == "unsupported_media_type"
    invalid = client.post(
        "/api/v1/reports", headers=headers | key(), json={"village": "东村", "extra": 1}
    )
    assert invalid.status_code == 422
    assert invalid.json["errors"]["extra"] == ["不允许的字段。"]
    assert invalid.json["errors"]["category"] == ["必填。"]


def _leaves(errors) -> list[str]:
    if isinstance(errors, dict):
        return [leaf for value in errors.values() for leaf in _leaves(value)]
    if isinstance(errors, list):
        return [leaf for value in errors for leaf in _leaves(value)]
    return [errors]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("get", "/api/v1/cases?limit=-1", None),
        ("get", "/api/v1/inbox?limit=0", None),
        ("get", "/api/v1/cases?cursor=a.b", None),
        ("get", "/api/v1/cases?category=", None),
        ("get", "/api/v1/media/x?size=huge", None),
        ("post", "/api/v1/inbox/read", {"ids": list(range(1, 1001))}),
        ("post", "/api/v1/reports", {"latitude": float("nan"), "longitude": 117.0}),
        ("post", "/api/v1/reports", {"parties": ["张三"]}),
    ],
)
def test_each_field_s_error_is_in_chinese(client, world, login, method, path, body):
    """The messages of marshmallow's validators (bounds, lengths, choices, patterns) as
    a person reads them: a phone may show them beside the field."""
    headers = login(world.worker1) | key()
    if body is not None and path == "/api/v1/reports":
        body = report_body(world) | body
    answer = getattr(client, method)(path, headers=headers, json=body)
    assert answer.status_code == 422, answer.json
    leaves = _leaves(answer.json["errors"])
    assert leaves
    for leaf in leaves:
        # A choice's own values are data (须为以下之一：full, thumb。), not words.
        words = re.sub(r"须为以下之一：.*", "", leaf)
        assert not re.search(r"[A-Za-z]{2,}", words), leaf


def test_a_crash_reaches_the_client_as_a_plain_500(client, world, login, app, monkeypatch):
    def explode(*args, **kwargs):
        raise RuntimeError("SELECT secret FROM case_file -- internal detail")

    monkeypatch.setattr("server.cases.queries.list_cases", explode)
    monkeypatch.setitem(app.config, "PROPAGATE_EXCEPTIONS", False)
    response = client.get("/api/v1/cases", headers=login(world.worker1))
    assert response.status_code == 500
    assert response.json == {"code": "internal_error", "message": "服务器出错了，请稍后再试。"}
    assert "SELECT" not in response.get_data(as_text=True)


def test_the_center_can_file_a_walk_in_report(client, world, login):
    center = UserFactory(username="t_center_b", role=Role.CENTER)
    db.session.flush()
    response = client.post(
        "/api/v1/reports",
        headers=login(center) | key(),
        json=report_body(
            world, source="walk_in", grid=None, reporter={"anonymous": False, "name": "来访人"}
        ),
    )
    assert response.status_code == 201, response.json
    assert response.json["source"] == "walk_in"
    assert response.json["reporter"]["name"] == "来访人"
    # Shown to the center as it is written, with the viewing audited for the case.
    shown = client.get(f"/api/v1/cases/{response.json['code']}", headers=login(center))
    assert shown.json == response.json
    views = db.session.scalars(
        select(AuditEntry.object_id).where(
            AuditEntry.action == "case.view_informant", AuditEntry.actor_id == center.id
        )
    ).all()
    assert views == [response.json["code"]] * 2


def test_markup_in_a_description_comes_back_as_plain_data(client, world, login):
    text = "<script>alert('x')</script><b>有人</b>打架"
    response = client.post(
        "/api/v1/reports",
        headers=login(world.worker1) | key(),
        json=report_body(world, description=text),
    )
    assert response.mimetype == "application/json"
    assert response.json["description"] == text  # data, for the phone to show as text
    detail = client.get(f"/api/v1/cases/{response.json['code']}", headers=login(world.center))
    assert detail.json["description"] == text


@pytest.mark.parametrize("where", ["body", "escaped", "query", "path"])
def test_a_nul_character_is_refused_at_the_door(client, world, login, where):
    headers = login(world.worker1) | key()
    if where in {"body", "escaped"}:
        raw = json.dumps(report_body(world, description="有\u0000人")).encode()
        if where == "body":
            raw = raw.replace(b"\\u0000", b"\x00")
        response = client.post(
            "/api/v1/reports", headers=headers, data=raw, content_type="application/json"
        )
    elif where == "query":
        response = client.get("/api/v1/cases?category=D%0002", headers=headers)
    else:
        response = client.get("/api/v1/media/ab%00cd", headers=headers)
    assert response.status_code == 422
    assert response.json["code"] == "nul_character"


def test_a_request_in_flight_is_seen_by_every_worker_through_redis(app, redis_url):
    """Two app processes (here: two apps) on one Redis see each other's requests in flight."""
    from server import create_app
    from server.trust import idempotency

    uri = redis_url(14)
    workers = [
        create_app(
            {
                "DATABASE_URL": app.config["DATABASE_URL"],
                "ENV": "testing",
                "RATELIMIT_STORAGE_URI": uri,
            }
        )
        for _ in range(2)
    ]
    held = str(uuid.uuid4())
    try:
        with workers[0].app_context():
            assert idempotency.hold("user:1", held)
        with workers[1].app_context():
            assert not idempotency.hold("user:1", held)  # the other worker has it
            assert idempotency.hold("user:2", held)  # another user's key is another key
        with workers[0].app_context():
            idempotency.release("user:1", held)
        with workers[1].app_context():
            assert idempotency.hold("user:1", held)
    finally:
        redis_url(14)  # emptied after, too
        for worker in workers:
            with worker.app_context():
                db.engine.dispose()


def test_a_handler_returns_a_case_and_asks_for_more_time(client, world, login):
    headers = login(world.justice_handler)
    returned = case_in("dispatched", world)
    extended = case_in("in_progress", world)
    db.session.flush()

    def act(case, **body):
        version = client.get(f"/api/v1/cases/{case.code}", headers=headers).json["version"]
        return client.post(
            f"/api/v1/cases/{case.code}/actions",
            headers=headers | key(),
            json={"version": version, **body},
        )

    back = act(returned, action="return", reason="不属于司法所职责，请重新派遣。")
    assert back.status_code == 200, back.json
    # The center reviews a return (退单审核): until then the department keeps the case.
    assert back.json["status"] == "dispatched"
    assert back.json["return_requested_at"] is not None
    assert [a["action"] for a in back.json["actions"]] == ["sign_for", "note"]
    until = (extended.due_at + timedelta(days=5)).isoformat()
    unheard = act(extended, action="request_extension", until=until, reason="当事人外出务工。")
    assert unheard.status_code == 422  # a dispute's mediation runs longer only if both agree
    assert unheard.json["code"] == "parties_consent_required"
    asked = act(
        extended,
        action="request_extension",
        until=until,
        reason="当事人外出务工。",
        parties_consent=True,
    )
    assert asked.status_code == 200, asked.json
    assert asked.json["status"] == "in_progress"
    assert asked.json["extension_requested_until"] == until
    again = act(
        extended,
        action="request_extension",
        until=until,
        reason="再申请一次。",
        parties_consent=True,
    )
    assert again.status_code == 409, again.json  # one request pending at a time


def _answers_purged(app) -> int:
    """What the sweep does once IDEMPOTENCY_KEEP_HOURS have passed."""
    hours = app.config["IDEMPOTENCY_KEEP_HOURS"]
    with clock.frozen_at(clock.now() + timedelta(hours=hours + 1)):
        return idempotency.purge(timedelta(hours=hours))


def test_a_report_resent_after_its_answer_was_purged_gets_its_case(app, client, world, login):
    """An outbox resends days later (a long holiday): the stored answer is gone, the case
    with the key is not. The phone is answered with its case, as a 201, not told 409 (it
    showed the report as failed, to be filed again under a new key: a second case). A
    photo it named, on the case since, is no reason to refuse it either."""
    headers = login(world.worker1) | key()
    photo = client.post(
        "/api/v1/media",
        headers=login(world.worker1),
        data={"file": (io.BytesIO(jpeg_with_gps(size=(64, 48))), "a.jpg", "image/jpeg")},
        content_type="multipart/form-data",
    ).json["id"]
    body = report_body(world) | {"photos": [photo]}
    first = client.post("/api/v1/reports", headers=headers, json=body)
    assert first.status_code == 201, first.json
    assert _answers_purged(app) >= 1
    for _ in range(2):  # and its answer is kept as the key's again
        again = client.post("/api/v1/reports", headers=headers, json=body)
        assert again.status_code == 201, again.json
        assert again.json["code"] == first.json["code"]
        assert [p["id"] for p in again.json["photos"]] == [photo]
    assert db.session.scalar(select(func.count(Case.id))) == 1


def test_an_action_resent_after_its_answer_was_purged_is_not_called_stale(
    app, client, world, login
):
    case = case_in("dispatched", world)
    db.session.flush()
    headers = login(world.justice_handler) | key()
    body = {"action": "sign_for", "version": case.version}
    url = f"/api/v1/cases/{case.code}/actions"
    assert client.post(url, headers=headers, json=body).status_code == 200
    assert _answers_purged(app) >= 1
    again = client.post(url, headers=headers, json=body)
    assert again.status_code == 200, again.json
    assert again.json["status"] == "in_progress"
    signed = select(func.count(CaseEvent.id)).where(
        CaseEvent.case_id == case.id, CaseEvent.action == "sign_for"
    )
    assert db.session.scalar(signed) == 1
    # The key is the handler's on this case only: another case, or another person, with
    # the same key is not answered with it.
    other = case_in("dispatched", world)
    db.session.flush()
    elsewhere = client.post(
        f"/api/v1/cases/{other.code}/actions",
        headers=headers,
        json={"action": "sign_for", "version": other.version},
    )
    assert elsewhere.status_code == 422  # the key's stored answer was for another request
    assert elsewhere.json["code"] == "idempotency_key_reused"


def test_a_screening_resent_after_its_answer_was_purged_gets_it(app, client, world, login):
    headers = login(world.worker1) | key()
    body = {"village": world.v1.id, "checked": ["D02"], "findings": []}
    first = client.post("/api/v1/screenings", headers=headers, json=body)
    assert first.status_code == 201, first.json
    assert _answers_purged(app) >= 1
    again = client.post("/api/v1/screenings", headers=headers, json=body)
    assert again.status_code == 201, again.get_data(as_text=True)
    assert again.json["id"] == first.json["id"]
    assert db.session.scalar(select(func.count(Screening.id))) == 1


def test_a_screening_sent_at_once_to_two_workers_is_filed_once_and_never_a_500(
    fresh_app, monkeypatch
):
    """Two gunicorn workers without a shared store (RATELIMIT_STORAGE_URI=memory://):
    each holds the key in its own memory, so both do the work; the screening's unique key
    lets one write, and the other answers with its answer."""
    from tests.factories import build_world

    monkeypatch.setattr(idempotency, "hold", lambda scope, key: True)  # marks not shared
    fresh_app.config["PROPAGATE_EXCEPTIONS"] = False
    with fresh_app.app_context():
        world = build_world()
        body = {"village": world.v1.id, "checked": ["D02"], "findings": []}
        username = world.worker1.username
        db.session.commit()
        db.session.remove()
    token = (
        fresh_app.test_client()
        .post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        .json["token"]
    )
    headers = {"Authorization": f"Bearer {token}"} | key()
    answers, lock, barrier = [], threading.Lock(), threading.Barrier(6)

    def send():
        barrier.wait(timeout=30)
        response = fresh_app.test_client().post("/api/v1/screenings", headers=headers, json=body)
        with lock:
            answers.append((response.status_code, (response.json or {}).get("id")))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    with fresh_app.app_context():
        assert db.session.scalar(select(func.count(Screening.id))) == 1
        db.session.remove()
    assert all(status < 500 for status, _ in answers), sorted(answers)
    assert len({screening for status, screening in answers if status == 201}) == 1
