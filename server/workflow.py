"""The case lifecycle as data, and the one function that changes a case's state.

`TRANSITIONS[(status, action)]` says where an action leads, who may take it, what it
needs and which step's clock it starts. `apply` checks all of that, changes the case,
appends one event and bumps the version, inside one savepoint: either all of it is
written or none. Nothing else writes `Case.status`. `allowed_actions` drives the
admin's buttons and the API's `actions` field from the same table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified, set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from server import access, clock, notifications, reference, repeats, routing, statistics
from server.db import db
from server.deadlines import Deadlines
from server.errors import Conflict, Forbidden, InvalidTransition, StaleCase, ValidationFailed
from server.models import (
    AssignmentRole,
    Case,
    CaseAssignment,
    CaseEvent,
    CaseStatus,
    Category,
    ClosingReason,
    Department,
    ResultCode,
    RiskLevel,
    Role,
    Severity,
    Step,
    User,
)

S = CaseStatus

# Status groups: code asks for the group, not the label.
OPEN = frozenset({S.SUBMITTED, S.ACCEPTED, S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED, S.FOLLOW_UP})
ENDED = frozenset({S.REJECTED, S.MERGED, S.CLOSED})
WITH_DEPARTMENT = frozenset({S.DISPATCHED, S.IN_PROGRESS, S.RESOLVED})
ALL = OPEN | ENDED

# The status shown to the villager who reported: (code, label).
PUBLIC_STATUS: dict[CaseStatus, tuple[str, str]] = {
    S.SUBMITTED: ("received", "已收到"),
    S.ACCEPTED: ("accepted", "已受理"),
    S.DISPATCHED: ("handling", "处理中"),
    S.IN_PROGRESS: ("handling", "处理中"),
    S.RESOLVED: ("resolved", "已办结"),
    S.FOLLOW_UP: ("resolved", "已办结"),
    S.CLOSED: ("closed", "已结案"),
    S.REJECTED: ("rejected", "不予受理"),
    S.MERGED: ("merged", "已与同一事项合并处理"),
}

SATISFACTION = {"satisfied": "满意", "basically_satisfied": "基本满意", "dissatisfied": "不满意"}
KEEP = object()  # a transition that leaves the running clock alone


def survivor(case: Case) -> Case:
    """The case a merged report lives on in (its target's target, …); the case itself
    if it was not merged."""
    for _ in range(20):  # a merge chain is short; a loop would be a data error
        if case.status != S.MERGED or case.merged_into is None:
            break
        case = case.merged_into
    return case


def public_status(case: Case) -> tuple[str, str]:
    """The (code, label) a reporter sees: no internal detail, merged cases follow the target."""
    return PUBLIC_STATUS[survivor(case).status]


@dataclass
class Context:
    """What an effect needs: the case, the actor, the cleaned fields, the time, the clocks."""

    case: Case
    actor: User
    fields: dict
    now: datetime
    deadlines: Deadlines
    # What the event records besides the fields (set by effects).
    data: dict = field(default_factory=dict)
    step_clock: object = KEEP
    # The departments whose share of the case this action ended, and those it added
    # beside a lead that stays (they are told).
    released: list[Department] = field(default_factory=list)
    joined: list[Department] = field(default_factory=list)


@dataclass(frozen=True)
class Transition:
    """One edge of the lifecycle."""

    action: str
    label: str
    sources: frozenset[CaseStatus]
    to: CaseStatus | None  # None: the status stays (flags, notes, extensions)
    roles: frozenset[Role]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()
    # The step whose clock starts on arrival; None stops the clock; KEEP leaves it.
    step: object = KEEP
    # The actor's relation to the case (e.g. "holds the lead assignment").
    relation: Callable[[Case, User], bool] | None = None
    # A condition on the case beyond its status; returns a Chinese reason when refused.
    guard: Callable[[Case], str | None] | None = None
    effect: Callable[[Context], None] | None = None
    # Hidden from the reporter's timeline.
    internal: bool = False
    # False: the action cuts the running step short (it moves the case elsewhere) rather
    # than ending it, so the on-time figures do not count the step by it.
    ends_step: bool = True
    note_field: str | None = None  # which field is the event's free-text note


# --- field cleaning ----------------------------------------------------------------------


def _text(value, name, max_length=2000) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed(
            f"请填写{_FIELD_LABELS.get(name, name)}。", code="missing_field", field=name
        )
    value = value.strip()
    if len(value) > max_length:
        raise ValidationFailed(
            f"{_FIELD_LABELS.get(name, name)}过长（最多{max_length}字）。",
            code="too_long",
            field=name,
        )
    return value


def _choice(enum_cls, value, name):
    try:
        return enum_cls(value)
    except ValueError:
        raise ValidationFailed(
            f"{_FIELD_LABELS.get(name, name)}的取值无效：{value!r}。",
            code="invalid_choice",
            field=name,
        ) from None


def _row(model, value, name):
    row = value if isinstance(value, model) else None
    if row is None and isinstance(value, int) and not isinstance(value, bool):
        row = db.session.get(model, value)
    if row is None:
        raise ValidationFailed(
            f"{_FIELD_LABELS.get(name, name)}不存在：{value!r}。",
            code="unknown_reference",
            field=name,
        )
    return row


def _moment(value, name) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            value = None
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValidationFailed(
            f"{_FIELD_LABELS.get(name, name)}须为带时区的时间。",
            code="invalid_datetime",
            field=name,
        )
    return value


# Free text: a non-empty string of at most 2000 characters, whichever action carries it.
TEXT_FIELDS = frozenset({"reason", "note", "text", "result_text"})

_FIELD_LABELS = {
    "reason": "原因",
    "into": "合并目标案件",
    "lead_department": "主办部门",
    "co_departments": "协办部门",
    "handler": "处置人员",
    "due_at": "办理期限",
    "until": "延期至",
    "result_code": "办结结果",
    "result_text": "办结情况",
    "closing_reason": "结案原因",
    "text": "内容",
    "category": "类别",
    "risk_level": "风险等级",
    "severity": "严重程度",
    "satisfaction": "满意度",
    "parties_consent": "当事人同意",
    "criminal_risk": "民转刑风险",
    "outcome": "回访结果",
    "note": "备注",
}


# What each field takes, so that a client can draw it without knowing the table: free
# text, one of `field_choices`, yes/no, a moment, a department (or several), a case code.
_FIELD_KINDS = {
    "reason": "text",
    "text": "text",
    "note": "text",
    "result_text": "text",
    "result_code": "choice",
    "closing_reason": "choice",
    "risk_level": "choice",
    "severity": "choice",
    "satisfaction": "choice",
    "outcome": "choice",
    "parties_consent": "boolean",
    "criminal_risk": "boolean",
    "until": "datetime",
    "due_at": "datetime",
    "lead_department": "department",
    "co_departments": "departments",
    "handler": "user",
    "category": "category",
    "into": "case",
}


def field_forms(transition: Transition) -> dict[str, dict[str, str]]:
    """Each field of `transition` with its Chinese label and its kind (see _FIELD_KINDS)."""
    return {
        name: {"label": _FIELD_LABELS.get(name, name), "kind": _FIELD_KINDS.get(name, "text")}
        for name in (*transition.required, *transition.optional)
    }


def _json(value):
    """A field value as the event stores it."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, db.Model):
        return getattr(value, "code", None) or value.id
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    return value


# --- relations and guards ----------------------------------------------------------------


def _holds_lead(case: Case, user: User) -> bool:
    return user.role == Role.HANDLER and any(
        a.department_id == user.department_id and a.role == AssignmentRole.LEAD
        for a in case.active_assignments
    )


def _holds_co(case: Case, user: User) -> bool:
    return user.role == Role.HANDLER and any(
        a.department_id == user.department_id and a.role == AssignmentRole.CO
        for a in case.active_assignments
    )


def _is_assigned(case: Case, user: User) -> bool:
    return user.role != Role.HANDLER or any(
        a.department_id == user.department_id for a in case.active_assignments
    )


def _looks_after_village(case: Case, user: User) -> bool:
    return user.role != Role.GRID_WORKER or case.village_id in user.village_ids


def _visits(case: Case, user: User) -> bool:
    """Who goes back to a case: the village's grid worker, or, for a confidential case
    (a drug dealer next door), the center only: a visit from the village would tell it."""
    if user.role == Role.GRID_WORKER and case.category.confidential:
        return False
    return _looks_after_village(case, user)


def _extension_pending(case: Case) -> str | None:
    return None if case.extension_requested_until else "没有待审批的延期申请。"


def _no_extension_pending(case: Case) -> str | None:
    return "已有延期申请待审批。" if case.extension_requested_until else None


def _visited(case: Case) -> str | None:
    # 回访 before 结案: a follow-up visit recorded since the result was verified.
    verified = db.session.scalar(
        select(func.max(CaseEvent.id)).where(
            CaseEvent.case_id == case.id, CaseEvent.action == "verify"
        )
    )
    visited = db.session.scalar(
        select(func.count(CaseEvent.id)).where(
            CaseEvent.case_id == case.id,
            CaseEvent.action == "record_visit",
            CaseEvent.id > (verified or 0),
        )
    )
    return None if visited else "结案前须先完成回访。"


def _no_complaint_pending(case: Case) -> str | None:
    if case.complaint_at is not None:
        return "群众对处理结果不满意，请先复核：重开、核查退回，或维持原结果并说明理由。"
    return None


def _complaint_pending(case: Case) -> str | None:
    return None if case.complaint_at is not None else "没有待复核的群众意见。"


def _closable(case: Case) -> str | None:
    return _no_complaint_pending(case) or _visited(case)


def _not_supervised(case: Case) -> str | None:
    return "案件已在督办中。" if case.supervised else None


def _not_escalated(case: Case) -> str | None:
    return "案件已上报区级。" if case.escalated else None


# --- effects -----------------------------------------------------------------------------


def _end_assignments(ctx: Context) -> None:
    for assignment in ctx.case.active_assignments:
        assignment.ended_at = ctx.now
        ctx.released.append(assignment.department)


def _withdraw_requests(case: Case) -> None:
    """The department's open requests lapse: the case moved on without them."""
    case.extension_requested_until = None
    case.return_requested_at = None


def _accept(ctx: Context) -> None:
    case, f = ctx.case, ctx.fields
    if "category" in f:
        value = f["category"]
        if isinstance(value, str):  # a category code, as the surfaces send it
            value = db.session.scalar(select(Category).where(Category.code == value)) or value
        category = _row(Category, value, "category")
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
        case.severity = _choice(Severity, f["severity"], "severity")
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
        level = _choice(RiskLevel, f["risk_level"], "risk_level")
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


def _assess_risk(ctx: Context) -> None:
    if not _set_risk(ctx):
        raise ValidationFailed(
            "风险等级和民转刑风险都没有改变。", code="no_change", field="risk_level"
        )


def _reject(ctx: Context) -> None:
    ctx.case.rejection_reason = _text(ctx.fields["reason"], "reason")


def _merge(ctx: Context) -> None:
    target = ctx.fields["into"]
    if not isinstance(target, Case):
        from server.lookup import find_case

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
    lead = _row(Department, f["lead_department"], "lead_department")
    given = f.get("co_departments") or []
    if not isinstance(given, list | tuple):
        raise ValidationFailed("协办部门须为列表。", code="invalid_field", field="co_departments")
    co = []
    for value in given:
        department = _row(Department, value, "co_departments")
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
        handler = _row(User, f["handler"], "handler")
        if handler.department_id != lead.id or not handler.active:
            raise ValidationFailed(
                "处置人员须是主办部门的在岗人员。", code="invalid_handler", field="handler"
            )
    handle = ctx.deadlines.clock(case.category, Step.HANDLE, ctx.now)
    due_at = _moment(f["due_at"], "due_at") if f.get("due_at") is not None else handle.due_at
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


def _dispatch(ctx: Context) -> None:
    _assign(ctx, *_departments(ctx.fields))


def _reassign(ctx: Context) -> None:
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


def _change_co_handlers(ctx: Context) -> None:
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


def _sign_for(ctx: Context) -> None:
    case = ctx.case
    _lead_assignment(case).signed_at = ctx.now
    if case.return_requested_at is not None:  # signing for it is taking it on after all
        case.return_requested_at = None
        ctx.data["return_withdrawn"] = True
    if case.handler is None:
        case.handler = ctx.actor
    _resume_handling(ctx)


def _take_back(ctx: Context) -> None:
    """The case comes back to the center (an approved return, a recall) for dispatch."""
    _end_assignments(ctx)
    ctx.case.lead_department = None
    ctx.case.handler = None
    _withdraw_requests(ctx.case)


def _request_return(ctx: Context) -> None:
    ctx.case.return_requested_at = ctx.now


def _refuse_return(ctx: Context) -> None:
    ctx.case.return_requested_at = None


def _return_pending(case: Case) -> str | None:
    return None if case.return_requested_at else "没有待审核的退回申请。"


def _no_return_pending(case: Case) -> str | None:
    return "已有退回申请待调处中心审核。" if case.return_requested_at else None


def _request_extension(ctx: Context) -> None:
    case, f = ctx.case, ctx.fields
    until = _moment(f["until"], "until")
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


def _approve_extension(ctx: Context) -> None:
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


def _refuse_extension(ctx: Context) -> None:
    ctx.case.extension_requested_until = None


def _resolve(ctx: Context) -> None:
    case, f = ctx.case, ctx.fields
    case.result_code = _choice(ResultCode, f["result_code"], "result_code")
    case.result_text = _text(f["result_text"], "result_text")
    case.resolved_at = ctx.now
    _withdraw_requests(case)
    if case.happening_now and not case.category.urgent:
        case.urgent = False  # what was happening is dealt with: later steps run as usual
    lead = _lead_assignment(case)
    lead.feedback, lead.feedback_at = case.result_text, ctx.now


def _verify(ctx: Context) -> None:
    # The follow-up visit is due a week after the result, not after the check.
    follow = ctx.deadlines.clock(ctx.case.category, Step.FOLLOW_UP, ctx.case.resolved_at)
    ctx.step_clock = (follow.step, follow.started_at, follow.warn_at, follow.due_at)


def _send_back(ctx: Context) -> None:
    _resume_handling(ctx)
    ctx.case.complaint_at = None  # the reporter's complaint is answered by more work
    ctx.case.resolved_at = None
    ctx.case.result_code = None
    ctx.case.result_text = None


# What a follow-up visit (回访) found; the "back" ones reopen the case. A hazard has no
# agreement to keep: its visit finds the problem gone or back.
VISIT_OUTCOMES = {
    "gone": "问题已消除",
    "back_again": "问题再次出现",
    "kept": "协议已履行",
    "broken": "协议未履行",
}
REOPENING_OUTCOMES = frozenset({"back_again", "broken"})
HAZARD_OUTCOMES = ("gone", "back_again")


def visit_outcomes(case: Case) -> dict[str, str]:
    """The outcomes a follow-up visit of `case` may record: value -> label."""
    if case.category.is_dispute:
        return VISIT_OUTCOMES
    return {k: VISIT_OUTCOMES[k] for k in HAZARD_OUTCOMES}


def _record_visit(ctx: Context) -> None:
    if "satisfaction" in ctx.fields and ctx.fields["satisfaction"] not in SATISFACTION:
        raise ValidationFailed("满意度取值无效。", code="invalid_choice", field="satisfaction")
    allowed = visit_outcomes(ctx.case)
    if ctx.fields["outcome"] not in allowed:
        raise ValidationFailed(
            f"回访结果须为：{'、'.join(allowed.values())}。", code="invalid_choice", field="outcome"
        )
    _text(ctx.fields["text"], "text")
    if "satisfaction" in ctx.fields:
        ctx.case.satisfaction = ctx.fields["satisfaction"]


def _close(ctx: Context) -> None:
    ctx.case.closing_reason = _choice(ClosingReason, ctx.fields["closing_reason"], "closing_reason")
    ctx.case.closed_at = ctx.now
    _end_assignments(ctx)


def _confirm_result(ctx: Context) -> None:
    ctx.case.complaint_at = None


def _reopen(ctx: Context) -> None:
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


def _supervise(ctx: Context) -> None:
    ctx.case.supervised = True


def _escalate(ctx: Context) -> None:
    ctx.case.escalated = True


def _feedback(ctx: Context) -> None:
    text = _text(ctx.fields["text"], "text")
    for assignment in ctx.case.active_assignments:
        if assignment.department_id == ctx.actor.department_id:
            assignment.feedback, assignment.feedback_at = text, ctx.now


def _note(ctx: Context) -> None:
    _text(ctx.fields["text"], "text")


# --- the table ---------------------------------------------------------------------------

CENTER = frozenset({Role.CENTER})
HANDLER = frozenset({Role.HANDLER})
# Dispatched or being handled: a lead department holds the case and has not resolved it.
WITH_LEAD = frozenset({S.DISPATCHED, S.IN_PROGRESS})

_EDGES: list[Transition] = [
    Transition(
        "accept",
        "受理",
        frozenset({S.SUBMITTED}),
        S.ACCEPTED,
        CENTER,
        optional=("category", "risk_level", "criminal_risk", "severity", "note"),
        step=Step.DISPATCH,
        effect=_accept,
        note_field="note",
    ),
    Transition(
        "reject",
        "不予受理",
        frozenset({S.SUBMITTED}),
        S.REJECTED,
        CENTER,
        required=("reason",),
        step=None,
        effect=_reject,
        note_field="reason",
    ),
    Transition(
        "merge",
        "合并",
        frozenset({S.SUBMITTED}),
        S.MERGED,
        CENTER,
        required=("into",),
        optional=("note",),
        step=None,
        effect=_merge,
        note_field="note",
    ),
    Transition(
        "dispatch",
        "派遣",
        frozenset({S.ACCEPTED}),
        S.DISPATCHED,
        CENTER,
        required=("lead_department",),
        optional=("co_departments", "handler", "due_at", "note"),
        step=Step.SIGN_FOR,
        effect=_dispatch,
        note_field="note",
    ),
    Transition(
        "sign_for",
        "签收",
        frozenset({S.DISPATCHED}),
        S.IN_PROGRESS,
        HANDLER,
        optional=("note",),
        relation=_holds_lead,
        effect=_sign_for,
        note_field="note",
    ),
    # 改派 / 收回: whoever holds a case, the center can always move it.
    Transition(
        "reassign",
        "改派",
        WITH_LEAD,
        S.DISPATCHED,
        CENTER,
        required=("lead_department", "reason"),
        optional=("co_departments", "handler", "due_at"),
        step=Step.SIGN_FOR,
        effect=_reassign,
        note_field="reason",
        internal=True,
        ends_step=False,
    ),
    Transition(
        "change_co_handlers",
        "调整协办",
        WITH_LEAD,
        None,
        CENTER,
        required=("reason",),
        optional=("co_departments",),
        effect=_change_co_handlers,
        note_field="reason",
        internal=True,
    ),
    Transition(
        "recall",
        "收回",
        WITH_LEAD,
        S.ACCEPTED,
        CENTER,
        required=("reason",),
        step=Step.DISPATCH,
        effect=_take_back,
        note_field="reason",
        internal=True,
        ends_step=False,
    ),
    # 退回 is asked for, and the center reviews it (退单审核): meanwhile the case stays.
    Transition(
        "return",
        "申请退回",
        WITH_LEAD,
        None,
        HANDLER,
        required=("reason",),
        relation=_holds_lead,
        guard=_no_return_pending,
        effect=_request_return,
        note_field="reason",
        internal=True,
    ),
    Transition(
        "approve_return",
        "同意退回",
        WITH_LEAD,
        S.ACCEPTED,
        CENTER,
        optional=("note",),
        step=Step.DISPATCH,
        guard=_return_pending,
        effect=_take_back,
        note_field="note",
        internal=True,
        ends_step=False,
    ),
    Transition(
        "refuse_return",
        "不同意退回",
        WITH_LEAD,
        None,
        CENTER,
        required=("reason",),
        guard=_return_pending,
        effect=_refuse_return,
        note_field="reason",
        internal=True,
    ),
    Transition(
        "request_extension",
        "申请延期",
        frozenset({S.IN_PROGRESS}),
        None,
        HANDLER,
        required=("until", "reason"),
        optional=("parties_consent",),
        relation=_holds_lead,
        guard=_no_extension_pending,
        effect=_request_extension,
        note_field="reason",
        internal=True,
    ),
    Transition(
        "approve_extension",
        "批准延期",
        frozenset({S.IN_PROGRESS}),
        None,
        CENTER,
        optional=("note",),
        guard=_extension_pending,
        effect=_approve_extension,
        note_field="note",
        internal=True,
    ),
    Transition(
        "refuse_extension",
        "不批准延期",
        frozenset({S.IN_PROGRESS}),
        None,
        CENTER,
        required=("reason",),
        guard=_extension_pending,
        effect=_refuse_extension,
        note_field="reason",
        internal=True,
    ),
    Transition(
        "resolve",
        "办结",
        frozenset({S.IN_PROGRESS}),
        S.RESOLVED,
        HANDLER,
        required=("result_code", "result_text"),
        step=Step.VERIFY,
        relation=_holds_lead,
        effect=_resolve,
        note_field="result_text",
    ),
    Transition(
        "verify",
        "核查通过",
        frozenset({S.RESOLVED}),
        S.FOLLOW_UP,
        CENTER,
        optional=("note",),
        guard=_no_complaint_pending,
        effect=_verify,
        note_field="note",
    ),
    Transition(
        "send_back",
        "核查退回",
        frozenset({S.RESOLVED}),
        S.IN_PROGRESS,
        CENTER,
        required=("reason",),
        step=Step.HANDLE,
        effect=_send_back,
        note_field="reason",
        internal=True,
    ),
    Transition(
        "record_visit",
        "回访",
        frozenset({S.FOLLOW_UP}),
        None,
        frozenset({Role.CENTER, Role.GRID_WORKER}),
        required=("outcome", "text"),
        optional=("satisfaction",),
        relation=_visits,
        effect=_record_visit,
        note_field="text",
        internal=True,
    ),
    Transition(
        "close",
        "结案",
        frozenset({S.FOLLOW_UP}),
        S.CLOSED,
        CENTER,
        required=("closing_reason",),
        optional=("note",),
        step=None,
        guard=_closable,
        effect=_close,
        note_field="note",
    ),
    Transition(
        "reopen",
        "重开",
        frozenset({S.FOLLOW_UP, S.CLOSED}),
        S.ACCEPTED,
        frozenset({Role.CENTER, Role.GRID_WORKER}),
        required=("reason",),
        step=Step.DISPATCH,
        relation=_looks_after_village,
        effect=_reopen,
        note_field="reason",
    ),
    # 不满意重办: the reporter's complaint is reviewed; reopen (above) or keep the result,
    # with a reason written for the reporter.
    Transition(
        "confirm_result",
        "维持原结果",
        frozenset({S.RESOLVED, S.FOLLOW_UP, S.CLOSED}),
        None,
        CENTER,
        required=("reason",),
        guard=_complaint_pending,
        effect=_confirm_result,
        note_field="reason",
    ),
    # 风险研判: the center sets the risk and the 民转刑 flag at any time after acceptance.
    Transition(
        "assess_risk",
        "风险研判",
        OPEN - {S.SUBMITTED},
        None,
        CENTER,
        required=("reason",),
        optional=("risk_level", "criminal_risk"),
        effect=_assess_risk,
        note_field="reason",
        internal=True,
    ),
    Transition(
        "supervise",
        "督办",
        OPEN - {S.SUBMITTED},
        None,
        CENTER,
        optional=("note",),
        guard=_not_supervised,
        effect=_supervise,
        note_field="note",
        internal=True,
    ),
    Transition(
        "escalate",
        "上报区级",
        OPEN,
        None,
        CENTER,
        required=("reason",),
        guard=_not_escalated,
        effect=_escalate,
        note_field="reason",
        internal=True,
    ),
    Transition(
        "feedback",
        "协办反馈",
        frozenset({S.DISPATCHED, S.IN_PROGRESS}),
        None,
        HANDLER,
        required=("text",),
        relation=_holds_co,
        effect=_feedback,
        note_field="text",
        internal=True,
    ),
    Transition(
        "note",
        "内部备注",
        ALL,
        None,
        frozenset({Role.CENTER, Role.HANDLER}),
        required=("text",),
        relation=_is_assigned,
        effect=_note,
        note_field="text",
        internal=True,
    ),
]

TRANSITIONS: dict[tuple[CaseStatus, str], Transition] = {
    (source, edge.action): edge for edge in _EDGES for source in edge.sources
}
ACTIONS: dict[str, Transition] = {edge.action: edge for edge in _EDGES}


# --- the one way to change a case --------------------------------------------------------


def _refusal(case: Case, transition: Transition | None, actor: User | None):
    """Why `actor` may not take `transition` on `case` now (an error), or None."""
    if transition is None:
        return InvalidTransition(f"案件当前状态（{case.status.label}）不允许此操作。")
    if actor is None or not access.can_act(actor) or actor.role not in transition.roles:
        return Forbidden(f"您的角色不能执行“{transition.label}”。")
    if not access.can_view_case(actor, case):
        return Forbidden("您无权处理此案件。")
    if transition.relation is not None and not transition.relation(case, actor):
        return Forbidden(f"您不是此案件“{transition.label}”的责任人。")
    if transition.guard is not None and (reason := transition.guard(case)):
        return InvalidTransition(reason)
    return None


def field_choices(case: Case, transition: Transition) -> dict[str, dict[str, str]]:
    """The values each choice field of `transition` takes on `case`: value -> Chinese
    label, so that every surface offers the same choices in the same words."""
    fixed = {
        "result_code": ResultCode,
        "closing_reason": ClosingReason,
        "risk_level": RiskLevel,
        "severity": Severity,
    }
    choices = {}
    for name in (*transition.required, *transition.optional):
        if name in fixed:
            choices[name] = {m.value: m.label for m in fixed[name]}
        elif name == "satisfaction":
            choices[name] = dict(SATISFACTION)
        elif name == "outcome":
            choices[name] = dict(visit_outcomes(case))
    return choices


def allowed_actions(case: Case, actor: User | None) -> list[Transition]:
    """The actions `actor` may take on `case` now, in the table's order."""
    return [
        edge
        for edge in _EDGES
        if case.status in edge.sources and _refusal(case, edge, actor) is None
    ]


def _clean(transition: Transition, fields: dict) -> dict:
    unknown = set(fields) - set(transition.required) - set(transition.optional)
    if unknown:
        names = ", ".join(sorted(unknown))
        raise ValidationFailed(
            f"“{transition.label}”不接受这些字段：{names}。",
            code="unknown_field",
            fields=sorted(unknown),
        )
    for name in transition.required:
        value = fields.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise ValidationFailed(
                f"请填写{_FIELD_LABELS.get(name, name)}。", code="missing_field", field=name
            )
    cleaned = {k: v for k, v in fields.items() if v is not None}
    for name in TEXT_FIELDS & set(cleaned):
        cleaned[name] = _text(cleaned[name], name)
    return cleaned


def apply(
    case: Case,
    action: str,
    *,
    actor: User,
    expected_version: int | None = None,
    idempotency_key: str | None = None,
    **fields,
) -> CaseEvent:
    """Take `action` on `case` as `actor`; return the event written.

    Raises a DomainError (and writes nothing) when the action is unknown or not allowed
    from this state, the actor may not take it, a field is missing or wrong, or the case
    changed since the actor saw it (`expected_version`, and the version check on write).
    """
    if action not in ACTIONS:
        raise InvalidTransition(f"未知操作：{action}。", code="unknown_action")
    # A form shown before someone else acted is stale, whatever the action: say so first.
    if expected_version is not None and expected_version != case.version:
        raise StaleCase(current_status=case.status.value, current_version=case.version)
    transition = TRANSITIONS.get((case.status, action))
    if transition is None and case.status in ENDED:
        raise InvalidTransition(f"案件{case.status.label}，不能再执行此操作。", code="case_ended")
    if (error := _refusal(case, transition, actor)) is not None:
        raise error
    cleaned = _clean(transition, fields)

    now = clock.now()
    ctx = Context(case, actor, cleaned, now, Deadlines(reference.calendar))
    from_status = case.status
    # The clock this action ran against: statistics count on-time steps from its columns;
    # the event's data keeps it too, so the record reads whole on its own.
    ran_against = {}
    if (
        case.step is not None
        and case.due_at is not None
        and transition.to is not None
        and transition.ends_step
    ):
        ran_against = {"step": case.step.value, "step_due_at": case.due_at}
        ctx.data.update(step=case.step.value, step_due_at=case.due_at.isoformat())
    try:
        # No autoflush while the case changes: one flush, so one version bump per action.
        with db.session.begin_nested(), db.session.no_autoflush:
            if transition.effect is not None:
                transition.effect(ctx)
            if transition.to is not None:
                case.status = transition.to
            _set_clock(ctx, transition)
            event = CaseEvent(
                case=case,
                action=transition.action,
                from_status=from_status,
                to_status=case.status,
                at=now,
                actor_id=actor.id,
                actor_role=actor.role.value,
                note=cleaned.get(transition.note_field) if transition.note_field else None,
                data={
                    **{k: _json(v) for k, v in cleaned.items() if k != transition.note_field},
                    **ctx.data,
                },
                internal=transition.internal,
                idempotency_key=idempotency_key,
                **ran_against,
                **event_facts(case, transition.action, now, cleaned),
            )
            _record(case, event)
            # In this transaction, or not at all.
            notifications.queue_for_event(case, event, released=ctx.released, joined=ctx.joined)
            case.updated_at = now
            # Every action bumps the version, even one that changes no column of the case
            # (a note, a co-handler's feedback): a form shown before it is then stale too.
            flag_modified(case, "updated_at")
            db.session.flush()
    except StaleDataError:
        raise StaleCase() from None
    except IntegrityError:
        if idempotency_key:  # the same client request, applied before
            raise Conflict("此操作已提交过。", code="already_applied") from None
        raise
    if action == "record_visit" and cleaned.get("outcome") in REOPENING_OUTCOMES:
        # The visit found the problem back: the case opens again, in the same transaction.
        apply(
            case,
            "reopen",
            actor=actor,
            reason=f"回访发现{VISIT_OUTCOMES[cleaned['outcome']]}：{cleaned['text']}"[:2000],
        )
    return event


def _record(case: Case, event: CaseEvent) -> None:
    """Add `event` to the case's timeline: to the session, and to `case.events` where
    that is loaded (the relationship is view-only, so the ORM would not)."""
    db.session.add(event)
    if "events" in case.__dict__:
        set_committed_value(case, "events", [*case.events, event])


def submit_event(case: Case, actor: User | None) -> CaseEvent:
    """The first event of a new case built in memory (`operations.submit_report`): its
    report, by `actor` (None: a villager), with the columns the figures count by."""
    event = CaseEvent(
        action="submit",
        from_status=None,
        to_status=case.status,
        at=case.created_at,
        actor_id=actor.id if actor is not None else None,
        actor_role=actor.role.value if actor is not None else None,
        data={"source": case.source.value, "category": case.category.code},
        **event_facts(case, "submit", case.created_at, {}),
    )
    # Set, not assigned: the case is not in the session, and its event is known whole.
    set_committed_value(event, "case", case)
    set_committed_value(event, "actor", actor)
    return event


# The field each action concludes with, kept on its event as `result` for the figures.
RESULT_FIELDS = {
    "resolve": "result_code",
    "close": "closing_reason",
    "record_visit": "satisfaction",
    "answer_follow_up": "satisfaction",
}


def event_facts(case: Case, action: str, now, fields: dict) -> dict:
    """The columns of a new event that the figures count by (see `CaseEvent`)."""
    result = fields.get(RESULT_FIELDS.get(action, ""))
    result = str(_json(result)) if result is not None else None
    previous = (None, None, None)
    if case.id is not None and action != "submit":  # one query over the case's events
        E = CaseEvent  # noqa: N806 - short, for the expressions below
        previous = db.session.execute(
            select(
                func.max(sql_case((E.action == action, E.at))),
                func.max(sql_case(((E.action == action) & (E.result == result), E.at))),
                func.max(sql_case((E.action.in_(statistics.COUNTED_ACTIONS), E.at))),
            ).where(E.case_id == case.id)
        ).one()
    return {
        "previous_at": previous[0],
        "previous_result_at": previous[1] if result is not None else None,
        "previous_counted_at": previous[2],
        # The relationship, not the column: acceptance may just have changed the category.
        "village_id": case.village.id if case.village is not None else case.village_id,
        "category_id": case.category.id if case.category is not None else case.category_id,
        "seconds_since_report": max(0, int((now - case.created_at).total_seconds())),
        "result": result,
    }


def _set_clock(ctx: Context, transition: Transition) -> None:
    case = ctx.case
    if transition.step is not KEEP or isinstance(ctx.step_clock, tuple):
        case.clock_alert = None  # a new clock is chased afresh
    if isinstance(ctx.step_clock, tuple):
        case.step, case.step_started_at, case.warn_at, case.due_at = ctx.step_clock
    elif transition.step is None:
        case.step = case.step_started_at = case.warn_at = case.due_at = None
    elif transition.step is not KEEP:
        c = ctx.deadlines.clock(case.category, transition.step, ctx.now, urgent=case.urgent)
        case.step, case.step_started_at, case.warn_at, case.due_at = (
            c.step,
            c.started_at,
            c.warn_at,
            c.due_at,
        )


# --- what the reporter (a villager, no account) may add ----------------------------------

# action -> (statuses it is allowed in, label). None changes the status.
AFTER_RESULT = frozenset({S.RESOLVED, S.FOLLOW_UP, S.CLOSED})
REPORTER_ACTIONS: dict[str, tuple[frozenset[CaseStatus], str]] = {
    "add_info": (OPEN, "群众补充情况"),
    "answer_follow_up": (AFTER_RESULT, "群众评价"),
    "complain": (AFTER_RESULT, "群众反映问题未解决"),
}


def _answered(case: Case) -> bool:
    """Whether the reporter has given their one answer (满意 / 基本满意 / 不满意)."""
    return bool(
        db.session.scalar(
            select(func.count(CaseEvent.id)).where(
                CaseEvent.case_id == case.id, CaseEvent.action == "answer_follow_up"
            )
        )
    )


def apply_as_reporter(
    case: Case, action: str, *, text: str | None = None, satisfaction: str | None = None
) -> CaseEvent:
    """Record what the villager who reported adds from the tracking page.

    The event has no actor (the reporter is not an account) and is shown to staff and
    to the reporter; one version bump, as for every action. A 不满意 answer or a complaint
    puts the case before the center for review (`Case.complaint_at`).
    """
    if action not in REPORTER_ACTIONS:
        raise InvalidTransition(f"未知操作：{action}。", code="unknown_action")
    allowed, label = REPORTER_ACTIONS[action]
    if case.status not in allowed:
        raise InvalidTransition(f"报告当前状态（{public_status(case)[1]}）不能{label}。")
    data = {}
    now = clock.now()
    if action == "add_info":
        text = _text(text, "text")
    elif action == "complain":
        if not _answered(case):
            raise InvalidTransition("请先评价处理结果；不满意可在评价时说明。", code="answer_first")
        if case.complaint_at is not None:
            raise InvalidTransition(
                "您反映的意见正在复核中，请耐心等待答复。", code="complaint_pending"
            )
        text = _text(text, "text")
        case.complaint_at = now
    else:
        if satisfaction not in SATISFACTION:
            raise ValidationFailed(
                "请选择满意、基本满意或不满意。", code="missing_field", field="satisfaction"
            )
        if _answered(case):
            raise InvalidTransition("您已经评价过了。", code="already_answered")
        text = _text(text, "text") if text and text.strip() else None
        data["satisfaction"] = case.satisfaction = satisfaction
        if satisfaction == "dissatisfied":
            case.complaint_at = now
    event = CaseEvent(
        case=case,
        action=action,
        from_status=case.status,
        to_status=case.status,
        at=now,
        actor_id=None,
        actor_role="reporter",
        note=text,
        data=data,
        **event_facts(case, action, now, data),
    )
    _record(case, event)
    notifications.queue_for_event(case, event)
    case.updated_at = now
    flag_modified(case, "updated_at")
    try:
        db.session.flush()
    except StaleDataError:
        raise StaleCase() from None
    return event


# What the reporter's timeline says for each event (None: not shown to the reporter).
PUBLIC_EVENT_TEXT: dict[str, str | None] = {
    "submit": "收到您的报告",
    "accept": "调处中心已受理",
    "reject": "不予受理",
    "merge": "已与同一事项合并处理",
    "dispatch": "已交由相关部门处理",
    "sign_for": "相关部门已签收，正在处理",
    "resolve": "已处理完毕",
    "verify": "调处中心已核实处理结果",
    "close": "已结案",
    "reopen": "问题再次出现，已重新处理",
    "confirm_result": "调处中心复核后维持处理结果",
    "add_info": "您补充了情况",
    "answer_follow_up": "您对处理结果作出了评价",
    "complain": "您反映问题未解决",
}


def public_timeline(case: Case, *, of_survivor: bool = False) -> list[dict]:
    """The reporter's view of the timeline: what happened and on which day, nothing else.

    No names of handlers or departments, no internal notes; the reason of a rejection
    is shown, because it was written for the reporter. `of_survivor`: the timeline of
    the case a report was merged into, for that report's reporter: without what the
    survivor's own reporter wrote or was answered.
    """
    entries = []
    for event in case.events:
        text = PUBLIC_EVENT_TEXT.get(event.action)
        if event.internal or text is None:
            continue
        if of_survivor and (event.action in REPORTER_ACTIONS or event.action == "confirm_result"):
            continue
        # Written for the reporter, or by them.
        detail = (
            event.note
            if event.action in {"reject", "add_info", "complain", "confirm_result"}
            else None
        )
        if event.action == "resolve" and case.result_code is not None:
            detail = case.result_code.label
        entries.append({"day": clock.local(event.at).date(), "text": text, "detail": detail})
    return entries


# --- what the system itself records (the sweep) ------------------------------------------

SYSTEM_ACTIONS = {"supervise": "督办", "chase": "超期提醒", "escalate_to_leader": "报告分管领导"}


def apply_as_system(case: Case, action: str, *, note: str) -> CaseEvent:
    """An event written by the system (the deadline sweep), not by a person.

    "supervise" sets the supervised flag (督办) as the center's own action would; the others
    only record that the system chased the case. Internal: the reporter never sees them.
    """
    if action not in SYSTEM_ACTIONS:
        raise InvalidTransition(f"未知操作：{action}。", code="unknown_action")
    if case.status not in OPEN:
        raise InvalidTransition("案件已办结，无需督办。", code="case_ended")
    now = clock.now()
    if action == "supervise":
        case.supervised = True
    event = CaseEvent(
        case=case,
        action=action,
        from_status=case.status,
        to_status=case.status,
        at=now,
        actor_id=None,
        actor_role="system",
        note=note,
        data={},
        internal=True,
        **event_facts(case, action, now, {}),
    )
    _record(case, event)
    notifications.queue_for_event(case, event)
    case.updated_at = now
    flag_modified(case, "updated_at")
    db.session.flush()
    return event
