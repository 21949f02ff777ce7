"""The deadline sweep (`grid-report sweep`, run every minute by a timer).

Turns running steps yellow (due soon) and red (overdue), raises supervision (督办) on an
overdue case once, chases it, and reports an urgent report nobody accepted in time to the
leaders; keeps the figures of each month that is over (server/figures/statistics.py). Safe to run
twice at once or on two machines: each case is claimed with a row lock (FOR UPDATE SKIP
LOCKED on PostgreSQL; SQLite's writes are serial anyway) and its `clock_alert` says how
far it was already chased, so nothing is done twice.
"""

from __future__ import annotations

from datetime import UTC, timedelta

from flask import current_app
from sqlalchemy import exists, func, select, text, union_all

from server.cases import media, outbox, workflow
from server.db import db
from server.figures import exports, partials
from server.follow_through import jobs, screening
from server.infra import clock
from server.models import Case, CaseDocument, CaseStatus, DocumentKind, Notification
from server.models.cases import MEDIATED, SWEEP_DUE, SWEEP_WARN
from server.trust import idempotency, identity, throttle, websession


def _due(now, limit: int) -> list[int]:
    """The cases whose running step the sweep must chase now, soonest due first: those
    not yet yellow past their warning time, and those not yet red past their due time.
    Each is read from a partial index of the steps still to chase at that level (see
    SWEEP_WARN and SWEEP_DUE in server/models/cases.py), so a sweep costs what is due, not
    what the table holds."""
    found = {}
    for level, moment in ((SWEEP_WARN, Case.warn_at), (SWEEP_DUE, Case.due_at)):
        found.update(
            db.session.execute(
                select(Case.id, Case.due_at)
                .where(text(level), moment <= now)
                .order_by(moment)
                .limit(limit)
            ).all()
        )
    return sorted(found, key=lambda case_id: (found[case_id], case_id))[:limit]


@jobs.recorded(jobs.SWEEP)
def run(*, limit: int = 500) -> dict[str, int]:
    """One sweep; returns how many steps turned yellow and red, and cases supervised
    (its start and end are kept for /healthz: jobs.recorded)."""
    now = clock.now()
    counts = {"warned": 0, "overdue": 0, "supervised": 0, "escalated": 0}
    ids = _due(now, limit)
    db.session.commit()
    for case_id in ids:
        case = db.session.scalar(
            select(Case).where(Case.id == case_id).with_for_update(skip_locked=True)
        )
        if case is None or case.due_at is None:
            db.session.rollback()
            continue
        if case.due_at <= now and case.clock_alert != "overdue":
            case.clock_alert = "overdue"
            counts["overdue"] += 1
            if case.status == CaseStatus.SUBMITTED and case.held_as_spam:
                pass  # held apart in a flood, alerting nobody: the center's held list shows it
            elif case.status == CaseStatus.SUBMITTED:
                if case.urgent:
                    # The event's notification rule tells the leaders and the center.
                    workflow.apply_as_system(
                        case, "escalate_to_leader", note="紧急报告超时未受理，已报告分管领导。"
                    )
                    counts["escalated"] += 1
                else:
                    workflow.apply_as_system(case, "chase", note="超过受理时限，请尽快受理。")
            elif not case.supervised:
                workflow.apply_as_system(
                    case, "supervise", note=f"{case.step.label}已超过期限，系统自动督办。"
                )
                counts["supervised"] += 1
            else:
                workflow.apply_as_system(case, "chase", note=f"{case.step.label}已超过期限。")
        elif case.clock_alert is None and case.warn_at is not None and case.warn_at <= now:
            case.clock_alert = "warn"
            counts["warned"] += 1
            people = outbox.step_holders(case)
            outbox.queue(
                people,
                "due_soon",
                case=case,
                title="即将到期",
                body=f"{outbox.subject(case)}：{case.step.label}将于"
                f"{clock.local(case.due_at):%m-%d %H:%M}到期",
            )
        db.session.commit()

    counts["sessions_purged"] = websession.purge_expired(
        int(current_app.config["ADMIN_IDLE_MINUTES"])
    )

    counts["throttles_purged"] = throttle.purge(now)
    counts["answers_purged"] = idempotency.purge(
        timedelta(hours=int(current_app.config["IDEMPOTENCY_KEEP_HOURS"]))
    )
    counts["identities_purged"] = identity.purge(int(current_app.config["IDENTITY_RETENTION_DAYS"]))
    counts["exports_removed"] = exports.clean_up()  # ledgers nobody fetched
    counts["photos_purged"] = media.purge_unclaimed(
        timedelta(days=int(current_app.config["MEDIA_UNCLAIMED_DAYS"]))
    )
    counts["confirmation_reminders"] = remind_judicial_confirmation(now)

    counts["screening_reminders"] = screening.remind_late_villages(
        required_per_week=int(current_app.config["SCREENINGS_PER_WEEK"])
    )
    db.session.commit()

    # The dashboard adds up months that are over from what is kept here.
    counts["months_kept"] = partials.keep_month_figures()
    db.session.commit()
    return counts


