"""The case lifecycle as data, and the one way to change a case's state.

`table.TRANSITIONS[(status, action)]` says where an action leads, who may take it, what
it needs and which step's clock it starts. `engine.apply` checks all of that, runs the
action's effect, records one event and bumps the version, inside one savepoint: either
all of it is written or none. Nothing else writes `Case.status`. `allowed_actions`
drives the admin's buttons and the API's `actions` field from the same table.

The parts, in the order they build on each other:

    states       the status groups (OPEN, ENDED, ...)
    transition   what an edge is (Transition) and what its effect is given (Context)
    fields       each field's label, kind and choices, and how it is checked
    guards       who stands in which relation to a case; what a case must be
    effects      what each action does to a case beyond its status
    assignments  ... and the effects that hand it to departments (who holds it)
    table        the edges themselves
    events       the one way an event is recorded, with the facts the figures count
    engine       apply, allowed_actions, and the system's own events (the sweep)
    public       the villager's side: the status and timeline they see, what they add

Callers use the names below (`workflow.apply`, `workflow.OPEN`, ...).
"""

from server.cases.workflow.engine import (
    PAPERWORK_ACTIONS,
    SYSTEM_ACTIONS,
    allowed_actions,
    applied_with_key,
    apply,
    apply_as_system,
    check_photos,
    record_paperwork,
)
from server.cases.workflow.events import submit_event
from server.cases.workflow.fields import (
    REOPENING_OUTCOMES,
    SATISFACTION,
    VISIT_OUTCOMES,
    event_facts,
    field_choices,
    field_forms,
    visit_outcomes,
)
from server.cases.workflow.public import (
    PUBLIC_STATUS,
    REPORTER_ACTIONS,
    apply_as_reporter,
    public_status,
    public_timeline,
    reporter_may,
    survivor,
)
from server.cases.workflow.states import AFTER_RESULT, ALL, ENDED, OPEN, WITH_DEPARTMENT
from server.cases.workflow.table import ACTIONS, TRANSITIONS

__all__ = [
    "ACTIONS",
    "AFTER_RESULT",
    "ALL",
    "ENDED",
    "OPEN",
    "PAPERWORK_ACTIONS",
    "PUBLIC_STATUS",
    "REOPENING_OUTCOMES",
    "REPORTER_ACTIONS",
    "SATISFACTION",
    "SYSTEM_ACTIONS",
    "TRANSITIONS",
    "VISIT_OUTCOMES",
    "WITH_DEPARTMENT",
    "allowed_actions",
    "applied_with_key",
    "apply",
    "apply_as_reporter",
    "apply_as_system",
    "check_photos",
    "event_facts",
    "field_choices",
    "field_forms",
    "public_status",
    "public_timeline",
    "record_paperwork",
    "reporter_may",
    "submit_event",
    "survivor",
    "visit_outcomes",
]
