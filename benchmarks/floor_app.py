"""The floor for bench_reports.py --floor: grid-report's statements for a report, and
nothing else.

The minimal endpoint (benchmarks/minimal_app.py) writes two rows. Filing a report reads
and writes more, by design: the token's user with their villages, the Idempotency-Key's
record, the earlier disputes of the same parties (重复纠纷); the case, its first event,
its parties and its search words; the key's answer. This endpoint sends those same
statements (grid-report's own statement objects, where it keeps them built: the user's,
the key's, the repeat check's, each INSERT), in the same order, to a database
grid-report migrated and seeded (the same tables, indexes, triggers and PostgreSQL GIN
index), through SQLAlchemy Core, with no ORM, no checks, no schema and no answer worth
the name: nine on SQLite and eight on PostgreSQL (which takes the parties in one), two
more when the parties have earlier disputes (`--same-parties`). What grid-report spends
beyond it is its own code; what it spends below the minimal is the database's work,
which no code of ours can shorten.

Its rows are copies of the demo town's first case, its submit event and a party, made a
grid worker's report with no informant's identity, each with what must be new (a case
number, the key, the village, category, times and names); it knows the villages' towns
and the categories' ids from the start, as grid-report's reference copy does. It does
not verify the token (it reads the user the token names, as grid-report does).

    FLOOR_DATABASE_URL=sqlite:///... gunicorn --config python:server.gunicorn_conf \
        'benchmarks.floor_app:create_app()'
"""

from __future__ import annotations

import base64
import json
import os
import secrets
from datetime import UTC, datetime

from flask import Flask, jsonify, request
from sqlalchemy import bindparam, select

from benchmarks.minimal_app import engine_as_ours
from server.auth import _USER_WITH_VILLAGES
from server.cases import repeats
from server.cases.search import _INSERT_TEXT, body_of
from server.db import new_rows
from server.models import Case, CaseEvent, CaseParty, Category, Village
from server.trust.idempotency import _FIND, _INSERT

CASES, EVENTS, PARTIES = Case.__table__, CaseEvent.__table__, CaseParty.__table__
# What repeats.earlier_disputes reads of the earlier disputes it found.
THEIR_PARTIES = select(
    PARTIES.c.case_id, PARTIES.c.name, PARTIES.c.name_key, PARTIES.c.phone_key
).where(PARTIES.c.case_id.in_(bindparam("ids", expanding=True)))
THEIR_CASES = select(CASES).where(CASES.c.id.in_(bindparam("ids", expanding=True)))


def _template(connection, table, *where) -> dict:
    """A row of `table` to copy, without its id."""
    query = select(table).where(*where).order_by(table.c.id).limit(1)
    row = connection.execute(query).mappings().one()
    return {k: v for k, v in row.items() if k != "id"}


