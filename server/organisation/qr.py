"""Village QR codes: the token each poster carries, its URL, images, and replacement.

A poster's QR code encodes PUBLIC_BASE_URL/q/<token>. In WeChat, the same URL can open
the mini program ("扫普通链接二维码打开小程序"); anywhere else it opens the villagers'
page. A defaced or abused poster is replaced by rotating the token: the old URL then
answers "this code has been replaced" (410), never the village's form.
"""

from __future__ import annotations

from flask import current_app, has_request_context, request
from sqlalchemy import select

from server.db import db
from server.infra import clock, codes
from server.infra.errors import DomainError, NotFound
from server.models import RetiredQrToken, User, Village
from server.organisation import qr_images, reference
from server.trust import audit


class QrReplaced(DomainError):
    code = "qr_replaced"
    http_status = 410
    default_message = "这个二维码已经更换，请扫描村里张贴的新二维码。"


class VillageClosed(DomainError):
    code = "village_closed"
    http_status = 410
    default_message = "这个村的二维码已停用。如需反映情况，请拨打镇里的热线电话或到调处中心来访。"


def public_base_url() -> str:
    """The address villagers' phones reach the app at: PUBLIC_BASE_URL (production refuses
    to start without it); in development, the address this page was asked at, so a phone
    on the same network scans a code that works, or 127.0.0.1 and the PORT it serves on."""
    configured = str(current_app.config.get("PUBLIC_BASE_URL") or "")
    if not configured and has_request_context():
        return request.host_url.rstrip("/")
    return qr_images.base_url(configured)


def village_url(village: Village) -> str:
    """What the village's QR code encodes."""
    return qr_images.village_url(public_base_url(), village.qr_token)


def resolve(token: str) -> Village:
    """The village a scanned token belongs to, read afresh (a replaced poster is refused
    at once), with its town from the reference copy (every page of it shows the town);
    QrReplaced (410) or NotFound (404) if none."""
    if not token or len(token) > 64:
        raise NotFound("二维码无效。", code="qr_unknown")
    village = db.session.scalar(select(Village).where(Village.qr_token == token))
    if village is not None and not village.active:
        raise VillageClosed()
    if village is not None:
        return reference.village(village.id)  # the one just read, given its town
    if db.session.get(RetiredQrToken, token) is not None:
        raise QrReplaced()
    raise NotFound("二维码无效。", code="qr_unknown")


def rotate(village: Village, *, actor: User | None, ip: str | None = None) -> str:
    """Give `village` a new token; the old one is kept only to answer 410. Returns it."""
    db.session.add(
        RetiredQrToken(token=village.qr_token, village_id=village.id, retired_at=clock.now())
    )
    village.qr_token = codes.new_token()
    reference.forget()
    audit.record(
        "village.rotate_qr",
        actor=actor,
        object_type="village",
        object_id=village.code,
        ip=ip,
        object_town=village.town_id,
    )
    return village.qr_token


def png(village: Village, box_size: int = 10) -> bytes:
    """The village's QR code as a PNG."""
    code = qr_images.code_for(village_url(village))
    code.box_size = box_size
    return qr_images.png_of(code)


def svg(village: Village) -> str:
    """The village's QR code as an SVG (prints sharp at any size)."""
    return svg_for(village_url(village))


def svg_for(url: str) -> str:
    """Any link of ours as a QR code's SVG (a receipt's tracking link)."""
    return qr_images.svg_of(qr_images.code_for(url))
