"""Two people acting on one case at once: one wins, the other is told, one event is written.

These tests commit for real, on a database of their own (SQLite or PostgreSQL).
"""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from server.cases import workflow
from server.db import db
from server.infra.errors import DomainError, InvalidTransition, StaleCase
from server.models import Case, CaseEvent, User
from tests.factories import build_world
from tests.helpers import new_report


@pytest.fixture
def shared_case(fresh_app):
    """A submitted case, committed, and the center accounts that will race for it."""
    with fresh_app.app_context():
        world = build_world()
        second = User(
            username="t_center2",
            display_name="二号",
            role="center",
            password_hash=world.center.password_hash,
            town=world.town,  # the same town's center (the district's may not act on it)
        )
        db.session.add(second)
        case = new_report(world)
        ids = case.id, world.center.id, second.id
        db.session.commit()
        db.session.remove()  # no transaction left open (on SQLite it would hold the lock)
    return fresh_app, *ids


def _events(case_id: int, action: str) -> int:
    return db.session.scalar(
        select(func.count(CaseEvent.id)).where(
            CaseEvent.case_id == case_id, CaseEvent.action == action
        )
    )


def test_a_stale_copy_loses_on_write(shared_case):
    """B read the case before A changed it; B's write is refused, nothing of B's is kept."""
    app, case_id, first_id, second_id = shared_case
    with app.app_context():  # B's unit of work, kept open across A's
        db.session().expire_on_commit = False  # the Session itself, not the scoped proxy
        stale = db.session.get(Case, case_id)
        stale.category, stale.village  # noqa: B018 - load what apply() reads, while fresh
        b_actor = db.session.get(User, second_id)
        db.session.commit()  # ends B's read, keeps its (soon stale) copy

        def a_accepts():  # A, another person at another desk, in between
            with app.app_context():
                workflow.apply(
                    db.session.get(Case, case_id), "accept", actor=db.session.get(User, first_id)
                )
                db.session.commit()

        other_desk = threading.Thread(target=a_accepts)
        other_desk.start()
        other_desk.join(30)

        with pytest.raises(StaleCase) as refused:
            workflow.apply(stale, "reject", actor=b_actor, reason="重复")
        assert refused.value.code == "stale_case"
        assert "刷新" in refused.value.message
        db.session.rollback()

    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.status == "accepted"
        assert _events(case_id, "accept") == 1
        assert _events(case_id, "reject") == 0


@pytest.mark.parametrize("with_version", [True, False], ids=["form-version", "no-version"])
def test_two_threads_act_at_once(shared_case, with_version):
    app, case_id, first_id, second_id = shared_case
    with app.app_context():
        seen_version = db.session.get(Case, case_id).version
    barrier = threading.Barrier(2, timeout=30)
    outcomes: dict[str, object] = {}

    def act(name: str, actor_id: int, action: str, fields: dict) -> None:
        with app.app_context():
            try:
                barrier.wait()
                case = db.session.get(Case, case_id)
                extra = {"expected_version": seen_version} if with_version else {}
                workflow.apply(
                    case, action, actor=db.session.get(User, actor_id), **extra, **fields
                )
                db.session.commit()
                outcomes[name] = "ok"
            except DomainError as exc:
                db.session.rollback()
                outcomes[name] = exc
            finally:
                db.session.remove()

    threads = [
        threading.Thread(target=act, args=("a", first_id, "accept", {})),
        threading.Thread(target=act, args=("b", second_id, "reject", {"reason": "不属本镇"})),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(outcomes) == ["a", "b"]
    winners = [name for name, outcome in outcomes.items() if outcome == "ok"]
    assert len(winners) == 1, outcomes
    loser = outcomes["b" if winners == ["a"] else "a"]
    assert isinstance(loser, StaleCase | InvalidTransition), loser
    with app.app_context():
        case = db.session.get(Case, case_id)
        assert case.status == ("accepted" if winners == ["a"] else "rejected")
        assert _events(case_id, "accept") + _events(case_id, "reject") == 1
        assert case.version == seen_version + 1
