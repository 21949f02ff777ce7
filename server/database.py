"""Engine settings that keep data safe: SQLite pragmas and write locking.

SQLite is the default store (`make run` needs nothing installed), so it is tuned for
a server: WAL lets readers work while one writer writes; synchronous=FULL makes a
commit survive a power cut, since a report acknowledged to a phone must not vanish;
a busy timeout waits for a lock instead of failing at once. Every transaction starts
with BEGIN IMMEDIATE: pysqlite's default deferred BEGIN takes the write lock only at
the first write, and two gunicorn workers that both read then write would see
"database is locked" (SQLITE_BUSY_SNAPSHOT) however long the timeout.
"""

from __future__ import annotations

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine

from server.extensions import db


def init_app(app: Flask) -> None:
    """Attach the SQLite connection hooks to the app's engine (a no-op elsewhere)."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Set pragmas on each new connection and open transactions with BEGIN IMMEDIATE."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, emit BEGIN (the driver's is deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
