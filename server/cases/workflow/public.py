"""The villager's side of a case: the status and timeline they see on the tracking page,
and what they may add there (information, their answer, a complaint)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from server.cases.workflow.events import new_event, record
from server.cases.workflow.fields import SATISFACTION, clean_text
from server.cases.workflow.states import AFTER_RESULT, OPEN, S
from server.db import db
from server.infra import clock
from server.infra.errors import InvalidTransition, StaleCase, ValidationFailed
from server.models import Case, CaseEvent, CaseStatus

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


# action -> (statuses it is allowed in, label); none of them changes the status.
REPORTER_ACTIONS: dict[str, tuple[frozenset[CaseStatus], str]] = {
    "add_info": (OPEN, "群众补充情况"),
    "answer_follow_up": (AFTER_RESULT, "群众评价"),
    "complain": (AFTER_RESULT, "群众反映问题未解决"),
}


def _answered(case: Case) -> bool:
    """Whether the reporter has given their one answer (满意 / 基本满意 / 不满意)."""
    return "answer_follow_up" in (case.last_events or {})


def reporter_may(case: Case) -> dict[str, bool]:
    """What the tracking page offers the reporter now (the rules `apply_as_reporter`
    holds them to): add information, give their one answer, complain after it; and
    whether a complaint of theirs is under review."""
    after_result = case.status in AFTER_RESULT
    answered = _answered(case)
    return {
        "can_add": case.status in REPORTER_ACTIONS["add_info"][0],
        "can_answer": after_result and not answered,
        "can_complain": after_result and answered and case.complaint_at is None,
        "under_review": case.complaint_at is not None,
    }


def _event_key(case: Case, form_key: str | None) -> str | None:
    """The event's idempotency key for the tracking page's form `form_key` (a UUID the
    page drew), bound to this case: a key sent with another case's form meets nothing."""
    try:
        return str(uuid.uuid5(uuid.UUID(form_key or ""), f"case:{case.id}"))
    except ValueError:  # a page from before forms carried one: taken without
        return None


def apply_as_reporter(
    case: Case,
    action: str,
    *,
    text: str | None = None,
    satisfaction: str | None = None,
    form_key: str | None = None,
) -> CaseEvent:
    """Record what the villager who reported adds from the tracking page.

    The event has no actor (the reporter is not an account) and is shown to staff and
    to the reporter; one version bump, as for every action. A 不满意 answer or a complaint
    puts the case before the center for review (`Case.complaint_at`). `form_key`: the
    page's form; sent again (a lost answer, the browser's resend) it finds the event it
    made, and nothing is written or told to the center twice.
    """
    if action not in REPORTER_ACTIONS:
        raise InvalidTransition(f"未知操作：{action}。", code="unknown_action")
    key = _event_key(case, form_key)
    if key is not None:
        made = db.session.scalar(select(CaseEvent).where(CaseEvent.idempotency_key == key))
        if made is not None:
            return made
    allowed, label = REPORTER_ACTIONS[action]
    if case.status not in allowed:
        raise InvalidTransition(f"报告当前状态（{public_status(case)[1]}）不能{label}。")
    data = {}
    now = clock.now()
    if action == "add_info":
        text = clean_text(text, "text")
    elif action == "complain":
        if not _answered(case):
            raise InvalidTransition("请先评价处理结果；不满意可在评价时说明。", code="answer_first")
        if case.complaint_at is not None:
            raise InvalidTransition(
                "您反映的意见正在复核中，请耐心等待答复。", code="complaint_pending"
            )
        text = clean_text(text, "text")
        case.complaint_at = now
    else:
        if satisfaction not in SATISFACTION:
            raise ValidationFailed(
                "请选择满意、基本满意或不满意。", code="missing_field", field="satisfaction"
            )
        if _answered(case):
            raise InvalidTransition("您已经评价过了。", code="already_answered")
        text = clean_text(text, "text") if text and text.strip() else None
        data["satisfaction"] = case.satisfaction = satisfaction
        if satisfaction == "dissatisfied":
            case.complaint_at = now
    event = new_event(
        case,
        action,
        at=now,
        from_status=case.status,
        actor_role="reporter",
        note=text,
        data=data,
        result=data.get("satisfaction"),
        idempotency_key=key,
    )
    record(case, event)
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
