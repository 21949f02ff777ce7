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
from sqlalchemy import select, true, update

from server.db import db, insert_for
from server.follow_through import jobs
from server.infra import clock, wechat
from server.models import Case, Notification, ServiceToken, User, WeChatConsent
from server.trust import audit, towns

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6
BATCH = 200


# How long a message claimed on SQLite is another sender's to leave alone (a send takes
# at most four calls of WECHAT_TIMEOUT_SECONDS); a sender that died frees it after this.
LEASE = timedelta(minutes=2)


def _one_writer() -> bool:
    """SQLite: one writer at a time for the whole database. A row lock (FOR UPDATE) takes
    SQLite's write lock there, and held through WeChat's answer (up to four calls of 5 s)
    it made every report and action wait. On SQLite a message is claimed by a short
    transaction that moves its next attempt a LEASE on, then sent with no lock held, and
    what happened is written in a short transaction after. On PostgreSQL the row lock
    (SKIP LOCKED) is the claim and locks nothing else."""
    return db.session.get_bind().dialect.name == "sqlite"


def _claimed(note_id: int) -> Notification | None:
    """The message `note_id`, claimed for this sender; None if another has it or it was
    put back for later meanwhile."""
    now = clock.now()
    due = (
        Notification.id == note_id,
        Notification.status == "pending",
        Notification.next_attempt_at <= now,
    )
    if not _one_writer():
        return db.session.scalar(select(Notification).where(*due).with_for_update(skip_locked=True))
    taken = db.session.execute(
        update(Notification).where(*due).values(next_attempt_at=now + LEASE)
    ).rowcount
    db.session.commit()
    return db.session.get(Notification, note_id) if taken else None


# --- delivering --------------------------------------------------------------------------


class LogSms:
    """The default SMS gateway: writes to the log that a message went, to whom (the phone
    number masked) and how long it was; never its text, which may quote a villager's own
    words (an urgent report's description, with names and numbers in it)."""

    def send(self, phone: str, text: str) -> None:
        masked = f"{phone[:3]}****{phone[-4:]}" if len(phone) > 7 else "***"
        log.info("sms to %s: %d characters", masked, len(text))


def sms_gateway():
    """The configured SMS gateway (log-only until one is contracted)."""
    return LogSms()


# The token this process fetched last, (value, expires): the database row is written in
# the message's own transaction, which a failed send rolls back; without this, the next
# message fetched again, and on 40001 forced a refresh each time (WeChat allows 20 a day).
_fetched: dict[tuple, tuple[str, object]] = {}  # (API base, appid) -> (token, expires)


def access_token(client, *, refresh: bool = False, refused: str | None = None) -> str:
    """WeChat's access token, cached in the database for every process until shortly
    before it expires (and in this process, see `_fetched`). `refresh`: the cached one was
    refused (`refused`): ask WeChat's current one, and force a new one only when that is
    the one refused (a forced refresh voids every other caller's token)."""
    now = clock.now()
    row = db.session.get(ServiceToken, "wechat")
    soon = now + timedelta(minutes=5)
    mine = (getattr(client, "base_url", None), getattr(client, "appid", None))
    if not refresh:
        if row is not None and row.expires_at > soon:
            return row.value
        if mine in _fetched and _fetched[mine][1] > soon:
            return _fetched[mine][0]
    value, lifetime = wechat.stable_token(client)
    if refresh and value == refused:
        value, lifetime = wechat.stable_token(client, force_refresh=True)
    # Written whether or not another sender (another machine) wrote it meanwhile: WeChat's
    # stable token is the same to each caller, and a plain INSERT of the second failed.
    table = ServiceToken.__table__
    expires = now + timedelta(seconds=lifetime)
    _fetched[mine] = (value, expires)
    db.session.execute(
        insert_for(table)
        .values(name="wechat", value=value, expires_at=expires)
        .on_conflict_do_update(
            index_elements=["name"], set_={"value": value, "expires_at": expires}
        )
    )
    if row is not None:
        db.session.expire(row)
    if _one_writer():
        db.session.commit()  # SQLite's write lock is not held through the send (_one_writer)
    return value


def _deliver_wechat(note: Notification, user: User) -> str:
    config = current_app.config
    template = str(config.get("WECHAT_TEMPLATE_ID") or "")
    # Locked to the end of this message's transaction: two senders (two machines) sending
    # to one person at once each spent a credit read before the other's was written, and
    # one was lost (tests/test_several_machines.py, on PostgreSQL).
    consent = (
        db.session.get(
            WeChatConsent,
            (user.id, template),
            with_for_update=not _one_writer(),
            populate_existing=True,
        )
        if template
        else None
    )
    if not template or not user.wechat_openid or consent is None or consent.credits < 1:
        return "skipped"  # no consent reported by the mini program: never send
    if config["WECHAT_MODE"] == "off":
        return "skipped"  # switched off (an offline town): nothing to retry
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
        token = access_token(client, refresh=True, refused=token)  # once more, fresh
        try:
            wechat.subscribe_send(
                client,
                token,
                openid=user.wechat_openid,
                template_id=template,
                page=page,
                data=data,
            )
        except wechat.WeChatNoConsent:
            consent.credits = 0
            return "skipped"
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
    case = db.session.get(Case, note.case_id) if note.case_id else None
    if case is not None and user.town_id is not None and user.town_id != case.town_id:
        # Moved to another town since it was queued: a case of a town not theirs now.
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
        note = _claimed(note_id)
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
            note = db.session.get(Notification, note_id, with_for_update=True)
            if note is None or note.status != "pending":  # another sender settled it
                db.session.rollback()
                continue
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
