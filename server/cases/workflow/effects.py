"""What each action does to a case beyond its status (`Transition.effect`), given the
cleaned fields in a `Context`; run by `engine.apply` inside its savepoint."""

from __future__ import annotations

from sqlalchemy import select

from server.cases import access, repeats
from server.cases.lookup import find_case
from server.cases.workflow.fields import (
    SATISFACTION,
    clean_choice,
    clean_moment,
    clean_row,
    clean_text,
    visit_outcomes,
)
from server.cases.workflow.states import OPEN
from server.cases.workflow.transition import Context
from server.db import db
from server.infra.errors import Forbidden, ValidationFailed
from server.models import (
    AssignmentRole,
    Case,
    CaseAssignment,
    Category,
    ClosingReason,
    Department,
    ResultCode,
    RiskLevel,
    Severity,
    Step,
    User,
)
from server.organisation import routing


def _end_assignments(ctx: Context) -> None:
    for assignment in ctx.case.active_assignments:
        assignment.ended_at = ctx.now
        ctx.released.append(assignment.department)


def _withdraw_requests(case: Case) -> None:
    """The department's open requests lapse: the case moved on without them."""
    case.extension_requested_until = None
    case.return_requested_at = None


def accept(ctx: Context) -> None:
    """Take the report on: a corrected category, risk and severity; an urgent one starts
    its dispatch clock from the report itself."""
    case, f = ctx.case, ctx.fields
    if "category" in f:
        value = f["category"]
        if isinstance(value, str):  # a category code, as the surfaces send it
            value = db.session.scalar(select(Category).where(Category.code == value)) or value
        category = clean_row(Category, value, "category")
        if not category.active:
            raise ValidationFailed("该类别已停用。", code="inactive_category", field="category")
        if category.id != case.category_id:
            ctx.data["category_from"] = case.category.code
            case.category = category
            case.urgent = category.urgent or case.happening_now
            # A dispute now, or no longer: whether it repeats an earlier one, afresh.
            case.repeat_dispute = repeats.repeats(case)
    _set_risk(ctx)
    if "severity" in f:
        case.severity = clean_choice(Severity, f["severity"], "severity")
    case.accepted_at = ctx.now
    if case.urgent:
        # An urgent report must be accepted *and dispatched* within its limit of the
        # report itself, not of the acceptance.
        dispatch = ctx.deadlines.clock(case.category, Step.DISPATCH, case.created_at, urgent=True)
        ctx.step_clock = (dispatch.step, dispatch.started_at, dispatch.warn_at, dispatch.due_at)


def _set_risk(ctx: Context) -> bool:
    """The risk level and the 民转刑 flag the center gives; records what changed."""
    case, f, changed = ctx.case, ctx.fields, False
    if "risk_level" in f:
        level = clean_choice(RiskLevel, f["risk_level"], "risk_level")
        if level != case.risk_level:
            ctx.data["risk_level_from"] = case.risk_level.value
            case.risk_level, changed = level, True
    if "criminal_risk" in f:
        if not isinstance(f["criminal_risk"], bool):
            raise ValidationFailed(
                "民转刑风险须为是或否。", code="invalid_field", field="criminal_risk"
            )
        if f["criminal_risk"] != case.criminal_risk:
            ctx.data["criminal_risk_from"] = case.criminal_risk
            case.criminal_risk, changed = f["criminal_risk"], True
    return changed


def assess_risk(ctx: Context) -> None:
    """Change the risk level or the 民转刑 flag (refused when neither changes)."""
    if not _set_risk(ctx):
        raise ValidationFailed(
            "风险等级和民转刑风险都没有改变。", code="no_change", field="risk_level"
        )


def reject(ctx: Context) -> None:
    """Keep the reason the reporter reads."""
    ctx.case.rejection_reason = clean_text(ctx.fields["reason"], "reason")


def merge(ctx: Context) -> None:
    """Fold the report into another open case the actor may see."""
    target = ctx.fields["into"]
    if not isinstance(target, Case):
        target = find_case(str(target)) if target is not None else None
    if target is None or target.id == ctx.case.id or target.status not in OPEN:
        raise ValidationFailed(
            "合并目标须是另一件仍在办理中的案件。", code="invalid_merge_target", field="into"
        )
    if not access.can_view_case(ctx.actor, target):
        raise Forbidden("您无权查看合并目标案件。")
    ctx.case.merged_into = target
    ctx.data["into"] = target.code


