"""Photos from phones: checked by content, bounded, stripped of metadata, re-encoded.

A phone photo carries where it was taken (EXIF GPS), and for an informant that is where
they stood: nothing but pixels survives. Sizes are checked from the header before any
pixel is decoded, so a small file that would decode to a huge image is refused cheaply.
"""

from __future__ import annotations

import hashlib
import io
import secrets
import threading
import warnings
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from PIL import Image, ImageOps
from sqlalchemy import delete, select, update
from sqlalchemy.orm.attributes import set_committed_value

from server.cases import access
from server.db import db, files
from server.infra import clock
from server.infra.errors import (
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    UnsupportedMedia,
    ValidationFailed,
)
from server.infra.storage import new_key, storage
from server.models import Photo, User

# Magic numbers of what we accept, and the Pillow format each must then parse as.
_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
)
THUMBNAIL_SIDE = 320
JPEG_QUALITY = 85
CONTENT_TYPE = "image/jpeg"  # everything is re-encoded as JPEG


@dataclass(frozen=True)
class ProcessedImage:
    """A photo ready to store: re-encoded pixels only."""

    data: bytes
    thumbnail: bytes
    width: int
    height: int


def sniff(raw: bytes) -> str:
    """The format `raw` claims by its first bytes; UnsupportedMedia if not one we accept."""
    for signature, name in _SIGNATURES:
        if raw.startswith(signature):
            return name
    if len(raw) >= 12 and raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "WEBP"
    raise UnsupportedMedia()


# Bytes per pixel an image may take while we work on it: an RGBA frame (a PNG with
# transparency is flattened from RGBA), whatever the file's own mode.
WORKING_BYTES_PER_PIXEL = 4
DECODE_WAIT_SECONDS = 30
# Decodes at once in this process (MEDIA_DECODES_PER_WORKER), made on first use.
_decoding: threading.BoundedSemaphore | None = None
_decoding_lock = threading.Lock()


def _decode_slot(limit: int) -> threading.BoundedSemaphore:
    global _decoding
    with _decoding_lock:
        if _decoding is None:
            _decoding = threading.BoundedSemaphore(max(1, limit))
        return _decoding


def process_image(
    raw: bytes, *, max_pixels: int, max_side: int, max_decoded: int | None = None, slots: int = 2
) -> ProcessedImage:
    """Validate and re-encode `raw`; raise a DomainError (4xx) for anything unacceptable.

    A 142 kB PNG of 7071x7071 decodes to 200 MB: the decoded size is bounded from the
    header (`max_decoded`), and a worker decodes at most `slots` images at once, the
    others waiting their turn (a 503 after 30 s), so four such uploads cannot take a
    worker to a gigabyte."""
    slot = _decode_slot(slots)
    if not slot.acquire(timeout=DECODE_WAIT_SECONDS):
        raise ServiceUnavailable("正在处理的照片较多，请稍后再试。", code="media_busy")
    try:
        return _process(raw, max_pixels=max_pixels, max_side=max_side, max_decoded=max_decoded)
    finally:
        slot.release()


