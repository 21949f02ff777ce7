"""Who holds a case: the effects that hand it to departments (dispatch, 改派 reassign,
调整协办 change co-handlers) and the helpers other effects share to let go of it."""

from __future__ import annotations

from server.cases import search
from server.cases.workflow.fields import FIELD_LABELS, clean_moment, clean_row
from server.cases.workflow.transition import Context
from server.infra.errors import ValidationFailed
from server.models import AssignmentRole, Case, CaseAssignment, Department, Step, User
from server.organisation import routing


def end_assignments(ctx: Context) -> None:
    """Every department holding the case lets go of it now (they are told)."""
    for assignment in ctx.case.active_assignments:
        assignment.ended_at = ctx.now
        ctx.released.append(assignment.department)


def withdraw_requests(case: Case) -> None:
    """The department's open requests lapse: the case moved on without them."""
    case.extension_requested_until = None
    case.return_requested_at = None


def _share(case: Case, departments: list[tuple[Department, AssignmentRole]], now, due_at) -> None:
    """Give each department its share of `case`, carrying the case's received time,
    status, village and openness, from which a department's lists are read
    (server/cases/queries.py); the engine keeps status and openness as the case moves.
    The departments new to the case are added to its search words, in one statement
    (their handlers search their own cases: server/cases/search.py)."""
    new = [
        department.id
        for department, _role in departments
        if not any(
            a.department is department or a.department_id == department.id for a in case.assignments
        )
    ]
    if new:
        search.add_departments(case, new)
    for department, role in departments:
        case.assignments.append(
            CaseAssignment(
                department=department,
                role=role,
                assigned_at=now,
                due_at=due_at,
                case_created_at=case.created_at,
                case_status=case.status,
                case_village_id=case.village_id,
                case_open=case.due_at is not None,
            )
        )


def _departments(f: dict, case: Case) -> tuple[Department, list[Department]]:
    """The lead and co-handling departments an action's fields name, checked: each
    exists, may take the case (its town's, or the district's), is active and has
    somebody in it who can sign for the case."""
    lead = clean_row(Department, f["lead_department"], "lead_department")
    given = f.get("co_departments") or []
    if not isinstance(given, list | tuple):
        raise ValidationFailed("协办部门须为列表。", code="invalid_field", field="co_departments")
    co = []
    for value in given:
        department = clean_row(Department, value, "co_departments")
        if department.id != lead.id and department not in co:
            co.append(department)
    for name, departments in (("lead_department", [lead]), ("co_departments", co)):
        for department in departments:
            if not routing.may_take(department, case):
                # Another town's department (or the district's, unless the district's
                # center holds the case): as if it did not exist.
                label = FIELD_LABELS.get(name, name)
                raise ValidationFailed(
                    f"{label}不存在：{department.id!r}。", code="unknown_reference", field=name
                )
            if not department.active:
                raise ValidationFailed(
                    f"部门已停用：{department.name}。", code="inactive_department", field=name
                )
    empty = routing.unstaffed([lead, *co])
    if empty:
        # Nobody could sign for it there: the case would wait on a desk nobody sits at.
        names = "、".join(d.name for d in empty)
        raise ValidationFailed(
            f"{names}没有在岗人员，无法签收办理。请先为其添加人员，或选择其他部门。",
            code="department_unstaffed",
            field="lead_department" if lead in empty else "co_departments",
        )
    return lead, co


def _assign(ctx: Context, lead: Department, co: list[Department]) -> None:
    """Hand the case to `lead` (and `co`) afresh: earlier shares end, the handling clock
    starts now (or at the given `due_at`)."""
    case, f = ctx.case, ctx.fields
    handler = None
    if f.get("handler") is not None:
        handler = clean_row(User, f["handler"], "handler")
        if handler.department_id != lead.id or not handler.active:
            raise ValidationFailed(
                "处置人员须是主办部门的在岗人员。", code="invalid_handler", field="handler"
            )
    handle = ctx.deadlines.clock(case.category, Step.HANDLE, ctx.now, town_id=case.limits_town_id)
    due_at = clean_moment(f["due_at"], "due_at") if f.get("due_at") is not None else handle.due_at
    if due_at <= ctx.now:
        raise ValidationFailed("办理期限须晚于现在。", code="due_in_past", field="due_at")

    end_assignments(ctx)
    case.lead_department = lead
    case.handler = handler
    shares = [(lead, AssignmentRole.LEAD)] + [(d, AssignmentRole.CO) for d in co]
    _share(case, shares, ctx.now, due_at)
    ctx.data.update(
        lead_department=lead.name,
        co_departments=[d.name for d in co],
        handle_due_at=due_at.isoformat(),
    )


def dispatch(ctx: Context) -> None:
    """Give the case to a lead department and its co-handlers."""
    _assign(ctx, *_departments(ctx.fields, ctx.case))


def reassign(ctx: Context) -> None:
    """改派: another lead (and co-handlers); the old shares end, the new lead signs for it
    afresh on a fresh clock."""
    case = ctx.case
    lead, co = _departments(ctx.fields, ctx.case)
    if lead.id == case.lead_department_id:
        raise ValidationFailed(
            "改派须选择另一个主办部门；只调整协办部门请用“调整协办”。",
            code="no_change",
            field="lead_department",
        )
    held = case.active_assignments
    ctx.data.update(
        from_lead_department=case.lead_department.name,
        from_co_departments=[a.department.name for a in held[1:]],
    )
    withdraw_requests(case)
    _assign(ctx, lead, co)


def change_co_handlers(ctx: Context) -> None:
    """调整协办: other co-handlers beside the same lead, whose work and clock go on."""
    case = ctx.case
    lead = lead_assignment(case)
    _lead, co = _departments({**ctx.fields, "lead_department": lead.department}, ctx.case)
    held = [a for a in case.active_assignments if a.role == AssignmentRole.CO]
    if {a.department_id for a in held} == {d.id for d in co}:
        raise ValidationFailed("协办部门没有改变。", code="no_change", field="co_departments")
    for assignment in held:
        if assignment.department not in co:
            assignment.ended_at = ctx.now
            ctx.released.append(assignment.department)
    kept = {a.department_id for a in held if a.department in co}
    added = [d for d in co if d.id not in kept]
    _share(case, [(d, AssignmentRole.CO) for d in added], ctx.now, lead.due_at)
    ctx.joined.extend(added)
    ctx.data.update(
        co_departments=[d.name for d in co], from_co_departments=[a.department.name for a in held]
    )


def lead_assignment(case: Case) -> CaseAssignment:
    """The lead department's share of the case."""
    return next(a for a in case.active_assignments if a.role == AssignmentRole.LEAD)
