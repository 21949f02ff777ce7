"""Who stands in which relation to a case (`Transition.relation`), and what a case must be
beyond its status (`Transition.guard`: a Chinese reason when it is not)."""

from __future__ import annotations

from datetime import datetime

from server.cases import outbox
from server.models import AssignmentRole, Case, CaseStatus, Role, User


def holds_lead(case: Case, user: User) -> bool:
    """A handler of the case's lead department."""
    return user.role == Role.HANDLER and any(
        a.department_id == user.department_id and a.role == AssignmentRole.LEAD
        for a in case.active_assignments
    )


def holds_co(case: Case, user: User) -> bool:
    """A handler of one of its co-handling departments."""
    return user.role == Role.HANDLER and any(
        a.department_id == user.department_id and a.role == AssignmentRole.CO
        for a in case.active_assignments
    )


def is_assigned(case: Case, user: User) -> bool:
    """Anyone but a handler, or a handler of a department holding the case."""
    return user.role != Role.HANDLER or any(
        a.department_id == user.department_id for a in case.active_assignments
    )


def looks_after_village(case: Case, user: User) -> bool:
    """Anyone but a grid worker, or a grid worker of the case's village."""
    return user.role != Role.GRID_WORKER or case.village_id in user.village_ids


def reopens(case: Case, user: User) -> bool:
    """Who reopens a case: the center; a grid worker of its village once its result was
    checked (a result awaiting the center's check is the center's to send back, keep or
    reopen, as the reporter's 不满意 on it asks)."""
    if case.status == CaseStatus.RESOLVED and user.role == Role.GRID_WORKER:
        return False
    return looks_after_village(case, user)


def visits(case: Case, user: User) -> bool:
    """Who goes back to a case: the village's grid worker, or, for a confidential case
    (a drug dealer next door), the center only: a visit from the village would tell it."""
    if user.role == Role.GRID_WORKER and case.category.confidential:
        return False
    return looks_after_village(case, user)


def extension_pending(case: Case) -> str | None:
    """An extension was asked for and awaits the center."""
    return None if case.extension_requested_until else "没有待审批的延期申请。"


def no_extension_pending(case: Case) -> str | None:
    """No extension awaits the center."""
    return "已有延期申请待审批。" if case.extension_requested_until else None


def visited(case: Case) -> str | None:
    """A follow-up visit was recorded since the result was verified (回访 before 结案),
    read from the case's memory of its timeline (no query: it is asked on every page
    that shows the case's actions)."""
    marks = case.last_events or {}
    visit, verified = marks.get("record_visit"), marks.get("verify")
    # The same instant counts (a test's frozen clock); a visit before the last
    # verification (a reopened case verified again) does not.
    if visit and verified and datetime.fromisoformat(visit) >= datetime.fromisoformat(verified):
        return None
    return "结案前须先完成回访。"


def no_complaint_pending(case: Case) -> str | None:
    """No reporter's complaint awaits review."""
    if case.complaint_at is not None:
        return "群众对处理结果不满意，请先复核：重开、核查退回，或维持原结果并说明理由。"
    return None


def complaint_pending(case: Case) -> str | None:
    """A reporter's complaint awaits review."""
    return None if case.complaint_at is not None else "没有待复核的群众意见。"


def closable(case: Case) -> str | None:
    """No complaint pending, and visited."""
    return no_complaint_pending(case) or visited(case)


def not_supervised(case: Case) -> str | None:
    """Not supervised (督办) already."""
    return "案件已在督办中。" if case.supervised else None


def not_with_district(case: Case) -> str | None:
    """Not held by the district's center already."""
    return "案件已上报区级，由区矛调中心办理。" if case.held_by_district else None


def district_can_take(case: Case) -> str | None:
    """Not held by the district already, and the district has a center to take it: with
    no one there (a town's deployment without district accounts), an escalated case
    would wait on a desk nobody sits at, and only the district's center may act on it."""
    if case.held_by_district:
        return not_with_district(case)
    if not outbox.district_center():
        return "区矛调中心尚未开通账号，暂不能上报区级。"
    return None


def with_district(case: Case) -> str | None:
    """Held by the district's center (escalated, not yet handed back)."""
    return None if case.held_by_district else "案件未上报区级，无需交回。"


def return_pending(case: Case) -> str | None:
    """A return was asked for and awaits review."""
    return None if case.return_requested_at else "没有待审核的退回申请。"


def no_return_pending(case: Case) -> str | None:
    """No return awaits review."""
    return "已有退回申请待调处中心审核。" if case.return_requested_at else None


def instruction_open(case: Case) -> str | None:
    """A leader's instruction (批示) waits to be carried out."""
    return None if case.open_instructions else "没有待落实的领导批示。"
