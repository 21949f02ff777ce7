"""The outbox: who hears about what a case's events do, written with the event.

`queue_for_event` is called by the workflow in the same transaction as the event: a
notification exists exactly when its event does (and a new urgent report's alert with
the report, `queue_for_new_report`). Each notification is a row per channel the person
can be reached by; a confidential case's kind and content stay in the in-app inbox of
those who may see the case. Delivering is follow-through's (server/follow_through/
notifications.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from server.cases import access
from server.db import db
from server.infra import clock, codes
from server.models import (
    Case,
    CaseEvent,
    DepartmentKind,
    Grid,
    Notification,
    Role,
    Step,
    User,
)
from server.organisation.routing import departments_of_kind, route

# --- who hears about what ----------------------------------------------------------------


def center_staff(case: Case) -> list[User]:
    """Active staff of the center holding the case: its town's, or the district's while
    the case is escalated to it (上报区级, until handed back)."""
    if case.held_by_district:
        return district_center()
    return _of_town(Role.CENTER, case)


def district_center() -> list[User]:
    """The district's active center staff (no town of their own): who takes a case the
    town sends up; none in a town's own deployment."""
    return _of_district(Role.CENTER)


def leaders(case: Case) -> list[User]:
    """Active leaders of the case's town."""
    return _of_town(Role.LEADER, case)


def instructors(case: Case) -> list[User]:
    """The town's leaders, and whoever instructed on the case (a district leader, on a
    case escalated to the district): told that an instruction was carried out."""
    people = leaders(case)
    for instruction in case.instructions:
        author = instruction.author
        if author.active and author not in people:
            people.append(author)
    return people


def district_staff() -> list[User]:
    """The district's active center staff and leaders (no town of their own): told of
    what goes up to the district, not of each town's daily work."""
    return _of_district(Role.CENTER, Role.LEADER)


def _of_district(*roles: Role) -> list[User]:
    return list(
        db.session.scalars(
            select(User).where(User.role.in_(roles), User.active.is_(True), User.town_id.is_(None))
        )
    )


def _of_town(role: Role, case: Case) -> list[User]:
    # A case yet to be flushed knows its village before its town's id.
    town_id = case.town_id if case.town_id is not None else case.village.town_id
    return list(
        db.session.scalars(
            select(User).where(User.role == role, User.active.is_(True), User.town_id == town_id)
        )
    )


def department_members(case: Case, *, lead_only: bool = False) -> list[User]:
    """Active members of the departments holding `case` (the lead's only, if asked)."""
    people = []
    for assignment in case.active_assignments:
        if lead_only and assignment.role.value != "lead":
            continue
        people += [u for u in assignment.department.members if u.active]
    return people


def visitors(case: Case) -> list[User]:
    """Who pays the follow-up visit (回访): the village's grid workers; for a
    confidential case the center (the village must not learn who was named)."""
    return center_staff(case) if case.category.confidential else village_workers(case.village_id)


def step_holders(case: Case) -> list[User]:
    """Who must act for the case's current step, told when it comes due and when it is
    late: the departments holding it for signing for and handling, the visit's payers
    for the follow-up visit, the center for the rest (accepting, dispatching, checking a
    result) and whenever nobody else is there. The departments stay assigned through
    the check and the visit, when their work is done."""
    if case.step in (Step.SIGN_FOR, Step.HANDLE):
        people = department_members(case)
    elif case.step == Step.FOLLOW_UP:
        people = visitors(case)
    else:
        people = []
    return people or center_staff(case)


def village_workers(village_id: int) -> list[User]:
    """Active grid workers whose grids lie in the village."""
    return list(
        db.session.scalars(
            select(User).where(
                User.role == Role.GRID_WORKER,
                User.active.is_(True),
                User.grids.any(Grid.village_id == village_id),
            )
        )
    )


def workers_of_villages(village_ids: list[int]) -> dict[int, list[User]]:
    """`village_workers` of many villages at once: one statement, not one a village."""
    found: dict[int, list[User]] = {}
    for village_id, user in db.session.execute(
        select(Grid.village_id, User)
        .select_from(User)
        .join(User.grids)
        .where(
            User.role == Role.GRID_WORKER,
            User.active.is_(True),
            Grid.village_id.in_(village_ids or [-1]),
        )
        .order_by(Grid.village_id, User.id)
    ):
        workers = found.setdefault(village_id, [])
        if user not in workers:  # two of their grids in one village
            workers.append(user)
    return found


