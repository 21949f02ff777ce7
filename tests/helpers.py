"""Build cases in any state, through the real operations."""

from __future__ import annotations

from datetime import timedelta

from server.cases import workflow
from server.cases.operations import Party, ReportDraft, submit_report
from server.db import db
from server.models import Case, Instruction, Role
from tests.factories import category

# How to reach each situation from a new report: (action, actor attribute on the world).
PATHS: dict[str, list[str]] = {
    "submitted": [],
    "accepted": ["accept"],
    "rejected": ["reject"],
    "merged": ["merge"],
    "dispatched": ["accept", "dispatch"],
    "in_progress": ["accept", "dispatch", "sign_for"],
    "extension_pending": ["accept", "dispatch", "sign_for", "request_extension"],
    "return_pending": ["accept", "dispatch", "return"],
    "resolved": ["accept", "dispatch", "sign_for", "resolve"],
    "follow_up": ["accept", "dispatch", "sign_for", "resolve", "verify"],
    "visited": ["accept", "dispatch", "sign_for", "resolve", "verify", "record_visit"],
    "closed": ["accept", "dispatch", "sign_for", "resolve", "verify", "record_visit", "close"],
    # The reporter says it is not solved (不满意重办): the closed case awaits review.
    # Handed up to the district's center (上报区级), which holds it: fresh, and settled
    # there by the town's justice office it sent it to, and checked.
    "escalated": ["accept", "escalate"],
    "escalated_checked": ["accept", "escalate", "dispatch", "sign_for", "resolve", "verify"],
    "complained": [
        "accept",
        "dispatch",
        "sign_for",
        "resolve",
        "verify",
        "record_visit",
        "close",
        "answer_follow_up",
        "complain",
    ],
}


def new_report(world, code: str = "D02", village=None, actor=..., **draft) -> Case:
    """A fresh report filed by the village's grid worker (or `actor`; None: a villager)."""
    village = village or world.v1
    if actor is ...:
        actor = world.worker1 if village is world.v1 else world.worker2
    fields = {
        "description": "两户邻居因排水沟争吵。",
        "source": "grid_worker",
        "parties": [Party("张三"), Party("李四", side="respondent")],
    } | draft
    return submit_report(
        ReportDraft(village=village, category=category(code), **fields), actor=actor
    )


def fields_for(action: str, case: Case, world) -> dict:
    """Valid fields for `action` on `case`."""
    if action == "merge":  # the twin is made only when asked for
        return {"into": new_report(world).code}
    if action == "carry_out":  # a leader's instruction to carry out, made when asked for
        if not case.open_instructions:
            db.session.add(Instruction(case=case, author=world.leader, text="请尽快化解。"))
            db.session.flush()
        return {"instruction": case.open_instructions[0].id}
    return {
        "reject": {"reason": "不属于本镇管辖。"},
        "dispatch": {"lead_department": world.justice.id, "co_departments": [world.committee1.id]},
        "return": {"reason": "不属于本部门职责。"},
        "refuse_return": {"reason": "属于本部门职责，请继续办理。"},
        "reassign": {
            "lead_department": world.committee1.id,
            "co_departments": [world.justice.id],
            "reason": "由村调委会先行调解。",
        },
        "recall": {"reason": "需调处中心重新研判。"},
        "change_co_handlers": {
            "co_departments": [world.advisor1.id],
            "reason": "改由法律顾问协办。",
        },
        "assess_risk": {
            "risk_level": "red",
            "criminal_risk": True,
            "reason": "双方多次冲突，有激化可能。",
        },
        "confirm_result": {"reason": "经复核，双方已按协议履行，维持原处理结果。"},
        "request_extension": {
            "until": (case.due_at or case.created_at) + timedelta(days=5),
            "reason": "当事人外出。",
            "parties_consent": True,
        },
        "refuse_extension": {"reason": "期限内可以办完。"},
        "resolve": {"result_code": "mediated", "result_text": "双方达成调解协议。"},
        "send_back": {"reason": "材料不全。"},
        "record_visit": {
            "outcome": "gone",
            "text": "回访：问题已消除。",
            "satisfaction": "satisfied",
        },
        "close": {"closing_reason": "resolved"},
        "reopen": {"reason": "回访发现问题复发。"},
        "escalate": {"reason": "涉及人数多，需区级协调。"},
        "return_to_town": {"reason": "请属地继续跟进化解。"},
        "feedback": {"text": "村委会已做双方工作。"},
        "note": {"text": "内部备注。"},
        "instruct": {"text": "请司法所牵头，一周内化解，结果报我。"},
    }.get(action, {})


def district_center(world):
    """The district's center (区矛调中心): an account of no town, made when first asked for
    (the world's other tests hear of no district)."""
    from tests.factories import UserFactory

    if getattr(world, "district", None) is None:
        world.district = UserFactory(username="t_district", role=Role.CENTER, town=None)
    return world.district


def actor_for(action: str, role: str, world, case: Case | None = None):
    """The account of `role` best placed to take `action` (the lead or co handler, the
    village's grid worker; the center holding `case`)."""
    if role == "handler":
        return world.committee1_handler if action == "feedback" else world.justice_handler
    if role == "center" and case is not None and case.held_by_district:
        return district_center(world)
    if action == "escalate":
        district_center(world)  # a case goes up only to a district with a center to take it
    return {
        "center": world.center,
        "leader": world.leader,
        "admin": world.admin,
        "security_admin": world.security,
        "auditor": world.auditor,
        "grid_worker": world.worker1,
    }[role]


def case_in(situation: str, world, code: str = "D02") -> Case:
    """A case of category `code` in village 1, walked to `situation` (see PATHS)."""
    case = new_report(world, code)
    for action in PATHS[situation]:
        if action == "answer_follow_up":
            workflow.apply_as_reporter(case, action, satisfaction="satisfied")
            continue
        if action in workflow.REPORTER_ACTIONS:
            workflow.apply_as_reporter(case, action, text="问题还没有解决。")
            continue
        role = {
            "sign_for": "handler",
            "resolve": "handler",
            "request_extension": "handler",
            "return": "handler",
            "record_visit": "grid_worker",
        }.get(action, "center")
        workflow.apply(
            case,
            action,
            actor=actor_for(action, role, world, case),
            **fields_for(action, case, world),
        )
    return case
