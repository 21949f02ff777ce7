"""The yardstick for bench_reports.py: the least a report endpoint can do.

Flask + SQLAlchemy, the same SQLite settings as grid-report (WAL, synchronous=FULL,
BEGIN IMMEDIATE), parsing the same JSON and inserting one row and one audit row. With
MINIMAL_WRITE_QUEUE set (bench_reports.py --queued-minimal) its writers also queue as
grid-report's do (server/db/write_queue.py).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime

from flask import Flask, jsonify, request
from sqlalchemy import JSON, DateTime, Integer, String, Text, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


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


def create_app() -> Flask:
    app = Flask(__name__)
    engine = create_engine(os.environ["MINIMAL_DATABASE_URL"])
    queue = None
    if os.environ.get("MINIMAL_WRITE_QUEUE"):  # for comparison only
        from server.db.sqlite import Connection
        from server.db.write_queue import for_database

        queue = for_database(engine.url.database)

        @event.listens_for(engine, "do_connect")
        def _queued(_dialect, _record, _cargs, cparams):
            cparams["factory"] = Connection

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None
        for pragma in ("busy_timeout = 15000", "journal_mode = WAL", "synchronous = FULL"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin(connection):
        if queue is not None and queue.enter(15):
            connection.connection.dbapi_connection.queue = queue
        connection.exec_driver_sql("BEGIN IMMEDIATE")

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