def subject(case: Case) -> str:
    """How a case is named in a message: village, category, number."""
    return f"{case.village.name} · {case.category.name}（{codes.display(case.code)}）"


def masked_subject(case: Case) -> str:
    """A confidential case as a message names it where its reader may not see the case,
    or the message leaves the app (WeChat, SMS): neither its kind nor its content."""
    return f"{case.village.name} · 保密事项（{codes.display(case.code)}）"


MASKED_BODY = "请登录系统查看"


def _text_for(user: User, channel: str, case: Case | None, body: str, note: str | None) -> str:
    """What `user` reads on `channel`. A confidential case's kind and content stay in the
    in-app inbox of those who may see the case; everyone else reads its number only."""
    if (
        case is not None
        and case.category.confidential
        and (channel != "inbox" or not access.can_view_case(user, case))
    ):
        return f"{masked_subject(case)}：{MASKED_BODY}"
    return f"{body}。{note}" if note and channel == "inbox" else body


# action -> (recipients, title)
_RULES = {
    "dispatch": (lambda c: department_members(c), "新派遣案件"),
    "reassign": (lambda c: department_members(c), "改派：新派遣案件"),
    "return": (lambda c: center_staff(c), "部门申请退回，待审核"),
    "refuse_return": (lambda c: department_members(c, lead_only=True), "退回申请未获同意"),
    "request_extension": (lambda c: center_staff(c), "部门申请延期"),
    "approve_extension": (lambda c: department_members(c, lead_only=True), "延期已批准"),
    "refuse_extension": (lambda c: department_members(c, lead_only=True), "延期未批准"),
    "resolve": (lambda c: center_staff(c), "案件已办结，待核查"),
    "send_back": (lambda c: department_members(c, lead_only=True), "核查退回，请继续处理"),
    # The follow-up visit (回访) is the village's grid worker's task, due with the step;
    # a confidential case's is the center's (the village must not learn who was named).
    "verify": (visitors, "回访任务"),
    "reopen": (lambda c: center_staff(c), "案件重开"),
    # 批示: the center and the lead department read the instruction in their inbox.
    "instruct": (
        lambda c: center_staff(c) + department_members(c, lead_only=True),
        "领导批示",
    ),
    "carry_out": (lambda c: instructors(c), "批示已落实"),
    "supervise": (lambda c: step_holders(c) + center_staff(c), "督办：案件已超期"),
    "escalate": (lambda c: leaders(c) + district_staff(), "案件已上报区级"),
    # Back from the district: the town's center sends it on (or visits and closes it).
    "return_to_town": (lambda c: center_staff(c) + leaders(c), "区级交回属地办理"),
    "chase": (step_holders, "超期提醒"),
    "escalate_to_leader": (lambda c: leaders(c) + center_staff(c), "紧急报告超时未受理"),
    "add_info": (lambda c: center_staff(c), "群众补充了情况"),
    # 不满意重办: the reporter's 不满意 or complaint awaits the center's review.
    "answer_follow_up": (lambda c: center_staff(c), "群众对处理结果不满意，待复核"),
    "complain": (lambda c: center_staff(c), "群众反映问题未解决，待复核"),
    # A return asked for lapses when the department takes the case on after all.
    "sign_for": (lambda c: center_staff(c), "部门已撤回退回申请并签收"),
}
# Rules that hold only for some events of their action.
_ONLY_IF = {
    "answer_follow_up": lambda e: (e.data or {}).get("satisfaction") == "dissatisfied",
    "sign_for": lambda e: bool((e.data or {}).get("return_withdrawn")),
}