# A mediation agreement may be confirmed by a court (司法确认) if both parties apply within
# 30 days of its taking effect (民事诉讼法 art. 205): it takes effect when signed, so the
# window runs from the agreement's signing (server/casefile: an agreement is signed when
# its signed scan is filed, on the date it bears); a case mediated with no agreement on
# file counts from its result. The department and the center are reminded five days
# before the window closes.
CONFIRMATION_WINDOW = timedelta(days=30)
CONFIRMATION_NOTICE = timedelta(days=5)


def remind_judicial_confirmation(now) -> int:
    """Remind once for each mediated agreement whose confirmation window closes soon."""
    start = now - CONFIRMATION_WINDOW
    end = now - CONFIRMATION_WINDOW + CONFIRMATION_NOTICE
    # Read from what may fall in the window only: agreements signed in it (a partial
    # index of signed agreements), mediated cases settled in it (ix_case_file_mediated);
    # then each candidate's first signing decides (an earlier one puts it out).
    candidates = union_all(
        select(CaseDocument.case_id).where(
            CaseDocument.kind == DocumentKind.AGREEMENT,
            CaseDocument.signed_at > start,
            CaseDocument.signed_at <= end,
        ),
        select(Case.id).where(
            text(MEDIATED),  # the words of the partial index, as literal SQL
            Case.resolved_at > start,
            Case.resolved_at <= end,
        ),
    )
    first_signed = (
        select(func.min(CaseDocument.signed_at))
        .where(
            CaseDocument.case_id == Case.id,
            CaseDocument.kind == DocumentKind.AGREEMENT,
            CaseDocument.signed_at.is_not(None),
        )
        .correlate(Case)
        .scalar_subquery()
    )
    effective = func.coalesce(first_signed, Case.resolved_at)
    reminded = exists(
        select(Notification.id).where(
            Notification.case_id == Case.id, Notification.kind == "judicial_confirmation"
        )
    ).correlate(Case)
    rows = db.session.execute(
        select(Case, effective)
        .where(Case.id.in_(candidates), effective > start, effective <= end, ~reminded)
        # Read to write: a sweep running at the same time takes turns with this one
        # (SQLite) or skips the cases this one holds (PostgreSQL); none is reminded twice.
        .with_for_update(of=Case, skip_locked=True)
    ).all()
    for case, since in rows:
        closes = clock.local(as_utc(since) + CONFIRMATION_WINDOW)
        people = outbox.department_members(case)
        outbox.queue(
            people + outbox.center_staff(case),
            "judicial_confirmation",
            case=case,
            title="司法确认期限将至",
            body=f"{outbox.subject(case)}：调解协议可于{closes:%m月%d日}前申请司法确认",
        )
    db.session.commit()
    return len(rows)


def as_utc(moment):
    """A moment read through a bare SQL expression (SQLite gives it back naive, in UTC)."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
