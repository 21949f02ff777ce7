"""Management: users (the security admin's), departments, categories and the holiday
calendar (the system admin's). Villages, grids and the town's import: admin/town.py."""

from __future__ import annotations

from datetime import date

from flask import flash, g, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm import contains_eager, joinedload

from admin.blueprint import bp, client_ip, done, id_value, refused, require
from server.cases import access
from server.db import db, unit
from server.infra import clock
from server.infra.errors import DomainError, NotFound
from server.models import (
    Approval,
    CalendarDay,
    Category,
    Department,
    DepartmentKind,
    Grid,
    RiskLevel,
    Role,
    Step,
    Town,
    User,
    Village,
)
from server.organisation import accounts, management
from server.organisation.deadlines import (
    BY_RULE,
    UNITS,
    YEAR_SOURCE_LABELS,
    load_calendar,
    parse_duration,
    unconfirmed_year,
)
from server.trust import approvals


def _ids(name: str) -> list[int]:
    return [i for i in (id_value(v, name) for v in request.form.getlist(name)) if i]


@bp.route("/users", methods=["GET", "POST"])
@require(Role.SECURITY_ADMIN)  # 三员分立: accounts are the security admin's
def users():
    """Accounts: create, and the list."""
    if request.method == "POST":
        form = request.form
        try:
            department = form.get("department", "")
            # The district's keeper places an account in a town or at the district; a
            # town's keeps to its own (accounts.town_of).
            town = form.get("town", "") if g.user.town_id is None else ""
            user = accounts.create_user(
                town_id=None if town in ("", "district") else id_value(town, "town"),
                district=town == "district",
                actor=g.user,
                username=form.get("username", ""),
                display_name=form.get("display_name", ""),
                role=form.get("role", ""),
                password=form.get("password", ""),
                department_id=id_value(department, "department"),
                grid_ids=_ids("grids"),
                ip=client_ip(),
            )
        except DomainError as error:
            return refused(error, "admin.users")
        if not user.active:  # a privileged account, waiting for a second person
            return done("账号已创建，待另一位安全管理员审批后启用。", "admin.users")
        return done("账号已创建；首次登录须修改密码。", "admin.users")
    return render_template(
        "admin/users.html",
        users=db.session.scalars(
            select(User)
            .where(access.in_users_town(g.user, User.town_id))
            .order_by(User.role, User.username)
        ).all(),
        roles=list(Role),
        # Each choice names its town for the district's keeper: loaded with the rows (a
        # district's 450 villages would each be a query of their own).
        departments=db.session.scalars(
            select(Department)
            .options(joinedload(Department.town))
            .where(Department.active.is_(True), access.in_users_town(g.user, Department.town_id))
            .order_by(Department.name)
        ).all(),
        grids=db.session.scalars(
            select(Grid)
            .join(Grid.village)
            .options(contains_eager(Grid.village).joinedload(Village.town))
            .where(Grid.active.is_(True), access.in_users_town(g.user, Village.town_id))
            .order_by(Grid.code)
        ).all(),
        # The district's keeper chooses the town of an account with no department or grid.
        towns=db.session.scalars(select(Town).order_by(Town.id)).all()
        if g.user.town_id is None
        else [],
    )


def _user(user_id: int) -> User:
    user = db.session.get(User, user_id)
    if user is None or not accounts.keeps(g.user, user):
        raise NotFound("找不到该账号。")
    return user


@bp.post("/users/<int:user_id>/active")
@require(Role.SECURITY_ADMIN)  # 三员分立: accounts are the security admin's
def user_active(user_id: int):
    """Disable or re-enable an account."""
    try:
        accounts.set_active(
            _user(user_id), request.form.get("active") == "yes", actor=g.user, ip=client_ip()
        )
    except DomainError as error:
        return refused(error, "admin.users")
    return done("已更新账号状态。", "admin.users")


@bp.post("/users/<int:user_id>/password")
@require(Role.SECURITY_ADMIN)  # 三员分立: accounts are the security admin's
def user_password(user_id: int):
    """Reset a password (the user's sessions and tokens end)."""
    try:
        applied = accounts.reset_password(
            _user(user_id), request.form.get("password", ""), actor=g.user, ip=client_ip()
        )
    except DomainError as error:
        return refused(error, "admin.users")
    if not applied:
        return done("重置已提交，待另一位安全管理员审批后生效。", "admin.users")
    return done("密码已重置；该用户下次登录须修改密码。", "admin.users")


