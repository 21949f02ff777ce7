"""Screenings (排查) and coverage (排查无盲区): which villages screened in a period.

A grid worker files a screening for a village with the checklist of categories looked at;
each finding becomes a case through the same create path as any report, linked to the
screening; none is a nil return (零报告) and counts as a screening all the same.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from server.cases import limits, outbox
from server.cases.operations import ReportDraft, submit_report
from server.db import db
from server.infra import clock
from server.infra.errors import Conflict, Forbidden, ValidationFailed
from server.models import Category, Notification, Role, Screening, Source, User, Village
from server.models.places import in_service_since
from server.trust import towns


def file_screening(
    *,
    actor: User,
    village: Village,
    checked: list[str],
    findings: list[ReportDraft],
    screened_at: datetime | None = None,
    note: str | None = None,
    idempotency_key: str | None = None,
) -> Screening:
    """Record a screening and turn each finding into a case linked to it."""
    if actor.role != Role.GRID_WORKER or village.id not in actor.village_ids:
        raise Forbidden("只能为本人负责的村提交排查。")
    if not village.active:
        raise ValidationFailed(f"{village.name}已停用，无需排查。", code="village_closed")
    known = set(db.session.scalars(select(Category.code)))
    unknown = [code for code in checked if code not in known]
    if unknown or not checked:
        raise ValidationFailed(
            "排查清单须列出已排查的类别。", code="invalid_checklist", field="checked"
        )
    now = clock.now()
    screened_at = screened_at or now
    if screened_at.tzinfo is not None:
        clock.check_year(screened_at, "screened_at")
    if screened_at.tzinfo is None or screened_at > now + timedelta(minutes=5):
        raise ValidationFailed(
            "排查时间不能晚于现在。", code="invalid_datetime", field="screened_at"
        )
    screening = Screening(
        village_id=village.id,
        user_id=actor.id,
        screened_at=screened_at,
        checked=sorted(set(checked)),
        nil_return=not findings,
        note=(note or "").strip()[: limits.NOTE] or None,
        idempotency_key=idempotency_key,
        created_at=now,
    )
    try:
        with db.session.begin_nested():  # one finding refused, nothing of it is written
            db.session.add(screening)
            db.session.flush()  # its id goes on each finding's case
            for draft in findings:
                draft.village, draft.source = village, Source.SCREENING.value
                submit_report(draft, actor=actor, screening=screening)
    except IntegrityError:
        if idempotency_key:
            # The same request, sent at once to two workers, filed by the other: the
            # idempotency layer answers with that one's answer (idempotency.Taken).
            raise Conflict("此排查已提交过。", code="already_submitted") from None
        raise
    return screening


def filed_with_key(key: str | None, actor: User) -> Screening | None:
    """The screening `actor` filed already with the client's `key`, if any (a resend
    after the stored answer was purged: answered with it, see operations.filed_with_key)."""
    if not key:
        return None
    found = db.session.scalar(select(Screening).where(Screening.idempotency_key == key))
    return found if found is not None and found.user_id == actor.id else None


@dataclass
class Period:
    label: str
    start: date
    end: date  # exclusive
    required: int


def weeks(last: date, count: int, required: int) -> list[Period]:
    """The `count` weeks (Monday first) up to the one holding `last`, oldest first."""
    monday = last - timedelta(days=last.weekday())
    return [
        Period(
            f"{(monday - timedelta(weeks=i)):%m-%d}起",
            monday - timedelta(weeks=i),
            monday - timedelta(weeks=i - 1),
            required,
        )
        for i in range(count - 1, -1, -1)
    ]


def months(last: date, count: int, required: int) -> list[Period]:
    """The `count` calendar months up to the one holding `last`, oldest first."""
    periods, year, month = [], last.year, last.month
    for _ in range(count):
        start = date(year, month, 1)
        end = date(year + (month == 12), month % 12 + 1, 1)
        periods.append(Period(f"{year}年{month}月", start, end, required))
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return list(reversed(periods))


def seen_by(user: User):
    """A WHERE clause on screenings: those `user` reads. A grid worker, their villages';
    a town's people, their town's villages'; the district's, every town's."""
    if user.role == Role.GRID_WORKER:
        return Screening.village_id.in_(user.village_ids or {-1})
    return Screening.village_id.in_(
        select(Village.id).where(towns.in_users_town(user, Village.town_id))
    )


