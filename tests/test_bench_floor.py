"""The benchmark's floor (benchmarks/floor_app.py) does the work of a report: it sends
the database the statements grid-report sends for the same request, in the same order
(a new pair of parties, and the same pair again: a repeat dispute), and the rows it
writes are a case grid-report reads back whole, found by its words. A floor that did
less would flatter the figure it is for."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import event, select

from benchmarks import floor_app
from server.cases import search
from server.db import db
from server.models import Case, CaseEvent, IdempotencyRecord, User
from tests.factories import PASSWORD, build_world


def _body(village_id: int, *names: str) -> dict:
    return {
        "category": "D02",
        "village": village_id,
        "grid": None,
        "description": "两户邻居因排水沟争吵。",
        "place_text": "村东头",
        "people_involved": 2,
        "parties": [{"name": names[0]}, {"name": names[1], "side": "respondent"}],
    }


def _kind(statement: str) -> tuple[str, str]:
    """What a statement does to which table: ("INSERT", "case_file")."""
    words = " ".join(statement.split())
    table = re.search(r"\b(?:INTO|FROM)\s+\"?(\w+)", words)
    return words.split()[0].upper(), table.group(1) if table else ""


def _kinds(engine, send) -> list[tuple[str, str]]:
    seen = []

    def count(_conn, _cursor, statement, *_):
        seen.append(_kind(statement))

    event.listen(engine, "before_cursor_execute", count)
    try:
        answer = send()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert answer.status_code == 201, answer.get_data(as_text=True)
    return seen


def test_the_floor_sends_our_statements_and_files_a_case_we_read_back(fresh_app, monkeypatch):
    with fresh_app.app_context():
        world = build_world()
        db.session.commit()
        village_id, worker_id = world.v1.id, world.worker1.id
        db.session.remove()
    client = fresh_app.test_client()
    token = client.post(
        "/api/v1/auth/login", json={"username": "t_grid1", "password": PASSWORD}
    ).json["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def ours(*names):
        return client.post(
            "/api/v1/reports",
            json=_body(village_id, *names),
            headers=headers | {"Idempotency-Key": str(uuid.uuid4())},
        )

    assert ours("甲一", "乙一").status_code == 201  # the row the floor copies; caches warm
    with fresh_app.app_context():
        engine = db.engine
        new_pair = _kinds(engine, lambda: ours("丙二", "丁二"))
        repeat = _kinds(engine, lambda: ours("丙二", "丁二"))
    assert ("INSERT", "case_file") in new_pair
    assert len(repeat) == len(new_pair) + 2  # the earlier dispute's parties and case

    monkeypatch.setenv("FLOOR_DATABASE_URL", fresh_app.config["SQLALCHEMY_DATABASE_URI"])
    floor = floor_app.create_app()
    floor_engine = floor.extensions["floor_engine"]
    key = str(uuid.uuid4())
    try:
        sent = headers | {"Idempotency-Key": key}
        floor_client = floor.test_client()

        def theirs(names, keyed=None):
            return floor_client.post(
                "/floor/reports",
                json=_body(village_id, *names),
                headers=keyed or headers | {"Idempotency-Key": str(uuid.uuid4())},
            )

        assert _kinds(floor_engine, lambda: theirs(("赵甲乙", "钱丙丁"), sent)) == new_pair
        assert _kinds(floor_engine, lambda: theirs(("赵甲乙", "钱丙丁"))) == repeat
        again = theirs(("赵甲乙", "钱丙丁"), sent)
    finally:
        floor_engine.dispose()
    assert again.status_code == 200  # a key seen before: nothing written twice

    with fresh_app.app_context():
        case = db.session.scalar(select(Case).where(Case.idempotency_key == key))
        assert case.created_by_id == worker_id
        assert case.village_id == village_id
        assert [p.name for p in case.parties] == ["赵甲乙", "钱丙丁"]
        events = select(CaseEvent.action).where(CaseEvent.case_id == case.id)
        assert db.session.scalars(events).all() == ["submit"]
        recorded = select(IdempotencyRecord.status_code).where(IdempotencyRecord.key == key)
        assert db.session.scalar(recorded) == 201
        center = db.session.scalar(select(User).where(User.username == "t_center"))
        assert case.code in [hit.case.code for hit in search.search(center, "钱丙丁").hits]
        db.session.remove()
