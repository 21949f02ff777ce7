"""The triage queue on a million cases: median and p95 per filter, and the query plans.

Seeds a fresh SQLite database (the demo town plus N cases, most of them long closed, as
after years of use), then times what the queue page runs (server.cases.queue.page + counts)
for the common filters, first pages and deep pages (keyset), and prints SQLite's
EXPLAIN QUERY PLAN for each query, flagging full-table scans and temporary sorts.
Goals (issue 5): median under 50 ms; no full scan or temp B-tree; deep = first.

    .venv/bin/python benchmarks/bench_queue.py [--cases 1000000] [--runs 30]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import event, insert, select, text
from town import demo_town

from server import create_app
from server.cases import queue as triage
from server.db import db
from server.models import Case, Department, DepartmentKind, User, Village

OPEN_SHARE = 0.03  # about a month's open work in a town that keeps years of cases
URGENT_SHARE = 0.01


def seed(count: int) -> None:
    """Insert `count` cases in bulk (one transaction), consistent with every check."""
    villages, categories = demo_town()
    police = db.session.scalar(
        select(Department.id).where(Department.kind == DepartmentKind.POLICE_STATION)
    )
    rng = random.Random(7)  # noqa: S311 - synthetic data
    now = datetime.now(UTC)
    batch, table = [], Case.__table__
    started = time.perf_counter()
    for i in range(count):
        created = now - timedelta(minutes=rng.randrange(0, 5 * 365 * 24 * 60))
        is_open = rng.random() < OPEN_SHARE
        status = rng.choice(["submitted", "accepted", "in_progress"]) if is_open else "closed"
        batch.append(
            {
                "code": f"B{i:011d}",
                "source": "grid_worker",
                "village_id": rng.choice(villages),
                "category_id": rng.choice(categories),
                "severity": "general",
                "risk_level": rng.choice(["red", "orange", "yellow", "yellow"]),
                "people_involved": 2,
                "group_dispute": False,
                "criminal_risk": False,
                "urgent": rng.random() < URGENT_SHARE,
                "description": "批量生成的测试案件",
                "reporter_anonymous": True,
                "status": status,
                "lead_department_id": police if status == "in_progress" else None,
                "step": ("handle" if status == "in_progress" else "accept") if is_open else None,
                "due_at": (created + timedelta(days=rng.randrange(1, 30))) if is_open else None,
                "supervised": is_open and rng.random() < 0.1,
                "escalated": False,
                "created_at": created,
                "updated_at": created + timedelta(days=3),
                "closed_at": None if is_open else created + timedelta(days=3),
                "version": 1,
            }
        )
        if len(batch) == 20000:
            db.session.execute(insert(table), batch)
            batch = []
    if batch:
        db.session.execute(insert(table), batch)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    print(f"seeded {count:,} cases in {time.perf_counter() - started:.0f} s")


def measure(user, filters, runs: int, deep: int) -> dict:
    """Time the queue page (page + counts): first page, and page `deep` via the cursor."""

    def view(cursor=None):
        started = time.perf_counter()
        page = triage.page(user, filters, cursor=cursor)
        triage.counts(user, filters)
        db.session.rollback()
        return time.perf_counter() - started, page

    first = [view()[0] for _ in range(runs)]
    cursor, depth = None, 0
    for depth in range(deep):  # noqa: B007 - how deep we got is reported
        _elapsed, page = view(cursor)
        if not page.next_cursor:
            break
        cursor = page.next_cursor
    deep_times = [view(cursor)[0] for _ in range(runs)] if cursor else []
    return {
        "median": statistics.median(first) * 1000,
        "p95": sorted(first)[int(0.95 * (len(first) - 1))] * 1000,
        "deep_page": depth + 1,
        "deep_median": statistics.median(deep_times) * 1000 if deep_times else None,
    }


def plans(statements: list[tuple[str, tuple]]) -> list[str]:
    lines = []
    connection = db.session.connection()
    for sql, params in statements:
        rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, params).all()
        lines += [f"      {row[-1]}" for row in rows]
        db.session.rollback()
        connection = db.session.connection()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--deep", type=int, default=40, help="how many pages deep")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INSTANCE_PATH"] = tmp
        app = create_app({"DATABASE_URL": f"sqlite:///{Path(tmp) / 'queue.sqlite3'}"})
        with app.app_context():
            seed(args.cases)
            center = db.session.scalar(select(User).where(User.username == "center"))
            police = db.session.scalar(select(User).where(User.username == "police"))
            village = db.session.scalar(select(Village.id).where(Village.code == "V07"))
            scenarios = [
                ("center, all open", center, triage.QueueFilters()),
                ("center, one village", center, triage.QueueFilters(village=village)),
                ("center, one category", center, triage.QueueFilters(category="D02")),
                ("center, status in_progress", center, triage.QueueFilters(status="in_progress")),
                ("center, overdue", center, triage.QueueFilters(overdue=True)),
                ("center, red risk", center, triage.QueueFilters(risk_level="red")),
                ("center, supervised", center, triage.QueueFilters(supervised=True)),
                ("center, closed (newest first)", center, triage.QueueFilters(status="closed")),
                ("police handler, own department", police, triage.QueueFilters()),
            ]
            engine = db.engine
            print(f"{'scenario':34} {'median ms':>9} {'p95 ms':>7} {'deep page':>9} {'deep ms':>8}")
            flagged = []
            for name, user, filters in scenarios:
                result = measure(user, filters, args.runs, args.deep)
                deep = f"{result['deep_median']:8.1f}" if result["deep_median"] else "       -"
                print(
                    f"{name:34} {result['median']:9.1f} {result['p95']:7.1f} "
                    f"{result['deep_page']:9d} {deep}"
                )
                captured: list[tuple[str, tuple]] = []

                def capture(
                    conn, cursor, statement, parameters, context, executemany, captured=captured
                ):
                    if statement.lstrip().upper().startswith("SELECT"):
                        captured.append((statement, parameters))

                event.listen(engine, "before_cursor_execute", capture)
                triage.page(user, filters)
                triage.counts(user, filters)
                db.session.rollback()
                event.remove(engine, "before_cursor_execute", capture)
                for line in plans(captured):
                    print(line)
                    if "TEMP B-TREE" in line or (
                        line.strip().startswith("SCAN case_file") and "INDEX" not in line
                    ):
                        flagged.append((name, line.strip()))
            print(
                "plans that scan the whole table or sort in a temporary B-tree:", flagged or "none"
            )


if __name__ == "__main__":
    main()
