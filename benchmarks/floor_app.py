"""The floor for bench_reports.py --floor: grid-report's statements for a report, and
nothing else.

The minimal endpoint (benchmarks/minimal_app.py) writes two rows. Filing a report reads
and writes more, by design: the token's user with their villages, the Idempotency-Key's
record, the earlier disputes of the same parties (重复纠纷); the case, its first event,
its parties and its search words; the key's answer. This endpoint sends those same nine
statements to a database grid-report migrated and seeded (the same tables, indexes,
triggers and PostgreSQL GIN index), through SQLAlchemy Core, with no ORM, no checks, no
schema and no answer worth the name. What grid-report spends beyond it is its own code;
what it spends below the minimal is the database's work, which no code of ours can
shorten.

Its rows are copies of the demo town's first case, event and party, each with what must
be new (a case number, the key, the times, the names); it does not verify the token (it
reads the user the token names, as grid-report does).

    FLOOR_DATABASE_URL=sqlite:///... gunicorn --config python:server.gunicorn_conf \
        'benchmarks.floor_app:create_app()'
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import tempfile
from datetime import UTC, datetime, timedelta

from flask import Flask, jsonify, request
from sqlalchemy import bindparam, create_engine, insert, select

from server import config
from server.cases.search import body_of
from server.db import sqlite
from server.models import Case, CaseEvent, CaseParty, CaseSearchText, Grid, IdempotencyRecord, User
from server.models.organisation import user_grid

CASES, EVENTS, PARTIES = Case.__table__, CaseEvent.__table__, CaseParty.__table__
SEARCH, RECORDS = CaseSearchText.__table__, IdempotencyRecord.__table__

USER = (
    select(User.__table__, Grid.village_id)
    .outerjoin(user_grid, user_grid.c.user_id == User.id)
    .outerjoin(Grid, Grid.id == user_grid.c.grid_id)
    .where(User.id == bindparam("user_id"))
)
RECORD = select(RECORDS).where(
    RECORDS.c.scope == bindparam("scope"), RECORDS.c.key == bindparam("key")
)
# The repeat check's shape: the parties' names among the cases of a recent window.
EARLIER = (
    select(PARTIES.c.case_id)
    .join(CASES, CASES.c.id == PARTIES.c.case_id)
    .where(
        PARTIES.c.name_key.in_(bindparam("keys", expanding=True)),
        CASES.c.town_id == bindparam("town_id"),
        CASES.c.created_at >= bindparam("since"),
    )
    .order_by(PARTIES.c.case_id.desc())
    .limit(5)
)
NEW_CASE = insert(CASES).returning(CASES.c.id)
NEW_EVENT = insert(EVENTS).returning(EVENTS.c.id)
NEW_PARTIES = insert(PARTIES).returning(PARTIES.c.id, sort_by_parameter_order=True)
NEW_SEARCH = insert(SEARCH)
NEW_RECORD = insert(RECORDS).returning(RECORDS.c.id)


def _template(connection, table, *where) -> dict:
    """A row of `table` to copy, without its id."""
    row = connection.execute(select(table).where(*where).limit(1)).mappings().one()
    return {k: v for k, v in row.items() if k != "id"}


def _user_id(token: str) -> int:
    """The user a bearer token names (its `sub`), unverified: see the module's note."""
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def create_app() -> Flask:
    app = Flask(__name__)
    url = os.environ["FLOOR_DATABASE_URL"]
    settings = config.load(tempfile.gettempdir(), {"DATABASE_URL": url})
    engine = create_engine(url, **settings["SQLALCHEMY_ENGINE_OPTIONS"])
    if engine.dialect.name == "sqlite":
        sqlite.configure(engine, settings["SQLITE_BUSY_TIMEOUT_MS"])
    app.extensions["floor_engine"] = engine  # for a test to dispose of
    with engine.connect() as connection:
        case = _template(connection, CASES)
        event = _template(connection, EVENTS, EVENTS.c.case_id == CASES.c.id)
        party = _template(connection, PARTIES)

    @app.post("/floor/reports")
    def create_report():
        body = request.get_json()
        key = request.headers["Idempotency-Key"]
        user_id = _user_id(request.headers["Authorization"].removeprefix("Bearer "))
        now = datetime.now(UTC)
        scope = f"user:{user_id}"
        names = [p["name"] for p in body["parties"]]
        with engine.begin() as connection:
            rows = connection.execute(USER, {"user_id": user_id}).all()
            if connection.execute(RECORD, {"scope": scope, "key": key}).first() is not None:
                return jsonify(code="replayed"), 200
            earlier = connection.execute(
                EARLIER,
                {"keys": names, "town_id": case["town_id"], "since": now - timedelta(days=180)},
            ).all()
            code = f"F{secrets.token_hex(6)}"
            case_id = connection.execute(
                NEW_CASE,
                case
                | {
                    "code": code,
                    "description": body["description"],
                    "place_text": body["place_text"],
                    "idempotency_key": key,
                    "tracking_hash": None,
                    "repeat_dispute": bool(earlier),
                    "created_by_id": rows[0].id,
                    "created_at": now,
                    "updated_at": now,
                    "step_started_at": now,
                },
            ).scalar_one()
            connection.execute(NEW_EVENT, event | {"case_id": case_id, "at": now}).scalar_one()
            connection.execute(
                NEW_PARTIES,
                [party | {"case_id": case_id, "name": n, "name_key": n} for n in names],
            ).all()
            words = body_of(case["village_id"], body["description"], body["place_text"], names)
            connection.execute(NEW_SEARCH, {"case_id": case_id, "body": words})
            answer = json.dumps({"code": code, "status": "submitted"}, ensure_ascii=False)
            connection.execute(
                NEW_RECORD,
                {
                    "scope": scope,
                    "key": key,
                    "fingerprint": "0" * 64,
                    "created_at": now,
                    "completed_at": now,
                    "status_code": 201,
                    "body": answer,
                },
            ).scalar_one()
        return app.response_class(answer, status=201, mimetype="application/json")

    return app
