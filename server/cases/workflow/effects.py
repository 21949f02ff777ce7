"""What each action does to a case beyond its status (`Transition.effect`), given the
cleaned fields in a `Context`; run by `engine.apply` inside its savepoint."""

from __future__ import annotations

from sqlalchemy import select

from server.casefile import archive
from server.cases import access, repeats
from server.cases.lookup import find_case
from server.cases.workflow.assignments import end_assignments, lead_assignment, withdraw_requests
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
from server.db import db, insert_for
from server.infra import clock
from server.infra.errors import Forbidden, ValidationFailed
from server.models import (
    AgreementTerm,
    Case,
    CaseDocument,
    CaseStatus,
    Category,
    ClosingReason,
    DocumentKind,
    Instruction,
    MonthlyReceived,
    ResultCode,
    RiskLevel,
    Severity,
    Step,
)


def received_changed(case: Case) -> None:
    """Count a change to what the case's month received (its category, or whether it is
    counted at all): a month the sweep kept is counted afresh until it is kept again
    (MonthlyReceived), in the change's own transaction."""
    reported_in = clock.month_of(case.created_at)
    if reported_in == clock.month_of(clock.now()):
        # Nothing of this month is kept before it is over (by an hour: partials.KEEP_AFTER):
        # no revision, and no row that every change of the month would wait on.
        return
    table = MonthlyReceived.__table__
    db.session.execute(
        insert_for(table)
        .values(month=reported_in, revision=1)
        .on_conflict_do_update(index_elements=["month"], set_={"revision": table.c.revision + 1})
    )


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
            received_changed(case)
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
        dispatch = ctx.deadlines.clock(
            case.category, Step.DISPATCH, case.created_at, town_id=case.town_id, urgent=True
        )
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
    if not access.holds(ctx.actor, target):
        # The district's center works it now: a duplicate goes to it, not into its case.
        raise Forbidden("合并目标案件已上报区级，由区矛调中心办理。", code="held_by_district")
    ctx.case.merged_into = target
    ctx.data["into"] = target.code
    received_changed(ctx.case)  # a duplicate is no longer counted as received


def _resume_handling(ctx: Context) -> None:
    """Run the department's handling clock: it started at dispatch and ends at the lead
    assignment's due time (set at dispatch, moved only by an approved extension)."""
    lead = lead_assignment(ctx.case)
    handle = ctx.deadlines.clock(
        ctx.case.category, Step.HANDLE, lead.assigned_at, town_id=ctx.case.limits_town_id
    )
    warn_at = handle.warn_at if handle.warn_at and handle.warn_at < lead.due_at else None
    ctx.step_clock = (Step.HANDLE, lead.assigned_at, warn_at, lead.due_at)


def sign_for(ctx: Context) -> None:
    """The lead department takes the case on; a pending return lapses."""
    case = ctx.case
    lead_assignment(case).signed_at = ctx.now
    if case.return_requested_at is not None:  # signing for it is taking it on after all
        case.return_requested_at = None
        ctx.data["return_withdrawn"] = True
    if case.handler is None:
        case.handler = ctx.actor
    _resume_handling(ctx)


def take_back(ctx: Context) -> None:
    """The case comes back to the center (an approved return, a recall) for dispatch."""
    end_assignments(ctx)
    ctx.case.lead_department = None
    ctx.case.handler = None
    withdraw_requests(ctx.case)


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
    withdraw_requests(case)
    if case.happening_now and not case.category.urgent:
        case.urgent = False  # what was happening is dealt with: later steps run as usual
    lead = lead_assignment(case)
    lead.feedback, lead.feedback_at = case.result_text, ctx.now


def verify(ctx: Context) -> None:
    """The follow-up visit is due a week after the result, not after the check."""
    follow = ctx.deadlines.clock(
        ctx.case.category, Step.FOLLOW_UP, ctx.case.resolved_at, town_id=ctx.case.limits_town_id
    )
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
    _check_terms(ctx)


