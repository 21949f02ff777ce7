"""Faults of the machine, through gunicorn: a full disk answers 503 in the surfaces' own
words and /healthz says so; a Redis that is down refuses nobody's report (and /healthz
answers 503 "degraded" for a person to look)."""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest
import requests

from server.db import db
from tests.conftest import TEST_DATABASE_URL, fresh_database, make_app
from tests.factories import PASSWORD, build_world
from tests.live_server import gunicorn_server
from tests.test_phone_photos import phone_photo, villager_report

ON_POSTGRESQL = TEST_DATABASE_URL.startswith("postgresql")


@pytest.fixture
def small_disk(tmp_path):
    """A 24 MB file system of the test's own (tmpfs), unmounted afterwards."""
    mount = tmp_path / "disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def _town(url: str) -> str:
    app = make_app(url)
    with app.app_context():
        token = build_world().v1.qr_token
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return token


def _fill(disk: Path) -> Path:
    filler = disk / "filler"
    subprocess.run(
        ["dd", "if=/dev/zero", f"of={filler}", "bs=1M"], capture_output=True, check=False
    )  # until no space is left
    return filler


def _villager_report(base: str, token: str, description: str):
    return villager_report(
        base,
        token,
        [("IMG_1.jpg", phone_photo(1, (1600, 1200)))],
        description=description,
        timeout=30,
    )


def test_a_full_disk_is_said_as_such(small_disk, tmp_path):
    with fresh_database(small_disk) as url:
        token = _town(url)
        # The disk is 24 MB: below /healthz's warning level, which is not what is tested.
        with gunicorn_server(url, small_disk, HEALTH_MIN_FREE_MB="1") as base:
            assert _villager_report(base, token, "第一份：柴草垛。").status_code == 200
            assert requests.get(f"{base}/healthz", timeout=10).json()["storage"] == "ok"
            filler = _fill(small_disk)
            refused = _villager_report(base, token, "磁盘满了也要留下的这段话。")
            assert refused.status_code == 503, refused.text[:300]
            assert "存储空间已满" in refused.text
            assert "磁盘满了也要留下的这段话。" in refused.text  # the form, as it was typed
            login = requests.post(
                f"{base}/api/v1/auth/login",
                timeout=10,
                json={"username": "t_grid1", "password": PASSWORD},
            )
            if login.status_code == 200:  # on a full SQLite even a sign-in cannot be kept
                media = requests.post(
                    f"{base}/api/v1/media",
                    timeout=30,
                    headers={"Authorization": f"Bearer {login.json()['token']}"},
                    files={"file": ("a.jpg", phone_photo(2, (1600, 1200)), "image/jpeg")},
                )
                assert (media.status_code, media.json()["code"]) == (503, "storage_full")
            else:
                assert (login.status_code, login.json()["code"]) == (503, "storage_full")
            health = requests.get(f"{base}/healthz", timeout=10)
            assert (health.status_code, health.json()["storage"]) == (503, "full")
            filler.unlink()
            health = requests.get(f"{base}/healthz", timeout=10)
            assert (health.status_code, health.json()["status"]) == (200, "ok")
            assert _villager_report(base, token, "空间腾出来以后。").status_code == 200


def test_a_redis_that_is_down_refuses_no_report(fresh_app, tmp_path):
    with fresh_app.app_context():
        world = build_world()
        token, village_id = world.v1.qr_token, world.v1.id
        db.session.commit()
        url = fresh_app.config["DATABASE_URL"]
    down = "redis://127.0.0.1:1/0"  # nothing listens there
    with gunicorn_server(url, tmp_path, RATELIMIT_STORAGE_URI=down) as base:
        assert _villager_report(base, token, "Redis 停了也要能报。").status_code == 200
        login = requests.post(
            f"{base}/api/v1/auth/login",
            timeout=10,
            json={"username": "t_grid1", "password": PASSWORD},
        ).json()["token"]
        report = requests.post(
            f"{base}/api/v1/reports",
            timeout=10,
            headers={"Authorization": f"Bearer {login}", "Idempotency-Key": str(uuid.uuid4())},
            json={"category": "H01", "village": village_id, "description": "村口柴草垛。"},
        )
        assert report.status_code == 201, report.text
        # The app serves, but a person must look (issue 18: 503 when one is failing).
        health = requests.get(f"{base}/healthz", timeout=10)
        assert health.status_code == 503
        assert (health.json()["status"], health.json()["limits"]) == ("degraded", "degraded")
        assert (health.json()["redis"], health.json()["problems"]) == ("down", ["redis"])
    log = (tmp_path / "gunicorn.log").read_text()
    assert "counting in process memory" in log
