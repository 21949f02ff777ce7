"""Idempotency keys: a retried request gets the first answer, and never a second effect.

Phones on weak networks resend what they did not hear answered. A request carries a key
(a UUID the client made); `claim` records it in its own short transaction before the work,
so a concurrent duplicate sees it in flight; `complete` stores the answer in the same
transaction as the work. A claim whose worker died is taken over after a while.
"""

from __future__ import annotations

import enum
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from server import clock
from server.extensions import db
from server.models import IdempotencyRecord

# A claim older than this with no answer belongs to a request that died: retry it.
ABANDONED_AFTER = timedelta(seconds=60)


class Claim(enum.Enum):
    NEW = "new"  # go ahead and do the work
    REPLAY = "replay"  # done before: answer with the stored response
    IN_FLIGHT = "in_flight"  # the same request is being worked on right now
    MISMATCH = "mismatch"  # the key was used for a different request


@dataclass
class Outcome:
    """What `claim` decided, with the record (for REPLAY: its stored answer)."""

    claim: Claim
    record: IdempotencyRecord | None = None


def fingerprint(method: str, path: str, body: bytes) -> str:
    """A digest of the request: JSON bodies compare by meaning, not by spacing."""
    try:
        canonical = json.dumps(json.loads(body), sort_keys=True, ensure_ascii=False,
                               separators=(",", ":")).encode()
    except (ValueError, UnicodeDecodeError):
        canonical = body
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + canonical).hexdigest()


def claim(scope: str, key: str, digest: str) -> Outcome:
    """Record that `scope` starts the request `key`, committing the claim at once.

    Must be called with no other work pending in the session (it commits).
    """
    now = clock.now()
    record = IdempotencyRecord(scope=scope, key=key, fingerprint=digest, created_at=now)
    db.session.add(record)
    try:
        db.session.commit()
        return Outcome(Claim.NEW, record)
    except IntegrityError:
        db.session.rollback()
    existing = db.session.scalar(select(IdempotencyRecord).where(
        IdempotencyRecord.scope == scope, IdempotencyRecord.key == key))
    if existing is None:  # released by a failed attempt just now: the client retries
        return Outcome(Claim.IN_FLIGHT)
    if existing.fingerprint != digest:
        return Outcome(Claim.MISMATCH, existing)
    if existing.completed_at is not None:
        return Outcome(Claim.REPLAY, existing)
    if existing.created_at < now - ABANDONED_AFTER:
        # Take the abandoned claim over, unless another retry just did.
        taken = db.session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.id == existing.id,
                   IdempotencyRecord.created_at == existing.created_at,
                   IdempotencyRecord.completed_at.is_(None))
            .values(created_at=now)
        ).rowcount
        db.session.commit()
        if taken:
            return Outcome(Claim.NEW, db.session.get(IdempotencyRecord, existing.id))
    return Outcome(Claim.IN_FLIGHT, existing)


def complete(record: IdempotencyRecord, status_code: int, body: str) -> None:
    """Store the answer; it commits with the work it answers for."""
    record = db.session.merge(record)
    record.status_code = status_code
    record.body = body
    record.completed_at = clock.now()


def release(record: IdempotencyRecord) -> None:
    """Forget a claim whose request failed in a way a retry may fix (commits)."""
    db.session.rollback()
    db.session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
    db.session.commit()
