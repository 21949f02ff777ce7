"""The case's timeline: every event is made by `new_event` and recorded by `record`.

An event carries, as plain columns, the facts the figures count by (see `CaseEvent`):
when this case last had the same action, the same action with the same result, and any
counted action (accept, resolve, close: `Transition.counted`). They come from the case's
own memory of its timeline (`Case.last_events`, kept here as each event is made), not
from a query over its events: recording an event reads nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm.attributes import flag_modified, set_committed_value

from server.cases import outbox
from server.db import db
from server.models import Case, CaseEvent, CaseStatus, Department, User

# The key in `Case.last_events` of the last counted action, whichever it was.
COUNTED = "*counted"


def _when(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def new_event(
    case: Case,
    action: str,
    *,
    at: datetime,
    from_status: CaseStatus | None,
    actor: User | None = None,
    actor_role: str | None = None,
    note: str | None = None,
    data: dict | None = None,
    internal: bool = False,
    idempotency_key: str | None = None,
    result: str | None = None,
    counted: bool = False,
    step: str | None = None,
    step_due_at: datetime | None = None,
) -> CaseEvent:
    """Make the event of `action` on `case` (to the status it has now), with its facts,
    and remember it on the case; `record` adds it to the timeline. `result` is what the
    action concluded (see `CaseEvent.result`); `counted`, whether it is one of the
    actions a case counts by; `step` and `step_due_at`, the clock it ran against."""
    marks = dict(case.last_events or {})
    event = CaseEvent(
        action=action,
        from_status=from_status,
        to_status=case.status,
        at=at,
        actor_id=actor.id if actor is not None else None,
        actor_role=actor_role or (actor.role.value if actor is not None else None),
        note=note,
        data=data or {},
        internal=internal,
        idempotency_key=idempotency_key,
        step=step,
        step_due_at=step_due_at,
        previous_at=_when(marks.get(action)),
        previous_result_at=_when(marks.get(f"{action}={result}")) if result else None,
        previous_counted_at=_when(marks.get(COUNTED)),
        # The relationship, not the column: acceptance may just have changed the category.
        village_id=case.village.id if case.village is not None else case.village_id,
        category_id=case.category.id if case.category is not None else case.category_id,
        seconds_since_report=max(0, int((at - case.created_at).total_seconds())),
        result=result,
    )
    # Set, not assigned: the case holds its timeline (view-only), not the other way round.
    set_committed_value(event, "case", case)
    set_committed_value(event, "actor", actor)
    moment = at.isoformat()
    marks[action] = moment
    if result:
        marks[f"{action}={result}"] = moment
    if counted:
        marks[COUNTED] = moment
    case.last_events = marks
    return event


def record(
    case: Case,
    event: CaseEvent,
    *,
    released: list[Department] = (),
    joined: list[Department] = (),
) -> None:
    """Write `event` on the case's timeline with what goes with it, in this transaction:
    the people it concerns are told (`released`/`joined`: the departments an action let
    go or added), and the case's version moves on, even for an action that changes no
    column of it (a note), so that a form shown before it is stale too."""
    db.session.add(event)
    event.case_id = case.id
    if "events" in case.__dict__:  # view-only: the ORM would not add it
        set_committed_value(case, "events", [*case.events, event])
    outbox.queue_for_event(case, event, released=released, joined=joined)
    case.updated_at = event.at
    flag_modified(case, "updated_at")


def submit_event(case: Case, actor: User | None) -> CaseEvent:
    """The first event of a new case built in memory (`operations.submit_report`): its
    report, by `actor` (None: a villager). The case and its event are written together."""
    return new_event(
        case,
        "submit",
        at=case.created_at,
        from_status=None,
        actor=actor,
        data={"source": case.source.value, "category": case.category.code},
    )
