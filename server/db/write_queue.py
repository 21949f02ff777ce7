"""SQLite's writers wait their turn in a queue instead of polling for the lock.

SQLite lets one connection write at a time. A writer that finds the lock taken sleeps
and tries again (1, 2, 5, 10 ... 100 ms apart, up to the busy timeout), so under load the
lock often lies free while every writer sleeps: throughput falls, and the slowest
requests wait hundreds of milliseconds for a lock held for two. Worse, the process that
just wrote usually takes the lock again before a sleeping process wakes, so one gunicorn
worker does the writing while the other's requests wait and its CPU idles.

So a writer queues before BEGIN IMMEDIATE: first on a lock of its process (one waiter
per process goes on), then on an exclusive flock(2) of a file beside the database,
shared by every process (gunicorn's workers, the sweep, the CLI). The kernel wakes the
waiting process when the holder lets go, so the processes take turns, and it drops the
flock of a process that dies. The queue is left right after COMMIT or ROLLBACK, by the
connection class of `server.db.sqlite`.

A wait in the process is bounded by the busy timeout; after it, the writer goes to
SQLite's own lock, whose timeout then gives the usual "database is locked". So does a
thread that is already in the queue (a second connection of its own: SQLite's lock
would refuse it too), and a writer whose file cannot be opened or locked. The flock wait
itself has no timeout (the kernel offers none): it lasts while a writer of another
process is inside a write transaction, which holds SQLite's lock meanwhile, and
transactions that write are kept short (a transaction reads without the lock until its
first write: server/db/sqlite.py).

Why it stays (issue 16, measured 2026-12-05, bench_reports.py, three runs each): without
it grid-report's report create gave 287-292 req/s with p99 776-910 ms; with it 327-336
req/s with p99 115-132 ms. The minimal endpoint showed the same (benchmarks/minimal_app.py,
which now always queues as we do): 627-648 req/s with p99 360-560 ms without, 779-835
req/s with p99 42-45 ms with it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import threading
import time

log = logging.getLogger(__name__)

# After a failed open, try again this much later (a file-descriptor shortage passes).
REOPEN_AFTER_S = 60.0


class WriteQueue:
    """The queue of one database file's writers, in this process (see `for_database`)."""

    def __init__(self, path: str):
        self.path = path
        self._reset()

    def _reset(self) -> None:
        self._turn = threading.Lock()
        self._holder: int | None = None  # the thread in the queue now
        self._fd: int | None = None
        self._failed_at: float | None = None

    def _file(self) -> int | None:
        # Read-only is enough to flock; a file another user created (a CLI run as root)
        # then still serves. One that cannot be opened is tried again later.
        if self._fd is None and (
            self._failed_at is None or time.monotonic() - self._failed_at > REOPEN_AFTER_S
        ):
            try:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
                self._failed_at = None
            except OSError as error:
                self._failed_at = time.monotonic()
                log.warning("write queue off for now: cannot open %s (%s)", self.path, error)
        return self._fd

    def enter(self, timeout_s: float) -> bool:
        """Wait for this process's turn (up to `timeout_s`), then the database's; False
        when not queued."""
        me = threading.get_ident()
        if self._holder == me:  # its own second connection: leave it to SQLite's lock
            return False
        if not self._turn.acquire(timeout=timeout_s):
            return False
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._holder = me
                return True
        except OSError as error:  # e.g. a file system without flock
            log.warning("write queue skipped: cannot lock %s (%s)", self.path, error)
        except BaseException:
            self._turn.release()
            raise
        self._turn.release()
        return False

    def leave(self) -> None:
        self._holder = None
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._turn.release()


_by_path: dict[str, WriteQueue] = {}
_by_path_lock = threading.Lock()


def for_database(database_path: str) -> WriteQueue:
    """The process's queue for the database file at `database_path`: one per file, so that
    two engines on one file (two apps in a process) queue together."""
    path = os.path.realpath(database_path) + "-writers"
    with _by_path_lock:
        queue = _by_path.get(path)
        if queue is None:
            queue = _by_path[path] = WriteQueue(path)
        return queue


def _after_fork_in_child() -> None:
    # A child starts with no place in any queue: a lock held by another thread of the
    # parent would never be released here, and the parent's descriptor shares its flock.
    for queue in _by_path.values():
        if queue._fd is not None:
            os.close(queue._fd)
        queue._reset()


os.register_at_fork(after_in_child=_after_fork_in_child)