@bp.post("/users/<int:user_id>/bind")
@require(Role.SECURITY_ADMIN)  # 三员分立: accounts are the security admin's
def user_bind(user_id: int):
    """Change a user: name, phone, role, and the department or grids they work in."""
    form = request.form
    try:
        # The district's keeper may move an account to a town or to the district.
        town = form.get("town", "") if g.user.town_id is None else ""
        applied = accounts.update_user(
            _user(user_id),
            town_id=None if town in ("", "district") else id_value(town, "town"),
            district=town == "district",
            actor=g.user,
            department_id=id_value(form.get("department", ""), "department"),
            grid_ids=_ids("grids"),
            display_name=form.get("display_name"),
            phone=form.get("phone"),
            role=form.get("role"),
            ip=client_ip(),
        )
    except DomainError as error:
        return refused(error, "admin.users")
    if not applied:
        return done(
            "已保存；改为高权限角色或把高权限账号调往其他镇，须另一位安全管理员审批后生效。",
            "admin.users",
        )
    return done("账号已更新。", "admin.users")


@bp.route("/departments", methods=["GET", "POST"])
@require(Role.ADMIN)
def departments():
    """Departments and the villages each covers."""
    if request.method == "POST":
        form = request.form
        department_id = form.get("id", "")
        department_id = id_value(department_id, "id")
        department = db.session.get(Department, department_id) if department_id else None
        try:
            management.save_department(
                actor=g.user,
                department=department,
                name=form.get("name", ""),
                kind=form.get("kind", ""),
                town_wide=form.get("town_wide") == "yes",
                village_ids=_ids("villages"),
                active=form.get("active") == "yes",  # an unticked box sends nothing
                phone=form.get("phone"),
                town=form.get("town"),
                ip=client_ip(),
            )
        except DomainError as error:
            return refused(error, "admin.departments")
        return done("部门已保存。", "admin.departments")
    return render_template(
        "admin/departments.html",
        departments=db.session.scalars(
            select(Department)
            .where(access.in_users_town(g.user, Department.town_id))
            .order_by(Department.kind, Department.name)
        ).all(),
        kinds=list(DepartmentKind),
        villages=db.session.scalars(
            select(Village)
            .where(Village.active.is_(True), access.in_users_town(g.user, Village.town_id))
            .order_by(Village.town_id, Village.code)
        ).all(),
        # The district's admin places a new department in a town or at the district.
        towns=db.session.scalars(select(Town).order_by(Town.id)).all()
        if g.user.town_id is None
        else [],
    )


@bp.route("/categories", methods=["GET", "POST"])
@require(Role.ADMIN)
def categories():
    """Categories: flags, time limits per step, routing. The district's admin sets them
    for every town; a town's admin its own town's limits and routing, where they differ
    (server/organisation/management.py: `shares_settings`)."""
    shared = management.shares_settings(g.user)
    town_id = management.settings_town(g.user)
    if request.method == "POST":
        form = request.form
        category = db.session.scalar(select(Category).where(Category.code == form.get("code")))
        if category is None:
            raise NotFound("找不到该类别。")
        if form.get("follow_district") == "yes":
            management.follow_district(category, actor=g.user, ip=client_ip())
            return done(f"类别 {category.name} 已恢复沿用区里的时限和分拨。", "admin.categories")
        # Each limit comes as a number and a unit chosen from a list (2 + 工作日).
        limits = {
            step.value: tuple(
                (form.get(f"{part}_{step.value}", ""), form.get(f"{part}_{step.value}_unit", ""))
                for part in ("warn", "due")
            )
            for step in Step
        }
        rules = {
            "limits": limits,
            "lead_kind": form.get("lead_kind") or None,
            "co_kinds": form.getlist("co_kinds"),
            "ip": client_ip(),
        }
        try:
            if not shared:
                management.save_rules(category, actor=g.user, **rules)
                return done(f"类别 {category.name} 的本镇时限和分拨已保存。", "admin.categories")
            waiting = management.save_category(
                category,
                actor=g.user,
                name=form.get("name", ""),
                hint=form.get("hint"),
                urgent=form.get("urgent") == "yes",
                confidential=form.get("confidential") == "yes",
                emergency=form.get("emergency") == "yes",
                active=form.get("active") == "yes",
                default_risk_level=form.get("default_risk_level", ""),
                **rules,
            )
        except DomainError as error:
            return refused(error, "admin.categories")
        if waiting:
            return done(
                f"类别 {category.name} 已保存；取消保密须由另一位系统管理员审批。",
                "admin.categories",
            )
        return done(f"类别 {category.name} 已保存。", "admin.categories")
    rows = db.session.scalars(select(Category).order_by(Category.sort_order)).all()
    return render_template(
        "admin/categories.html",
        categories=rows,
        settings={c.code: management.settings_of(c, town_id) for c in rows},
        own_towns=management.towns_of_their_own(rows) if shared else {},
        shared=shared,
        units=UNITS,
        parse=parse_duration,
        steps=list(Step),
        kinds=list(DepartmentKind),
        risk_levels=list(RiskLevel),
    )


