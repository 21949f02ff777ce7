"""The database seam: one unit of work per request, and what each engine needs.

Above this package, code adds to `db.session` and never commits, begins, or knows which
database it runs on: `unit` commits once per request or command; `sqlite` makes SQLite's
single writer safe for a server (a transaction reads until it writes); `write_queue`
orders SQLite's writers. PostgreSQL needs nothing of its own.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event

from server.db import sqlite
from server.db.extension import db, migrate
from server.infra.errors import StorageFull

__all__ = ["db", "init_app", "migrate"]

# SQLITE_FULL, PostgreSQL's disk_full (53100), and the OS's own words for it.
_SQLITE_FULL = 13


def init_app(app: Flask) -> None:
    """Set up the app's engine for its database, and tell a full disk from other
    database errors on every engine."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        sqlite.configure(engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    event.listen(engine, "handle_error", _disk_full)


def _disk_full(context) -> None:
    """A database error that says the disk is full becomes StorageFull (503, a code that
    names storage), so each surface answers it in its own words instead of a bare 500."""
    error = context.original_exception
    full = (
        getattr(error, "sqlite_errorcode", None) == _SQLITE_FULL
        or getattr(error, "sqlstate", None) == "53100"
        or "no space left on device" in str(error).lower()
    )
    if full:
        raise StorageFull() from error
