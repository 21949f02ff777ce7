"""Photos: only real images, bounded, stripped of EXIF/GPS/XMP, served with access."""

from __future__ import annotations

import io
import zlib
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select, update
from werkzeug.datastructures import FileStorage
from werkzeug.test import encode_multipart

from server.db import db
from server.models import Case, Photo
from tests.api.conftest import key


def jpeg_with_gps(size=(1600, 1200)) -> bytes:
    """A phone-like JPEG carrying EXIF GPS, an orientation and XMP."""
    image = Image.new("RGB", size, (40, 120, 200))
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90 degrees
    exif[0x010F] = "PhoneMaker"
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = "N", (39.0, 30.0, 12.5)
    gps[3], gps[4] = "E", (117.0, 10.0, 3.0)
    out = io.BytesIO()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>GPSLatitude 39,30</rdf:RDF></x:xmpmeta>'
    image.save(out, "JPEG", exif=exif, xmp=xmp, quality=90)
    return out.getvalue()


def png_bomb(side=20000) -> bytes:
    """A small PNG whose header claims side x side pixels (400 megapixels)."""
    import struct

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)  # 1-bit greyscale
    row = b"\x00" + b"\x00" * (side // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def upload(client, headers, data: bytes, name="photo.jpg", mimetype="image/jpeg"):
    return client.post(
        "/api/v1/media",
        headers=headers,
        data={"file": (io.BytesIO(data), name, mimetype)},
        content_type="multipart/form-data",
    )


def _stored_files(app) -> list[Path]:
    root = Path(app.config["MEDIA_ROOT"])
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_gps_photo_comes_back_with_nothing_but_pixels(client, world, login, app):
    headers = login(world.worker1)
    original = jpeg_with_gps()
    for marker in (b"Exif", b"GPSLatitude", b"PhoneMaker"):
        assert marker in original
    response = upload(client, headers, original)
    assert response.status_code == 201, response.json
    body = response.json
    # Orientation 6 was applied before EXIF was dropped: 1600x1200 stands upright.
    assert (body["width"], body["height"]) == (1200, 1600)
    for url in (body["url"], body["thumbnail_url"]):
        fetched = client.get(url, headers=headers)
        assert fetched.status_code == 200
        assert fetched.mimetype == "image/jpeg"
        assert fetched.headers["X-Content-Type-Options"] == "nosniff"
        data = fetched.data
        for marker in (b"Exif", b"GPS", b"PhoneMaker", b"xmpmeta", b"adobe", b"ICC_PROFILE"):
            assert marker not in data
        with Image.open(io.BytesIO(data)) as image:
            assert not image.getexif()
            assert "xmp" not in image.info
    # On disk too: no copy of the original anywhere.
    for path in _stored_files(app):
        assert b"GPS" not in path.read_bytes()
        assert not str(path).startswith(str(Path(app.static_folder or "/nonexistent")))


@pytest.mark.parametrize(
    ("data", "name", "status", "code"),
    [
        (b"just some text, not an image", "photo.jpg", 415, "unsupported_media_type"),
        (jpeg_with_gps()[:4000], "cut.jpg", 422, "invalid_image"),
        (png_bomb(), "bomb.png", 413, "image_too_large"),
        (b"", "empty.jpg", 422, "missing_file"),
        (b"GIF89a" + b"\x00" * 100, "anim.gif", 415, "unsupported_media_type"),
    ],
)
def test_bad_files_are_refused_and_nothing_is_stored(
    client, world, login, app, data, name, status, code
):
    headers = login(world.worker1)
    before_files = _stored_files(app)
    before_rows = db.session.scalar(select(func.count(Photo.id)))
    response = upload(client, headers, data, name=name)
    assert response.status_code == status, response.json
    assert response.json["code"] == code
    assert _stored_files(app) == before_files
    assert db.session.scalar(select(func.count(Photo.id))) == before_rows


def test_the_bomb_is_refused_before_decoding(world):
    import time

    from server.cases.media import process_image
    from server.infra.errors import PayloadTooLarge

    bomb = png_bomb()
    assert len(bomb) < 100_000
    started = time.monotonic()
    with pytest.raises(PayloadTooLarge):
        process_image(bomb, max_pixels=50_000_000, max_side=2048)
    # Decoding 400 megapixels would take seconds and gigabytes; the header check does not.
    assert time.monotonic() - started < 1.0


def test_uploads_are_bounded_in_bytes_and_parts(client, world, login, app):
    headers = login(world.worker1)
    too_big = b"\xff\xd8\xff" + b"\x00" * (app.config["MAX_CONTENT_LENGTH"] + 10)
    # Encoded here, in memory: the test client would spool it to an unclosed temporary file.
    boundary, body = encode_multipart({"file": FileStorage(io.BytesIO(too_big), "big.jpg")})
    assert len(body) > app.config["MAX_CONTENT_LENGTH"]
    response = client.post(
        "/api/v1/media",
        headers=headers,
        data=body,
        content_type=f"multipart/form-data; boundary={boundary}",
    )
    assert response.status_code == 413, response.json
    assert response.json["code"] == "payload_too_large"
    parts = app.config["MAX_FORM_PARTS"] + 10
    many = {f"f{i}": "x" for i in range(parts)} | {"file": (io.BytesIO(jpeg_with_gps()), "a.jpg")}
    response = client.post(
        "/api/v1/media", headers=headers, data=many, content_type="multipart/form-data"
    )
    assert response.status_code == 413
    missing = client.post(
        "/api/v1/media", headers=headers, data={}, content_type="multipart/form-data"
    )
    assert missing.status_code == 422
    wrong_type = client.post("/api/v1/media", headers=headers, json={"file": "x"})
    assert wrong_type.status_code == 415


def test_photos_are_seen_only_by_who_may_see_their_case(client, world, login):
    mine = login(world.worker1)
    photo = upload(client, mine, jpeg_with_gps()).json
    other = login(world.worker2)
    assert client.get(photo["url"], headers=other).status_code == 404  # unattached: uploader
    assert client.get(photo["url"], headers=login(world.center)).status_code == 404
    report = client.post(
        "/api/v1/reports",
        headers=mine | key(),
        json={
            "category": "D02",
            "village": world.v1.id,
            "description": "两家争地。",
            "photos": [photo["id"]],
        },
    )
    assert report.status_code == 201, report.json
    assert [p["id"] for p in report.json["photos"]] == [photo["id"]]
    assert client.get(photo["url"], headers=login(world.center)).status_code == 200
    assert client.get(photo["url"], headers=other).status_code == 404  # another village
    assert client.get(photo["url"], headers=login(world.police_handler)).status_code == 404
    # A photo belongs to one report only.
    again = client.post(
        "/api/v1/reports",
        headers=mine | key(),
        json={
            "category": "D02",
            "village": world.v1.id,
            "description": "再报一次。",
            "photos": [photo["id"]],
        },
    )
    assert again.status_code == 422
    assert again.json["code"] == "invalid_photo"
    assert client.get("/api/v1/media/doesnotexist", headers=mine).status_code == 404


def test_a_report_shows_its_photos_in_the_order_a_later_read_does(client, world, login):
    mine = login(world.worker1)
    ids = [upload(client, mine, jpeg_with_gps(size=(64 + i, 48))).json["id"] for i in range(6)]
    report = client.post(
        "/api/v1/reports",
        headers=mine | key(),
        json={
            "category": "D02",
            "village": world.v1.id,
            "description": "六张图。",
            "photos": sorted(ids),
        },
    )
    assert report.status_code == 201, report.json
    shown = client.get(f"/api/v1/cases/{report.json['code']}", headers=mine).json
    assert [p["id"] for p in report.json["photos"]] == [p["id"] for p in shown["photos"]] == ids


def test_a_photo_taken_after_the_check_is_refused_and_no_case_is_made(
    client, world, login, monkeypatch
):
    """The photo is checked before the write lock and taken again as it is written: a
    report that took it in between wins, and this one is refused whole."""
    from server.cases import media
    from tests.helpers import new_report

    mine = login(world.worker1)
    photo_id = upload(client, mine, jpeg_with_gps()).json["id"]
    other_id = new_report(world).id
    attach = media.attach

    def another_report_first(photos, **kwargs):
        db.session.execute(
            update(Photo).where(Photo.public_id == photo_id).values(case_id=other_id)
        )
        return attach(photos, **kwargs)

    monkeypatch.setattr(media, "attach", another_report_first)
    cases = db.session.scalar(select(func.count(Case.id)))
    response = client.post(
        "/api/v1/reports",
        headers=mine | key(),
        json={
            "category": "D02",
            "village": world.v1.id,
            "description": "两家争地。",
            "photos": [photo_id],
        },
    )
    assert response.status_code == 422, response.json
    assert response.json["code"] == "invalid_photo"
    assert db.session.scalar(select(func.count(Case.id))) == cases  # both rolled back


def test_someone_elses_photo_cannot_be_attached(client, world, login):
    photo = upload(client, login(world.worker2), jpeg_with_gps()).json
    response = client.post(
        "/api/v1/reports",
        headers=login(world.worker1) | key(),
        json={
            "category": "D02",
            "village": world.v1.id,
            "description": "x",
            "photos": [photo["id"]],
        },
    )
    assert response.status_code == 422


def test_a_photo_no_report_claims_within_a_week_is_deleted_by_the_sweep(client, world, login, app):
    """Uploaded, then the report never sent: a week on, the sweep deletes the photo, row
    and files. A photo on a report, and one uploaded yesterday, stay; the one deleted is
    told to be uploaded again if a late report names it."""
    from datetime import timedelta

    from server.follow_through import sweep
    from server.infra import clock

    mine = login(world.worker1)
    given_up, yesterday, claimed = (
        upload(client, mine, jpeg_with_gps(size=(64 + i, 48))).json["id"] for i in range(3)
    )
    report = client.post(
        "/api/v1/reports",
        headers=mine | key(),
        json={
            "category": "D02",
            "village": world.v1.id,
            "description": "有图。",
            "photos": [claimed],
        },
    )
    assert report.status_code == 201, report.json
    now = clock.now()
    for public_id, age in (
        (given_up, timedelta(days=7, minutes=1)),
        (yesterday, timedelta(days=1)),
    ):
        db.session.execute(
            update(Photo).where(Photo.public_id == public_id).values(created_at=now - age)
        )
    db.session.execute(
        update(Photo).where(Photo.public_id == claimed).values(created_at=now - timedelta(days=30))
    )
    db.session.commit()
    files = {
        p.public_id: (p.storage_key, p.thumbnail_key) for p in db.session.scalars(select(Photo))
    }
    before = set(_stored_files(app))
    assert sweep.run()["photos_purged"] == 1
    assert sorted(db.session.scalars(select(Photo.public_id))) == sorted([yesterday, claimed])
    gone = {p for p in before if p.name in files[given_up]}
    assert len(gone) == 2  # the photo and its thumbnail
    assert set(_stored_files(app)) == before - gone
    late = client.post(
        "/api/v1/reports",
        headers=mine | key(),
        json={
            "category": "D02",
            "village": world.v1.id,
            "description": "迟了。",
            "photos": [given_up],
        },
    )
    assert late.status_code == 422
    assert late.json["code"] == "invalid_photo"
    assert sweep.run()["photos_purged"] == 0


def test_a_photo_resent_with_its_key_is_stored_once(client, world, login, app):
    """A phone on a rural network sends a photo again when the answer is lost: with the
    same key, the first photo's answer, and no second copy on disk."""
    headers = login(world.worker1)
    sent = key()
    raw = jpeg_with_gps()
    before = _stored_files(app)
    answers = [upload(client, headers | sent, raw) for _ in range(3)]
    assert [a.status_code for a in answers] == [201, 201, 201]
    assert len({a.json["id"] for a in answers}) == 1
    assert db.session.scalar(select(func.count(Photo.id))) == 1
    assert len(_stored_files(app)) == len(before) + 2  # the photo and its thumbnail
    another = upload(client, headers | sent, jpeg_with_gps(size=(800, 600)))
    assert another.status_code == 422
    assert another.json["code"] == "idempotency_key_reused"