@bp.route("/calendar", methods=["GET", "POST"])
@require(Role.ADMIN)
def calendar():
    """Corrections to the working calendar (holidays, make-up workdays), and each year's
    source: a year is confirmed here from the State Council's notice."""
    if request.method == "POST" and request.form.get("notice") is not None:
        year = request.form.get("year", "")
        try:
            days = management.confirm_year(
                int(year) if year.isascii() and year.isdigit() and len(year) <= 4 else 0,
                request.form.get("notice", ""),
                actor=g.user,
                ip=client_ip(),
            )
        except DomainError as error:
            unit.abandon()
            flash(error.message, "error")
            return _calendar_page(notice=request.form.get("notice", ""), year=year), 422
        return done(f"{year}年的节假日安排已确认（{days}天）。", "admin.calendar")
    if request.method == "POST":
        try:
            day = date.fromisoformat(request.form.get("day", ""))
        except ValueError:
            flash("日期格式不正确。", "error")
            return redirect(url_for("admin.calendar"))
        choice = request.form.get("workday")
        try:
            management.set_calendar_day(
                day,
                {"yes": True, "no": False}.get(choice),
                actor=g.user,
                name=request.form.get("name"),
                ip=client_ip(),
            )
        except DomainError as error:
            return refused(error, "admin.calendar")
        return done("工作日历已更新。", "admin.calendar")
    return _calendar_page()


def _calendar_page(notice: str = "", year: str = ""):
    rows = db.session.scalars(select(CalendarDay).order_by(CalendarDay.day.desc())).all()
    calendar = load_calendar()
    this_year = clock.local(clock.now()).year
    years = [
        (y, calendar.year_source(y), YEAR_SOURCE_LABELS[calendar.year_source(y)])
        for y in (this_year, this_year + 1)
    ]
    return render_template(
        "admin/calendar.html",
        days=rows,
        years=years,
        notice=notice,
        # The year to confirm: the first still on the rules (in January, often this one).
        year=year or next((y for y, source, _label in years if source == BY_RULE), this_year + 1),
        keeper=management.shares_settings(g.user),
        calendar_warning=unconfirmed_year(calendar, clock.local(clock.now()).date()),
    )


@bp.get("/approvals")
@require(Role.SECURITY_ADMIN, Role.ADMIN)
def approvals_page():
    """Changes asked for by another person, waiting for this one's decision."""
    items = approvals.pending(g.user)
    names = {
        u.id: u.display_name
        for u in db.session.scalars(
            select(User).where(User.id.in_({a.requested_by_id for a in items} or {-1}))
        )
    }
    mine = db.session.scalars(
        select(Approval)
        .where(Approval.requested_by_id == g.user.id)
        .order_by(Approval.id.desc())
        .limit(20)
    ).all()
    return render_template(
        "admin/approvals.html",
        items=items,
        names=names,
        mine=mine,
        labels=approvals.LABELS,
        town_names=dict(db.session.execute(select(Town.id, Town.name)).all()),
    )


@bp.post("/approvals/<int:approval_id>/<decision>")
@require(Role.SECURITY_ADMIN, Role.ADMIN)
def approval_decide(approval_id: int, decision: str):
    """Approve or refuse one change (never one's own)."""
    if decision not in {"approve", "refuse"}:
        raise NotFound("没有这种审批操作。")
    try:
        decide = approvals.approve if decision == "approve" else approvals.refuse
        decide(approval_id, actor=g.user, ip=client_ip())
    except DomainError as error:
        return refused(error, "admin.approvals_page")
    return done(
        "已批准，已生效。" if decision == "approve" else "已拒绝，未作任何改动。",
        "admin.approvals_page",
    )
