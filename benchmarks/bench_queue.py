"""The triage queue on a million cases: median and p95 per filter, and the query plans.

Times what the queue page runs (server.cases.queue.page + counts) for the common filters,
first pages and deep pages (keyset), beside the yardstick of the same run: the same
statements sent straight through the DB-API cursor (the database's own time, nothing of
the app's around it); prints each query's plan (SQLite's EXPLAIN QUERY PLAN, PostgreSQL's
EXPLAIN), flagging full-table scans and sorts. Goals (issue 5): median under 50 ms; no
full scan or temp B-tree; deep = first.

The town: the database --database-url names, seeded before (`make bench`:
benchmarks/seed.py), or else a fresh SQLite file with the demo town and --cases cases
seeded by benchmarks/seed.py (most long closed, as after years of use).

    .venv/bin/python benchmarks/bench_queue.py [--cases 1000000] [--runs 30]
        [--database-url URL]
"""

from __future__ import annotations

import argparse
import re
import statistics
import time

from sqlalchemy import select
from town import raw_ms, seeded_app, selects_of

from server.cases import queue as triage
from server.db import db
from server.models import User, Village


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


def plans(statements: list[tuple[str, object]]) -> list[str]:
    """Each statement's plan, a line a step."""
    lines = []
    explain = "EXPLAIN QUERY PLAN " if db.engine.dialect.name == "sqlite" else "EXPLAIN "
    for sql, params in statements:
        connection = db.session.connection()
        rows = connection.exec_driver_sql(explain + sql, params).all()
        lines += [f"      {row[-1]}" for row in rows]
        db.session.rollback()
    return lines


def flagged(line: str) -> bool | re.Match:
    """A step that reads the whole case table or sorts in a temporary structure."""
    line = line.strip()
    if db.engine.dialect.name == "sqlite":
        return "TEMP B-TREE" in line or (line.startswith("SCAN case_file") and "INDEX" not in line)
    return "Seq Scan on case_file" in line or re.match(r"(->\s+)?(Incremental )?Sort\s+\(", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--deep", type=int, default=40, help="how many pages deep")
    parser.add_argument("--database-url", help="a database seeded before (benchmarks/seed.py)")
    args = parser.parse_args()
    with seeded_app(args.database_url, args.cases, "queue"):
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
        print(
            f"{'scenario':34} {'median ms':>9} {'p95 ms':>7} {'deep page':>9} {'deep ms':>8}"
            f" {'raw SQL ms':>10}"
        )
        found = []
        for name, user, filters in scenarios:
            result = measure(user, filters, args.runs, args.deep)
            deep = f"{result['deep_median']:8.1f}" if result["deep_median"] else "       -"
            captured = selects_of(
                lambda user=user, filters=filters: (
                    triage.page(user, filters),
                    triage.counts(user, filters),
                )
            )
            print(
                f"{name:34} {result['median']:9.1f} {result['p95']:7.1f} "
                f"{result['deep_page']:9d} {deep} {raw_ms(captured):10.1f}"
            )
            for line in plans(captured):
                print(line)
                if flagged(line):
                    found.append((name, line.strip()))
        print("plans that scan the whole table or sort in a temporary B-tree:", found or "none")
        print("raw SQL: the same statements straight through the DB-API cursor (the ceiling)")


if __name__ == "__main__":
    main()