def _departments(f: dict) -> tuple[Department, list[Department]]:
    """The lead and co-handling departments an action's fields name, checked: each
    exists, is active and has somebody in it who can sign for the case."""
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
    handle = ctx.deadlines.clock(case.category, Step.HANDLE, ctx.now)
    due_at = clean_moment(f["due_at"], "due_at") if f.get("due_at") is not None else handle.due_at
    if due_at <= ctx.now:
        raise ValidationFailed("办理期限须晚于现在。", code="due_in_past", field="due_at")

    _end_assignments(ctx)
    case.lead_department = lead
    case.handler = handler
    case.assignments.append(
        CaseAssignment(
            department=lead, role=AssignmentRole.LEAD, assigned_at=ctx.now, due_at=due_at
        )
    )
    for department in co:
        case.assignments.append(
            CaseAssignment(
                department=department, role=AssignmentRole.CO, assigned_at=ctx.now, due_at=due_at
            )
        )
    ctx.data.update(
        lead_department=lead.name,
        co_departments=[d.name for d in co],
        handle_due_at=due_at.isoformat(),
    )


def dispatch(ctx: Context) -> None:
    """Give the case to a lead department and its co-handlers."""
    _assign(ctx, *_departments(ctx.fields))


def reassign(ctx: Context) -> None:
    """改派: another lead (and co-handlers); the old shares end, the new lead signs for it
    afresh on a fresh clock."""
    case = ctx.case
    lead, co = _departments(ctx.fields)
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
    _withdraw_requests(case)
    _assign(ctx, lead, co)


def change_co_handlers(ctx: Context) -> None:
    """调整协办: other co-handlers beside the same lead, whose work and clock go on."""
    case = ctx.case
    lead = _lead_assignment(case)
    _lead, co = _departments({**ctx.fields, "lead_department": lead.department})
    held = [a for a in case.active_assignments if a.role == AssignmentRole.CO]
    if {a.department_id for a in held} == {d.id for d in co}:
        raise ValidationFailed("协办部门没有改变。", code="no_change", field="co_departments")
    for assignment in held:
        if assignment.department not in co:
            assignment.ended_at = ctx.now
            ctx.released.append(assignment.department)
    kept = {a.department_id for a in held if a.department in co}
    added = [d for d in co if d.id not in kept]
    for department in added:
        case.assignments.append(
            CaseAssignment(
                department=department,
                role=AssignmentRole.CO,
                assigned_at=ctx.now,
                due_at=lead.due_at,
            )
        )
    ctx.joined.extend(added)
    ctx.data.update(
        co_departments=[d.name for d in co], from_co_departments=[a.department.name for a in held]
    )


def _lead_assignment(case: Case) -> CaseAssignment:
    return next(a for a in case.active_assignments if a.role == AssignmentRole.LEAD)


def _resume_handling(ctx: Context) -> None:
    """Run the department's handling clock: it started at dispatch and ends at the lead
    assignment's due time (set at dispatch, moved only by an approved extension)."""
    lead = _lead_assignment(ctx.case)
    handle = ctx.deadlines.clock(ctx.case.category, Step.HANDLE, lead.assigned_at)
    warn_at = handle.warn_at if handle.warn_at and handle.warn_at < lead.due_at else None
    ctx.step_clock = (Step.HANDLE, lead.assigned_at, warn_at, lead.due_at)


def sign_for(ctx: Context) -> None:
    """The lead department takes the case on; a pending return lapses."""
    case = ctx.case
    _lead_assignment(case).signed_at = ctx.now
    if case.return_requested_at is not None:  # signing for it is taking it on after all
        case.return_requested_at = None
        ctx.data["return_withdrawn"] = True
    if case.handler is None:
        case.handler = ctx.actor
    _resume_handling(ctx)


def take_back(ctx: Context) -> None:
    """The case comes back to the center (an approved return, a recall) for dispatch."""
    _end_assignments(ctx)
    ctx.case.lead_department = None
    ctx.case.handler = None
    _withdraw_requests(ctx.case)


def request_return(ctx: Context) -> None:
    """Ask the center to take the case back."""
    ctx.case.return_requested_at = ctx.now


def refuse_return(ctx: Context) -> None:
    """The case stays with its department."""
    ctx.case.return_requested_at = None


def request_extension(ctx: Context) -> None:
    """Ask for more time (a dispute: with both parties' consent)."""
    case, f = ctx.case, ctx.fields
    until = clean_moment(f["until"], "until")
    if case.due_at is not None and until <= case.due_at:
        raise ValidationFailed(
            "延期后的期限须晚于当前期限。", code="extension_not_later", field="until"
        )
    if case.category.is_dispute and f.get("parties_consent") is not True:
        # 人民调解工作若干规定: mediation is extended only with both parties' consent.
        raise ValidationFailed(
            "矛盾纠纷调解延期须经双方当事人同意。",
            code="parties_consent_required",
            field="parties_consent",
        )
    case.extension_requested_until = until


