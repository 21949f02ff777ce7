"""The district's handover over the wire (issue 21, points 1 and 2): two gunicorns on one
database, one Redis and one photo folder, as a district's machines run. The town's center
escalates on one machine; the district's center takes the case on the other and sends it
to a district department, whose handler settles it with a phone photo of 3-6 MB; an answer
lost on the network is asked for again and does nothing twice; the district hands the
case back and the town sees it on its desk again."""

from __future__ import annotations

import uuid

import pytest
import requests
from sqlalchemy import func, select

from server.db import db
from server.infra import clock
from server.models import CaseEvent, Photo
from tests.factories import PASSWORD, build_towns, build_world
from tests.helpers import case_in
from tests.live_server import gunicorn_server
from tests.test_phone_photos import phone_photo

REASON = "涉及多个村，需区级协调。"


@pytest.fixture
def district(fresh_app, tmp_path, redis_url):
    with fresh_app.app_context():
        world = build_world()
        people = build_towns()
        with clock.frozen_at(clock.now()):
            case = case_in("in_progress", world)
        facts = {"code": case.code, "bureau": people["district_department"].id}
        db.session.commit()
    shared = {
        "MEDIA_ROOT": str(tmp_path / "shared-media"),
        "RATELIMIT_STORAGE_URI": redis_url(12),
        "SECRET_KEY": "one-secret-for-every-machine-of-the-district-0123456789",
    }
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir(), two.mkdir()
    url = fresh_app.config["DATABASE_URL"]
    with gunicorn_server(url, one, **shared) as a, gunicorn_server(url, two, **shared) as b:
        yield {"a": a, "b": b, "app": fresh_app, **facts}


def signed_in(base: str, username: str) -> dict:
    answer = requests.post(
        f"{base}/api/v1/auth/login",
        json={"username": username, "password": PASSWORD},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text[:300]
    return {"Authorization": f"Bearer {answer.json()['token']}"}


class Phone:
    """One person's phone: signed in on one machine, sending actions with a fresh key
    each (or the same key again, as a phone does when the answer never came)."""

    def __init__(self, base: str, username: str, code: str):
        self.base, self.code = base, code
        self.bearer = signed_in(base, username)

    def case(self) -> dict:
        answer = requests.get(
            f"{self.base}/api/v1/cases/{self.code}", headers=self.bearer, timeout=10
        )
        assert answer.status_code == 200, answer.text[:300]
        return answer.json()

    def act(self, action: str, *, key: str | None = None, version=None, **body):
        version = self.case()["version"] if version is None else version
        return requests.post(
            f"{self.base}/api/v1/cases/{self.code}/actions",
            headers=self.bearer | {"Idempotency-Key": key or str(uuid.uuid4())},
            json={"action": action, "version": version, **body},
            timeout=60,
        )


def test_an_escalated_case_crosses_machines_with_a_phone_photo_and_a_lost_answer(district):
    a, b, code = district["a"], district["b"], district["code"]
    town_center = Phone(a, "t_center", code)
    district_center = Phone(b, "d_center", code)
    bureau = Phone(a, "d_police", code)

    up = town_center.act("escalate", reason=REASON)
    assert up.status_code == 200, up.text[:300]
    assert (up.json()["held_by_district"], up.json()["status"]) == (True, "accepted")
    # The town's center, on the other machine too, reads it but acts no more.
    refused = Phone(b, "t_center", code).act("supervise")
    assert refused.status_code == 403
    assert refused.json()["code"] == "held_by_district"
    assert refused.json()["message"]  # a sentence for people, beside the code

    sent = district_center.act("dispatch", lead_department=district["bureau"])
    assert sent.status_code == 200, sent.text[:300]
    assert bureau.act("sign_for").status_code == 200

    # The bureau's handler photographs the settled site: uploaded to one machine, claimed
    # with the result on the other (the shared photo folder).
    photo = phone_photo(3)
    assert 3_000_000 <= len(photo) <= 6_000_000
    taken = requests.post(
        f"{b}/api/v1/media",
        headers=bureau.bearer,
        files={"file": ("IMG_0042.jpg", photo, "image/jpeg")},
        timeout=120,
    )
    assert taken.status_code == 201, taken.text[:300]
    key, version = str(uuid.uuid4()), bureau.case()["version"]
    result = {"result_code": "mediated", "result_text": "经区公安分局调解，双方达成协议。"}
    first = bureau.act("resolve", key=key, version=version, photos=[taken.json()["id"]], **result)
    assert first.status_code == 200, first.text[:300]
    # The answer never reached the phone: it sends the same request again, to the other
    # machine, and is told what happened the first time.
    again = Phone(b, "d_police", code)
    again.bearer = bureau.bearer
    repeat = again.act("resolve", key=key, version=version, photos=[taken.json()["id"]], **result)
    assert repeat.status_code == 200, repeat.text[:300]
    assert repeat.json()["status"] == first.json()["status"] == "resolved"
    assert repeat.json()["version"] == first.json()["version"]

    assert district_center.act("verify").status_code == 200
    back = district_center.act("return_to_town", reason="请属地回访。")
    assert back.status_code == 200, back.text[:300]
    assert (back.json()["held_by_district"], back.json()["escalated"]) == (False, True)
    # The town's center acts again, and sees the bureau's photo on the case.
    seen = town_center.case()
    assert seen["status"] == "follow_up"
    assert "record_visit" in {action["action"] for action in seen["actions"]}
    served = requests.get(
        f"{a}/api/v1/media/{taken.json()['id']}", headers=town_center.bearer, timeout=10
    )
    assert served.status_code == 200
    assert served.content.startswith(b"\xff\xd8")

    with district["app"].app_context():
        resolved = db.session.scalar(
            select(func.count(CaseEvent.id)).where(CaseEvent.action == "resolve")
        )
        photos = db.session.scalar(select(func.count(Photo.id)).where(Photo.event_id.is_not(None)))
    assert resolved == 1  # the retry did nothing twice
    assert photos == 1
