"""SQLite writers queue for their turn (server/db/write_queue.py) instead of polling SQLite,
and a transaction reads until it writes (server/db/sqlite.py)."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import text

from server import create_app
from server.db import db, write_queue

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    os.environ.get("TEST_DATABASE_URL", "").startswith("postgresql"), reason="the queue is SQLite's"
)

# Another process (a second gunicorn worker, the sweep) inside a write transaction until
# it reads a line.
HOLDER = """
import sys
from sqlalchemy import text
from server import create_app
from server.db import db
app = create_app({"DATABASE_URL": sys.argv[1]})
with app.app_context():
    db.session.execute(text("INSERT INTO note (body) VALUES ('theirs')"))
    print("holding", flush=True)
    sys.stdin.readline()
    db.session.commit()
"""


def _app(path: Path, **overrides):
    app = create_app({"DATABASE_URL": f"sqlite:///{path}", **overrides})
    with app.app_context():
        db.session.execute(text("CREATE TABLE IF NOT EXISTS note (body TEXT)"))
        db.session.commit()
    return app


def _write_note(app, body: str, outcome: list) -> None:
    """Write a row in a transaction of its own; add "written" or the error's name."""
    with app.app_context():
        try:
            db.session.execute(text("INSERT INTO note (body) VALUES (:body)"), {"body": body})
            db.session.commit()
            outcome.append("written")
        except Exception as error:
            outcome.append(type(error).__name__)


def _notes(app) -> list[str]:
    with app.app_context():
        return db.session.execute(text("SELECT body FROM note ORDER BY rowid")).scalars().all()


def _queue_taken(path: Path) -> bool:
    """Whether some connection is in the queue now (tried from a descriptor of our own)."""
    fd = os.open(f"{path}-writers", os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def test_a_writer_waits_for_another_process_in_the_queue_not_in_sqlite(tmp_path):
    """SQLite's busy timeout here is 100 ms: a writer waiting in SQLite would fail with
    "database is locked" long before the other process commits."""
    path = tmp_path / "q.sqlite3"
    app = _app(path, SQLITE_BUSY_TIMEOUT_MS=100)
    outcome = []

    def write():
        _write_note(app, "ours", outcome)

    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, f"sqlite:///{path}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=os.environ | {"PYTHONPATH": str(ROOT)},
    ) as holder:
        assert holder.stdout.readline().strip() == "holding"
        writer = threading.Thread(target=write)
        writer.start()
        writer.join(0.6)
        assert writer.is_alive()  # still waiting, six of SQLite's timeouts later
        assert outcome == []
        holder.stdin.write("go\n")
        holder.stdin.flush()
        writer.join(10)
        assert outcome == ["written"]
    assert _notes(app) == ["theirs", "ours"]


def test_the_queue_is_left_when_a_transaction_ends(tmp_path):
    path = tmp_path / "q.sqlite3"
    app = _app(path)
    with app.app_context():
        db.session.execute(text("INSERT INTO note (body) VALUES ('a')"))
        assert _queue_taken(path)
        db.session.commit()
        assert not _queue_taken(path)

        db.session.execute(text("INSERT INTO note (body) VALUES ('b')"))
        db.session.rollback()
        assert not _queue_taken(path)

        db.session.execute(text("SELECT 1"))
        db.session.close()  # the connection goes back to the pool
        assert not _queue_taken(path)

        db.session.execute(text("SELECT count(*) FROM note"))  # a reader never queues
        assert not _queue_taken(path)
        db.session.rollback()

        db.session.execute(text("SELECT 1"))
        db.session.connection().invalidate()  # a broken connection is closed, not reused
        assert not _queue_taken(path)
        db.session.rollback()


def test_a_failed_begin_leaves_the_queue(tmp_path):
    path = tmp_path / "q.sqlite3"
    app = _app(path, SQLITE_BUSY_TIMEOUT_MS=50)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a writer that does not queue (another program)
    try:
        with app.app_context():
            with pytest.raises(Exception, match="locked"):
                db.session.execute(text("INSERT INTO note (body) VALUES ('x')"))
            assert not _queue_taken(path)
            db.session.rollback()
    finally:
        other.execute("ROLLBACK")
        other.close()


def test_without_its_file_the_queue_steps_aside(tmp_path):
    path = tmp_path / "q.sqlite3"
    (tmp_path / "q.sqlite3-writers").mkdir()  # cannot be opened as a file
    app = _app(path)
    outcome = []
    _write_note(app, "a", outcome)
    assert outcome == ["written"]
    assert _notes(app) == ["a"]


def test_a_wait_in_the_process_is_bounded(tmp_path):
    queue = write_queue.for_database(str(tmp_path / "q.sqlite3"))
    assert queue.enter(0.05)
    waited = []
    waiter = threading.Thread(target=lambda: waited.append(queue.enter(0.05)))
    waiter.start()
    waiter.join(5)
    assert waited == [False]  # gave up: the writer goes on to SQLite's own lock
    assert not queue.enter(5)  # the holder's own second connection: no wait at all
    queue.leave()
    assert queue.enter(0.05)
    queue.leave()


