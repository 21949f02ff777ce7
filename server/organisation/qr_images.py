"""A QR code made once and drawn as a PNG and an SVG, with qrcode alone.

Nothing here needs Flask, the database or the models: the app's pages (server/organisation/qr.py)
and `grid-report export-qr` (server/organisation/posters.py, which runs without the app)
draw the same codes from here.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import qrcode


def base_url(configured: str) -> str:
    """The address QR codes carry outside a request: PUBLIC_BASE_URL (production refuses to
    start without it), else, on a developer's machine, 127.0.0.1 and the PORT it serves on."""
    return configured.rstrip("/") or f"http://127.0.0.1:{os.environ.get('PORT', '5000')}"


def village_url(base: str, token: str) -> str:
    """What a village's QR code encodes: its page at `base`."""
    return f"{base}/q/{token}"


def code_for(url: str) -> qrcode.QRCode:
    """The QR code of `url`, made (the matrix the images are drawn from)."""
    # Here: qrcode (3 MiB) loads with a worker's first code, not at start-up.
    import qrcode

    # Level M survives a crease or some dirt on the poster; the quiet zone is the
    # standard four modules, which scanners need.
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=10, border=4)
    code.add_data(url)
    code.make(fit=True)
    return code


def png_of(code: qrcode.QRCode) -> bytes:
    out = io.BytesIO()
    code.make_image().save(out, format="PNG")
    return out.getvalue()


def svg_of(code: qrcode.QRCode) -> str:
    import qrcode.image.svg  # here: see code_for

    return code.make_image(image_factory=qrcode.image.svg.SvgPathImage).to_string(
        encoding="unicode"
    )


@dataclass(frozen=True)
class Drawing:
    """A QR code made once and drawn both ways (`grid-report export-qr`)."""

    url: str
    svg: str
    png: bytes


def draw(url: str) -> Drawing:
    """`url`'s QR code as an SVG and a PNG, from one code: making it (choosing the mask)
    costs more than drawing it."""
    code = code_for(url)
    return Drawing(url, svg_of(code), png_of(code))