def _check_terms(ctx: Context) -> None:
    """The agreement's terms (调解协议的各项), each found kept or not at the visit.

    `terms` maps a term's id to kept (true) or not (false). A visit that says the
    agreement was kept or broken answers for every term of the case's agreements, and
    says "kept" only when every term was; the terms remember the visit that checked them.
    """
    terms = db.session.scalars(
        select(AgreementTerm)
        .join(CaseDocument)
        .where(CaseDocument.case_id == ctx.case.id, CaseDocument.kind == DocumentKind.AGREEMENT)
        .order_by(CaseDocument.id, AgreementTerm.position)
    ).all()
    given = ctx.fields.get("terms") or {}
    if not isinstance(given, dict) or not all(isinstance(v, bool) for v in given.values()):
        raise ValidationFailed(
            "协议条款的履行情况须逐项为是或否。", code="invalid_field", field="terms"
        )
    by_id = {str(t.id): t for t in terms}
    if set(map(str, given)) - set(by_id):
        raise ValidationFailed("协议条款不属于本案件。", code="unknown_reference", field="terms")
    checked = {str(k): v for k, v in given.items()}
    outcome = ctx.fields["outcome"]
    if outcome in ("kept", "broken") and terms and set(checked) != set(by_id):
        raise ValidationFailed(
            "请逐项填写调解协议各条款的履行情况。", code="terms_unchecked", field="terms"
        )
    if outcome == "kept" and not all(checked.values()):
        raise ValidationFailed(
            "有条款未履行，回访结果应为“协议未履行”。", code="terms_not_kept", field="terms"
        )
    if outcome == "broken" and checked and all(checked.values()):
        raise ValidationFailed(
            "各条款均已履行，回访结果应为“协议已履行”。", code="terms_all_kept", field="terms"
        )
    for key, kept in checked.items():
        term = by_id[key]
        term.kept, term.checked_at, term.checked_by_id = kept, ctx.now, ctx.actor.id
    if checked:
        ctx.data["terms"] = {by_id[k].text[:40]: v for k, v in checked.items()}


def close(ctx: Context) -> None:
    """Close with a reason; every department lets go."""
    ctx.case.closing_reason = clean_choice(
        ClosingReason, ctx.fields["closing_reason"], "closing_reason"
    )
    ctx.case.closed_at = ctx.now
    # A case the district settled and closed itself is filed with its town's, as every
    # closed case is: a reopening brings it to the town's center first.
    ctx.case.held_by_district = False
    end_assignments(ctx)
    # Filed in the archive with its number for the year (归档), in the same transaction.
    ctx.data["archive_number"] = archive.file_case(ctx.case, at=ctx.now, actor=ctx.actor).number


def confirm_result(ctx: Context) -> None:
    """The reporter's complaint is answered: the result stands."""
    ctx.case.complaint_at = None


def reopen(ctx: Context) -> None:
    """The problem is back: the result, the closing and the departments go, and so does
    the earlier round's 督办 (the new round, late, is supervised afresh)."""
    case = ctx.case
    case.complaint_at = None
    case.supervised = False
    end_assignments(ctx)
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
    """上报区级: the town hands the case to the district's center, which takes it as the
    town's center takes a new case, to send it on (its own dispatch clock, the edge's):
    the town's departments let go of it, and the town's center acts on it no more until
    it comes back (`return_to_town`)."""
    take_back(ctx)
    _new_desk(ctx.case)
    ctx.case.escalated = True
    ctx.case.held_by_district = True


def _new_desk(case: Case) -> None:
    """A case changing hands starts clean on its new desk: the running step is chased
    afresh there (an overdue step the other desk was told of is told again), and 督办 is
    the new holder's to decide (the other desk's supervision stays on the timeline)."""
    case.clock_alert = None
    case.supervised = False


def return_to_town(ctx: Context) -> None:
    """交回属地: the district's center hands the case back to its town, to send on afresh
    (the town's dispatch clock starts now) or, settled and checked at the district, to
    visit and close."""
    case = ctx.case
    _new_desk(case)
    case.held_by_district = False
    if case.status == CaseStatus.ACCEPTED:
        dispatch = ctx.deadlines.clock(
            case.category, Step.DISPATCH, ctx.now, town_id=case.town_id, urgent=case.urgent
        )
        ctx.step_clock = (dispatch.step, dispatch.started_at, dispatch.warn_at, dispatch.due_at)


def feedback(ctx: Context) -> None:
    """Keep a co-handling department's feedback on its share."""
    text = clean_text(ctx.fields["text"], "text")
    for assignment in ctx.case.active_assignments:
        if assignment.department_id == ctx.actor.department_id:
            assignment.feedback, assignment.feedback_at = text, ctx.now


def note(ctx: Context) -> None:
    """An internal note: its text is checked, the event keeps it."""
    clean_text(ctx.fields["text"], "text")


def instruct(ctx: Context) -> None:
    """A leader's instruction (批示): kept until the center marks it carried out."""
    text = clean_text(ctx.fields["text"], "text")
    ctx.case.instructions.append(Instruction(author=ctx.actor, text=text, created_at=ctx.now))


def carry_out(ctx: Context) -> None:
    """The center marks one of the case's open instructions carried out (落实)."""
    instruction = clean_row(Instruction, ctx.fields["instruction"], "instruction")
    if instruction.case_id != ctx.case.id or instruction.carried_out_at is not None:
        raise ValidationFailed(
            "这条批示不属于本案件，或已落实。", code="invalid_choice", field="instruction"
        )
    instruction.carried_out_at, instruction.carried_out_by = ctx.now, ctx.actor
    note = ctx.fields.get("note")
    instruction.carried_out_note = clean_text(note, "note") if note else None
    ctx.data["instruction_text"] = instruction.text
