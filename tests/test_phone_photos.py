"""Phone photos of a few megabytes, sent as phones send them, through gunicorn.

Flask's test client hands Werkzeug's multipart parser the body in its own small pieces;
a real server hands it what the socket gave, and that is where a bound on form memory
refused every photo over a few hundred kB (ECOSYSTEM.md).
"""

from __future__ import annotations

import io
import uuid

import pytest
import requests
from PIL import Image
from sqlalchemy import select

from server.db import db
from server.models import Case
from tests.factories import PASSWORD, build_world
from tests.live_server import gunicorn_server


def phone_photo(seed: int = 1, size=(4000, 3000)) -> bytes:
    """A 12-megapixel JPEG of 3-6 MB, as a phone's camera writes one."""
    noise = Image.effect_noise(size, 60).convert("RGB")
    gradient = Image.linear_gradient("L").resize(size).convert("RGB")
    image = Image.blend(noise, gradient, 0.5 + seed * 0.05)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=82)
    return out.getvalue()


def villager_report(
    base: str,
    qr_token: str,
    photos: list[tuple[str, bytes]],
    *,
    description: str = "柴草垛挨着电线杆。",
    timeout: float = 120,
    **changes: str,
):
    """The villager's form as a phone sends it: a real multipart body with `photos`
    (`changes`: other values of its fields)."""
    return requests.post(
        f"{base}/q/{qr_token}",
        timeout=timeout,
        data={
            "kind": "H01",
            "form_key": str(uuid.uuid4()),
            "description": description,
            "place_text": "村西",
            "anonymous": "yes",
            "website": "",
        }
        | changes,
        files=[("photos", (name, data, "image/jpeg")) for name, data in photos],
    )


@pytest.fixture
def town(fresh_app, tmp_path):
    """A small town in a database of its own, served by gunicorn."""
    with fresh_app.app_context():
        world = build_world()
        token = world.v1.qr_token
        db.session.commit()
        url = fresh_app.config["DATABASE_URL"]
    with gunicorn_server(url, tmp_path) as base:
        yield {"base": base, "qr": token, "app": fresh_app}


def test_a_phone_photo_is_taken_by_the_api(town):
    photo = phone_photo()
    assert 3_000_000 <= len(photo) <= 6_000_000
    base = town["base"]
    token = requests.post(
        f"{base}/api/v1/auth/login", timeout=10, json={"username": "t_grid1", "password": PASSWORD}
    ).json()["token"]
    answer = requests.post(
        f"{base}/api/v1/media",
        timeout=60,
        headers={"Authorization": f"Bearer {token}"},
        files={"file": ("IMG_20261201.jpg", photo, "image/jpeg")},
    )
    assert answer.status_code == 201, answer.text
    assert max(answer.json()["width"], answer.json()["height"]) == 1920  # re-encoded


def test_three_phone_photos_are_taken_by_the_villager_form(town):
    photos = [phone_photo(seed) for seed in (1, 2, 3)]
    answer = villager_report(
        town["base"], town["qr"], [(f"IMG_{n}.jpg", p) for n, p in enumerate(photos)]
    )
    assert answer.status_code == 200, answer.text[:500]
    assert "报告已提交" in answer.text
    with town["app"].app_context():
        case = db.session.scalar(select(Case).order_by(Case.id.desc()))
        assert len(case.photos) == 3


def test_a_photo_over_the_bound_is_refused_in_chinese_and_the_text_kept(town):
    too_big = b"\xff\xd8" + b"\x00" * (11 * 1024 * 1024)
    answer = villager_report(town["base"], town["qr"], [("big.jpg", too_big)], timeout=60)
    assert answer.status_code == 413
    assert "图片文件过大" in answer.text
    assert "柴草垛挨着电线杆。" in answer.text  # what was typed is still there


def test_nginx_lets_through_everything_the_app_takes_and_answers_the_rest_in_chinese(app, client):
    import re
    from pathlib import Path

    from villager.views import form_bound

    site = (Path(__file__).parents[1] / "deploy/nginx-grid-report.conf").read_text()
    megabytes = int(re.search(r"client_max_body_size (\d+)m;", site).group(1))
    # The app refuses first (in Chinese, with what was typed kept); nginx only above it.
    assert megabytes * 1024 * 1024 > form_bound(app.config)
    page = re.search(r"error_page 413 (\S+);", site).group(1)
    answer = client.get(page, buffered=True)  # a static file: read and closed
    assert answer.status_code == 200
    assert "照片太大了" in answer.get_data(as_text=True)


def test_a_refused_report_s_phone_photos_leave_no_file_behind(town, tmp_path):
    """Through gunicorn, as a phone sends it: two phone photos with a named report whose
    name is only a full-width space (the form takes it, the core does not). The photos
    were stored before the core refused; the refusal takes their files too."""
    photos = [(f"IMG_2026120{n}.jpg", phone_photo(n)) for n in (1, 2)]
    assert all(3_000_000 <= len(data) <= 6_000_000 for _name, data in photos)
    answer = villager_report(town["base"], town["qr"], photos, anonymous="no", name="\u3000")
    assert answer.status_code == 422
    assert "实名上报请至少留下姓名或联系方式" in answer.text
    assert "柴草垛挨着电线杆。" in answer.text  # what was typed is still there
    media = tmp_path / "media"
    assert not media.exists() or not [p for p in media.rglob("*") if p.is_file()]
