"""The audit log: who did what, when, from where. Read-only: there is no edit or delete."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import g, render_template, request
from sqlalchemy import select

from admin import audit_words
from admin.blueprint import bp, id_value, require
from server.db import db
from server.infra import clock
from server.models import AuditEntry, Role, User
from server.trust import audit

PAGE = 100


@bp.get("/audit")
@require(Role.AUDITOR)  # 三员分立: the auditor alone reads the log of what the others did
def audit_log():
    """Audit entries in words, newest first, filtered by action, user and dates; keyset
    paged."""
    query = (
        select(AuditEntry, User)
        .outerjoin(User, User.id == AuditEntry.actor_id)
        .where(audit.readable_by(g.user))
    )
    action = request.args.get("action", "").strip()
    if action.endswith("."):  # a group from the filter's list: 账号, 案件, …
        query = query.where(AuditEntry.action.startswith(action, autoescape=True))
    elif action in audit_words.ACTIONS:
        query = query.where(AuditEntry.action == action)
    elif action:
        query = query.where(AuditEntry.action.contains(action, autoescape=True))
    username = request.args.get("user", "").strip()
    if username:
        query = query.where(User.username == username)
    tz = clock.town_tz()
    for name, op in (("from", "ge"), ("to", "lt")):
        raw = request.args.get(name, "")
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            continue
        clock.check_year(day, name)
        moment = datetime.combine(day + timedelta(days=1 if op == "lt" else 0), time(0), tzinfo=tz)
        query = query.where(AuditEntry.at >= moment if op == "ge" else AuditEntry.at < moment)
    before = id_value(request.args.get("before"), "before")
    if before is not None:
        query = query.where(AuditEntry.id < before)
    rows = db.session.execute(query.order_by(AuditEntry.id.desc()).limit(PAGE + 1)).all()
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    names = audit_words.names_for(entry for entry, _actor in rows)
    return render_template(
        "admin/audit.html",
        rows=[
            (
                entry,
                actor,
                audit_words.action_label(entry.action),
                audit_words.object_words(entry, names),
                audit_words.detail_words(entry, names),
            )
            for entry, actor in rows
        ],
        groups=audit_words.GROUPS,
        local=clock.local,
        args=request.args,
        next_before=rows[-1][0].id if more and rows else None,
    )
