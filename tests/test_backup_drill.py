"""The drill: reports filed through gunicorn while `grid-report backup` runs, the archive
restored into a fresh instance, that instance started; every report and action
acknowledged before the backup began is there, every case in it is whole (its events
as they were at one moment, its photos with the very bytes), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path

import requests
from PIL import Image
from sqlalchemy import create_engine, text

from server.backups import archive
from server.db import db
from tests.conftest import fresh_database, make_app
from tests.factories import PASSWORD, build_world
from tests.live_server import ROOT, gunicorn_server

GRID_REPORT = str(Path(sys.executable).with_name("grid-report"))


def photo(seed: int) -> bytes:
    image = Image.effect_noise((480, 360), 30 + seed % 50).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def grid_report(*args: str, database_url: str, instance: Path) -> subprocess.CompletedProcess:
    """The console script, as the timer or an operator runs it, on one instance."""
    env = os.environ | {
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance),
        "PYTHONPATH": str(ROOT),
    }
    return subprocess.run(
        [GRID_REPORT, *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


class Filing(threading.Thread):
    """A grid worker files reports with a photo each, and the center accepts every other
    one, until stopped; each acknowledgement is written down with its time."""

    def __init__(self, base: str, village: int):
        super().__init__(daemon=True)
        self.base, self.village = base, village
        self.stop = threading.Event()
        self.reports: list[tuple[float, str]] = []  # (acknowledged at, case code)
        self.accepts: list[tuple[float, str]] = []
        self.failures: list[str] = []

    def _token(self, username: str) -> dict:
        answer = requests.post(
            f"{self.base}/api/v1/auth/login",
            timeout=30,
            json={"username": username, "password": PASSWORD},
        )
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def run(self) -> None:
        worker, center = self._token("t_grid1"), self._token("t_center")
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                media = requests.post(
                    f"{self.base}/api/v1/media",
                    timeout=60,
                    headers=worker,
                    files={"file": (f"IMG_{n}.jpg", photo(n), "image/jpeg")},
                )
                assert media.status_code == 201, media.text
                report = requests.post(
                    f"{self.base}/api/v1/reports",
                    timeout=60,
                    headers=worker | {"Idempotency-Key": str(uuid.uuid4())},
                    json={
                        "category": "D02",
                        "village": self.village,
                        "description": f"第{n}份：两家为宅基地争吵。",
                        "photos": [media.json()["id"]],
                    },
                )
                assert report.status_code == 201, report.text
                self.reports.append((time.time(), report.json()["code"]))
                if n % 2:
                    accepted = requests.post(
                        f"{self.base}/api/v1/cases/{report.json()['code']}/actions",
                        timeout=60,
                        headers=center | {"Idempotency-Key": str(uuid.uuid4())},
                        json={"action": "accept", "version": report.json()["version"]},
                    )
                    assert accepted.status_code == 200, accepted.text
                    self.accepts.append((time.time(), report.json()["code"]))
            except Exception as error:  # said by the test, not lost in the thread
                self.failures.append(repr(error))
                return

    def wait_for(self, count: int, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while len(self.reports) < count and not self.failures:
            assert time.monotonic() < deadline, "reports were not acknowledged in time"
            time.sleep(0.05)


def query(url: str, statement: str) -> list[tuple]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(statement))]
    finally:
        engine.dispose()


def media_file(instance: Path, key: str) -> bytes:
    return (instance / "media" / key[:2] / key).read_bytes()


EVENTS = (
    "SELECT c.code, e.id, e.action, e.to_status FROM case_event e"
    " JOIN case_file c ON c.id = e.case_id ORDER BY e.id"
)
PHOTOS = (
    "SELECT c.code, p.storage_key, p.thumbnail_key, p.sha256, p.public_id FROM photo p"
    " JOIN case_file c ON c.id = p.case_id ORDER BY p.id"
)


def test_reports_filed_during_a_backup_are_all_restored_whole(tmp_path):
    old_folder, new_folder = tmp_path / "old", tmp_path / "new"
    old_folder.mkdir()
    new_folder.mkdir()
    with fresh_database(old_folder) as old_url:
        app = make_app(old_url, MEDIA_ROOT=str(old_folder / "media"))
        with app.app_context():
            village = build_world().v1.id
            db.session.commit()
            db.session.remove()
            db.engine.dispose()

        with gunicorn_server(old_url, old_folder) as base:
            filing = Filing(base, village)
            filing.start()
            filing.wait_for(3)
            started = time.time()
            made = grid_report(
                "backup", str(tmp_path / "backups"), database_url=old_url, instance=old_folder
            )
            finished = time.time()
            filing.wait_for(len(filing.reports) + 3)  # and the app kept taking reports
            filing.stop.set()
            filing.join(120)
        assert made.returncode == 0, made.stderr
        assert filing.failures == []
        (path,) = (tmp_path / "backups").glob("grid-report-*.tar")
        manifest = archive.verify(path)
        assert manifest.photos_missing == []
        during = [code for at, code in filing.reports if started < at < finished]
        old_events, old_photos = query(old_url, EVENTS), query(old_url, PHOTOS)

        with fresh_database(new_folder) as new_url:
            restored = grid_report("restore", str(path), database_url=new_url, instance=new_folder)
            assert restored.returncode == 0, restored.stderr
            codes = {code for (code,) in query(new_url, "SELECT code FROM case_file")}
            events, photos = query(new_url, EVENTS), query(new_url, PHOTOS)

            # Everything acknowledged before the backup began is there, and before its
            # snapshot was taken too (what the manifest says is what it holds).
            assert during, "no report came in while the backup ran: no drill"
            assert {code for at, code in filing.reports if at < started} <= codes
            snapshot_at = datetime.fromisoformat(manifest.snapshot_at).timestamp()
            assert {code for at, code in filing.reports if at < snapshot_at} <= codes
            accepted = {code for code, _id, action, _to in events if action == "accept"}
            assert {code for at, code in filing.accepts if at < started} <= accepted
            # What came later is there or not, whole either way: the snapshot is one
            # moment and the filer writes one thing at a time, so the restored events
            # are the first ones of the old instance's, nothing missing between.
            assert events == old_events[: len(events)]
            assert codes == {code for code, *_ in events}
            assert photos == [p for p in old_photos if p[0] in codes]
            assert len(photos) == len(codes)  # one photo each, none lost
            for _code, key, thumbnail, digest, _public in photos:
                data = media_file(new_folder, key)
                assert hashlib.sha256(data).hexdigest() == digest
                assert data == media_file(old_folder, key)
                assert media_file(new_folder, thumbnail) == media_file(old_folder, thumbnail)
            print(
                f"{len(codes)} cases restored of {len(filing.reports)} filed; "
                f"{len(during)} acknowledged while the backup ran"
            )

            # The fresh instance starts and serves them, photos and all.
            with gunicorn_server(new_url, new_folder) as new_base:
                health = requests.get(f"{new_base}/healthz", timeout=10)
                assert (health.status_code, health.json()["status"]) == (200, "ok")
                token = requests.post(
                    f"{new_base}/api/v1/auth/login",
                    timeout=30,
                    json={"username": "t_center", "password": PASSWORD},
                ).json()["token"]
                headers = {"Authorization": f"Bearer {token}"}
                shown = {code: key for code, key, *_ in photos}
                for code in sorted(codes):
                    case = requests.get(
                        f"{new_base}/api/v1/cases/{code}", timeout=30, headers=headers
                    )
                    assert case.status_code == 200, case.text
                    timeline = [e["action"] for e in case.json()["timeline"]]
                    assert timeline == [a for c, _i, a, _t in events if c == code]
                    (picture,) = case.json()["photos"]
                    served = requests.get(
                        f"{new_base}{picture['url']}"
                        if picture["url"].startswith("/")
                        else picture["url"],
                        timeout=30,
                        headers=headers,
                    )
                    assert served.status_code == 200
                    assert served.content == media_file(old_folder, shown[code])
