"""The benchmark's floor (benchmarks/floor_app.py) does the work of a report: the rows it
writes are a case grid-report reads back whole, found by its words, and a key it has
seen is not filed twice. A floor that wrote less would flatter the figure it is for."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from benchmarks import floor_app
from server.cases import search
from server.db import db
from server.models import Case, CaseEvent, CaseParty, IdempotencyRecord, User
from tests.factories import PASSWORD, build_world

BODY = {
    "category": "D02",
    "village": 1,
    "grid": 1,
    "description": "两户邻居因排水沟争吵。",
    "place_text": "村东头",
    "people_involved": 2,
    "parties": [{"name": "赵甲乙"}, {"name": "钱丙丁", "side": "respondent"}],
}


def test_the_floor_files_a_case_grid_report_reads_back(fresh_app, monkeypatch):
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
    first = client.post(
        "/api/v1/reports",
        json=BODY | {"village": village_id, "grid": None},
        headers=headers | {"Idempotency-Key": str(uuid.uuid4())},
    )
    assert first.status_code == 201, first.json  # the row the floor copies

    monkeypatch.setenv("FLOOR_DATABASE_URL", fresh_app.config["SQLALCHEMY_DATABASE_URI"])
    floor = floor_app.create_app()
    key = str(uuid.uuid4())
    try:
        sent = headers | {"Idempotency-Key": key}
        answer = floor.test_client().post("/floor/reports", json=BODY, headers=sent)
        again = floor.test_client().post("/floor/reports", json=BODY, headers=sent)
    finally:
        floor.extensions["floor_engine"].dispose()
    assert answer.status_code == 201
    assert again.status_code == 200  # seen: nothing written twice

    code = answer.json["code"]
    with fresh_app.app_context():
        case = db.session.scalar(select(Case).where(Case.code == code))
        assert case.idempotency_key == key
        assert case.created_by_id == worker_id
        assert [p.name for p in case.parties] == ["赵甲乙", "钱丙丁"]
        assert db.session.scalars(
            select(CaseEvent.action).where(CaseEvent.case_id == case.id)
        ).all()
        assert (
            db.session.scalar(
                select(IdempotencyRecord.status_code).where(IdempotencyRecord.key == key)
            )
            == 201
        )
        assert db.session.scalar(select(CaseParty.id).where(CaseParty.case_id == case.id))
        center = db.session.scalar(select(User).where(User.username == "t_center"))
        found = [hit.case.code for hit in search.search(center, "钱丙丁").hits]
        assert code in found
        db.session.remove()
