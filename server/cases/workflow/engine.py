"""The one way to change a case: `apply` checks an action against the table, runs its
effect, sets the clock and records the event, all in one savepoint; `allowed_actions`
says which actions a user may take now. The system's own events (the sweep) too."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from server.cases import access, limits
from server.cases.workflow.events import new_event, record
from server.cases.workflow.fields import REOPENING_OUTCOMES, VISIT_OUTCOMES, as_json, clean
from server.cases.workflow.states import ENDED, OPEN
from server.cases.workflow.table import ACTIONS, EDGES, TRANSITIONS
from server.cases.workflow.transition import KEEP, Context, Transition
from server.db import db
from server.infra import clock
from server.infra.errors import (
    Conflict,
    Forbidden,
    InvalidTransition,
    StaleCase,
    ValidationFailed,
)
from server.models import Case, CaseEvent, Role, User
from server.organisation import reference
from server.organisation.deadlines import Deadlines


def check_photos(action: str, photos) -> None:
    """Refuse photos sent with an action that takes none (a leader's 批示, a note)."""
    transition = ACTIONS.get(action)
    if photos and (transition is None or not transition.takes_photos):
        raise ValidationFailed("此操作不能附照片。", code="photos_not_taken", field="photos")


def refusal(case: Case, transition: Transition | None, actor: User | None):
    """Why `actor` may not take `transition` on `case` now (an error), or None."""
    if transition is None:
        return InvalidTransition(f"案件当前状态（{case.status.label}）不允许此操作。")
    if actor is None or not access.can_act(actor) or actor.role not in transition.roles:
        return Forbidden(f"您的角色不能执行“{transition.label}”。")
    if not access.can_view_case(actor, case):
        return Forbidden("您无权处理此案件。")
    if actor.role == Role.CENTER and not access.holds(actor, case):
        if case.held_by_district:
            return Forbidden("案件已上报区级，由区矛调中心办理。", code="held_by_district")
        return Forbidden(
            "案件由乡镇调处中心办理，上报区级后方由区矛调中心办理。", code="held_by_town"
        )
    if transition.relation is not None and not transition.relation(case, actor):
        return Forbidden(f"您不是此案件“{transition.label}”的责任人。")
    if transition.guard is not None and (reason := transition.guard(case)):
        return InvalidTransition(reason)
    return None


def allowed_actions(case: Case, actor: User | None) -> list[Transition]:
    """The actions `actor` may take on `case` now, in the table's order."""
    return [
        edge for edge in EDGES if case.status in edge.sources and refusal(case, edge, actor) is None
    ]


def applied_with_key(case: Case, key: str | None, actor: User) -> CaseEvent | None:
    """The event `actor` made on `case` already with the client's `key`, if any: an
    action resent after its stored answer was purged is answered with the case as it is,
    not refused as stale (its version moved on with the action itself)."""
    if not key:
        return None
    event = db.session.scalar(select(CaseEvent).where(CaseEvent.idempotency_key == key))
    if event is None or event.case_id != case.id or event.actor_id != actor.id:
        return None
    return event


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
    if (error := refusal(case, transition, actor)) is not None:
        raise error
    cleaned = clean(transition, fields)

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
    result = cleaned.get(transition.result_field) if transition.result_field else None
    try:
        # No autoflush while the case changes: one flush, so one version bump per action.
        with db.session.begin_nested(), db.session.no_autoflush:
            if transition.effect is not None:
                transition.effect(ctx)
            if transition.to is not None:
                case.status = transition.to
            _set_clock(ctx, transition)
            event = new_event(
                case,
                transition.action,
                at=now,
                from_status=from_status,
                actor=actor,
                note=cleaned.get(transition.note_field) if transition.note_field else None,
                data={
                    **{k: as_json(v) for k, v in cleaned.items() if k != transition.note_field},
                    **ctx.data,
                },
                internal=transition.internal,
                idempotency_key=idempotency_key,
                result=None if result is None else str(as_json(result)),
                counted=transition.counted,
                **ran_against,
            )
            record(case, event, released=ctx.released, joined=ctx.joined)
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
            reason=f"回访发现{VISIT_OUTCOMES[cleaned['outcome']]}：{cleaned['text']}"[
                : limits.TEXT
            ],
        )
    return event


def _set_clock(ctx: Context, transition: Transition) -> None:
    case = ctx.case
    _run_clock(ctx, transition)
    # A department's lists are read from its assignments (server/cases/queries.py): each
    # says whether its case is open (partial index ix_case_assignment_department_open_case)
    # and what status it is in (ix_case_assignment_department_status).
    for assignment in case.assignments:
        if assignment.case_open != (case.due_at is not None):
            assignment.case_open = case.due_at is not None
        if assignment.case_status != case.status:
            assignment.case_status = case.status


def _run_clock(ctx: Context, transition: Transition) -> None:
    case = ctx.case
    if transition.step is not KEEP or isinstance(ctx.step_clock, tuple):
        case.clock_alert = None  # a new clock is chased afresh
    if isinstance(ctx.step_clock, tuple):
        case.step, case.step_started_at, case.warn_at, case.due_at = ctx.step_clock
    elif transition.step is None:
        case.step = case.step_started_at = case.warn_at = case.due_at = None
    elif transition.step is not KEEP:
        c = ctx.deadlines.clock(
            case.category,
            transition.step,
            ctx.now,
            town_id=case.limits_town_id,
            urgent=case.urgent,
        )
        case.step, case.step_started_at, case.warn_at, case.due_at = (
            c.step,
            c.started_at,
            c.warn_at,
            c.due_at,
        )


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
    event = new_event(
        case,
        action,
        at=now,
        from_status=case.status,
        actor_role="system",
        note=note,
        internal=True,
    )
    record(case, event)
    db.session.flush()
    return event


# Paperwork on a case that changes no state: on the timeline (internal) so that the case
# file reads whole, written by server/casefile.
PAPERWORK_ACTIONS = {"make_document": "制作文书", "upload_scan": "上传签字文书"}


def record_paperwork(case: Case, action: str, *, actor: User, note: str, data: dict) -> CaseEvent:
    """An event for a paper made or a signed scan filed on `case` (no change of state)."""
    if action not in PAPERWORK_ACTIONS:
        raise InvalidTransition(f"未知操作：{action}。", code="unknown_action")
    event = new_event(
        case,
        action,
        at=clock.now(),
        from_status=case.status,
        actor=actor,
        note=note,
        data=data,
        internal=True,
    )
    record(case, event)
    db.session.flush()
    return event
