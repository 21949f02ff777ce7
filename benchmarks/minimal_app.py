"""The yardstick for bench_reports.py: the least a report endpoint can do.

Flask + SQLAlchemy, parsing the same JSON and inserting one row and one audit row in a
transaction of its own, committed before it answers. What is not the endpoint's own work
is grid-report's, so that the ratio measures only that work: the engine takes the
options grid-report's configuration gives it (`server.config.load`: no ping of SQLite,
a ping of a PostgreSQL connection on checkout), and on SQLite the same seam
(`server.db.sqlite.configure`: WAL, synchronous=FULL, busy timeout, foreign keys, BEGIN
IMMEDIATE at the first write, the writers' queue of server/db/write_queue.py).

    MINIMAL_DATABASE_URL=sqlite:///... gunicorn --config python:server.gunicorn_conf \
        'benchmarks.minimal_app:create_app()'
"""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime

from flask import Flask, jsonify, request
from sqlalchemy import JSON, DateTime, Engine, Integer, String, Text, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from server import config
from server.db import sqlite


class Base(DeclarativeBase):
    pass


class Report(Base):
    __tablename__ = "report"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(16))
    village: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(Text)
    body: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Audit(Base):
    __tablename__ = "audit"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    action: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def engine_as_ours(url: str) -> tuple[Engine, dict]:
    """An engine on `url` with what grid-report's configuration gives its own (engine
    options, and on SQLite its seam), and that configuration: each yardstick's (this one
    and benchmarks/floor_app.py) database settings are grid-report's."""
    settings = config.load(tempfile.gettempdir(), {"DATABASE_URL": url})
    engine = create_engine(url, **settings["SQLALCHEMY_ENGINE_OPTIONS"])
    if engine.dialect.name == "sqlite":
        sqlite.configure(engine, settings["SQLITE_BUSY_TIMEOUT_MS"])
    return engine, settings


def create_app() -> Flask:
    app = Flask(__name__)
    engine, _settings = engine_as_ours(os.environ["MINIMAL_DATABASE_URL"])
    Base.metadata.create_all(engine)  # bench_reports.py creates the tables before forking

    @app.post("/minimal/reports")
    def create_report():
        body = request.get_json()
        now = datetime.now(UTC)
        with Session(engine) as session, session.begin():
            report = Report(
                category=body["category"],
                village=body["village"],
                description=body["description"],
                body=body,
                created_at=now,
            )
            session.add(report)
            session.flush()
            report_id = report.id
            session.add(Audit(action="report.create", object_id=str(report_id), at=now))
        return jsonify(id=report_id), 201

    return app
