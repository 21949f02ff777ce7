"""Routing: category x village -> lead department and co-handlers."""

from __future__ import annotations

from server.models import AssignmentRole, DepartmentKind, RoutingRule
from server.organisation.routing import route
from tests.factories import category


def test_a_dispute_goes_to_the_village_committee_with_justice_and_the_legal_advisor(world):
    suggestion = route(category("D02"), world.v1)
    assert suggestion.lead is world.committee1
    assert suggestion.co == [world.justice, world.advisor1]


def test_the_legal_advisor_is_the_villages_own(world):
    suggestion = route(category("D10"), world.v2)  # no advisor covers village 2
    assert suggestion.lead is world.committee2
    assert suggestion.co == [world.justice]


def test_hazards_go_to_their_departments(world):
    assert route(category("S04"), world.v1).lead is world.police
    assert route(category("H01"), world.v1).lead is world.safety
    assert route(category("E03"), world.v2).lead is world.enforcement
    assert route(category("S04"), world.v1).co == []


def test_a_village_rule_wins_over_the_town_rule(world, session):
    fishing = category("E03")
    fishing.routing_rules.append(
        RoutingRule(village=world.v2, department=world.police, role=AssignmentRole.LEAD)
    )
    fishing.routing_rules.append(
        RoutingRule(
            village=world.v2,
            department_kind=DepartmentKind.VILLAGE_COMMITTEE,
            role=AssignmentRole.CO,
        )
    )
    session.flush()
    assert route(fishing, world.v2).lead is world.police
    assert route(fishing, world.v2).co == [world.committee2]
    assert route(fishing, world.v1).lead is world.enforcement


def test_an_inactive_department_is_not_suggested(world):
    world.committee1.active = False
    suggestion = route(category("D02"), world.v1)
    # With no committee, the first co-handler leads.
    assert suggestion.lead is world.justice
    assert suggestion.co == [world.advisor1]
