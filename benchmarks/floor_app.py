"""The floor for bench_reports.py --floor: grid-report's statements for a report, and
nothing else.

The minimal endpoint (benchmarks/minimal_app.py) writes two rows. Filing a report reads
and writes more, by design: the token's user with their villages, the Idempotency-Key's
record, the earlier disputes of the same parties (重复纠纷); the case, its first event,
its parties and its search words; the key's answer. This endpoint sends those same nine
statements to a database grid-report migrated and seeded (the same tables, indexes,
triggers and PostgreSQL GIN index), through SQLAlchemy Core, with no ORM, no checks, no
schema and no answer worth the name. The repeat check is grid-report's own statement
(`server.cases.repeats`), with its plan: a simpler one, left to PostgreSQL's planner,
walked more of the table with every report filed, as the real one once did. What
grid-report spends beyond it is its own code; what it spends below the minimal is the
database's work, which no code of ours can shorten.

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
from datetime import UTC, datetime

from flask import Flask, jsonify, request
from sqlalchemy import bindparam, create_engine, insert, select

from server import config
from server.cases import repeats
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
    fenced = engine.dialect.name == "postgresql"
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
            # The repeat check's own statement (built once), as filing a report asks it.
            since = repeats.months_before(now, 12)
            earlier = connection.execute(
                repeats._question(
                    ("name",) * len(names), between_several=len(names) >= 2, fenced=fenced
                ),
                {f"key{n}": name for n, name in enumerate(names, 1)}
                | {f"phone{n}": None for n in range(1, len(names) + 1)}
                | {
                    "id_bound": since - repeats.ID_BOUND_MARGIN,
                    "town_id": case["town_id"],
                    "exclude_id": -1,
                    "since": since,
                    "before": now,
                    "limit": 5 * len(names),
                },
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
