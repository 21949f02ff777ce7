"""What the system admin changes: departments, categories, the calendar (accounts:
server/organisation/accounts.py; villages and grids: server/organisation/places.py).

Every change is audited in the same transaction. The caller commits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import delete, func, select

from server.db import db
from server.infra import clock
from server.infra.errors import Conflict, Forbidden, NotFound, ValidationFailed
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
from server.organisation.deadlines import Duration, duration_of, limits_of, parse_duration
from server.organisation.routing import rules_for
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
        object_town=department.town_id,
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
    """Where a new department sits: the actor's town; for the district's admin and the
    operator, the town asked for (a town file passes its own: town_file._file_town), or
    the district itself ("district"); asked nothing, the first town."""
    if actor is not None and actor.town_id is not None:
        return actor.town_id
    if asked is None:
        return db.session.scalar(select(Town.id).order_by(Town.id))
    if asked == "district":
        return None
    # ASCII digits ("²".isdigit() is true) of a number an id column holds.
    number = asked.isascii() and asked.isdigit() and len(asked) < 10
    town = db.session.get(Town, int(asked)) if number else None
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


def shares_settings(actor: User | None) -> bool:
    """Whether `actor` sets what every town shares: a category's name and flags, and the
    district's time limits and routing. The district's admin does (and the machine's
    operator), and a town's admin while the deployment holds no other town (no district
    above it); else a town's admin sets their own town's limits and routing only."""
    if actor is None or actor.town_id is None:
        return True
    return (db.session.scalar(select(func.count(Town.id))) or 0) <= 1


def settings_town(actor: User | None) -> int | None:
    """Whose time limits and routing `actor` sets: the district's (None), or their town's."""
    return None if shares_settings(actor) else actor.town_id


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
    """Change a category's flags, and its time limits and routing (`save_rules`), as the
    district sets them. Returns whether a part of it waits for a second person (clearing
    `confidential`)."""
    if not shares_settings(actor):
        raise Forbidden("类别的名称和标记由区里统一设置，本镇只能调整时限和分拨。")
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
    except ValueError:
        raise ValidationFailed("取值无效。", code="invalid_choice") from None
    chosen, kinds = _set_rules(category, None, limits, lead_kind, co_kinds)
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
        for_town=settings_place(None),
        limits=chosen,
        routing=kinds,
    )
    return waiting


def save_rules(
    category: Category,
    *,
    actor: User,
    limits: dict[str, tuple[tuple[str, str], tuple[str, str]]],
    lead_kind: str | None,
    co_kinds: list[str],
    ip: str | None = None,
) -> None:
    """Set a category's time limits and (kind-based) routing for `actor`'s place
    (`settings_town`): the district's, or a town's (`_set_rules`)."""
    town_id = settings_town(actor)
    chosen, kinds = _set_rules(category, town_id, limits, lead_kind, co_kinds)
    audit.record(
        "category.save",
        actor=actor,
        object_type="category",
        object_id=category.code,
        ip=ip,
        for_town=settings_place(town_id),
        limits=chosen,
        routing=kinds,
    )


def _set_rules(
    category: Category,
    town_id: int | None,
    limits: dict[str, tuple[tuple[str, str], tuple[str, str]]],
    lead_kind: str | None,
    co_kinds: list[str],
) -> tuple[dict[str, list[str | None]], list[str]]:
    """Set `category`'s limits and kind-based routing for `town_id` (None: the
    district's); returns them as the audit log keeps them. A town keeps a row of its own
    only where it differs from the district's: a step set as the district has it, or
    routing chosen as the district's, goes back to following the district.

    `limits` maps a step to its yellow stage and its deadline, each a number and a unit as
    the form sends them (``("1", "wd")``; a yellow stage with no number: none). They are
    stored as before (``1wd``)."""
    try:
        steps = {Step(step): value for step, value in limits.items()}
        kinds = [DepartmentKind(k) for k in [lead_kind, *co_kinds] if k]
    except ValueError:
        raise ValidationFailed("取值无效。", code="invalid_choice") from None
    if town_id is not None and not kinds:
        # A town's routing of none would be no row, which reads as following the district.
        raise ValidationFailed(
            "本镇的分拨须至少选择一个部门类型；要与区里一致，请点“恢复沿用区里的设置”。",
            code="routing_required",
            field="lead_kind",
        )
    chosen = {step: _limits_of(step, warn, due) for step, (warn, due) in steps.items()}
    chosen = {step: (str(warn) if warn else None, str(due)) for step, (warn, due) in chosen.items()}
    district = limits_of(category, None)
    rows = {row.step: row for row in category.time_limits if row.town_id == town_id}
    for step, (warn, due) in chosen.items():
        row = rows.get(step)
        if town_id is not None and (warn, due) == district[step][:2]:
            if row is not None:  # as the district has it: follow the district again
                category.time_limits.remove(row)
            continue
        if row is None:
            row = CategoryTimeLimit(step=step, town_id=town_id)
            category.time_limits.append(row)
        row.warn, row.due = warn, due
    lead = kinds[0] if lead_kind else None
    co = kinds[1:] if lead_kind else kinds
    # The place's kind-based rules are replaced; a town choosing the district's keeps none.
    _forget_routing(category, town_id)
    if town_id is None or (lead, sorted(co)) != _kinds(rules_for(category, town_id=None)):
        for index, kind in enumerate(kinds):
            category.routing_rules.append(
                RoutingRule(
                    department_kind=kind,
                    town_id=town_id,
                    role=AssignmentRole.LEAD if index == 0 and lead_kind else AssignmentRole.CO,
                )
            )
    db.session.flush()
    reference.forget()
    return {s.value: [w, d] for s, (w, d) in chosen.items()}, [k.value for k in kinds]


def _forget_routing(category: Category, town_id: int | None) -> None:
    """Drop `town_id`'s (None: the district's) kind-based rules for every village of
    `category`; rules for one village, and the other places', stay."""
    category.routing_rules = [
        r for r in category.routing_rules if r.village_id is not None or r.town_id != town_id
    ]