def _process(
    raw: bytes, *, max_pixels: int, max_side: int, max_decoded: int | None
) -> ProcessedImage:
    expected = sniff(raw)
    try:
        with warnings.catch_warnings():
            # Pillow warns above its own pixel limit; our limit is checked just below.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=[expected])
    except Image.DecompressionBombError:
        raise PayloadTooLarge("图片像素过多。", code="image_too_large") from None
    except (OSError, SyntaxError, ValueError):
        raise ValidationFailed("图片文件已损坏，无法读取。", code="invalid_image") from None
    with image:
        width, height = image.size
        if width * height > max_pixels or width < 1 or height < 1:
            raise PayloadTooLarge("图片像素过多。", code="image_too_large")
        if getattr(image, "n_frames", 1) > 1:
            raise UnsupportedMedia("不支持动图，请上传照片。", code="animated_image")
        if expected == "JPEG":
            # Decode at the smallest power-of-two scale still at least max_side: a
            # 4000x3000 photo is read at 2000x1500, a quarter of the work and memory.
            # Pillow scales by the tighter side, so ask for the box the result will fill.
            fit = min(1.0, max_side / max(width, height))
            image.draft("RGB", (max(1, int(width * fit)), max(1, int(height * fit))))
        decoded = image.size[0] * image.size[1] * WORKING_BYTES_PER_PIXEL
        if max_decoded is not None and decoded > max_decoded:
            raise PayloadTooLarge(
                "图片像素过多，请换一张照片或截图后再传。", code="image_too_large"
            )
        try:
            image.load()
            # Phones store "which way is up" in EXIF: apply it before EXIF is dropped.
            ImageOps.exif_transpose(image, in_place=True)
            pixels = _rgb(image)
        except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
            raise ValidationFailed("图片文件已损坏或不完整。", code="invalid_image") from None
    pixels.thumbnail((max_side, max_side), Image.Resampling.BILINEAR, reducing_gap=2.0)
    data = _encode(pixels)
    pixels.thumbnail((THUMBNAIL_SIDE, THUMBNAIL_SIDE), Image.Resampling.BILINEAR)
    return ProcessedImage(data, _encode(pixels), *Image.open(io.BytesIO(data)).size)


def _rgb(image: Image.Image) -> Image.Image:
    """Plain RGB pixels with no metadata (transparency on white); no copy if already RGB."""
    if image.mode in {"RGBA", "LA"} or (image.mode == "P" and "transparency" in image.info):
        rgba = image if image.mode == "RGBA" else image.convert("RGBA")  # no second copy
        flat = Image.new("RGB", rgba.size, "white")
        flat.paste(rgba, mask=rgba)  # its own alpha as the mask: no copy of the band
        return flat
    converted = image.convert("RGB") if image.mode != "RGB" else image
    converted.info = {}  # EXIF, XMP, ICC, comments: none of it is written back
    return converted


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


def store_photo(raw: bytes, *, uploader: User | None) -> Photo:
    """Process `raw` and store it, unattached until a report or action claims it."""
    (photo,) = store_photos([raw], uploader=uploader)
    return photo


def store_photos(raws: list[bytes], *, uploader: User | None) -> list[Photo]:
    """Process each of `raws` and store them, unattached until a report or action claims
    them (`processed_images`, then `store_images`)."""
    return store_images(processed_images(raws), uploader=uploader)


def processed_images(raws: list[bytes]) -> list:
    """Each of `raws` checked, decoded and re-encoded, nothing written yet: done before a
    request writes anything, since on SQLite the first write takes the lock every other
    writer waits for."""
    config = current_app.config
    images = []
    for raw in raws:
        if len(raw) > int(config["MEDIA_MAX_BYTES"]):
            raise PayloadTooLarge("图片文件过大。", code="file_too_large")
        if not raw:
            raise ValidationFailed("没有收到图片。", code="missing_file", field="file")
        images.append(
            process_image(
                raw,
                max_pixels=int(config["MEDIA_MAX_PIXELS"]),
                max_side=int(config["MEDIA_MAX_SIDE"]),
                max_decoded=int(config["MEDIA_MAX_DECODED_BYTES"]),
                slots=int(config["MEDIA_DECODES_PER_WORKER"]),
            )
        )
    return images


def store_images(images: list, *, uploader: User | None) -> list[Photo]:
    """Store processed images (their bytes, then their rows), unattached."""
    photos = []
    store = storage()
    for image in images:
        key, thumb_key = new_key(".jpg"), new_key(".jpg")
        files.delete_on_rollback([key, thumb_key])
        store.put(key, image.data)
        store.put(thumb_key, image.thumbnail)
        photos.append(
            Photo(
                public_id=secrets.token_hex(16),
                storage_key=key,
                thumbnail_key=thumb_key,
                content_type=CONTENT_TYPE,
                width=image.width,
                height=image.height,
                size_bytes=len(image.data),
                sha256=hashlib.sha256(image.data).hexdigest(),
                uploaded_by_id=uploader.id if uploader else None,
                created_at=clock.now(),
            )
        )
    if photos:
        db.session.add_all(photos)
        db.session.flush()  # their ids: a report or an action claims them by id
    return photos


