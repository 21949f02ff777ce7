"""The in-app inbox: the "inbox" rows of the outbox, as each person reads them.

The admin's 消息 page and the phone workbench (through /api/v1/inbox) read and mark them
here, so both show the same messages and the same unread count.
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from server.cases import access
from server.db import db
from server.infra import clock
from server.models import Case, Notification, User


def latest(user: User, *, limit: int = 50, before: int | None = None) -> list[Notification]:
    """The user's inbox messages, newest first (`before`: older than that id)."""
    query = select(Notification).where(
        Notification.user_id == user.id, Notification.channel == "inbox"
    )
    if before is not None:
        query = query.where(Notification.id < before)
    return list(db.session.scalars(query.order_by(Notification.id.desc()).limit(limit)))


def cases_of(user: User, notes: list[Notification]) -> dict[int, Case]:
    """The cases the messages are about, as far as `user` may still see them (a case
    moved to another department is not shown to this one any more)."""
    ids = {n.case_id for n in notes if n.case_id}
    if not ids:
        return {}
    return {
        c.id: c
        for c in db.session.scalars(select(Case).where(Case.id.in_(ids), access.case_filter(user)))
    }


def mark_read(user: User, ids: list[int] | None = None) -> int:
    """Mark the user's messages read: those of `ids`, or all. Returns how many."""
    statement = update(Notification).where(
        Notification.user_id == user.id,
        Notification.channel == "inbox",
        Notification.read_at.is_(None),
    )
    if ids is not None:
        statement = statement.where(Notification.id.in_(ids or [-1]))
    return db.session.execute(statement.values(read_at=clock.now())).rowcount or 0


def unread_count(user: User) -> int:
    """The user's unread inbox messages (the admin's header, 我的待办, the inbox)."""
    return (
        db.session.scalar(
            select(func.count(Notification.id)).where(
                Notification.user_id == user.id,
                Notification.channel == "inbox",
                Notification.read_at.is_(None),
            )
        )
        or 0
    )
