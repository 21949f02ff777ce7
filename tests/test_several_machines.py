"""Several app machines on one database and one Redis (issue 21, point 2): two gunicorns,
each with its own instance folder, share what a district's machines share: the database,
Redis (limits, requests in flight) and the photo folder (MEDIA_ROOT on a shared mount).

A session or token made on one works on the other, a limit counts requests made on both,
a photo taken by one is served by the other, and two sweeps and two senders started at the
same moment on one database write no event and send no message twice.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from server.db import db
from server.infra import clock
from server.models import Case, CaseEvent, Notification, WeChatConsent
from tests.admin.conftest import csrf_from
from tests.factories import PASSWORD, build_world
from tests.fakes import FakeWeChat
from tests.helpers import case_in
from tests.live_server import ROOT, gunicorn_server
from tests.test_phone_photos import phone_photo, villager_report

OVERDUE_CASES = 40


@pytest.fixture
def machines(fresh_app, tmp_path, redis_url):
    """A town on one database, served by two gunicorns sharing Redis and a photo folder."""
    shared_redis = redis_url(13)
    with fresh_app.app_context():
        world = build_world()
        qr_token = world.v1.qr_token
        db.session.commit()
    url = fresh_app.config["DATABASE_URL"]
    shared = {
        "MEDIA_ROOT": str(tmp_path / "shared-media"),
        "RATELIMIT_STORAGE_URI": shared_redis,
        "SECRET_KEY": "one-secret-for-every-machine-of-the-district-0123456789",
        "QR_SUBMIT_LIMIT_PER_ADDRESS": "3/hour",
    }
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    with gunicorn_server(url, one, **shared) as a, gunicorn_server(url, two, **shared) as b:
        yield {"a": a, "b": b, "app": fresh_app, "qr": qr_token, "env": shared, "url": url}


def admin_session(base: str, username: str) -> requests.Session:
    browser = requests.Session()
    token = csrf_from(browser.get(f"{base}/admin/login", timeout=10).text)
    signed = browser.post(
        f"{base}/admin/login",
        data={"csrf_token": token, "username": username, "password": PASSWORD},
        allow_redirects=False,
        timeout=10,
    )
    assert signed.status_code == 302, signed.text[:300]
    return browser


def test_a_session_and_a_token_made_on_one_machine_work_on_the_other(machines):
    a, b = machines["a"], machines["b"]
    browser = admin_session(a, "t_center")
    queue = browser.get(f"{b}/admin/", allow_redirects=False, timeout=10)
    assert queue.status_code == 200, queue.status_code
    assert 'name="password"' not in queue.text  # the queue itself, not the sign-in form

    token = requests.post(
        f"{a}/api/v1/auth/login", json={"username": "t_grid1", "password": PASSWORD}, timeout=10
    ).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{b}/api/v1/auth/me", headers=bearer, timeout=10).status_code == 200
    # Signing out on one machine ends the token on every machine.
    assert requests.post(f"{b}/api/v1/auth/logout", headers=bearer, timeout=10).status_code in {
        200,
        204,
    }
    assert requests.get(f"{a}/api/v1/auth/me", headers=bearer, timeout=10).status_code == 401


def test_a_limit_counts_the_requests_made_on_every_machine(machines):
    """Three reports an hour from one address (this test's setting): two on one machine,
    one on the other, and the fourth is refused wherever it is sent."""
    a, b, qr = machines["a"], machines["b"], machines["qr"]
    photo = [("IMG_1.jpg", phone_photo(1, size=(800, 600)))]
    for base in (a, a, b):
        answer = villager_report(base, qr, photo)
        assert answer.status_code == 200, answer.text[:300]
    refused = villager_report(b, qr, photo)
    assert refused.status_code == 429
    with machines["app"].app_context():
        assert db.session.scalar(select(func.count(Case.id))) == 3


def test_a_photo_taken_by_one_machine_is_served_by_the_other(machines):
    a, b = machines["a"], machines["b"]
    token = requests.post(
        f"{a}/api/v1/auth/login", json={"username": "t_grid1", "password": PASSWORD}, timeout=10
    ).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    taken = requests.post(
        f"{a}/api/v1/media",
        headers=bearer,
        files={"file": ("IMG_2.jpg", phone_photo(2), "image/jpeg")},
        timeout=60,
    )
    assert taken.status_code == 201, taken.text[:300]
    served = requests.get(f"{b}/api/v1/media/{taken.json()['id']}", headers=bearer, timeout=10)
    assert served.status_code == 200
    assert served.headers["Content-Type"] == "image/jpeg"
    assert served.content.startswith(b"\xff\xd8")


def at_once(code: str, env: dict, tmp_path: Path, count: int = 2) -> list[dict]:
    """Run `code` in `count` fresh interpreters (as on several machines), each building its
    app first and then starting its work at the same moment; returns what each printed."""
    start = time.time() + 8  # time enough for each to import and connect
    script = (
        "import json, sys, time\n"
        "from server import create_app\n"
        "from server.db import db\n"
        "app = create_app()\n"
        "with app.app_context():\n"
        "    db.session.execute(db.text('SELECT 1')); db.session.commit()\n"
        f"    time.sleep(max(0, {start} - time.time()))\n"
        f"{code}"
        "    db.session.commit()\n"
        "    print(json.dumps(result))\n"
    )
    with contextlib.ExitStack() as stack:
        processes = [
            stack.enter_context(start_machine(script, env, tmp_path / f"machine-{n}"))
            for n in range(count)
        ]
        results = []
        for process in processes:
            out, err = process.communicate(timeout=180)
            assert process.returncode == 0, err[-2000:]
            results.append(json.loads(out.splitlines()[-1]))
    return results


def start_machine(script: str, env: dict, folder: Path) -> subprocess.Popen:
    folder.mkdir(exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=os.environ | env | {"INSTANCE_PATH": str(folder)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_sweeps_and_two_senders_at_once_write_and_send_everything_once(fresh_app, tmp_path):
    with fresh_app.app_context():
        world = build_world()
        with clock.frozen_at(clock.now() - timedelta(days=60)):
            cases = [case_in("dispatched", world) for _ in range(OVERDUE_CASES)]
        for handler in (world.justice_handler, world.committee1_handler, world.police_handler):
            handler.wechat_openid = f"OPENID-{handler.username}"
            db.session.add(WeChatConsent(user_id=handler.id, template_id="TPL-1", credits=1000))
        ids = [case.id for case in cases]
        db.session.commit()
    env = {"DATABASE_URL": fresh_app.config["DATABASE_URL"]}

    swept = at_once(
        "    from server.follow_through import sweep\n    result = sweep.run()\n", env, tmp_path
    )
    assert sum(run["overdue"] for run in swept) == OVERDUE_CASES
    with fresh_app.app_context():
        supervised = dict(
            db.session.execute(
                select(CaseEvent.case_id, func.count(CaseEvent.id))
                .where(CaseEvent.case_id.in_(ids), CaseEvent.action == "supervise")
                .group_by(CaseEvent.case_id)
            ).all()
        )
        assert supervised == dict.fromkeys(ids, 1)
        wechat = db.session.scalar(
            select(func.count(Notification.id)).where(
                Notification.channel == "wechat", Notification.status == "pending"
            )
        )
        assert wechat >= OVERDUE_CASES  # each supervision tells the department's handler

    with FakeWeChat() as fake:
        env |= {
            "WECHAT_MODE": "live",
            "WECHAT_API_BASE": fake.base_url,
            "WECHAT_APPID": "wx-app",
            "WECHAT_SECRET": "s",
            "WECHAT_TEMPLATE_ID": "TPL-1",
        }
        sent = at_once(
            "    from server.follow_through import notifications\n"
            "    result = notifications.deliver_due(limit=10_000)\n",
            env,
            tmp_path,
        )
    with fresh_app.app_context():
        delivered = db.session.scalar(
            select(func.count(Notification.id)).where(
                Notification.channel == "wechat", Notification.status == "sent"
            )
        )
        assert delivered == wechat
        assert sum(run["sent"] for run in sent) >= wechat  # and the inbox's rows
        assert len(fake.sent) == wechat  # WeChat got each message once
        credits = db.session.scalar(select(func.sum(WeChatConsent.credits)))
        assert credits == 3 * 1000 - wechat
