"""Routing: category x village -> a lead department and co-handlers (联调).

The rules are data (`RoutingRule`): a rule names a department, or a kind of department
resolved to the one serving the village (its village mediation committee, its legal
advisor). Rules for one village win over its town's rules, which win over the district's
for every village (`rules_for`). A rule never suggests a department of another town. A
village's legal advisor joins every dispute in that village. The center can always
override at dispatch.

A department with nobody in it cannot act on a case: routing never suggests one, and
says which it passed over and why, and dispatch refuses one (`unstaffed`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import or_, select

from server.db import db
from server.models import (
    AssignmentRole,
    Case,
    Category,
    Department,
    DepartmentKind,
    Role,
    RoutingRule,
    User,
    Village,
)

NOBODY = "无在岗人员"


@dataclass
class Route:
    """The suggested departments for a case, and those passed over with the reason."""

    lead: Department | None
    co: list[Department] = field(default_factory=list)
    skipped: list[tuple[Department, str]] = field(default_factory=list)


def staffed_ids(departments) -> set[int]:
    """The ids of those `departments` with at least one active member (one query)."""
    ids = {d.id for d in departments}
    if not ids:
        return set()
    return set(
        db.session.scalars(
            select(User.department_id)
            .distinct()
            .where(User.department_id.in_(ids), User.role == Role.HANDLER, User.active.is_(True))
        )
    )


def unstaffed(departments) -> list[Department]:
    """Those of `departments` nobody active works in: no case can be signed for there."""
    staffed = staffed_ids(departments)
    return [d for d in departments if d.id not in staffed]


def _takes(case: Case):
    """The towns whose departments may be sent `case`: its own town's, and while the
    district's center holds it, the district's own departments (no town) too."""
    if case.held_by_district:
        return or_(Department.town_id == case.town_id, Department.town_id.is_(None))
    return Department.town_id == case.town_id


def may_take(department: Department, case: Case) -> bool:
    """Whether `case` may be sent to `department` (see `_takes`)."""
    return department.town_id == case.town_id or (
        case.held_by_district and department.town_id is None
    )


def departments_for(case: Case) -> list[Department]:
    """The active departments `case` may be sent to, the district's first when it holds
    the case, then by kind and name."""
    return list(
        db.session.scalars(
            select(Department)
            .where(Department.active.is_(True), _takes(case))
            .order_by(Department.town_id.is_not(None), Department.kind, Department.name)
        )
    )


def departments_of_kind(kind: DepartmentKind, village: Village) -> list[Department]:
    """The active departments of `kind` that serve `village`, town-wide ones last."""
    candidates = db.session.scalars(
        select(Department)
        # Its own town's only: a district's 450 village committees are not read for one.
        .where(
            Department.kind == kind,
            Department.active.is_(True),
            Department.town_id == village.town_id,
        )
        .order_by(Department.id)
    ).all()
    serving = [d for d in candidates if d.covers(village)]
    return sorted(serving, key=lambda d: d.town_wide)


def _candidates(rule: RoutingRule, village: Village) -> list[Department]:
    if rule.department is not None:
        department = rule.department
        return [department] if department.active and department.town_id == village.town_id else []
    return departments_of_kind(rule.department_kind, village)


def rules_for(category: Category, village: Village | None = None, *, town_id=None):
    """The rules that route `category`'s cases in `village` (or, with no village, those of
    all `town_id`'s villages; `town_id` None: the district's), in order: the village's own
    if it has any, else its town's, else the district's."""
    if village is not None:
        own = [r for r in category.routing_rules if r.village_id == village.id]
        if own:
            return sorted(own, key=lambda r: r.id or 0)
        town_id = village.town_id
    every = [r for r in category.routing_rules if r.village_id is None]
    rules = [r for r in every if town_id is not None and r.town_id == town_id]
    if not rules:
        rules = [r for r in every if r.town_id is None]
    return sorted(rules, key=lambda r: r.id or 0)


def route(category: Category, village: Village) -> Route:
    """Suggest the lead and co-handling departments for a `category` case in `village`."""
    rules = rules_for(category, village)

    # Each rule names its candidates in order of preference; the first staffed one serves.
    wanted = [(rule.role, _candidates(rule, village)) for rule in rules]
    if category.is_dispute:
        wanted.append(
            (AssignmentRole.CO, departments_of_kind(DepartmentKind.LEGAL_ADVISOR, village))
        )
    staffed = staffed_ids({d for _role, candidates in wanted for d in candidates})

    result = Route(lead=None)
    for role, candidates in wanted:
        chosen = next((d for d in candidates if d.id in staffed), None)
        for department in candidates:
            if department.id not in staffed and all(department is not s for s, _ in result.skipped):
                result.skipped.append((department, NOBODY))
            if department is chosen:
                break  # the others of the kind were not needed
        if chosen is None:
            continue
        if role == AssignmentRole.LEAD and result.lead is None:
            result.lead = chosen
        else:
            result.co.append(chosen)
    if result.lead is None and result.co:
        result.lead = result.co.pop(0)
    seen = {result.lead.id} if result.lead else set()
    unique = []
    for department in result.co:
        if department.id not in seen:
            seen.add(department.id)
            unique.append(department)
    result.co = unique
    return result
