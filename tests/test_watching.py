"""Watching it (issue 18, point 5): /metrics under gunicorn's workers, /healthz's 503s,
JSON log lines that name nobody, and the dead letters' page."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from server.db import db
from server.follow_through import jobs, notifications, sweep
from server.infra import clock, codes
from server.models import AuditEntry, Case, JobRun, Notification
from tests.conftest import fresh_database, make_app
from tests.factories import PASSWORD, build_world
from tests.helpers import new_report
from tests.live_server import gunicorn_server

# --- /metrics ----------------------------------------------------------------------------


def samples(text: str) -> dict[tuple[str, tuple], float]:
    """(sample name, sorted labels) -> value, from a scrape."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(found: dict, name: str, **labels) -> float:
    """The sum of `name`'s samples whose labels include `labels`."""
    return sum(
        value
        for (sample, pairs), value in found.items()
        if sample == name and labels.items() <= dict(pairs).items()
    )


def test_metrics_count_the_reports_of_every_worker(tmp_path):
    """Two workers under gunicorn: after a few reports the counters moved by exactly as
    many, whichever worker filed them and whichever answers the scrape; the database's
    figures are there too."""
    with fresh_database(tmp_path) as url:
        app = make_app(url)
        with app.app_context():
            world = build_world()
            village = world.v1.id
            db.session.commit()
            sweep.run()  # the sweep has run once: its time is a metric
            db.session.remove()
            db.engine.dispose()
        reports_endpoint = next(
            r.endpoint for r in app.url_map.iter_rules() if r.rule == "/api/v1/reports"
        )
        with gunicorn_server(url, tmp_path, WEB_CONCURRENCY="2") as base:
            before = samples(requests.get(f"{base}/metrics", timeout=10).text)
            token = requests.post(
                f"{base}/api/v1/auth/login",
                timeout=10,
                json={"username": "t_grid1", "password": PASSWORD},
            ).json()["token"]
            filed = 5
            for n in range(filed):
                answer = requests.post(
                    f"{base}/api/v1/reports",
                    timeout=10,
                    headers={
                        "Authorization": f"Bearer {token}",
                        "Idempotency-Key": str(uuid.uuid4()),
                        "Connection": "close",  # each on a new connection: any worker
                    },
                    json={"category": "H01", "village": village, "description": f"第{n}处隐患。"},
                )
                assert answer.status_code == 201, answer.text
            # Several scrapes, each on a new connection: every worker adds up the same.
            fresh = {"Connection": "close"}
            scrapes = [
                samples(requests.get(f"{base}/metrics", timeout=10, headers=fresh).text)
                for _ in range(4)
            ]
    name = "grid_report_reports_filed_total"
    assert total(before, name) == 0
    for after in scrapes:
        assert total(after, name, source="grid_worker", group="safety_hazard") == filed
        posted = "grid_report_http_requests_total"
        assert total(after, posted, endpoint=reports_endpoint, method="POST", status="201") == (
            filed
        )
        timed = "grid_report_http_request_duration_seconds_count"
        assert total(after, timed, endpoint=reports_endpoint, method="POST") == filed
        assert total(after, "grid_report_outbox_pending") >= 0
        for gauge in ("grid_report_overdue_steps", "grid_report_outbox_dead"):
            assert (gauge, ()) in after
        assert total(after, "grid_report_job_last_ok_timestamp_seconds", job="sweep") > 0
    # The scrapes before counted themselves: the request counter moved between them.
    assert total(scrapes[-1], "grid_report_http_requests_total", endpoint="metrics.scrape") > (
        total(before, "grid_report_http_requests_total", endpoint="metrics.scrape")
    )


def test_metrics_answer_only_allowed_addresses(app, client, monkeypatch):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    outside = {"REMOTE_ADDR": "203.0.113.7"}
    assert client.get("/metrics", environ_base=outside).status_code == 403
    # Through nginx the peer is 127.0.0.1, and X-Forwarded-For names the outsider.
    forwarded = {"X-Forwarded-For": "203.0.113.7"}
    assert client.get("/metrics", headers=forwarded).status_code == 403
    assert client.get("/metrics", headers={"X-Forwarded-For": "not an address"}).status_code == 403
    monkeypatch.setitem(app.config, "METRICS_ALLOW", "127.0.0.1,203.0.113.0/24")
    assert client.get("/metrics", headers=forwarded).status_code == 200
    monkeypatch.setitem(app.config, "METRICS_TOKEN", "s3cret-scraper-token")
    assert client.get("/metrics", headers=forwarded).status_code == 403
    bearer = {**forwarded, "Authorization": "Bearer s3cret-scraper-token"}
    assert client.get("/metrics", headers=bearer).status_code == 200


