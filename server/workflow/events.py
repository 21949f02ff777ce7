"""The case's timeline: the one way an event is recorded, and the facts it carries for the
figures."""

from __future__ import annotations

from sqlalchemy import case as sql_case
from sqlalchemy import func, select
from sqlalchemy.orm.attributes import set_committed_value

from server import statistics
from server.db import db
from server.models import Case, CaseEvent, User
from server.workflow.fields import as_json


def record(case: Case, event: CaseEvent) -> None:
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
    result = str(as_json(result)) if result is not None else None
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
