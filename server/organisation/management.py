"""What the system admin changes: users, departments, categories, villages, the calendar.

Every change is audited in the same transaction. The caller commits.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import delete, select

from server.db import db
from server.infra import clock
from server.infra.errors import Conflict, ValidationFailed
from server.models import (
    AssignmentRole,
    CalendarDay,
    CalendarYear,
    Category,
    CategoryTimeLimit,
    Department,
    DepartmentKind,
    Grid,
    RiskLevel,
    Role,
    RoutingRule,
    Step,
    Town,
    User,
    Village,
)
from server.organisation import holiday_notice, reference
from server.organisation.deadlines import Duration, duration_of
from server.trust import approvals, audit, passwords, websession


def _name(value: str, field: str, limit: int = 64) -> str:
    value = (value or "").strip()
    if not value or len(value) > limit:
        raise ValidationFailed(
            f"请填写{field}（最多{limit}字）。", code="invalid_field", field=field
        )
    return value


def create_user(
    *,
    actor: User,
    username: str,
    display_name: str,
    role: str,
    password: str,
    department_id: int | None = None,
    grid_ids: list[int] | None = None,
    ip: str | None = None,
) -> User:
    """Create an account (the password must meet the policy)."""
    username = _name(username, "用户名")
    if db.session.scalar(select(User).where(User.username == username)):
        raise Conflict("用户名已存在。", code="username_taken")
    try:
        role = Role(role)
    except ValueError:
        raise ValidationFailed("角色无效。", code="invalid_choice", field="role") from None
    passwords.check_policy(password)
    # Made in the admin, a privileged account waits, inactive, for a second person's
    # approval, and every account's first sign-in chooses its own password. The machine's
    # operator (the CLI, no actor) makes the first accounts, so that there are approvers.
    privileged = role in approvals.PRIVILEGED and actor is not None
    user = User(
        username=username,
        display_name=_name(display_name or username, "姓名"),
        role=role,
        password_hash=passwords.hash_password(password),
        active=not privileged,
        must_change_password=actor is not None,
    )
    _bind(user, department_id, grid_ids)
    db.session.add(user)
    db.session.flush()
    audit.record(
        "user.create",
        actor=actor,
        object_type="user",
        object_id=user.id,
        ip=ip,
        username=username,
        role=role.value,
    )
    if privileged:
        approvals.ask(
            "grant_role",
            actor=actor,
            object_type="user",
            object_id=user.id,
            payload={"username": username, "role": role.value},
            ip=ip,
        )
    return user


def _bind(user: User, department_id: int | None, grid_ids: list[int] | None) -> None:
    if user.role == Role.HANDLER:
        department = db.session.get(Department, department_id) if department_id else None
        if department is None:
            raise ValidationFailed(
                "处置人员须选择所属部门。", code="missing_field", field="department"
            )
        user.department = department
    else:
        user.department = None
    if user.department is not None and not user.department.active:
        raise ValidationFailed("该部门已停用。", code="unknown_reference", field="department")
    grids = [db.session.get(Grid, g) for g in grid_ids or []]
    if any(g is None or not g.active for g in grids):
        raise ValidationFailed("网格不存在。", code="unknown_reference", field="grids")
    if user.role == Role.GRID_WORKER and not grids:
        raise ValidationFailed("网格员须绑定至少一个网格。", code="missing_field", field="grids")
    user.grids = grids if user.role == Role.GRID_WORKER else []


def update_user(
    user: User,
    *,
    actor: User,
    department_id: int | None,
    grid_ids: list[int] | None,
    display_name: str | None = None,
    phone: str | None = None,
    role: str | None = None,
    ip: str | None = None,
) -> bool:
    """Change a user's name, phone, role and what they are bound to (a department, grids).

    Raising an account to a privileged role (one that reads informants or keeps the
    system) waits for a second security admin, as creating one does: the account keeps
    its old role and bindings until then. Returns False when that part waits."""
    if display_name is not None:
        user.display_name = _name(display_name, "姓名")
    if phone is not None:
        user.phone = _phone(phone)
    new_role = user.role
    if role:
        try:
            new_role = Role(role)
        except ValueError:
            raise ValidationFailed("角色无效。", code="invalid_choice", field="role") from None
    if new_role != user.role and new_role in approvals.PRIVILEGED:
        approvals.ask(
            "grant_role",
            actor=actor,
            object_type="user",
            object_id=user.id,
            payload={"username": user.username, "role": new_role.value},
            ip=ip,
        )
        audit.record(
            "user.update",
            actor=actor,
            object_type="user",
            object_id=user.id,
            ip=ip,
            display_name=user.display_name,
            role_asked=new_role.value,
        )
        return False
    if new_role != user.role:
        user.role = new_role
        # What the account could see ends with its old role.
        passwords.rotate_token_secret(user)
        websession.end_sessions_of(user.id)
    _bind(user, department_id, grid_ids)
    db.session.flush()
    audit.record(
        "user.update",
        actor=actor,
        object_type="user",
        object_id=user.id,
        ip=ip,
        display_name=user.display_name,
        role=user.role.value,
        department=user.department_id,
        grids=[g.id for g in user.grids],
    )
    return True


def _phone(value: str | None) -> str | None:
    value = (value or "").strip()
    if len(value) > 32:
        raise ValidationFailed("电话最多32位。", code="invalid_field", field="phone")
    return value or None


def save_village(
    *,
    actor: User | None,
    village: Village | None,
    code: str,
    name: str,
    active: bool = True,
    ip: str | None = None,
) -> Village:
    """Create a village (it gets its QR code) or change its name; a village leaves the
    pickers, posters and screening duty when deactivated, and keeps its cases."""
    code = _code(code, "村编号")
    clash = db.session.scalar(select(Village).where(Village.code == code))
    if clash is not None and clash is not village:
        raise Conflict(f"村编号 {code} 已存在。", code="village_taken", field="code")
    if village is None:
        town = db.session.scalar(select(Town).order_by(Town.id))
        if town is None:
            raise ValidationFailed("请先设置镇的名称。", code="no_town")
        village = Village(town=town)
        db.session.add(village)
    village.code, village.name, village.active = code, _name(name, "村名"), active
    db.session.flush()
    reference.forget()
    audit.record(
        "village.save",
        actor=actor,
        object_type="village",
        object_id=village.code,
        ip=ip,
        name=village.name,
        active=active,
    )
    return village


def save_grid(
    *,
    actor: User | None,
    grid: Grid | None,
    code: str,
    name: str,
    village_id: int | None,
    active: bool = True,
    ip: str | None = None,
) -> Grid:
    """Create or change a grid (网格) of a village. A grid still held by an active grid
    worker cannot be deactivated: the worker would be left looking after nothing."""
    code = _code(code, "网格编号", 24)
    clash = db.session.scalar(select(Grid).where(Grid.code == code))
    if clash is not None and clash is not grid:
        raise Conflict(f"网格编号 {code} 已存在。", code="grid_taken", field="code")
    village = db.session.get(Village, village_id) if village_id else None
    if village is None or not village.active:
        raise ValidationFailed("请选择网格所属的村。", code="unknown_reference", field="village")
    if grid is not None and grid.active and not active:
        held = db.session.scalar(
            select(User.display_name)
            .join(User.grids)
            .where(Grid.id == grid.id, User.active.is_(True))
            .limit(1)
        )
        if held is not None:
            raise Conflict(f"网格仍由{held}负责，请先调整该网格员的网格。", code="grid_in_use")
    if grid is None:
        grid = Grid()
        db.session.add(grid)
    grid.code, grid.name, grid.village, grid.active = code, _name(name, "网格名称"), village, active
    db.session.flush()
    reference.forget()
    audit.record(
        "grid.save",
        actor=actor,
        object_type="grid",
        object_id=grid.code,
        ip=ip,
        name=grid.name,
        village=village.code,
        active=active,
    )
    return grid


def _code(value: str, field: str, limit: int = 16) -> str:
    value = (value or "").strip()
    if (
        not value
        or len(value) > limit
        or not all(c.isascii() and (c.isalnum() or c in "-_") for c in value)
    ):
        raise ValidationFailed(
            f"{field}须为{limit}位以内的字母、数字或连字符。", code="invalid_field", field=field
        )
    return value


def set_active(user: User, active: bool, *, actor: User, ip: str | None = None) -> None:
    """Enable or disable an account; disabling ends its sessions and tokens."""
    if user.id == actor.id and not active:
        raise ValidationFailed("不能停用自己的账号。", code="self_disable")
    user.active = active
    if not active:
        websession.end_sessions_of(user.id)
    audit.record(
        "user.enable" if active else "user.disable",
        actor=actor,
        object_type="user",
        object_id=user.id,
        ip=ip,
    )


def reset_password(user: User, new_password: str, *, actor: User, ip: str | None = None) -> bool:
    """Set a new password, which must be changed at the next sign-in; every session and
    token of the user ends. A privileged account's reset waits for a second person's
    approval (returns False then: nothing changed yet)."""
    passwords.check_policy(new_password)
    if user.role in approvals.PRIVILEGED:
        approvals.ask(
            "reset_password",
            actor=actor,
            object_type="user",
            object_id=user.id,
            payload={
                "username": user.username,
                "password_hash": passwords.hash_password(new_password),
            },
            ip=ip,
        )
        return False
    user.password_hash = passwords.hash_password(new_password)
    user.password_changed_at = clock.now()
    user.must_change_password = True
    passwords.rotate_token_secret(user)
    websession.end_sessions_of(user.id)
    audit.record("user.reset_password", actor=actor, object_type="user", object_id=user.id, ip=ip)
    return True


def save_department(
    *,
    actor: User,
    department: Department | None,
    name: str,
    kind: str,
    town_wide: bool,
    village_ids: list[int],
    active: bool = True,
    phone: str | None = None,
    ip: str | None = None,
) -> Department:
    """Create or change a department and the villages it covers."""
    try:
        kind = DepartmentKind(kind)
    except ValueError:
        raise ValidationFailed("部门类型无效。", code="invalid_choice", field="kind") from None
    name = _name(name, "部门名称")
    clash = db.session.scalar(select(Department).where(Department.name == name))
    if clash is not None and clash is not department:
        raise Conflict("部门名称已存在。", code="department_taken")
    if department is None:
        department = Department(town=db.session.scalar(select(Town).order_by(Town.id)))
        db.session.add(department)
    department.name, department.kind, department.town_wide = name, kind, town_wide
    department.active = active
    if phone is not None:
        department.phone = _phone(phone)
    department.villages = [
        db.session.get(Village, v) for v in village_ids if db.session.get(Village, v) is not None
    ]
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
    category.name = _name(name, "类别名称", 32)
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
