"""Delivering the outbox (server/cases/outbox.py): `deliver_due` (the `grid-report
notify` command) sends what is pending, each channel behind one small interface: the
in-app inbox, WeChat subscribe messages, SMS (log-only by default). A failure is retried
with backoff and ends as "dead" after MAX_ATTEMPTS; it never touches the case. A dead
letter is put back by hand (`resend_dead`, the admin's 发送失败 page).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from flask import current_app
from sqlalchemy import select, true

from server.db import db, insert_for
from server.follow_through import jobs
from server.infra import clock, wechat
from server.models import Case, Notification, ServiceToken, User, WeChatConsent
from server.trust import audit, towns

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
BATCH = 200


# --- delivering --------------------------------------------------------------------------


class LogSms:
    """The default SMS gateway: writes to the log (the phone number masked)."""

    def send(self, phone: str, text: str) -> None:
        log.info("sms to %s: %s", f"{phone[:3]}****{phone[-4:]}" if len(phone) > 7 else "***", text)


def sms_gateway():
    """The configured SMS gateway (log-only until one is contracted)."""
    return LogSms()


def access_token(client, *, refresh: bool = False) -> str:
    """WeChat's access token, cached in the database for every process until shortly
    before it expires."""
    now = clock.now()
    row = db.session.get(ServiceToken, "wechat")
    if row is not None and not refresh and row.expires_at > now + timedelta(minutes=5):
        return row.value
    value, lifetime = wechat.stable_token(client, force_refresh=refresh)
    # Written whether or not another sender (another machine) wrote it meanwhile: WeChat's
    # stable token is the same to each caller, and a plain INSERT of the second failed.
    table = ServiceToken.__table__
    expires = now + timedelta(seconds=lifetime)
    db.session.execute(
        insert_for(table)
        .values(name="wechat", value=value, expires_at=expires)
        .on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "expires_at": expires}
        )
    )
    if row is not None:
        db.session.expire(row)
    return value


def _deliver_wechat(note: Notification, user: User) -> str:
    config = current_app.config
    template = str(config.get("WECHAT_TEMPLATE_ID") or "")
    # Locked to the end of this message's transaction: two senders (two machines) sending
    # to one person at once each spent a credit read before the other's was written, and
    # one was lost (tests/test_several_machines.py, on PostgreSQL).
    consent = (
        db.session.get(
            WeChatConsent, (user.id, template), with_for_update=True, populate_existing=True
        )
        if template
        else None
    )
    if not template or not user.wechat_openid or consent is None or consent.credits < 1:
        return "skipped"  # no consent reported by the mini program: never send
    client = wechat.client()
    data = {
        "thing1": note.title[:20],
        "thing2": note.body[:20],
        "time3": clock.local(note.created_at).strftime("%Y-%m-%d %H:%M"),
    }
    # The mini program's case page asks the API by case number, as every surface does.
    case = db.session.get(Case, note.case_id) if note.case_id else None
    page = f"pages/case/detail?code={case.code}" if case else "pages/inbox/index"
    token = access_token(client)
    try:
        wechat.subscribe_send(
            client, token, openid=user.wechat_openid, template_id=template, page=page, data=data
        )
    except wechat.WeChatTokenExpired:
        token = access_token(client, refresh=True)  # once more, with a fresh token
        wechat.subscribe_send(
            client, token, openid=user.wechat_openid, template_id=template, page=page, data=data
        )
    except wechat.WeChatNoConsent:
        consent.credits = 0
        return "skipped"
    consent.credits -= 1
    return "sent"


def _deliver(note: Notification) -> str:
    user = db.session.get(User, note.user_id)
    if note.channel == "inbox":
        return "sent"  # the inbox is the table itself
    if user is None or not user.active:
        return "skipped"
    if note.channel == "sms":
        if not user.phone:
            return "skipped"
        sms_gateway().send(user.phone, f"【网格调处】{note.title}：{note.body}")
        return "sent"
    return _deliver_wechat(note, user)


@jobs.recorded(jobs.NOTIFY)
def deliver_due(*, limit: int = BATCH) -> dict[str, int]:
    """Send pending notifications whose time has come; returns counts by outcome (its
    start and end are kept for /healthz: jobs.recorded).

    Rows are claimed with FOR UPDATE SKIP LOCKED (on PostgreSQL), so several senders can
    run; each notification is committed on its own, so one failure costs nothing else.
    """
    outcome = {"sent": 0, "skipped": 0, "retry": 0, "dead": 0}
    ids = db.session.scalars(
        select(Notification.id)
        .where(Notification.status == "pending", Notification.next_attempt_at <= clock.now())
        .order_by(Notification.id)
        .limit(limit)
    ).all()
    db.session.commit()
    for note_id in ids:
        note = db.session.scalar(
            select(Notification)
            .where(Notification.id == note_id, Notification.status == "pending")
            .with_for_update(skip_locked=True)
        )
        if note is None:  # another sender has it
            db.session.rollback()
            continue
        try:
            result = _deliver(note)
        except Exception as error:
            # Whatever went wrong with this one (WeChat busy, the network down, a gateway's
            # or our own fault), it is retried later and the others go on: a message that
            # always fails ends as dead instead of holding back the queue.
            db.session.rollback()
            code = getattr(error, "code", None) or type(error).__name__
            if not isinstance(error, wechat.WeChatUnavailable):
                # The kind of error and the message's number only: no address, no text.
                log.warning("notification %s (%s) failed: %s", note_id, note.channel, code)
            note = db.session.get(Notification, note_id)
            note.attempts += 1
            note.last_error = str(code)[:200]
            if note.attempts >= MAX_ATTEMPTS:
                note.status = "dead"
                outcome["dead"] += 1
            else:
                # 1, 2, 4, 8, 16 minutes: WeChat busy or the network down.
                note.next_attempt_at = clock.now() + timedelta(minutes=2 ** (note.attempts - 1))
                outcome["retry"] += 1
            db.session.commit()
            continue
        note.status = result
        note.attempts += 1
        if result == "sent":
            note.sent_at = clock.now()
        outcome[result] += 1
        db.session.commit()
    return outcome


# --- dead letters ------------------------------------------------------------------------


def _for_town_of(viewer: User | None):
    """A WHERE clause on messages: those to `viewer`'s town's people (the district's
    staff, and the operator's command line: everyone's)."""
    if viewer is None:
        return true()
    return Notification.user_id.in_(
        select(User.id).where(towns.in_users_town(viewer, User.town_id))
    )


def dead_letters(viewer: User | None = None, *, limit: int = 200) -> list[Notification]:
    """Messages the sender gave up on, newest first: those to `viewer`'s town's people."""
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.status == "dead", _for_town_of(viewer))
            .order_by(Notification.id.desc())
            .limit(limit)
        )
    )


def resend_dead(note_ids: Iterable[int], *, actor: User, ip: str | None = None) -> int:
    """Put dead messages back in the outbox as new (pending, no attempts, due now), for
    the next `grid-report notify`; ids of messages that are not dead are passed over.
    Audited; returns how many were put back."""
    notes = list(
        db.session.scalars(
            select(Notification)
            .where(
                Notification.id.in_(set(note_ids)),
                Notification.status == "dead",
                _for_town_of(actor),
            )
            .order_by(Notification.id)
            .with_for_update()
        )
    )
    now = clock.now()
    for note in notes:
        note.status, note.attempts, note.next_attempt_at = "pending", 0, now
        note.last_error = None
    if notes:
        audit.record(
            "notification.resend",
            actor=actor,
            object_type="notification",
            object_id=notes[0].id if len(notes) == 1 else None,
            ip=ip,
            count=len(notes),
            messages=[note.id for note in notes],
        )
    return len(notes)