def test_metrics_label_no_path_and_count_only_committed_reports(client, world):
    """A tracking code in a path never becomes a label; a report rolled back is not
    counted."""
    client.get("/t/SECRETSECRETSECRETSECRET12")
    client.post("/metrics")  # a wrong method: a bounded label too
    scrape = client.get("/metrics").get_data(as_text=True)
    assert "SECRET" not in scrape
    assert 'endpoint="unrouted"' in scrape or 'endpoint="villager.' in scrape
    before = total(samples(scrape), "grid_report_reports_filed_total")
    savepoint = db.session.begin_nested()
    new_report(world, "H01")
    savepoint.rollback()
    db.session.rollback()
    after = total(
        samples(client.get("/metrics").get_data(as_text=True)), "grid_report_reports_filed_total"
    )
    assert after == before


# --- /healthz ----------------------------------------------------------------------------


def _set_run(name: str, ago: timedelta | None) -> None:
    moment = None if ago is None else clock.now() - ago
    db.session.execute(update(JobRun).where(JobRun.name == name).values(last_ok_at=moment))
    db.session.flush()


def test_healthz_says_when_the_jobs_last_ran(client, session):
    _set_run("sweep", timedelta(seconds=30))
    body = client.get("/healthz").json
    assert body["status"] == "ok"
    assert body["jobs"]["sweep"]["state"] == "ok"
    assert 25 <= body["jobs"]["sweep"]["age_seconds"] <= 120
    assert body["jobs"]["notify"]["state"] == "never"  # a test database has no scheduler
    assert {"pending", "dead", "oldest_due_seconds"} <= set(body["outbox"])
    assert body["disk"]["free_mb"] > 0


def test_healthz_503_when_the_sweep_is_stale(client, session):
    _set_run("sweep", timedelta(minutes=10))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "degraded"
    assert response.json["problems"] == ["job:sweep"]
    assert response.json["jobs"]["sweep"]["state"] == "stale"


def test_healthz_in_production_wants_jobs_that_never_ran(app, client, session, monkeypatch):
    monkeypatch.setitem(app.config, "ENV", "production")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert set(response.json["problems"]) == {"job:sweep", "job:notify"}
    _set_run("sweep", timedelta(seconds=5))
    _set_run("notify", timedelta(seconds=5))
    assert client.get("/healthz").status_code == 200


def test_healthz_503_when_a_due_notification_waits_too_long(client, world):
    _set_run("notify", timedelta(seconds=10))  # the sender runs, but this one is stuck
    db.session.add(
        Notification(
            user_id=world.center.id,
            channel="sms",
            kind="due_soon",
            title="即将到期",
            body="……",
            next_attempt_at=clock.now() - timedelta(minutes=20),
        )
    )
    db.session.flush()
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["problems"] == ["outbox"]
    assert response.json["outbox"]["oldest_due_seconds"] >= 20 * 60


def test_healthz_503_when_the_disk_is_nearly_full(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "HEALTH_MIN_FREE_MB", 10**12)  # a million terabytes
    response = client.get("/healthz")
    assert response.status_code == 503
    assert (response.json["problems"], response.json["disk"]["state"]) == (["disk"], "low")


def test_healthz_503_when_redis_is_down(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "RATELIMIT_STORAGE_URI", "redis://127.0.0.1:1/0")
    response = client.get("/healthz")
    assert response.status_code == 503
    assert (response.json["redis"], response.json["problems"]) == ("down", ["redis"])


def test_healthz_ok_with_redis_up(app, client, monkeypatch, redis_url):
    monkeypatch.setitem(app.config, "RATELIMIT_STORAGE_URI", redis_url(12))
    response = client.get("/healthz")
    assert (response.status_code, response.json["redis"]) == (200, "ok")


# --- the jobs' record --------------------------------------------------------------------


def test_a_job_records_its_runs_and_the_kind_of_its_failure(session, monkeypatch):
    sweep.run()
    first = jobs.last_runs()["sweep"]
    assert first.ok_at is not None
    assert first.error is None

    def fail(_now):
        raise RuntimeError("王秀英 13912345678")  # a message that must not be kept

    monkeypatch.setattr(sweep, "remind_judicial_confirmation", fail)
    with pytest.raises(RuntimeError):
        sweep.run()
    failed = jobs.last_runs()["sweep"]
    assert failed.error == "RuntimeError"
    assert failed.ok_at == first.ok_at
    assert failed.finished_at >= first.finished_at
    notifications.deliver_due()
    assert jobs.last_runs()["notify"].ok_at is not None


# --- JSON lines --------------------------------------------------------------------------


