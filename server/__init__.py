"""grid-report's core: the app factory, and under it the models and rules of a case.

`server` imports neither `admin` nor `miniprogram_api`: the surfaces are plugged in by
name (the SURFACES setting), so the arrows point one way.

Importing this package loads nothing else: gunicorn's master imports
`server.trust.accesslog` (its logger) and with it this file, and it must not load the app
(Flask, SQLAlchemy, the models), which only its workers build, after the fork.
`create_app` (server/app.py) is loaded when first asked for, as in
`gunicorn 'server:create_app()'` or `from server import create_app`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.app import create_app

__all__ = ["create_app"]


def __getattr__(name: str):
    if name == "create_app":
        from server.app import create_app

        return create_app
    raise AttributeError(f"module 'server' has no attribute {name!r}")
