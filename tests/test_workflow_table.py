"""Every (status, action, role): the allowed ones move the case as DESIGN.md says, the
rest are refused with a domain error and change nothing."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from server.cases import workflow
from server.db import db
from server.infra import clock
from server.infra.errors import DomainError, Forbidden, InvalidTransition
from server.models import CaseAssignment, CaseEvent, Role, Step
from tests.helpers import PATHS, actor_for, case_in, fields_for

KEEP, STOP = "keep", "stop"
ROLES = [r.value for r in Role]
OPEN = [
    "submitted",
    "accepted",
    "dispatched",
    "return_pending",
    "in_progress",
    "extension_pending",
    "resolved",
    "follow_up",
    "visited",
    # Handed up to the district (上报区级): its center holds it, fresh or settled there.
    "escalated",
    "escalated_checked",
]
EVERYWHERE = [*OPEN, "rejected", "merged", "closed", "complained"]
SH = ZoneInfo("Asia/Shanghai")


def local(month, day, hour):
    """A time on the town's clock in 2026."""
    return datetime(2026, month, day, hour, 0, tzinfo=SH)


# Cases are built on Monday 1 June 2026 at 10:00 and acted on at 13:00 the same day. A
# neighbours' dispute (D02) has the defaults of DESIGN.md: dispatch and sign-for 1 working
# day, mediation 30 days from dispatch (yellow at 25), verification 2 working days (yellow
# at 1), follow-up 7 days after the result (yellow at 5).
DISPATCH = (Step.DISPATCH, None, local(6, 2, 13))
SIGN_FOR = (Step.SIGN_FOR, None, local(6, 2, 13))
HANDLE = (Step.HANDLE, local(6, 26, 10), local(7, 1, 10))  # from dispatch at 10:00
VERIFY = (Step.VERIFY, local(6, 2, 13), local(6, 3, 13))
FOLLOW_UP = (Step.FOLLOW_UP, local(6, 6, 10), local(6, 8, 10))  # from the result at 10:00
EXTENDED = (Step.HANDLE, local(7, 1, 10), local(7, 6, 10))  # five more days, yellow kept 5 ahead