@dataclass
class CategorySettings:
    """A category's limits and routing as `town_id` has them, and whose each is."""

    limits: dict[Step, tuple[str | None, str, str]]  # step -> (warn, due, whose)
    lead_kind: DepartmentKind | None
    co_kinds: list[DepartmentKind]
    routing_whose: str  # "town": the town's own; "district": the district's
    own: bool  # the town has a limit or routing of its own


def settings_of(category: Category, town_id: int | None) -> CategorySettings:
    """What a town's (or, `town_id` None, the district's) cases of `category` go by."""
    limits = limits_of(category, town_id)
    rules = rules_for(category, town_id=town_id)
    lead, co = _kinds(rules)
    whose = (
        "town" if town_id is not None and any(r.town_id == town_id for r in rules) else "district"
    )
    own = whose == "town" or any(w == "town" for _warn, _due, w in limits.values())
    return CategorySettings(limits, lead, co, whose, own)


def towns_of_their_own(categories: list[Category]) -> dict[str, list[str]]:
    """For the district's page: each category's towns with a limit or routing of their
    own, each with what it sets (小王庄镇（处置期限15天）), so that the district sees where
    its towns differ without signing in as each."""
    own: dict[str, dict[int, list[str]]] = {}
    for c in categories:
        towns: dict[int, list[str]] = {}
        for row in sorted(c.time_limits, key=lambda r: list(Step).index(r.step)):
            if row.town_id is not None:
                due = parse_duration(row.due).label
                towns.setdefault(row.town_id, []).append(f"{row.step.label}期限{due}")
        for town_id in sorted({r.town_id for r in c.routing_rules if r.town_id is not None}):
            towns.setdefault(town_id, []).append("分拨自定")
        own[c.code] = towns
    wanted = set().union(*(towns.keys() for towns in own.values()))
    names = dict(
        db.session.execute(select(Town.id, Town.name).where(Town.id.in_(wanted))).all()
        if wanted
        else []
    )
    return {
        code: sorted(f"{names[t]}（{'，'.join(parts)}）" for t, parts in towns.items())
        for code, towns in own.items()
    }


def follow_district(category: Category, *, actor: User, ip: str | None = None) -> None:
    """Forget `actor`'s town's own limits and routing of `category`: it follows the
    district's again."""
    town_id = settings_town(actor)
    if town_id is None:
        raise ValidationFailed("区里的设置就是各镇沿用的设置。", code="invalid_choice")
    category.time_limits = [r for r in category.time_limits if r.town_id != town_id]
    _forget_routing(category, town_id)
    db.session.flush()
    reference.forget()
    audit.record(
        "category.follow_district",
        actor=actor,
        object_type="category",
        object_id=category.code,
        ip=ip,
        for_town=settings_place(town_id),
    )


def settings_place(town_id: int | None) -> str:
    """Whose settings, in words for the audit log: a town's name, or the district's."""
    town = db.session.get(Town, town_id) if town_id is not None else None
    return town.name if town is not None else "区里（各镇沿用）"


def _kinds(rules: list[RoutingRule]) -> tuple[DepartmentKind | None, list[DepartmentKind]]:
    """The (lead kind, sorted co kinds) of kind-based `rules`."""
    lead = next(
        (r.department_kind for r in rules if r.role == AssignmentRole.LEAD and r.department_kind),
        None,
    )
    co = [r.department_kind for r in rules if r.role == AssignmentRole.CO and r.department_kind]
    return lead, sorted(co)


def _calendar_keeper(actor: User | None) -> None:
    """Only whoever sets what the towns share changes the working calendar. One calendar
    serves every town, since the holidays and make-up workdays are the State Council's,
    the same for every town (and every clock reads the one calendar); a town's admin in a
    district of towns sees it and asks the district's admin for a change."""
    if not shares_settings(actor):
        raise Forbidden("工作日历由区里统一维护，各镇相同；需要更正请联系区系统管理员。")


def confirm_year(year: int, text: str, *, actor: User | None, ip: str | None = None) -> int:
    """Confirm `year`'s working calendar from the State Council's notice (its text, or a
    plain list: server/organisation/holiday_notice.py): the year's corrections become
    exactly the days it names, and no other source is asked about the year. Returns how
    many days. The calendar is every town's (`_calendar_keeper`)."""
    _calendar_keeper(actor)
    if not 2000 <= year <= 2100:
        raise ValidationFailed("年份不正确。", code="invalid_year", field="year")
    notice = holiday_notice.parse(text, year)
    db.session.execute(
        delete(CalendarDay).where(
            CalendarDay.day >= date(year, 1, 1), CalendarDay.day <= date(year, 12, 31)
        )
    )
    # Merged: a New Year holiday beginning in December names days of the year before,
    # which may hold a correction already.
    for day, name in notice.off.items():
        db.session.merge(CalendarDay(day=day, workday=False, name=name[:64]))
    for day, name in notice.work.items():
        db.session.merge(CalendarDay(day=day, workday=True, name=name[:64]))
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
    _calendar_keeper(actor)
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