def test_two_apps_on_one_file_share_the_queue(tmp_path):
    """A second engine on the same file (another app in the process) must not wait in a
    queue of its own for a flock this process holds: that wait would never end."""
    path = tmp_path / "q.sqlite3"
    first, second = _app(path, SQLITE_BUSY_TIMEOUT_MS=100), _app(path, SQLITE_BUSY_TIMEOUT_MS=100)
    outcome = []

    def write_in_second():
        _write_note(second, "b", outcome)

    def hold_first_and_write_second():
        with first.app_context():
            db.session.execute(text("INSERT INTO note (body) VALUES ('a')"))
            write_in_second()  # the same thread: SQLite's timeout answers, at once
            other = threading.Thread(target=write_in_second, daemon=True)
            other.start()
            other.join(10)
            db.session.commit()

    # In a thread of its own, so that a wait that never ends fails the test, not hangs it.
    scenario = threading.Thread(target=hold_first_and_write_second, daemon=True)
    scenario.start()
    scenario.join(20)
    assert not scenario.is_alive()
    assert outcome == ["OperationalError", "OperationalError"]  # "database is locked"
    write_in_second()
    assert outcome[-1] == "written"


def test_a_file_system_without_flock_leaves_writes_to_sqlite(tmp_path, monkeypatch):
    def no_flock(_fd, _operation):
        raise OSError(37, "No locks available")

    app = _app(tmp_path / "q.sqlite3")
    monkeypatch.setattr(write_queue.fcntl, "flock", no_flock)
    outcome = []
    _write_note(app, "a", outcome)
    assert outcome == ["written"]
    assert _notes(app) == ["a"]


def test_a_forked_child_starts_outside_the_queue(tmp_path):
    queue = write_queue.for_database(str(tmp_path / "q.sqlite3"))
    assert queue.enter(1)
    try:
        child = os.fork()
        if child == 0:  # the child: the parent's place in the queue is not its own
            fresh = not queue._turn.locked() and queue._holder is None and queue._fd is None
            os._exit(0 if fresh else 1)
        _pid, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        queue.leave()


def test_a_transaction_that_read_writes_after_another_writer_committed(tmp_path):
    """A deferred transaction that has read cannot write once another writer committed
    (SQLITE_BUSY_SNAPSHOT: "database is locked" at once, whatever the timeout): the seam
    ends the read and begins the write under the lock, on what is committed now."""
    path = tmp_path / "q.sqlite3"
    app = _app(path, SQLITE_BUSY_TIMEOUT_MS=100)
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM note")).scalar() == 0
        assert not _queue_taken(path)  # a read holds no lock
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("INSERT INTO note (body) VALUES ('theirs')")  # commits at once
        other.close()
        db.session.execute(text("INSERT INTO note (body) VALUES ('ours')"))
        assert _queue_taken(path)  # the write holds the lock until the commit
        assert db.session.execute(text("SELECT count(*) FROM note")).scalar() == 2
        db.session.commit()
    assert _notes(app) == ["theirs", "ours"]


def test_a_read_for_update_takes_the_write_lock_before_it_reads(tmp_path):
    path = tmp_path / "q.sqlite3"
    app = _app(path)
    with app.app_context():
        db.session.execute(text("SELECT count(*) FROM note"))
        assert not _queue_taken(path)
        db.session.execute(
            sa.select(sa.column("body")).select_from(sa.table("note")).with_for_update()
        )
        assert _queue_taken(path)
        db.session.rollback()
        assert not _queue_taken(path)
        with db.session.begin_nested():  # a savepoint is written to: it begins writing
            db.session.execute(text("SELECT count(*) FROM note"))
            assert _queue_taken(path)
        db.session.rollback()


def test_a_write_said_as_sql_text_takes_the_lock_too(tmp_path):
    """WITH ... UPDATE in plain SQL writes: it takes the lock before it runs; and a
    COMMIT sent as SQL ends the transaction for the seam too (the next read-then-write
    begins afresh)."""
    path = tmp_path / "q.sqlite3"
    app = _app(path)
    with app.app_context():
        db.session.execute(text("SELECT count(*) FROM note"))
        db.session.execute(
            text("WITH n AS (SELECT 1) UPDATE note SET body = 'x' WHERE rowid IN (SELECT 1)")
        )
        assert _queue_taken(path)
        db.session.execute(text("COMMIT"))
        db.session.execute(text("SELECT count(*) FROM note"))
        assert not _queue_taken(path)  # a read after the COMMIT holds no lock
        db.session.execute(text("INSERT INTO note (body) VALUES ('after')"))
        assert _queue_taken(path)
        db.session.commit()
    assert _notes(app) == ["after"]