def _user_id(token: str) -> int:
    """The user a bearer token names (its `sub`), unverified: see the module's note."""
    payload = token.split(".")[1]
    return int(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def create_app() -> Flask:
    app = Flask(__name__)
    engine, settings = engine_as_ours(os.environ["FLOOR_DATABASE_URL"])
    app.extensions["floor_engine"] = engine  # for a test to dispose of
    dialect = engine.dialect.name
    months = int(settings["REPEAT_DISPUTE_MONTHS"])
    # The statements grid-report sends (server/db/new_rows.py builds them once too).
    new_case = new_rows._insert_statement(dialect, CASES, CASES.c.id, True)
    new_event = new_rows._insert_statement(dialect, EVENTS, EVENTS.c.id, False)
    new_party = new_rows._insert_statement(dialect, PARTIES, PARTIES.c.id, False)
    new_parties = new_rows._insert_many_statement(PARTIES, PARTIES.c.id)
    with engine.connect() as connection:
        # Reference data, as grid-report's per-process copy holds it (no query a report).
        towns = dict(connection.execute(select(Village.id, Village.town_id)).all())
        categories = dict(connection.execute(select(Category.code, Category.id)).all())
        case = _template(connection, CASES)
        first = connection.execute(select(CASES.c.id).order_by(CASES.c.id).limit(1)).scalar()
        event = _template(
            connection, EVENTS, EVENTS.c.case_id == first, EVENTS.c.action == "submit"
        )
        party = _template(connection, PARTIES)
    # A grid worker's report, with no informant's identity, as the benchmark files.
    case |= {
        "source": "grid_worker",
        "screening_id": None,
        "reporter_anonymous": True,
        "reporter_name": None,
        "reporter_phone": None,
        "reporter_wechat": None,
        "reporter_consent": None,
        "held_as_spam": False,
    }

    @app.post("/floor/reports")
    def create_report():
        body = request.get_json()
        key = request.headers["Idempotency-Key"]
        user_id = _user_id(request.headers["Authorization"].removeprefix("Bearer "))
        now = datetime.now(UTC)
        scope = f"user:{user_id}"
        names = [p["name"] for p in body["parties"]]
        name_keys = [repeats.name_key(n) for n in names]
        village_id, category_id = body["village"], categories[body["category"]]
        town_id = towns[village_id]
        with engine.begin() as connection:
            connection.execute(_USER_WITH_VILLAGES, {"user_id": user_id}).all()
            if connection.execute(_FIND, {"scope": scope, "key": key}).first() is not None:
                return jsonify(code="replayed"), 200
            # The repeat check's own statement (built once), as filing a report asks it,
            # then what it reads of the earlier disputes it found.
            since = repeats.months_before(now, months)
            question = repeats._question(
                ("name",) * len(names),
                between_several=len(names) >= 2,
                fenced=dialect == "postgresql",
            )
            found = connection.execute(
                question,
                {f"key{n}": k for n, k in enumerate(name_keys, 1)}
                | {f"phone{n}": None for n in range(1, len(names) + 1)}
                | {
                    "id_bound": since - repeats.ID_BOUND_MARGIN,
                    "town_id": town_id,
                    "exclude_id": -1,
                    "since": since,
                    "before": now,
                    "limit": repeats.SHOWN * len(names),
                },
            ).all()
            earlier = list(dict.fromkeys(r[0] for r in found))[: repeats.SHOWN]
            if earlier:
                connection.execute(THEIR_PARTIES, {"ids": earlier}).all()
                connection.execute(THEIR_CASES, {"ids": earlier}).all()
            code = f"F{secrets.token_hex(6)}"
            case_id = connection.execute(
                new_case,
                case
                | {
                    "code": code,
                    "village_id": village_id,
                    "town_id": town_id,
                    "grid_id": body.get("grid"),
                    "category_id": category_id,
                    "description": body["description"],
                    "place_text": body["place_text"],
                    "idempotency_key": key,
                    "tracking_hash": None,
                    "repeat_dispute": bool(earlier),
                    "created_by_id": user_id,
                    "created_at": now,
                    "updated_at": now,
                    "step_started_at": now,
                },
            ).scalar_one()
            connection.execute(
                new_event,
                event
                | {
                    "case_id": case_id,
                    "at": now,
                    "actor_id": user_id,
                    "village_id": village_id,
                    "category_id": category_id,
                },
            ).scalar_one()
            parties = [
                party | {"case_id": case_id, "name": n, "name_key": k}
                for n, k in zip(names, name_keys, strict=True)
            ]
            if len(parties) > 1:  # as new_rows.insert_all sends them
                connection.execute(new_parties, parties).all()
            else:
                for row in parties:
                    connection.execute(new_party, row).scalar_one()
            words = body_of(village_id, body["description"], body["place_text"], names)
            connection.execute(_INSERT_TEXT, {"case_id": case_id, "body": words})
            answer = json.dumps({"code": code, "status": "submitted"}, ensure_ascii=False)
            connection.execute(
                _INSERT,
                {
                    "scope": scope,
                    "key": key,
                    "fingerprint": "0" * 64,
                    "created_at": now,
                    "completed_at": now,
                    "status_code": 201,
                    "body": answer,
                },
            )
        return app.response_class(answer, status=201, mimetype="application/json")

    return app
