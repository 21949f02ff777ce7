"""Engine settings that keep data safe: SQLite pragmas and write locking.

SQLite is the default store (`make run` needs nothing installed), so it is tuned for
a server: WAL lets readers work while one writer writes; synchronous=FULL makes a
commit survive a power cut, since a report acknowledged to a phone must not vanish;
a busy timeout waits for a lock instead of failing at once.

Transactions that may write start with BEGIN IMMEDIATE: pysqlite's deferred BEGIN takes
the write lock only at the first write, and two gunicorn workers that both read then
write would see "database is locked" (SQLITE_BUSY_SNAPSHOT) however long the timeout.
Read-only requests (GET, HEAD) begin deferred instead, so they never queue behind a
writer nor hold writers up; one that must write after all calls `begin_writing()`.
Before BEGIN IMMEDIATE a writer waits in `server.write_queue`, where it is woken as soon
as the writer before it is done, instead of in SQLite's sleeping busy handler.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from server import write_queue
from server.errors import StorageFull
from server.extensions import db
from server.write_queue import QueuedConnection

# True: the next transaction takes the write lock at BEGIN. The default (CLI, sweeps,
# writing requests) is to write; safe-method requests turn it off.
_writing: ContextVar[bool] = ContextVar("writing", default=True)
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def init_app(app: Flask) -> None:
    """Attach the SQLite connection hooks to the app's engine, and tell a full disk from
    other database errors on every engine."""
    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite":
        configure_sqlite(engine, app.config["SQLITE_BUSY_TIMEOUT_MS"])
    event.listen(engine, "handle_error", _disk_full)

    @app.before_request
    def _choose_transaction_mode():
        _writing.set(request.method not in READ_ONLY_METHODS)

    @app.teardown_request
    def _restore_transaction_mode(_exc):
        _writing.set(True)  # what runs next in this thread (a CLI, a test) may write


# SQLITE_FULL, PostgreSQL's disk_full (53100), and the OS's own words for it.
_SQLITE_FULL = 13


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


@contextmanager
def read_first() -> Iterator[None]:
    """Run the block in a short deferred (read) transaction of its own, ended after it.

    For the reads a writing request does before it writes (who is asking): they need not
    hold the write lock, and the objects they load stay loaded.
    """
    if db.session().in_transaction():  # too late to choose: keep the one we are in
        yield
        return
    previous = _writing.get()
    _writing.set(False)
    try:
        yield
    finally:
        try:
            if db.session().in_transaction():  # the block may have needed no query at all
                commit_keeping_objects()  # nothing was written: this only ends the read
        finally:
            _writing.set(previous)


def commit_keeping_objects() -> None:
    """Commit without expiring what the session holds, for when the objects stay true: a
    read that changed nothing, or a request whose answer is already made (expiring every
    object of a new report, to be thrown away unread, is CPU spent on each write)."""
    session = db.session()
    expire, session.expire_on_commit = session.expire_on_commit, False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire


def begin_writing() -> None:
    """In a read-only request, end the read transaction so the next one may write.

    Objects loaded so far are expired and reload on next use.
    """
    if not _writing.get():
        db.session.rollback()
        _writing.set(True)


def configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    """Set pragmas on each new connection and open transactions with the right BEGIN."""

    on_disk = engine.url.database not in (None, "", ":memory:")
    # Writers queue for their turn (server/write_queue.py); a file named by URI is left
    # to SQLite's own lock, since its path is not ours to place a file beside.
    queue = None
    if on_disk and not engine.url.query.get("uri"):
        queue = write_queue.for_database(engine.url.database)

        @event.listens_for(engine, "do_connect")
        def _queued(_dialect, _record, _cargs, cparams):
            cparams["factory"] = QueuedConnection

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # Let SQLAlchemy, not the driver, emit BEGIN (the driver's is always deferred).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if on_disk:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        if not _writing.get():
            connection.exec_driver_sql("BEGIN")
            return
        dbapi_connection = connection.connection.dbapi_connection
        if queue is not None and queue.enter(busy_timeout_ms / 1000):
            dbapi_connection.queue = queue  # left at its COMMIT or ROLLBACK
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if queue is not None:
                dbapi_connection.leave_queue()
            raise