def test_json_logs_name_nobody(fresh_app, tmp_path):
    """Under gunicorn with LOG_FORMAT=json: a villager reports with a name and a phone
    and follows the report by its secret link; every line of the log is JSON, and none
    holds the name, the phone or the secret."""
    with fresh_app.app_context():
        world = build_world()
        token = world.v1.qr_token
        db.session.commit()
        url = fresh_app.config["DATABASE_URL"]
    name, phone = "王秀英", "13912345678"
    env = {"LOG_FORMAT": "json", "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:1/0"}
    with gunicorn_server(url, tmp_path, **env) as base:
        answer = requests.post(
            f"{base}/q/{token}",
            timeout=30,
            data={
                "kind": "H01",
                "form_key": str(uuid.uuid4()),
                "description": "村口柴草垛挨着电线杆。",
                "place_text": "村西",
                "anonymous": "no",
                "name": name,
                "phone": phone,
                "website": "",
            },
        )
        assert answer.status_code == 200, answer.text[:300]
        link = re.search(r'href="(/t/[0-9A-Z]+)"', answer.text).group(1)
        secret = link.removeprefix("/t/")
        assert requests.get(f"{base}{link}", timeout=10).status_code == 200
        assert requests.get(f"{base}/t/{secret}?from=qr", timeout=10).status_code == 200
    lines = [line for line in (tmp_path / "gunicorn.log").read_text().splitlines() if line]
    entries = [json.loads(line) for line in lines]  # every line is JSON
    text = "\n".join(lines)
    for identity in (name, phone, phone[-8:], secret):
        assert identity not in text
    access = [e for e in entries if e["logger"] == "gunicorn.access"]
    villager = [e for e in access if e["path"].startswith(("/q/", "/t/"))]
    assert len(villager) == 3
    assert {e["remote"] for e in villager} == {"-"}
    assert {e["path"] for e in villager if e["path"].startswith("/t/")} == {"/t/[redacted]"}
    assert any(e["logger"] == "gunicorn.error" for e in entries)  # gunicorn's own lines
    # The app's own lines too: the Redis that is down is said once, as JSON.
    assert any(e["logger"] == "server.trust.ratelimit" for e in entries)


def test_a_tracking_secret_never_reaches_a_log_line():
    import logging

    from server.infra.logs import JsonLines, RedactTracking

    record = logging.LogRecord(
        "server", logging.ERROR, __file__, 1, "Exception on %s [%s]", ("/t/ABCDEF123", "GET"), None
    )
    assert RedactTracking().filter(record)
    line = json.loads(JsonLines().format(record))
    assert line["message"] == "Exception on /t/[redacted] [GET]"


# --- dead letters ------------------------------------------------------------------------


def _dead(world, *, error="wechat_unavailable") -> Notification:
    case = new_report(world, "H01")
    note = Notification(
        user_id=world.police_handler.id,
        channel="wechat",
        kind="dispatch",
        case_id=case.id,
        title="新派遣案件",
        body="东村 · 火灾隐患",
        status="dead",
        attempts=notifications.MAX_ATTEMPTS,
        last_error=error,
    )
    db.session.add(note)
    db.session.flush()
    return note


def test_the_center_sees_dead_letters_and_sends_one_again(client, world, signin):
    note = _dead(world)
    other = _dead(world, error="43101")
    token = signin(world.center)
    page = client.get("/admin/dead-letters").get_data(as_text=True)
    assert world.police_handler.display_name in page
    assert "微信服务连不上或拒收" in page
    assert "微信返回错误（错误码 43101）" in page
    assert f">{notifications.MAX_ATTEMPTS}<" in page
    response = client.post(
        "/admin/dead-letters/resend", data={"csrf_token": token, "id": str(note.id)}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert (note.status, note.attempts, note.last_error) == ("pending", 0, None)
    assert other.status == "dead"
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "notification.resend"))
    assert entry.actor_id == world.center.id
    assert entry.detail == {"count": 1, "messages": [note.id]}
    assert "已重新排队 1 条消息" in client.get("/admin/dead-letters").get_data(as_text=True)
    client.post("/admin/dead-letters/resend", data={"csrf_token": token, "all": "1"})
    db.session.expire_all()
    assert other.status == "pending"


def test_dead_letters_for_the_system_admin_not_for_a_handler(client, world, signin):
    note = _dead(world)
    signin(world.admin)
    page = client.get("/admin/dead-letters")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "/admin/cases/" not in text  # the system admin reads no case ...
    assert "涉及案件" in text  # ... nor its number: only that a message concerned one
    assert codes.display(db.session.get(Case, note.case_id).code) not in text
    signin(world.police_handler)
    assert client.get("/admin/dead-letters").status_code == 403


def test_resend_passes_over_what_is_not_dead(session, world):
    dead = _dead(world)
    sent = _dead(world)
    sent.status = "sent"
    assert notifications.resend_dead([dead.id, sent.id, 10**9], actor=world.center) == 1
    assert (dead.status, sent.status) == ("pending", "sent")
    assert notifications.resend_dead([sent.id], actor=world.center) == 0
