"""The audit log: one row per sensitive act, written in the same transaction as the act.

Rows are chained (MLPS 2.0 level 3 asks that the log cannot be altered unnoticed): each
row's hash covers its own fields and the previous row's hash. `verify` walks the chain
and names the first row that does not fit; `purge` removes rows past the retention
period (never under six months), and the first row kept carries the hash it followed.
Writers take their turn for the chain's end: the last hash is read to write after it
(FOR UPDATE: on SQLite that read takes the write lock first, and writers are one at a
time); on PostgreSQL a transaction-scoped advisory lock orders them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, timedelta

from sqlalchemy import delete, func, select

from server.db import db, take_turn
from server.infra import clock
from server.models import AuditEntry, User
from server.trust import towns

# The turn the chain's writers wait for (server.db.take_turn; any fixed number of ours).
CHAIN_LOCK = 7_150_042
MINIMUM_RETENTION_DAYS = 183  # GB/T 22239 level 3: at least six months


def _digest(prev: str | None, entry: AuditEntry) -> str:
    fields = [
        prev or "",
        entry.at.isoformat(),
        entry.actor_id,
        entry.action,
        entry.object_type,
        entry.object_id,
        entry.ip,
        entry.detail or {},
    ]
    if entry.town_kept:
        # Covered wherever it is kept, none too; rows written before it was kept hash as
        # they did, and a row's flag changed afterwards changes its hash either way.
        fields.append(entry.town_id)
    canonical = json.dumps(fields, ensure_ascii=False, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _chain_end() -> str | None:
    """The hash the next row follows: this session's own row still waiting to be
    written, or else the table's last (flushed rows of this transaction included)."""
    session = db.session()
    pending = session.info.get("audit_last_entry")
    if pending is not None and pending in session.new:
        return pending.hash
    take_turn(CHAIN_LOCK)
    with session.no_autoflush:
        return session.scalar(
            select(AuditEntry.hash).order_by(AuditEntry.id.desc()).limit(1).with_for_update()
        )


def readable_by(auditor: User):
    """A WHERE clause on audit entries: what `auditor` reads. A town's auditor, what was
    done for their town, as each entry's town says: by its own people, even by someone
    who has since moved to another town (and not what a newcomer did before, in another
    town or at the district), and by no one to its accounts and villages (a failed
    sign-in, the operator's command); the district's, everything (the people of every
    town and of the district, the system's own jobs).

    Entries written before the town was kept on them (`town_kept` false) were given their
    actor's town as it was when the database was upgraded, which is all that was known
    (their hashes do not cover it)."""
    return towns.in_users_town(auditor, AuditEntry.town_id)


def record(
    action: str,
    *,
    actor: User | None,
    object_type: str | None = None,
    object_id: object = None,
    ip: str | None = None,
    object_town: int | None = None,
    **detail,
) -> AuditEntry:
    """Add an audit entry to the session; it commits (or not) with the act it records.
    Its town is the actor's; an act with no actor is for `object_town`, the town of what it
    was done to (an account, a village), or for the district's auditor alone (None)."""
    entry = AuditEntry(
        action=action,
        actor_id=actor.id if actor is not None else None,
        town_id=actor.town_id if actor is not None else object_town,
        town_kept=True,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        ip=ip,
        detail=json.loads(json.dumps(detail, default=str)),  # as the JSON column keeps it
        at=clock.now().astimezone(UTC).replace(microsecond=0),
    )
    entry.prev_hash = _chain_end()
    entry.hash = _digest(entry.prev_hash, entry)
    session = db.session()
    session.add(entry)
    session.info["audit_last_entry"] = entry
    return entry


@dataclass
class Verdict:
    checked: int
    broken_at: int | None  # the id of the first row that does not fit, if any
    reason: str = ""


def verify(batch: int = 5000) -> Verdict:
    """Walk the chain in id order: every row's hash is its own, and follows the last."""
    checked, previous, after = 0, None, 0
    while True:
        rows = db.session.scalars(
            select(AuditEntry).where(AuditEntry.id > after).order_by(AuditEntry.id).limit(batch)
        ).all()
        if not rows:
            return Verdict(checked, None)
        for entry in rows:
            if entry.hash is None and not checked:
                after = entry.id  # written before the chain began (migration ef01cedb7403)
                continue
            if checked and entry.prev_hash != previous:
                return Verdict(checked, entry.id, "与前一条记录接不上（有记录被删除或改动）")
            if entry.hash != _digest(entry.prev_hash, entry):
                return Verdict(checked, entry.id, "记录内容与其校验值不符（记录被改动）")
            previous, checked, after = entry.hash, checked + 1, entry.id
        db.session.expunge_all()


def purge(retention_days: int) -> int:
    """Delete rows older than `retention_days` (at least six months); how many."""
    if retention_days < MINIMUM_RETENTION_DAYS:
        raise ValueError(f"审计日志至少保存 {MINIMUM_RETENTION_DAYS} 天。")
    cutoff = clock.now() - timedelta(days=retention_days)
    keep_from = db.session.scalar(select(func.min(AuditEntry.id)).where(AuditEntry.at >= cutoff))
    statement = delete(AuditEntry).where(AuditEntry.at < cutoff)
    if keep_from is not None:
        statement = statement.where(AuditEntry.id < keep_from)
    return db.session.execute(statement).rowcount or 0
