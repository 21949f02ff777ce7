"""The audit log: one row per sensitive act, written in the same transaction as the act."""

from __future__ import annotations

from server.extensions import db
from server.models import AuditEntry, User


def record(
    action: str,
    *,
    actor: User | None,
    object_type: str | None = None,
    object_id: object = None,
    ip: str | None = None,
    **detail,
) -> AuditEntry:
    """Add an audit entry to the session; it commits (or not) with the act it records."""
    entry = AuditEntry(
        action=action,
        actor_id=actor.id if actor is not None else None,
        object_type=object_type,
        object_id=None if object_id is None else str(object_id),
        ip=ip,
        detail=detail,
    )
    db.session.add(entry)
    return entry
