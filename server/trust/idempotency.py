"""Idempotency keys: a retried request gets the first answer, and never a second effect.

Phones on weak networks resend what they did not hear answered. A request carries a key
(a UUID the client made). `lookup` reads, before any work, whether the key was answered
already (replay that answer), used for another request (refuse), or is still held by an
unfinished claim (in flight). A new request does its work, and `record` writes the key
with its answer in the same transaction as the work: one commit per request, and the work
and its answer land together or not at all.

While a request works, `hold` marks its key in flight in the store every worker shares
(the rate limits' store: Redis in production, a dict of this process's otherwise), so the same
request sent again meanwhile is told 409 at once, without a database write (a commit costs
a disk flush). Should two still meet (two workers without a shared store), the database
lets only one of them write (the key is unique here, and on the row the work creates, such
as the case), and the other, refused with `Taken`, answers with the first one's answer.
A claim without an answer is written by nothing now but may survive from an older release;
after ABANDONED_AFTER it is taken over.
"""

from __future__ import annotations

import enum
import hashlib
import json
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from server.db import db
from server.infra import clock
from server.models import IdempotencyRecord
from server.trust import ratelimit

# A claim older than this with no answer belongs to a request that died: retry it.
ABANDONED_AFTER = timedelta(seconds=60)

# Every request with a key runs these: built once, executed as plain Core statements.
_TABLE = IdempotencyRecord.__table__
_FIND = select(
    _TABLE.c.id,
    _TABLE.c.fingerprint,
    _TABLE.c.created_at,
    _TABLE.c.completed_at,
    _TABLE.c.status_code,
    _TABLE.c.body,
).where(_TABLE.c.scope == bindparam("scope"), _TABLE.c.key == bindparam("key"))
_INSERT = insert(_TABLE)


class Claim(enum.Enum):
    NEW = "new"  # go ahead and do the work
    REPLAY = "replay"  # done before: answer with the stored response
    IN_FLIGHT = "in_flight"  # the same request is being worked on right now
    MISMATCH = "mismatch"  # the key was used for a different request


@dataclass
class Outcome:
    """What `lookup` found: for REPLAY the record (id, fingerprint, created_at,
    completed_at, status_code, body) with its stored answer; for NEW, the abandoned claim
    to take over, if there is one."""

    claim: Claim
    record: Row | None = None


def _marker(scope: str, key: str) -> str:
    return f"grid-report/in-flight/{scope}/{key}"


class _LocalMarks:
    """Marks in this process, when the rate limits' store is this process's memory too:
    the `limits` memory store starts a timer thread to expire each new key, a cost every
    keyed request would pay."""

    def __init__(self):
        self._lock = threading.Lock()
        self._until: dict[str, float] = {}

    def incr(self, name: str, expiry: int) -> int:
        now = time.monotonic()
        with self._lock:
            if self._until.get(name, 0) > now:
                return 2
            self._until[name] = now + expiry
            if len(self._until) > 10_000:  # forget long-dead marks now and then
                self._until = {k: v for k, v in self._until.items() if v > now}
            return 1

    def clear(self, name: str) -> None:
        with self._lock:
            self._until.pop(name, None)


_local_marks = _LocalMarks()


def _marks():
    uri = str(current_app.config["RATELIMIT_STORAGE_URI"])
    if uri.startswith("memory://") or ratelimit.degraded():
        return _local_marks
    return ratelimit.shared_store()


def hold(scope: str, key: str) -> bool:
    """Mark the request in flight; False when another request holds the key now. A mark
    left by a request that died expires after ABANDONED_AFTER. With the shared store
    down, the mark is this process's (the stored answer still stops a second case)."""
    seconds = int(ABANDONED_AFTER.total_seconds())
    try:
        return _marks().incr(_marker(scope, key), seconds) == 1
    except ratelimit.store_errors() as error:
        ratelimit.store_failed(error)
        return _local_marks.incr(_marker(scope, key), seconds) == 1


def release(scope: str, key: str) -> None:
    try:
        _marks().clear(_marker(scope, key))
    except ratelimit.store_errors() as error:
        ratelimit.store_failed(error)
    _local_marks.clear(_marker(scope, key))


class Taken(Exception):
    """Another request stored an answer for the key first (this one's work must go)."""


def fingerprint(method: str, path: str, body: bytes) -> str:
    """A digest of the request: JSON bodies compare by meaning, not by spacing."""
    try:
        canonical = json.dumps(
            json.loads(body), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        ).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def lookup(scope: str, key: str, digest: str) -> Outcome:
    """What to do with the request `key` of `scope` (reads only)."""
    existing = db.session.connection().execute(_FIND, {"scope": scope, "key": key}).first()
    if existing is None:
        return Outcome(Claim.NEW)
    if existing.fingerprint != digest:
        return Outcome(Claim.MISMATCH, existing)
    if existing.completed_at is not None:
        return Outcome(Claim.REPLAY, existing)
    if existing.created_at < clock.now() - ABANDONED_AFTER:
        return Outcome(Claim.NEW, existing)
    return Outcome(Claim.IN_FLIGHT, existing)


def record(
    outcome: Outcome, scope: str, key: str, digest: str, status_code: int, body: str
) -> None:
    """Store the key with its answer in the current transaction (it commits with the work).

    Raises Taken when another request stored one first; the transaction must then be
    rolled back (on PostgreSQL it is already aborted).
    """
    now = clock.now()
    answer = {"status_code": status_code, "body": body, "completed_at": now}
    # The connection, not the session: the work's own changes flush at the commit, and an
    # IntegrityError here is about the key alone.
    connection = db.session.connection()
    if outcome.record is not None:  # an abandoned claim: take it over, unless another did
        taken = connection.execute(
            update(_TABLE)
            .where(
                _TABLE.c.id == outcome.record.id,
                _TABLE.c.created_at == outcome.record.created_at,
                _TABLE.c.completed_at.is_(None),
            )
            .values(created_at=now, **answer)
        ).rowcount
        if not taken:
            raise Taken()
        return
    try:
        connection.execute(
            _INSERT,
            {"scope": scope, "key": key, "fingerprint": digest, "created_at": now, **answer},
        )
    except IntegrityError as error:  # the key's unique constraint: stored by another
        raise Taken() from error


def purge(older_than: timedelta) -> int:
    """Forget stored answers older than `older_than` (a phone retries within minutes,
    not days; an answer kept for ever is a second copy of what it said)."""
    cutoff = clock.now() - older_than
    return db.session.execute(delete(_TABLE).where(_TABLE.c.created_at < cutoff)).rowcount or 0
