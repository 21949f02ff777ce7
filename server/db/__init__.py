"""The database seam: one unit of work per request, and what each engine needs.

Above this package, code adds to `db.session` and never commits, begins, or knows which
database it runs on: `unit` commits once per request or command; `sqlite` makes SQLite's
single writer safe for a server (a transaction reads until it writes); `write_queue`
orders SQLite's writers; `insert_for` and `take_turn` say in either database's words
what only it can say (an upsert, a lock of writers' turns).
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect

from server.db import sqlite
from server.db.extension import Migrations, db
from server.infra.errors import StorageFull

__all__ = ["Migrations", "db", "init_app", "insert_for", "take_turn"]

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


def insert_for(table):
    """The INSERT of the database in use, for what only a dialect's INSERT says: ON
    CONFLICT ... DO UPDATE / DO NOTHING (SQLite and PostgreSQL spell it alike)."""
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite_dialect.insert)(table)


def take_turn(key: int) -> None:
    """Wait for the turn of `key` until this transaction ends: writers that must not
    interleave (the audit chain's) go one at a time. On PostgreSQL a transaction-scoped
    advisory lock; SQLite's writers are one at a time already, once they write (and the
    caller reads what it writes after FOR UPDATE, which takes SQLite's lock first)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


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