# The lifecycle written out from DESIGN.md, independently of server.cases.workflow's table:
# (situation, action) -> (next status or None to stay, roles allowed, clock after it)
EXPECTED: dict[tuple[str, str], tuple[str | None, set[str], object]] = {
    ("submitted", "accept"): ("accepted", {"center"}, DISPATCH),
    ("submitted", "reject"): ("rejected", {"center"}, STOP),
    ("submitted", "merge"): ("merged", {"center"}, STOP),
    ("accepted", "dispatch"): ("dispatched", {"center"}, SIGN_FOR),
    ("dispatched", "sign_for"): ("in_progress", {"handler"}, HANDLE),
    # A return is asked for; the center approves it (back to the center) or refuses it.
    ("dispatched", "return"): (None, {"handler"}, KEEP),
    ("in_progress", "return"): (None, {"handler"}, KEEP),
    ("extension_pending", "return"): (None, {"handler"}, KEEP),
    ("return_pending", "approve_return"): ("accepted", {"center"}, DISPATCH),
    ("return_pending", "refuse_return"): (None, {"center"}, KEEP),
    ("return_pending", "sign_for"): ("in_progress", {"handler"}, HANDLE),
    ("in_progress", "request_extension"): (None, {"handler"}, KEEP),
    ("extension_pending", "approve_extension"): (None, {"center"}, EXTENDED),
    ("extension_pending", "refuse_extension"): (None, {"center"}, KEEP),
    ("in_progress", "resolve"): ("resolved", {"handler"}, VERIFY),
    ("extension_pending", "resolve"): ("resolved", {"handler"}, VERIFY),
    ("resolved", "verify"): ("follow_up", {"center"}, FOLLOW_UP),
    ("resolved", "send_back"): ("in_progress", {"center"}, HANDLE),
    ("follow_up", "record_visit"): (None, {"center", "grid_worker"}, KEEP),
    ("visited", "record_visit"): (None, {"center", "grid_worker"}, KEEP),
    # A case is closed only after a follow-up visit (回访).
    ("visited", "close"): ("closed", {"center"}, STOP),
    # At the check, the center may reopen (to send it elsewhere: DESIGN's review of a
    # reporter's 不满意); the village's grid worker only once the result was checked.
    ("resolved", "reopen"): ("accepted", {"center"}, DISPATCH),
    ("follow_up", "reopen"): ("accepted", {"center", "grid_worker"}, DISPATCH),
    ("visited", "reopen"): ("accepted", {"center", "grid_worker"}, DISPATCH),
    ("closed", "reopen"): ("accepted", {"center", "grid_worker"}, DISPATCH),
    # The reporter's complaint: reopened, or the result kept with a reason for them.
    ("complained", "reopen"): ("accepted", {"center", "grid_worker"}, DISPATCH),
    ("complained", "confirm_result"): (None, {"center"}, KEEP),
    ("dispatched", "feedback"): (None, {"handler"}, KEEP),
    ("in_progress", "feedback"): (None, {"handler"}, KEEP),
    ("extension_pending", "feedback"): (None, {"handler"}, KEEP),
    ("return_pending", "feedback"): (None, {"handler"}, KEEP),
}
# Whoever holds a case, the center can move it to another lead (a fresh clock to sign
# for) or take it back.
for _situation in ("dispatched", "return_pending", "in_progress", "extension_pending"):
    EXPECTED[(_situation, "reassign")] = ("dispatched", {"center"}, SIGN_FOR)
    EXPECTED[(_situation, "recall")] = ("accepted", {"center"}, DISPATCH)
    EXPECTED[(_situation, "change_co_handlers")] = (None, {"center"}, KEEP)
for _situation in OPEN:
    if _situation != "submitted":
        EXPECTED[(_situation, "supervise")] = (None, {"center"}, KEEP)
        EXPECTED[(_situation, "assess_risk")] = (None, {"center"}, KEEP)
# 上报区级 hands a case the town has taken on to the district's center, to dispatch afresh
# on its own clock; the district (the center of these situations) works it as the town
# would, and hands it back (交回属地): to send on (a fresh clock), or settled, to visit.
for _situation in ("accepted", "dispatched", "return_pending", "in_progress", "extension_pending"):
    EXPECTED[(_situation, "escalate")] = ("accepted", {"center"}, DISPATCH)
for _town, _district in (("accepted", "escalated"), ("follow_up", "escalated_checked")):
    for (_situation, _action), _expected in list(EXPECTED.items()):
        if _situation == _town and _action != "escalate":
            EXPECTED[(_district, _action)] = _expected
EXPECTED[("escalated", "return_to_town")] = (None, {"center"}, DISPATCH)
EXPECTED[("escalated_checked", "return_to_town")] = (None, {"center"}, KEEP)
for _situation in EVERYWHERE:
    # Handlers may write notes only on cases their department holds.
    holds = _situation in {
        "dispatched",
        "return_pending",
        "in_progress",
        "extension_pending",
        "resolved",
        "escalated_checked",
        "follow_up",
        "visited",
    }
    EXPECTED[(_situation, "note")] = (None, {"center", "handler"} if holds else {"center"}, KEEP)
    # 批示: a leader instructs on any case; the center marks an instruction carried out.
    EXPECTED[(_situation, "instruct")] = (None, {"leader"}, KEEP)
    EXPECTED[(_situation, "carry_out")] = (None, {"center"}, KEEP)

ACTIONS = sorted(workflow.ACTIONS)
NOW = local(6, 1, 10)


def test_the_table_covers_every_action():
    assert {action for _, action in EXPECTED} == set(ACTIONS)
    assert set(PATHS) == set(EVERYWHERE)