# action -> title, for the departments whose share of the case the action ended.
_RELEASED_RULES = {
    "reassign": "案件已改派其他部门",
    "change_co_handlers": "已不再协办此案件",
    "recall": "案件已被调处中心收回",
    "approve_return": "退回申请已同意",
    "escalate": "案件已上报区级，由区矛调中心办理",
}
# action -> title, for the departments the action added beside a lead that stays.
_JOINED_RULES = {"change_co_handlers": "协办：新派遣案件"}
# Actions whose note the recipients need to read (why it came back, why it moved): in the
# in-app inbox only, never in an SMS or a WeChat message (nor the SMS log).
_WITH_NOTE = frozenset(
    {
        "reassign",
        "change_co_handlers",
        "recall",
        "refuse_return",
        "refuse_extension",
        "send_back",
        "answer_follow_up",
        "complain",
        "instruct",
        "carry_out",
        "escalate",
        "return_to_town",
    }
)


def queue(
    users: list[User],
    kind: str,
    *,
    case: Case | None,
    title: str,
    body: str,
    note: str | None = None,
) -> None:
    """Add notifications for `users` on every channel they can be reached by; `note`, a
    person's words, is added to the in-app inbox's copy only."""
    seen = set()
    for user in users:
        if user.id in seen:
            continue
        seen.add(user.id)
        channels = ["inbox"]
        if user.wechat_openid:
            channels.append("wechat")
        if user.phone:
            channels.append("sms")
        for channel in channels:
            text = _text_for(user, channel, case, body, note)
            db.session.add(
                Notification(
                    user_id=user.id,
                    channel=channel,
                    kind=kind,
                    case_id=case.id if case else None,
                    title=title[:100],
                    body=text[:500],
                    next_attempt_at=clock.now(),
                )
            )


def _members(departments) -> list[User]:
    return [u for department in departments for u in department.members if u.active]


def queue_for_event(case: Case, event: CaseEvent, *, released=(), joined=()) -> None:
    """The notifications an event causes (called in the event's transaction); `released`:
    the departments whose share of the case the event ended, `joined`: those it added."""
    body = f"{subject(case)}：{case.status.label}"
    note = event.note if event.action in _WITH_NOTE else None
    rule = _RULES.get(event.action)
    if rule is not None and _ONLY_IF.get(event.action, bool)(event):
        recipients, title = rule
        queue(recipients(case), event.action, case=case, title=title, body=body, note=note)
    holding = [a.department for a in case.active_assignments]
    released = [d for d in released if d not in holding]  # those still on it heard above
    if event.action in _RELEASED_RULES and released:
        queue(
            _members(released),
            event.action,
            case=case,
            title=_RELEASED_RULES[event.action],
            body=body,
            note=note,
        )
    if event.action in _JOINED_RULES and joined:
        queue(
            _members(joined),
            event.action,
            case=case,
            title=_JOINED_RULES[event.action],
            body=body,
            note=note,
        )


@dataclass
class UrgentAlert:
    """Who an urgent report alerts, worked out (reading only) before the report is
    written: on SQLite that write holds the lock every other writer waits for."""

    center: list[User]
    departments: list[User]


def urgent_alert(case: Case) -> UrgentAlert | None:
    """An urgent report alerts the center and the department that would lead it (the
    police for public security, the work-safety office for safety hazards, the village's
    mediators for a dispute) at once, day or night; a fight happening now, the police too.
    """
    if not case.urgent:
        return None
    lead = route(case.category, case.village).lead
    departments = [lead] if lead else []
    if case.happening_now and case.category.is_dispute:
        departments += [
            d
            for d in departments_of_kind(DepartmentKind.POLICE_STATION, case.village)[:1]
            if d not in departments
        ]
    return UrgentAlert(center_staff(case), _members(departments))


def queue_for_new_report(case: Case, alert: UrgentAlert | None) -> None:
    """Queue an urgent report's alert (see `urgent_alert`). The departments read where and
    what, not the report itself: they see a case once it is dispatched to them."""
    if alert is None:
        return
    title = "紧急：正在发生" if case.happening_now else "紧急：新报告"
    queue(
        alert.center,
        "urgent_report",
        case=case,
        title=title,
        body=f"{subject(case)}：{case.description[:60]}",
    )
    center = {u.id for u in alert.center}
    queue(
        [u for u in alert.departments if u.id not in center],
        "urgent_report",
        case=case,
        title=title,
        body=f"{subject(case)}：群众报告情况紧急，请做好处置准备，调处中心即将派遣。",
    )
