"""Routing: category x village -> a lead department and co-handlers (联调).

The rules are data (`RoutingRule`): a rule names a department, or a kind of department
resolved to the one serving the village (its village committee, its legal advisor).
Rules for one village win over the rules for every village. A village's legal advisor
joins every dispute in that village. The center can always override at dispatch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select

from server.extensions import db
from server.models import (
    AssignmentRole,
    Category,
    Department,
    DepartmentKind,
    RoutingRule,
    Village,
)


@dataclass
class Route:
    """The suggested departments for a case."""

    lead: Department | None
    co: list[Department] = field(default_factory=list)


def departments_of_kind(kind: DepartmentKind, village: Village) -> list[Department]:
    """The active departments of `kind` that serve `village`, town-wide ones last."""
    candidates = db.session.scalars(
        select(Department).where(Department.kind == kind, Department.active.is_(True))
        .order_by(Department.id)
    ).all()
    serving = [d for d in candidates if d.covers(village)]
    return sorted(serving, key=lambda d: d.town_wide)


def _targets(rule: RoutingRule, village: Village) -> list[Department]:
    if rule.department is not None:
        return [rule.department] if rule.department.active else []
    return departments_of_kind(rule.department_kind, village)[:1]


def route(category: Category, village: Village) -> Route:
    """Suggest the lead and co-handling departments for a `category` case in `village`."""
    rules = [r for r in category.routing_rules if r.village_id == village.id]
    if not rules:
        rules = [r for r in category.routing_rules if r.village_id is None]
    rules.sort(key=lambda r: r.id or 0)

    result = Route(lead=None)
    for rule in rules:
        for department in _targets(rule, village):
            if rule.role == AssignmentRole.LEAD and result.lead is None:
                result.lead = department
            else:
                result.co.append(department)
    if category.is_dispute:
        result.co.extend(departments_of_kind(DepartmentKind.LEGAL_ADVISOR, village)[:1])
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