def _snapshot(case):
    columns = [c.key for c in case.__table__.columns]
    events = db.session.query(CaseEvent).filter_by(case_id=case.id).count()
    return {name: getattr(case, name) for name in columns}, events


def _expected_clock(step, before):
    if step == KEEP:
        return before["step"], before["warn_at"], before["due_at"]
    if step == STOP:
        return None, None, None
    return step


@pytest.mark.parametrize("situation", EVERYWHERE)
@pytest.mark.parametrize("action", ACTIONS)
def test_every_status_action_role(world, situation, action):
    with clock.frozen_at(NOW):
        case = case_in(situation, world)
    expected = EXPECTED.get((situation, action))
    allowed_roles = expected[1] if expected else set()
    with clock.frozen_at(local(6, 1, 13)):
        # Refused roles first: each must leave the case exactly as it was.
        for role in [r for r in ROLES if r not in allowed_roles]:
            before = _snapshot(case)
            actor = actor_for(action, role, world, case)
            with pytest.raises(DomainError) as refused:
                workflow.apply(case, action, actor=actor, **fields_for(action, case, world))
            assert isinstance(refused.value, Forbidden | InvalidTransition), refused.value
            assert refused.value.message  # a sentence for people
            db.session.expire(case)
            assert _snapshot(case) == before, f"{role} {action} changed the case"
            assert workflow.ACTIONS[action] not in workflow.allowed_actions(case, actor)

        for role in sorted(allowed_roles):
            actor = actor_for(action, role, world, case)
            assert workflow.ACTIONS[action] in workflow.allowed_actions(case, actor)
            before, event_count = _snapshot(case)
            savepoint = db.session.begin_nested()
            event = workflow.apply(
                case,
                action,
                actor=actor,
                expected_version=case.version,
                **fields_for(action, case, world),
            )
            to_status, _, step = expected
            assert case.status == (to_status or before["status"])
            assert case.version == before["version"] + 1
            assert (case.step, case.warn_at, case.due_at) == _expected_clock(step, before)
            events = db.session.query(CaseEvent).filter_by(case_id=case.id).count()
            assert events == event_count + 1
            assert (event.action, event.from_status, event.to_status, event.actor_id) == (
                action,
                before["status"],
                case.status,
                actor.id,
            )
            # A department's lists read the copies its assignments carry: the engine
            # kept them (tests/test_query_plans.py reads the lists themselves).
            copies = db.session.execute(
                select(
                    CaseAssignment.case_status,
                    CaseAssignment.case_open,
                    CaseAssignment.case_village_id,
                ).where(CaseAssignment.case_id == case.id)
            ).all()
            wanted = (case.status, case.due_at is not None, case.village_id)
            assert all(tuple(copy) == wanted for copy in copies), (copies, wanted)
            savepoint.rollback()
            db.session.expire(case)


def test_recording_an_event_reads_no_event(world):
    """The facts an event carries for the figures come from the case's memory of its
    timeline, not from a query over its events (issue 16)."""
    from sqlalchemy import event as sa_event

    from server.cases.workflow import apply
    from server.db import db
    from tests.helpers import case_in

    case = case_in("in_progress", world)
    db.session.flush()
    statements = []

    def seen(_conn, _cursor, statement, *_):
        statements.append(statement)

    sa_event.listen(db.engine, "before_cursor_execute", seen)
    try:
        apply(case, "note", actor=world.center, text="当事人情绪激动")
        apply(
            case,
            "resolve",
            actor=world.justice_handler,
            result_code="mediated",
            result_text="调解成功",
        )
    finally:
        sa_event.remove(db.engine, "before_cursor_execute", seen)
    reads_of_events = [
        s for s in statements if s.lstrip().startswith("SELECT") and "FROM case_event" in s
    ]
    assert reads_of_events == []
    resolved = case.events[-1]
    assert resolved.action == "resolve"
    assert resolved.previous_counted_at is not None  # the acceptance, remembered
