"""The mediation center's web admin (/admin): server-rendered pages over `server`.

Views parse the form, check who is asking, call one operation in `server`, and render.
Sessions are server-side (server/trust/websession.py); every form carries a CSRF token.
"""

from __future__ import annotations

from flask import Flask

# The view modules add their routes to `bp` as they are imported.
from admin import (  # noqa: F401
    audit,
    casefile,
    cases,
    dead_letters,
    figures,
    inbox,
    league,
    ledgers,
    manage,
    queue,
    register,
    search,
    signin,
    town,
)
from admin.blueprint import bp, csrf
from server.trust import websession


def init_app(app: Flask) -> None:
    """Register the admin pages, its sessions and CSRF protection."""

    websession.init_app(app)
    # CSRF is checked by the admin blueprint itself (the API and villagers' pages have
    # no sessions to ride on).
    app.config.setdefault("WTF_CSRF_CHECK_DEFAULT", False)
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", None)  # valid as long as the session
    csrf.init_app(app)
    app.register_blueprint(bp)