def purge_unclaimed(older_than: timedelta, *, batch: int = 500) -> int:
    """Delete the photos no report or step claimed within `older_than` of their upload
    (a draft given up, a report never sent), rows and files; how many went.

    A phone uploads each photo before it sends the report that claims it, so an upload
    whose report never comes would otherwise be kept for ever. The rows go first and
    their files once that is committed: a claim racing the purge either attaches the
    photo first (and the DELETE, which takes only photos on no case, leaves it) or finds
    it gone and is told to upload it again; a file is never removed under a row."""
    cutoff = clock.now() - older_than
    gone = 0
    while True:
        ids = db.session.scalars(
            select(Photo.id)
            .where(Photo.case_id.is_(None), Photo.created_at < cutoff)
            .order_by(Photo.id)
            .limit(batch)
        ).all()
        if not ids:
            return gone
        keys = db.session.execute(
            delete(Photo)
            .where(Photo.id.in_(ids), Photo.case_id.is_(None))
            .returning(Photo.storage_key, Photo.thumbnail_key),
            execution_options={"synchronize_session": False},
        ).all()
        db.session.commit()
        store = storage()
        for key, thumbnail_key in keys:
            for k in (key, thumbnail_key):
                if k:
                    store.delete(k)
        gone += len(keys)
        if len(ids) < batch:
            return gone


def can_view_photo(user: User | None, photo: Photo) -> bool:
    """A case's photos follow the case; an unattached photo is its uploader's alone."""
    if photo.case is not None:
        return access.can_view_case(user, photo.case)
    return user is not None and user.active and photo.uploaded_by_id == user.id


def photo_for(public_id: str, user: User | None) -> Photo:
    """The photo `public_id` if `user` may see it; NotFound otherwise."""
    photo = db.session.scalar(select(Photo).where(Photo.public_id == public_id))
    if photo is None or not can_view_photo(user, photo):
        raise NotFound("找不到该图片，或您无权查看。")
    return photo


def claim_photos(public_ids: list[str], *, owner: User | None, case, event=None) -> list[Photo]:
    """Attach the uploader's unattached photos to `case` (and an event); refuse others'."""
    photos = claimable_photos(public_ids, owner=owner)
    attach(photos, case=case, event=event)
    return photos


def claimable_photos(public_ids: list[str], *, owner: User | None) -> list[Photo]:
    """The photos `public_ids`, if each is the uploader's own and on no case yet (reads
    only: `attach` checks the last part again as it writes)."""
    if not public_ids:
        return []
    if len(set(public_ids)) != len(public_ids):
        raise ValidationFailed("图片重复。", code="duplicate_photo", field="photos")
    photos = db.session.scalars(
        select(Photo).where(Photo.public_id.in_(public_ids)).order_by(Photo.id)
    ).all()  # as a case lists them
    usable = [
        p for p in photos if p.case_id is None and p.uploaded_by_id == (owner.id if owner else None)
    ]
    if len(usable) != len(public_ids):
        raise _photo_taken()
    return usable


def _photo_taken() -> ValidationFailed:
    return ValidationFailed(
        "图片不存在或已被使用，请重新上传。", code="invalid_photo", field="photos"
    )


def attach(photos: list[Photo], *, case, event=None) -> None:
    """Make `photos` (flushed, on no case) part of `case` and of the event they illustrate.

    One UPDATE that takes only photos still on no case: the check may have been made
    before this transaction, and another request may have taken one since.
    """
    if not photos:
        return
    event_id = event.id if event is not None else None
    taken = db.session.execute(
        update(Photo)
        .where(Photo.id.in_([p.id for p in photos]), Photo.case_id.is_(None))
        .values(case_id=case.id, event_id=event_id),
        execution_options={"synchronize_session": False},
    ).rowcount
    if taken != len(photos):
        raise _photo_taken()
    for photo in photos:
        set_committed_value(photo, "case_id", case.id)
        set_committed_value(photo, "event_id", event_id)
        set_committed_value(photo, "case", case)
    if "photos" in case.__dict__:  # a new case may show them already
        set_committed_value(
            case, "photos", [*case.photos, *(p for p in photos if p not in case.photos)]
        )
