"""The access policy: who may see which cases, which of their fields, and act on them.

Every read of a case, from either surface, asks here. In short:
- grid worker: the cases of the villages of their grids, except a confidential
  category's cases that someone else reported;
- handler: the cases sent to their department (now or before);
- center: every case of their town, and alone sees who reported it (every such view is
  audited);
- leader: every case of their town, read-only but for instructions (批示);
- the district's center and leaders (no town of their own): every town's cases;
- of the two centers, the one holding a case acts on it: the town's, or once it is
  escalated (上报区级) and until it is handed back, the district's (`holds`);
- admin: configuration only, no case content (system and business duties kept apart).
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, false, or_, select, true

from server.infra.errors import ValidationFailed
from server.models import Case, CaseAssignment, Category, Role, User
from server.trust import audit, identity
from server.trust.towns import in_users_town  # noqa: F401  (access.in_users_town: the pages' name for it)

READ_ALL = frozenset({Role.CENTER, Role.LEADER})
# Roles that may act on cases at all (the workflow narrows it per action: a leader's one
# action is an instruction, 批示).
ACTING = frozenset({Role.CENTER, Role.HANDLER, Role.GRID_WORKER, Role.LEADER})


def case_filter(user: User) -> ColumnElement[bool]:
    """A WHERE clause selecting the cases `user` may see."""
    if not user.active:
        return false()
    if user.role in READ_ALL:
        return true() if user.town_id is None else _of_town(user.town_id)
    if user.role == Role.HANDLER:
        return exists(
            select(CaseAssignment.id)
            .where(
                CaseAssignment.case_id == Case.id,
                CaseAssignment.department_id == user.department_id,
            )
            .correlate_except(CaseAssignment)
        )
    if user.role == Role.GRID_WORKER:
        not_confidential = ~exists(
            select(Category.id)
            .where(Category.id == Case.category_id, Category.confidential.is_(True))
            .correlate_except(Category)  # also when the outer query joins Category
        )
        return and_(
            Case.village_id.in_(user.village_ids or {-1}),
            # Their own town's, should a grid ever be bound across towns.
            _of_town(user.town_id if user.town_id is not None else -1),
            or_(not_confidential, Case.created_by_id == user.id),
        )
    return false()


def _of_town(town_id: int) -> ColumnElement[bool]:
    """A town's cases, tested row by row (`town_id + 0`, which no index serves): a list
    is read from the index of what it is narrowed by (status, village, category,
    received time: server/cases/queries.py), and SQLite, which has no statistics, takes
    an equality on any indexed column as the better start, and would walk the whole
    town instead (tests/test_query_plans.py)."""
    return (Case.town_id + 0) == town_id


def department_reach(user: User) -> int | None:
    """The department whose assignments are exactly the cases `user` may see (an active
    handler's: `case_filter`'s rule for them), or None. A list driven from those
    assignments applies the policy by its very join, and needs no second test per row
    (which PostgreSQL turned into a hash of the department's whole history)."""
    if user.active and user.role == Role.HANDLER:
        return user.department_id if user.department_id is not None else -1
    return None


def village_scope(user: User) -> frozenset[int] | None:
    """The villages whose cases alone `user` may see (a grid worker's), or None when the
    policy does not go by village; `case_filter` still decides each case."""
    if user.role == Role.GRID_WORKER:
        return frozenset(user.village_ids or {-1})
    return None


def can_view_case(user: User | None, case: Case) -> bool:
    """Whether `user` may see `case` at all."""
    if user is None or not user.active:
        return False
    if user.role in READ_ALL:
        return user.town_id is None or case.town_id == user.town_id
    if user.role == Role.HANDLER:
        return any(a.department_id == user.department_id for a in case.assignments)
    if user.role == Role.GRID_WORKER:
        mine = case.created_by_id == user.id
        return (
            case.village_id in user.village_ids
            and case.town_id == user.town_id
            and (not case.category.confidential or mine)
        )
    return False


def holds(user: User, case: Case) -> bool:
    """Whether `user`'s center holds `case` now, and so may act on it as the center: the
    town's center, or, from an escalation until the case is handed back, the district's.
    The other reads it (and its leaders instruct) but cannot move it, so that two desks
    never work one case at once."""
    return (
        user.role == Role.CENTER
        and can_view_case(user, case)
        and case.held_by_district == (user.town_id is None)
    )


def can_act(user: User | None) -> bool:
    """Whether `user`'s role may act on cases at all (a leader only instructs; the admins
    never)."""
    return user is not None and user.active and user.role in ACTING


def can_see_informant(user: User | None, case: Case | None = None) -> bool:
    """The informant's name, phone and WeChat id: the mediation center only (of the case's
    town, or the district's)."""
    if user is None or not user.active or user.role != Role.CENTER:
        return False
    return case is None or can_view_case(user, case)


def can_see_exact_location(user: User | None, case: Case) -> bool:
    """Coordinates of a confidential report would point at the informant: center only."""
    if not can_view_case(user, case):
        return False
    return not case.category.confidential or user.role == Role.CENTER


def can_see_internal(user: User | None, case: Case) -> bool:
    """Internal notes and supervision: staff who may see the case (never the reporter)."""
    return can_view_case(user, case)


def reveal_informant(case: Case, *, actor: User, ip: str | None = None) -> dict | None:
    """The informant's identity for `actor`, audited; None if anonymous or not allowed."""
    if not can_see_informant(actor, case):
        return None
    audit.record("case.view_informant", actor=actor, object_type="case", object_id=case.code, ip=ip)
    if case.reporter_anonymous:
        return None

    return {
        "name": identity.unseal(case.reporter_name),
        "phone": identity.unseal(case.reporter_phone),
        "wechat": identity.unseal(case.reporter_wechat),
    }


def record_view(case: Case, *, viewer: User, ip: str | None = None, surface: str) -> None:
    """Audit that `viewer` opened `case` (every role: who read a confidential report is
    on record, not only who read its informant). The caller's transaction writes."""
    audit.record(
        "case.viewed", actor=viewer, object_type="case", object_id=case.code, ip=ip, surface=surface
    )


def sees_small_confidential_counts(user: User) -> bool:
    """Whether `user` may read a confidential category's small counts village by village
    ("东村 × 涉毒 = 1" names a household): the center only."""
    return user.role == Role.CENTER


def check_breakdown(user: User, *, village_id: int | None, category: Category | None) -> None:
    """Refuse figures of one confidential category in one village to anyone but the center."""
    if (
        village_id is not None
        and category is not None
        and category.confidential
        and not sees_small_confidential_counts(user)
    ):
        raise ValidationFailed(
            "保密类别的数字不按村查看（仅调处中心可以）。", code="confidential_by_village"
        )