def approve_extension(ctx: Context) -> None:
    """The new due time stands."""
    case = ctx.case
    until = case.extension_requested_until
    if until <= ctx.now:
        raise ValidationFailed(
            "申请延期至的时间已过，请处置部门重新申请。", code="extension_expired"
        )
    ctx.data["due_from"] = case.due_at.isoformat() if case.due_at else None
    ctx.data["due_to"] = until.isoformat()
    # Yellow comes as long before the new due time as it did before the old one.
    if case.warn_at is not None and case.due_at is not None:
        case.warn_at = max(ctx.now, until - (case.due_at - case.warn_at))
    case.due_at = until
    case.clock_alert = None
    # The whole department team gets the time: co-handlers work to the same end.
    for assignment in case.active_assignments:
        assignment.due_at = until
    case.extension_requested_until = None


def refuse_extension(ctx: Context) -> None:
    """The due time stays."""
    ctx.case.extension_requested_until = None


def resolve(ctx: Context) -> None:
    """Keep the result the department reports."""
    case, f = ctx.case, ctx.fields
    case.result_code = clean_choice(ResultCode, f["result_code"], "result_code")
    case.result_text = clean_text(f["result_text"], "result_text")
    case.resolved_at = ctx.now
    _withdraw_requests(case)
    if case.happening_now and not case.category.urgent:
        case.urgent = False  # what was happening is dealt with: later steps run as usual
    lead = _lead_assignment(case)
    lead.feedback, lead.feedback_at = case.result_text, ctx.now


def verify(ctx: Context) -> None:
    """The follow-up visit is due a week after the result, not after the check."""
    follow = ctx.deadlines.clock(ctx.case.category, Step.FOLLOW_UP, ctx.case.resolved_at)
    ctx.step_clock = (follow.step, follow.started_at, follow.warn_at, follow.due_at)


def send_back(ctx: Context) -> None:
    """The result is not accepted: the department works on."""
    _resume_handling(ctx)
    ctx.case.complaint_at = None  # the reporter's complaint is answered by more work
    ctx.case.resolved_at = None
    ctx.case.result_code = None
    ctx.case.result_text = None


def record_visit(ctx: Context) -> None:
    """Check the visit's outcome against the case's kind; keep the satisfaction heard."""
    if "satisfaction" in ctx.fields and ctx.fields["satisfaction"] not in SATISFACTION:
        raise ValidationFailed("满意度取值无效。", code="invalid_choice", field="satisfaction")
    allowed = visit_outcomes(ctx.case)
    if ctx.fields["outcome"] not in allowed:
        raise ValidationFailed(
            f"回访结果须为：{'、'.join(allowed.values())}。", code="invalid_choice", field="outcome"
        )
    clean_text(ctx.fields["text"], "text")
    if "satisfaction" in ctx.fields:
        ctx.case.satisfaction = ctx.fields["satisfaction"]


def close(ctx: Context) -> None:
    """Close with a reason; every department lets go."""
    ctx.case.closing_reason = clean_choice(
        ClosingReason, ctx.fields["closing_reason"], "closing_reason"
    )
    ctx.case.closed_at = ctx.now
    _end_assignments(ctx)


def confirm_result(ctx: Context) -> None:
    """The reporter's complaint is answered: the result stands."""
    ctx.case.complaint_at = None


def reopen(ctx: Context) -> None:
    """The problem is back: the result, the closing and the departments go."""
    case = ctx.case
    case.complaint_at = None
    _end_assignments(ctx)
    case.closed_at = None
    case.closing_reason = None
    case.resolved_at = None
    case.result_code = None
    case.result_text = None
    case.lead_department = None
    case.handler = None


def supervise(ctx: Context) -> None:
    """Mark the case supervised (督办)."""
    ctx.case.supervised = True


def escalate(ctx: Context) -> None:
    """Mark the case escalated to the district."""
    ctx.case.escalated = True


def feedback(ctx: Context) -> None:
    """Keep a co-handling department's feedback on its share."""
    text = clean_text(ctx.fields["text"], "text")
    for assignment in ctx.case.active_assignments:
        if assignment.department_id == ctx.actor.department_id:
            assignment.feedback, assignment.feedback_at = text, ctx.now


def note(ctx: Context) -> None:
    """An internal note: its text is checked, the event keeps it."""
    clean_text(ctx.fields["text"], "text")
