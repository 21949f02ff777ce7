"""SQLite as a server's database: pragmas, and a transaction that reads until it writes.

SQLite is the default store (`make run` needs nothing installed), so it is tuned for a
server: WAL lets readers work while one writer writes; synchronous=FULL makes a commit
survive a power cut, since a report acknowledged to a phone must not vanish; a busy
timeout waits for a lock instead of failing at once.

SQLite lets one connection write at a time, and a transaction that has read and then
writes fails at once with "database is locked" (SQLITE_BUSY_SNAPSHOT) if another writer
committed since its read began, however long the busy timeout. So no transaction here
is begun before its first statement is known:

- a transaction whose first statement reads begins deferred (BEGIN): it holds no lock,
  never waits for a writer and never holds one up;
- the first statement that writes (INSERT, UPDATE, DELETE, DDL, a SAVEPOINT) or reads
  to write (SELECT ... FOR UPDATE, which SQLite does not know) ends that read and begins
  a write transaction (BEGIN IMMEDIATE), after a turn in the write queue
  (`server.db.write_queue`); what the session loaded stays loaded.

So a request reads who is asking, the case, the idempotency key ... without the lock, and
holds it only from its first write to its commit; nobody above this module needs to know.
It is the guarantee PostgreSQL's READ COMMITTED gives: rows read before the first write
may have changed since. A case's version counter catches a lost update of a case, and
code that reads in order to write (a claim, the audit chain's end) says so with
`with_for_update()`, which here takes the write lock before the read.
"""

from __future__ import annotations

import re
import sqlite3

from sqlalchemy import event
from sqlalchemy.engine import Engine

from server.db import write_queue

# The statements that only read. Anything else writes, or ends or rolls back a savepoint
# (which needs the transaction it belongs to, never a new one).
_READS = frozenset({"SELECT", "WITH", "PRAGMA", "EXPLAIN", "VALUES"})
_IN_TRANSACTION = frozenset({"RELEASE", "ROLLBACK", "COMMIT", "END"})


class Connection(sqlite3.Connection):
    """A connection that knows whether its transaction writes, and leaves the write
    queue when that transaction ends."""

    writing = False
    queue: write_queue.WriteQueue | None = None

    def commit(self):
        try:
            super().commit()
        finally:
            self._ended()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self._ended()

    def close(self):
        try:
            super().close()
        finally:
            self._ended()

    def _ended(self) -> None:
        self.writing = False
        queue, self.queue = self.queue, None
        if queue is not None:
            queue.leave()


def configure(engine: Engine, busy_timeout_ms: int) -> None:
    """Set pragmas on each new connection, and begin each transaction as it needs."""
    on_disk = engine.url.database not in (None, "", ":memory:")
    # Writers queue for their turn; a file named by URI is left to SQLite's own lock,
    # since its path is not ours to place a file beside.
    queue = None
    if on_disk and not engine.url.query.get("uri"):
        queue = write_queue.for_database(engine.url.database)
    timeout_s = busy_timeout_ms / 1000

    @event.listens_for(engine, "do_connect")
    def _our_connection(_dialect, _record, _cargs, cparams):
        cparams["factory"] = Connection

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        # BEGIN is ours to send (the driver's own is always deferred, and too early).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        if on_disk:
            cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = FULL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    def begin_writing(connection: Connection) -> None:
        if queue is not None and queue.enter(timeout_s):
            connection.queue = queue  # left at its COMMIT or ROLLBACK
        try:
            connection.execute("BEGIN IMMEDIATE")
        except BaseException:
            connection._ended()
            raise
        connection.writing = True

    @event.listens_for(engine, "before_cursor_execute")
    def _begin_as_needed(conn, _cursor, statement, _parameters, context, _executemany):
        connection = conn.connection.dbapi_connection
        writes = _writes(statement, context)
        if not connection.in_transaction:
            connection._ended()  # a COMMIT or ROLLBACK sent as SQL ended the last one
            if writes is None:
                return
            if writes:
                begin_writing(connection)
            else:
                connection.execute("BEGIN")
        elif writes and not connection.writing:
            # The read is over; the write begins under the lock, on what is now committed.
            # (A result still being read keeps the read's snapshot open: BEGIN IMMEDIATE
            # then waits, and fails as "locked" if another writer committed meanwhile.
            # Read results whole before writing; the ORM does.)
            connection.execute("COMMIT")
            begin_writing(connection)


# A statement that writes, wherever it says so (WITH ... UPDATE, INSERT ... SELECT).
_WRITING_WORD = re.compile(r"\b(INSERT|UPDATE|DELETE|REPLACE)\b", re.IGNORECASE)


def _writes(statement: str, context) -> bool | None:
    """True when the statement writes or reads to write, False when it only reads, None
    when it belongs to the transaction it is in (ending a savepoint or the transaction)."""
    word = statement.lstrip()[:12].split(None, 1)[0].upper() if statement.strip() else ""
    if word in _IN_TRANSACTION:
        return None
    if word not in _READS:
        return True
    if word == "PRAGMA":
        return "=" in statement  # PRAGMA x = y changes the database
    if word == "WITH" and _WRITING_WORD.search(statement):
        return True
    if context is None:
        return False
    if context.isinsert or context.isupdate or context.isdelete:
        return True
    compiled = getattr(context, "compiled", None)
    return getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None
