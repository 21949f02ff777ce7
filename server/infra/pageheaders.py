"""Security headers shared by the app's HTML pages (the admin and the villagers' pages).

Everything a page loads comes from the app itself (an intranet has no CDN), so the
content security policy allows only 'self'; no page may be framed.
"""

from __future__ import annotations

from flask import Response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src {images}; style-src 'self'; script-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def apply(
    response: Response, *, referrer: str, no_store: bool, images: str = "'self' data:"
) -> Response:
    """Set the shared headers on an HTML response (`images`: where images may come from;
    the workbench adds blob: for the photos it previews before sending)."""
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = referrer
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY.format(images=images)
    if no_store:
        response.headers["Cache-Control"] = "no-store"
    return response
