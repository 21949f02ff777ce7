"""Supporting records: the working-day calendar's corrections and the audit log."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db import db
from server.models.base import DISTRICT_ROW, UTCDateTime, utcnow


class CalendarDay(db.Model):
    """An admin's correction to the holiday calendar: this day is (not) a working day.

    The library knows the published schedule; this table wins over it, for a year the
    library does not know yet or a local change.
    """

    __tablename__ = "calendar_day"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workday: Mapped[bool] = mapped_column(Boolean)
    name: Mapped[str | None] = mapped_column(String(64))


class CalendarYear(db.Model):
    """A year whose holidays and make-up workdays the admin confirmed from the State
    Council's notice (its days are `CalendarDay` rows): it needs no other source."""

    __tablename__ = "calendar_year"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))


class AuditEntry(db.Model):
    """Who did what, when, from where: written with the change it records, never edited."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_entry_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), index=True)
    # The town the actor acted for, as it was then (none: the district's people, the
    # system's jobs, villagers): an account moved to another town leaves its acts behind
    # with the town's auditor who should read them (server.trust.audit.readable_by).
    # `town_kept` tells these from the entries written before (false), which were given
    # their actor's town at the upgrade. No index: a town's auditor's page walks the
    # newest entries by id and keeps their town's.
    town_id: Mapped[int | None] = mapped_column(ForeignKey("town.id"))
    town_kept: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str | None] = mapped_column(String(32))
    object_id: Mapped[str | None] = mapped_column(String(64))
    ip: Mapped[str | None] = mapped_column(String(45))
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
    # A chain: each row's hash covers its own fields and the previous row's hash, so a
    # row changed or taken out afterwards shows (`grid-report audit verify`).
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))


class LoginThrottle(db.Model):
    """Failed sign-ins counted under one key (a username, an address, or the two
    together): each count slows the next try down, never locks anyone out
    (`server.trust.throttle`). Kept in the database so every worker and machine counts the same."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(128), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotencyRecord(db.Model):
    """A request made with an Idempotency-Key, and the first answer it got.

    Written with its answer in the same transaction as the work, so the answer and the work
    land together (see `server.trust.idempotency`); a row without an answer is an unfinished claim.
    """

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Whose key: "user:<id>" or a villager's page; keys of different clients never meet.
    scope: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(36))
    # sha256 of method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_code: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str | None] = mapped_column(Text)