def coverage(periods: list[Period], user: User) -> list[tuple[Village, list[int]]]:
    """Screenings per village and period (a nil return counts), of the villages `user`
    sees (their town's; the district's, every town's)."""
    tz = clock.town_tz()
    start = datetime.combine(periods[0].start, time(0), tzinfo=tz)
    end = datetime.combine(periods[-1].end, time(0), tzinfo=tz)
    rows = db.session.execute(
        select(Screening.village_id, Screening.screened_at).where(
            Screening.screened_at >= start, Screening.screened_at < end, seen_by(user)
        )
    ).all()
    counts: dict[tuple[int, int], int] = {}
    for village_id, moment in rows:
        day = clock.local(moment).date()
        for index, period in enumerate(periods):
            if period.start <= day < period.end:
                counts[(village_id, index)] = counts.get((village_id, index), 0) + 1
    town = [] if user.town_id is None else [Village.town_id == user.town_id]
    villages = db.session.scalars(
        select(Village)
        .where(in_service_since(start), *town)
        .order_by(Village.town_id, Village.code)
    ).all()
    return [(v, [counts.get((v.id, i), 0) for i in range(len(periods))]) for v in villages]


def remind_late_villages(*, required_per_week: int) -> int:
    """Remind the grid workers of villages that have not screened this week (from
    Thursday on; once a week). Returns how many villages were reminded."""
    today = clock.local(clock.now()).date()
    if today.weekday() < 3:
        return 0
    week = weeks(today, 1, required_per_week)[0]
    tz = clock.town_tz()
    since = datetime.combine(week.start, time(0), tzinfo=tz)
    done = dict(
        db.session.execute(
            select(Screening.village_id, func.count(Screening.id))
            .where(Screening.screened_at >= since)
            .group_by(Screening.village_id)
        ).all()
    )
    # Read to write (FOR UPDATE): two sweeps at once take turns here, and the second
    # sees the first's reminders.
    late = [
        village
        for village in db.session.scalars(
            select(Village).where(Village.active.is_(True)).with_for_update()
        )
        if done.get(village.id, 0) < required_per_week
    ]
    # The late villages' workers, and which of them were reminded this week, in two
    # statements: a district's sweep asked both for each of its 450 villages in turn.
    workers = outbox.workers_of_villages([village.id for village in late])
    everyone = {user.id for people in workers.values() for user in people}
    told = set(
        db.session.scalars(
            select(Notification.user_id).where(
                Notification.kind == "screening_due",
                Notification.created_at >= since,
                Notification.user_id.in_(everyone or {-1}),
            )
        )
    )
    # One message a week to each worker, naming every late village of theirs: a worker
    # of two villages, told of one, was never told of the other.
    theirs: dict[int, tuple] = {}
    for village in late:
        for user in workers.get(village.id, []):
            theirs.setdefault(user.id, (user, []))[1].append(village)
    reminded: set[int] = set()
    for user_id, (user, villages) in theirs.items():
        if user_id in told:
            continue
        names = "、".join(village.name for village in villages)
        if len(names) > 200:
            names = f"{villages[0].name}等{len(villages)}个村"
        outbox.queue(
            [user],
            "screening_due",
            case=None,
            title="本周排查未完成",
            body=f"{names}本周还没有提交排查（没有发现也请提交零报告）。",
        )
        reminded.update(village.id for village in villages)
    return len(reminded)
