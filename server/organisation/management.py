"""What the system admin changes: departments, categories, the calendar (accounts:
server/organisation/accounts.py; villages and grids: server/organisation/places.py).

Every change is audited in the same transaction. The caller commits.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select

from server.db import db
from server.infra import clock
from server.infra.errors import Conflict, NotFound, ValidationFailed
from server.models import (
    AssignmentRole,
    CalendarDay,
    CalendarYear,
    Category,
    CategoryTimeLimit,
    Department,
    DepartmentKind,
    RiskLevel,
    RoutingRule,
    Step,
    Town,
    User,
    Village,
)
from server.organisation import holiday_notice, reference
from server.organisation.checks import checked_name, checked_phone
from server.organisation.deadlines import Duration, duration_of
from server.trust import approvals, audit


def save_department(
    *,
    actor: User | None,
    department: Department | None,
    name: str,
    kind: str,
    town_wide: bool,
    village_ids: list[int],
    active: bool = True,
    phone: str | None = None,
    town: str | None = None,
    ip: str | None = None,
) -> Department:
    """Create or change a department and the villages it covers.

    A town's admin keeps to their town's departments. The district's admin names the
    department's place when making one (`town`: a town's id, or "district" for a
    district department, 区直部门, which serves the cases escalated to the district's
    center and covers no village)."""
    own_town = actor.town_id if actor is not None else None
    if department is not None and own_town is not None and department.town_id != own_town:
        raise NotFound("找不到该部门。")  # another town's: as if it did not exist
    try:
        kind = DepartmentKind(kind)
    except ValueError:
        raise ValidationFailed("部门类型无效。", code="invalid_choice", field="kind") from None
    name = checked_name(name, "部门名称")
    town_id = department.town_id if department is not None else department_town(actor, town)
    # A name is its town's own (two towns may each have a 东村村委会), or the district's.
    clash = db.session.scalar(
        select(Department).where(Department.name == name, of_town(Department.town_id, town_id))
    )
    if clash is not None and clash is not department:
        said = "本镇已有同名部门。" if town_id is not None else "已有同名区直部门。"
        raise Conflict(said, code="department_taken")
    if department is None:
        department = Department(town_id=town_id)
        db.session.add(department)
    department.name, department.kind = name, kind
    department.town_wide = town_wide and department.town_id is not None
    department.active = active
    if phone is not None:
        department.phone = checked_phone(phone)
    villages = [db.session.get(Village, v) for v in village_ids]
    department.villages = [v for v in villages if v is not None and v.town_id == department.town_id]
    db.session.flush()
    audit.record(
        "department.save",
        actor=actor,
        object_type="department",
        object_id=department.id,
        ip=ip,
        name=name,
        kind=kind.value,
        villages=[v.id for v in department.villages],
        town_wide=town_wide,
    )
    return department


def of_town(column, town_id: int | None):
    """`column` is the town `town_id`, or the district (None: no town)."""
    return column.is_(None) if town_id is None else column == town_id


def department_town(actor: User | None, asked: str | None) -> int | None:
    """Where a new department sits: the actor's town; for the district's admin, the
    town asked for, or the district itself ("district"); asked nothing (a town's file
    read by the operator), the first town."""
    if actor is not None and actor.town_id is not None:
        return actor.town_id
    if asked is None:
        return db.session.scalar(select(Town.id).order_by(Town.id))
    if asked == "district":
        return None
    town = db.session.get(Town, int(asked)) if asked.isdigit() else None
    if town is None:
        raise ValidationFailed(
            "请选择部门所属的镇，或选择区直部门。", code="invalid_choice", field="town"
        )
    return town.id


def _limits_of(
    step: Step, warn: tuple[str, str], due: tuple[str, str]
) -> tuple[Duration | None, Duration]:
    """A step's yellow stage and deadline from the form's numbers and units, refused in
    words that name the step."""
    parsed = []
    for (amount, unit), what, needed in ((warn, "黄色提醒", False), (due, "期限", True)):
        if not (amount or "").strip() and not needed:
            parsed.append(None)
            continue
        if not (amount or "").strip():
            raise ValidationFailed(
                f"{step.label}须有期限。", code="missing_field", field=step.value
            )
        try:
            parsed.append(duration_of(amount, unit))
        except ValueError as error:
            raise ValidationFailed(
                f"{step.label}的{what}：{error}", code="invalid_duration", field=step.value
            ) from None
    first, last = parsed
    if first is not None and first.unit == last.unit and first.amount >= last.amount:
        raise ValidationFailed(
            f"{step.label}的黄色提醒须早于期限（{first.label}不早于{last.label}）。",
            code="invalid_duration",
            field=step.value,
        )
    return first, last


def save_category(
    category: Category,
    *,
    actor: User,
    name: str,
    hint: str | None,
    urgent: bool,
    confidential: bool,
    emergency: bool,
    active: bool,
    default_risk_level: str,
    limits: dict[str, tuple[tuple[str, str], tuple[str, str]]],
    lead_kind: str | None,
    co_kinds: list[str],
    ip: str | None = None,
) -> bool:
    """Change a category's flags, time limits and (kind-based) routing. Returns whether
    a part of it waits for a second person (clearing `confidential`).

    `limits` maps a step to its yellow stage and its deadline, each a number and a unit as
    the form sends them (``("1", "wd")``; a yellow stage with no number: none). They are
    stored as before (``1wd``)."""
    category.name = checked_name(name, "类别名称", 32)
    category.hint = (hint or "").strip()[:200] or None
    waiting = category.confidential and not confidential
    if waiting:
        # The village's grid workers would read its reports: a second person decides.
        approvals.ask(
            "clear_confidential",
            actor=actor,
            object_type="category",
            object_id=category.code,
            payload={"name": category.name},
            ip=ip,
        )
        confidential = True
    category.urgent, category.confidential = urgent, confidential
    category.emergency, category.active = emergency, active
    try:
        category.default_risk_level = RiskLevel(default_risk_level)
        steps = {Step(step): value for step, value in limits.items()}
        kinds = [DepartmentKind(k) for k in [lead_kind, *co_kinds] if k]
    except ValueError:
        raise ValidationFailed("取值无效。", code="invalid_choice") from None
    chosen = {step: _limits_of(step, warn, due) for step, (warn, due) in steps.items()}
    rows = {row.step: row for row in category.time_limits}
    for step, (warn, due) in chosen.items():
        row = rows.get(step) or CategoryTimeLimit(step=step)
        row.warn, row.due = (str(warn) if warn else None), str(due)
        if step not in rows:
            category.time_limits.append(row)
    # Kind-based rules for every village are replaced; village-specific rules stay.
    category.routing_rules = [r for r in category.routing_rules if r.village_id is not None]
    for index, kind in enumerate(kinds):
        category.routing_rules.append(
            RoutingRule(
                department_kind=kind,
                role=AssignmentRole.LEAD if index == 0 and lead_kind else AssignmentRole.CO,
            )
        )
    db.session.flush()
    reference.forget()
    audit.record(
        "category.save",
        actor=actor,
        object_type="category",
        object_id=category.code,
        ip=ip,
        urgent=urgent,
        confidential=confidential,
        emergency=emergency,
        active=active,
        limits={s.value: [str(w) if w else None, str(d)] for s, (w, d) in chosen.items()},
        routing=[k.value for k in kinds],
    )
    return waiting


def confirm_year(year: int, text: str, *, actor: User | None, ip: str | None = None) -> int:
    """Confirm `year`'s working calendar from the State Council's notice (its text, or a
    plain list: server/organisation/holiday_notice.py): the year's corrections become
    exactly the days it names, and no other source is asked about the year. Returns how
    many days."""
    if not 2000 <= year <= 2100:
        raise ValidationFailed("年份不正确。", code="invalid_year", field="year")
    notice = holiday_notice.parse(text, year)
    db.session.execute(
        delete(CalendarDay).where(
            CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)
        )
    )
    for day, name in notice.off.items():
        db.session.add(CalendarDay(day=day, workday=False, name=name[:64]))
    for day, name in notice.work.items():
        db.session.add(CalendarDay(day=day, workday=True, name=name[:64]))
    row = db.session.get(CalendarYear, year) or CalendarYear(year=year)
    row.confirmed_at, row.confirmed_by_id = clock.now(), actor.id if actor else None
    db.session.add(row)
    db.session.flush()
    reference.forget()
    audit.record(
        "calendar.confirm_year",
        actor=actor,
        object_type="calendar_year",
        object_id=year,
        ip=ip,
        off=len(notice.off),
        work=len(notice.work),
    )
    return len(notice.off) + len(notice.work)


def set_calendar_day(
    day: date, workday: bool | None, *, actor: User, name: str | None = None, ip: str | None = None
) -> None:
    """Correct the working calendar for `day` (None: remove the correction)."""
    row = db.session.get(CalendarDay, day)
    if workday is None:
        if row is not None:
            db.session.delete(row)
    else:
        row = row or CalendarDay(day=day)
        row.workday, row.name = workday, (name or "").strip()[:64] or None
        db.session.add(row)
    reference.forget()
    audit.record(
        "calendar.set",
        actor=actor,
        object_type="calendar_day",
        object_id=day.isoformat(),
        ip=ip,
        workday=workday,
        name=name,
    )
