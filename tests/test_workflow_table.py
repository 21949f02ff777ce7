"""Every (status, action, role): the allowed ones move the case as DESIGN.md says, the
rest are refused with a domain error and change nothing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from server import clock, workflow
from server.deadlines import Deadlines
from server.errors import DomainError, Forbidden, InvalidTransition
from server.extensions import db
from server.models import CaseEvent, Role, Step
from tests.helpers import PATHS, actor_for, case_in, fields_for

KEEP, STOP = "keep", "stop"
ROLES = [r.value for r in Role]
OPEN = ["submitted", "accepted", "dispatched", "in_progress", "extension_pending", "resolved",
        "follow_up"]
EVERYWHERE = [*OPEN, "rejected", "merged", "closed"]

# The lifecycle written out from DESIGN.md, independently of server.workflow's table:
# (situation, action) -> (next status or None to stay, roles allowed, clock after it)
EXPECTED: dict[tuple[str, str], tuple[str | None, set[str], object]] = {
    ("submitted", "accept"): ("accepted", {"center"}, Step.DISPATCH),
    ("submitted", "reject"): ("rejected", {"center"}, STOP),
    ("submitted", "merge"): ("merged", {"center"}, STOP),
    ("accepted", "dispatch"): ("dispatched", {"center"}, Step.SIGN_FOR),
    ("dispatched", "sign_for"): ("in_progress", {"handler"}, Step.HANDLE),
    ("dispatched", "return"): ("accepted", {"handler"}, Step.DISPATCH),
    ("in_progress", "return"): ("accepted", {"handler"}, Step.DISPATCH),
    ("in_progress", "request_extension"): (None, {"handler"}, KEEP),
    ("extension_pending", "approve_extension"): (None, {"center"}, "extended"),
    ("extension_pending", "refuse_extension"): (None, {"center"}, KEEP),
    ("extension_pending", "return"): ("accepted", {"handler"}, Step.DISPATCH),
    ("in_progress", "resolve"): ("resolved", {"handler"}, Step.VERIFY),
    ("extension_pending", "resolve"): ("resolved", {"handler"}, Step.VERIFY),
    ("resolved", "verify"): ("follow_up", {"center"}, Step.FOLLOW_UP),
    ("resolved", "send_back"): ("in_progress", {"center"}, Step.HANDLE),
    ("follow_up", "record_visit"): (None, {"center", "grid_worker"}, KEEP),
    ("follow_up", "close"): ("closed", {"center"}, STOP),
    ("follow_up", "reopen"): ("accepted", {"center", "grid_worker"}, Step.DISPATCH),
    ("closed", "reopen"): ("accepted", {"center", "grid_worker"}, Step.DISPATCH),
    ("dispatched", "feedback"): (None, {"handler"}, KEEP),
    ("in_progress", "feedback"): (None, {"handler"}, KEEP),
    ("extension_pending", "feedback"): (None, {"handler"}, KEEP),
}
for _situation in OPEN:
    if _situation != "submitted":
        EXPECTED[(_situation, "supervise")] = (None, {"center"}, KEEP)
    EXPECTED[(_situation, "escalate")] = (None, {"center"}, KEEP)
for _situation in EVERYWHERE:
    # Handlers may write notes only on cases their department holds.
    holds = _situation in {"dispatched", "in_progress", "extension_pending", "resolved",
                           "follow_up"}
    EXPECTED[(_situation, "note")] = (None, {"center", "handler"} if holds else {"center"}, KEEP)

ACTIONS = sorted(workflow.ACTIONS)
NOW = datetime(2026, 6, 1, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in the town


def test_the_table_covers_every_action():
    assert {action for _, action in EXPECTED} == set(ACTIONS)
    assert set(PATHS) == set(EVERYWHERE)


def _snapshot(case):
    columns = [c.key for c in case.__table__.columns]
    events = db.session.query(CaseEvent).filter_by(case_id=case.id).count()
    return {name: getattr(case, name) for name in columns}, events


def _expected_clock(case, step, before, now):
    if step == KEEP:
        return before["step"], before["due_at"]
    if step == STOP:
        return None, None
    if step == "extended":
        return before["step"], before["extension_requested_until"]
    if step == Step.HANDLE and before["status"] == "dispatched":
        # Signing for starts the handling clock the department got at dispatch.
        lead = next(a for a in case.assignments if a.role == "lead" and a.ended_at is None)
        return step, lead.due_at
    return step, Deadlines().clock(case.category, step, now).due_at


@pytest.mark.parametrize("situation", EVERYWHERE)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_status_action_role(world, situation, action):
    with clock.frozen_at(NOW):
        case = case_in(situation, world)
    expected = EXPECTED.get((situation, action))
    allowed_roles = expected[1] if expected else set()
    with clock.frozen_at(NOW.replace(hour=5)):
        # Refused roles first: each must leave the case exactly as it was.
        for role in [r for r in ROLES if r not in allowed_roles]:
            before = _snapshot(case)
            actor = actor_for(action, role, world)
            with pytest.raises(DomainError) as refused:
                workflow.apply(case, action, actor=actor, **fields_for(action, case, world))
            assert isinstance(refused.value, Forbidden | InvalidTransition), refused.value
            assert refused.value.message  # a sentence for people
            db.session.expire(case)
            assert _snapshot(case) == before, f"{role} {action} changed the case"
            assert workflow.ACTIONS[action] not in workflow.allowed_actions(case, actor)

        for role in sorted(allowed_roles):
            actor = actor_for(action, role, world)
            assert workflow.ACTIONS[action] in workflow.allowed_actions(case, actor)
            before, event_count = _snapshot(case)
            savepoint = db.session.begin_nested()
            event = workflow.apply(case, action, actor=actor, expected_version=case.version,
                                   **fields_for(action, case, world))
            to_status, _, step = expected
            assert case.status == (to_status or before["status"])
            assert case.version == before["version"] + 1
            assert (case.step, case.due_at) == _expected_clock(case, step, before, clock.now())
            events = db.session.query(CaseEvent).filter_by(case_id=case.id).count()
            assert events == event_count + 1
            assert (event.action, event.from_status, event.to_status, event.actor_id) == (
                action, before["status"], case.status, actor.id)
            savepoint.rollback()
            db.session.expire(case)
