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
connection class `QueuedConnection`.

A wait in the process is bounded by the busy timeout; after it, the writer goes to
SQLite's own lock, whose timeout then gives the usual "database is locked". The flock
wait has no timeout (the kernel offers none): it lasts while a writer of another process
is inside a transaction, which holds SQLite's lock too.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading


class WriteQueue:
    """The queue of one database file's writers, in this process."""

    def __init__(self, database_path: str, timeout_s: float):
        self.path = database_path + "-writers"
        self.timeout_s = timeout_s
        self._turn = threading.Lock()
        self._fd: int | None = None
        self._pid: int | None = None

    def _file(self) -> int | None:
        # One descriptor per process: a descriptor inherited across a fork would share
        # its flock with the parent. Read-only is enough to flock; a file another user
        # created (a CLI run as root) then still serves, or, unreadable, is done without.
        if self._pid != os.getpid():
            try:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError:
                self._fd = None
            self._pid = os.getpid()
        return self._fd

    def enter(self) -> bool:
        """Wait for this process's turn, then the database's; False when not queued (the
        process's queue took longer than the timeout, or the file cannot be opened)."""
        if not self._turn.acquire(timeout=self.timeout_s):
            return False
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
                return True
        except BaseException:
            self._turn.release()
            raise
        self._turn.release()
        return False

    def leave(self) -> None:
        try:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._turn.release()


class QueuedConnection(sqlite3.Connection):
    """A connection that leaves the write queue when its transaction ends."""

    queue: WriteQueue | None = None

    def commit(self):
        try:
            super().commit()
        finally:
            self.leave_queue()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self.leave_queue()

    def close(self):
        try:
            super().close()
        finally:
            self.leave_queue()

    def leave_queue(self) -> None:
        queue, self.queue = self.queue, None
        if queue is not None:
            queue.leave()