class WebSession(db.Model):
    """One signed-in browser."""

    __tablename__ = "web_session"

    # sha256 of the cookie's value: a database leak does not hand out live sessions.
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), index=True
    )
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Notification(db.Model):
    """One message to one person on one channel: the outbox.

    Written in the same transaction as the event that causes it; delivered afterwards by
    `grid-report notify` (server/follow_through/notifications.py), with retries and a
    dead-letter state.
    The in-app inbox reads the "inbox" rows.
    """

    __tablename__ = "notification"
    __table_args__ = (
        Index("ix_notification_due", "status", "next_attempt_at"),
        Index("ix_notification_inbox", "user_id", "channel", "read_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(8))  # inbox, wechat, sms
    kind: Mapped[str] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_file.id"), index=True)
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(String(500))
    # pending -> sent | skipped (no consent, no address) | dead (gave up after retries)
    status: Mapped[str] = mapped_column(String(8), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WeChatConsent(db.Model):
    """Subscribe-message sends a user allowed: each "accept" in the mini program is one."""

    __tablename__ = "wechat_consent"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("user_account.id", ondelete="CASCADE"), primary_key=True
    )
    template_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    credits: Mapped[int] = mapped_column(Integer, default=0)


class ServiceToken(db.Model):
    """A token of an outside service (WeChat's access_token), shared by every process."""

    __tablename__ = "service_token"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[str] = mapped_column(String(512))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MonthlyFigures(db.Model):
    """A month's event figures for the whole deployment (a town, or a district's towns),
    kept once the month is over; each town of a district keeps its own too
    (`TownMonthlyFigures`).

    Events are written at the moment they happen and never change, so a month that is
    over (by an hour: server.figures.partials.KEEP_AFTER) gains none, and its row stays valid.
    """

    __tablename__ = "monthly_figures"
    # The sweep asks every minute which months are kept, and by which version: from this
    # index alone, not from the rows, whose figures fill overflow pages and grow with the
    # town's months and cases (8 ms at a million cases on SQLite, read from the rows).
    __table_args__ = (Index("ix_monthly_figures_version", "version", "month"),)

    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    # The month's partial figures, in the form figures.partials.Partial reads (JSON), and the
    # version of that form (rows of another are counted again).
    partial: Mapped[dict] = mapped_column(JSON)
    version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TownMonthlyFigures(db.Model):
    """A month's event figures for one town of a district, kept once the month is over:
    `MonthlyFigures` are the whole deployment's, and a town's year would otherwise be
    counted from a year of its events (2.4 s for a town of 100,000 cases a year in a
    district of ten million). Kept only where the deployment holds several towns (a town
    alone reads the deployment's); counted over the villages the town has when it is
    kept (a village stays in its town)."""

    __tablename__ = "town_monthly_figures"
    # Which months of which towns are kept, and by which version: from the index alone.
    __table_args__ = (Index("ix_town_monthly_figures_version", "version", "town_id", "month"),)

    town_id: Mapped[int] = mapped_column(
        ForeignKey("town.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    partial: Mapped[dict] = mapped_column(JSON)  # as MonthlyFigures.partial
    version: Mapped[int] = mapped_column(Integer)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MonthlyReceived(db.Model):
    """The reports a month received, by source, category and village, and each town's by
    source and category, kept once the month is over (the dashboard's year, the district's
    or a town's, reads twelve of these instead of a year of cases).

    Unlike events, they change after the month: a duplicate merged, a report put in
    another category at acceptance. Each such change counts one more `revision` of its
    month (server/cases/workflow/effects.py, in the change's own transaction); the sweep
    reads the revision, then counts, then keeps `received` as of it (`kept_revision`), so
    a change committed after the read leaves the kept row behind, and one before it is
    counted. A row whose two revisions differ is counted afresh until the sweep keeps it
    again (server/figures/partials.py).
    """

    __tablename__ = "monthly_received"

    month: Mapped[date] = mapped_column(Date, primary_key=True)  # its first day
    # Before the figures: the sweep's question (which months to count again) reads these
    # two from the row's first page.
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    kept_revision: Mapped[int | None] = mapped_column(Integer)
    received: Mapped[dict | None] = mapped_column(JSON)


class Approval(db.Model):
    """A sensitive change one person asked for and a second must approve (MLPS 2.0: no
    one alone makes an account that reads informants, resets such an account's password,
    or lets the village read a confidential category). Applied on approval only."""

    __tablename__ = "approval"
    __table_args__ = (Index("ix_approval_pending", "status", "requested_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # grant_role (a new privileged account), reset_password, clear_confidential
    kind: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[str] = mapped_column(String(64))
    # What the change is (a new password only as its hash).
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user_account.id"))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default="pending")  # approved, refused
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class JobRun(db.Model):
    """When a scheduled job (the sweep, the sender) last started, finished and succeeded,
    and why its last run failed: kept in the database, so /healthz and /metrics say the
    same whichever worker or machine answers (server/follow_through/jobs.py)."""

    __tablename__ = "job_run"

    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The kind of error only (an exception's class or a code): never a message, which may
    # quote a row's values.
    last_error: Mapped[str | None] = mapped_column(String(200))


class LeagueStandard(db.Model):
    """One measure of the monthly league tables (考核), as the system admin set it: its
    weight in the score, its pass mark (a percentage, or screenings a month), and the
    fewest cases it is judged on (server/figures/league.py holds the defaults). The rows of
    no town are the district's; a town that judges its own units otherwise holds a row of
    every measure, a whole set of its own."""

    __tablename__ = "league_standard"
    __table_args__ = (
        UniqueConstraint("town_id", "measure"),
        # NULLs are never equal in a UNIQUE: the district's rows need their own.
        Index(
            "uq_league_standard_district_measure",
            "measure",
            unique=True,
            sqlite_where=text(DISTRICT_ROW),
            postgresql_where=text(DISTRICT_ROW),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    town_id: Mapped[int | None] = mapped_column(ForeignKey("town.id", ondelete="CASCADE"))
    measure: Mapped[str] = mapped_column(String(16))
    weight: Mapped[int] = mapped_column(Integer)
    pass_mark: Mapped[float] = mapped_column(Float)
    min_sample: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"))
