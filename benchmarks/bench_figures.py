"""The town's figures on a large data set: the yearly and monthly dashboard, and a ledger.

Seeds a fresh SQLite database with N cases spread over five years, each with the events
of its life (most of them closed), keeps the monthly figures as the sweep does, then
prints how long statistics.compute takes for last year, this year so far, last month and
this month (goals, issue 7: a year under 1 s and a month under 300 ms at 1,000,000
cases), the month's league tables and joint meeting's brief (issue 19, no goal), and
the time and peak extra memory of exporting 100,000 cases' ledger (goal: under 200 MB).

    .venv/bin/python benchmarks/bench_figures.py [--cases 1000000] [--export 100000]
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, text
from town import demo_town, status_kb

from server import create_app
from server.db import db
from server.figures import brief, league, ledgers, partials, statistics
from server.infra import clock
from server.models import Case, CaseEvent, Department, DepartmentKind, Grid, User, Village

ACTIONS = [
    ("accept", "accept", "accepted"),
    ("dispatch", "dispatch", "dispatched"),
    ("sign_for", "sign_for", "in_progress"),
    ("resolve", "handle", "resolved"),
    ("verify", "verify", "follow_up"),
    ("close", "follow_up", "closed"),
]

SATISFACTION = ["satisfied", "satisfied", "basically_satisfied", "dissatisfied", None]


def seed(count: int) -> None:
    villages, categories = demo_town()
    justice = db.session.scalar(
        select(Department.id).where(Department.kind == DepartmentKind.JUSTICE_OFFICE)
    )
    # Who signs for and resolves (the league tables count a department by its members),
    # and each village's grid (a grid worker's table counts their grids' cases).
    handler = db.session.scalar(select(User.id).where(User.department_id == justice).limit(1))
    grids = dict(
        db.session.execute(
            select(Grid.village_id, db.func.min(Grid.id)).group_by(Grid.village_id)
        ).all()
    )
    first_id = (db.session.scalar(select(db.func.max(Case.id))) or 0) + 1
    rng = random.Random(11)  # noqa: S311 - synthetic data
    now = datetime.now(UTC)
    cases, events = [], []
    started = time.perf_counter()
    for i in range(count):
        created = now - timedelta(minutes=rng.randrange(60, 5 * 365 * 24 * 60))
        closed = rng.random() < 0.97
        case_id = first_id + i
        cases.append(
            {
                "id": case_id,
                "code": f"F{i:011d}",
                "source": "grid_worker",
                "village_id": (village_id := rng.choice(villages)),
                "grid_id": grids.get(village_id),
                "category_id": rng.choice(categories),
                "severity": "general",
                "risk_level": "yellow",
                "people_involved": 2,
                "group_dispute": False,
                "criminal_risk": False,
                "urgent": False,
                "description": "生成的案件",
                "reporter_anonymous": True,
                "status": "closed" if closed else "submitted",
                "lead_department_id": justice,
                "step": None if closed else "accept",
                "due_at": None if closed else created + timedelta(days=2),
                "supervised": False,
                "escalated": False,
                "created_at": created,
                "updated_at": created,
                "closed_at": created + timedelta(days=9) if closed else None,
                "result_code": "mediated" if closed else None,
                "closing_reason": "resolved" if closed else None,
                "version": 1,
            }
        )
        village, category = cases[-1]["village_id"], cases[-1]["category_id"]
        facts = {
            "village_id": village,
            "category_id": category,
            "previous_at": None,
            "previous_result_at": None,
            "previous_counted_at": None,
        }
        events.append(
            {
                "case_id": case_id,
                "action": "submit",
                "from_status": None,
                "to_status": "submitted",
                "at": created,
                "data": {},
                "internal": False,
                "step": None,
                "step_due_at": None,
                "seconds_since_report": 0,
                "result": None,
                **facts,
            }
        )
        if closed:
            moment, status, counted_at = created, "submitted", None
            for action, step_name, to in ACTIONS:
                due = moment + timedelta(days=2)
                moment = moment + timedelta(hours=rng.randrange(1, 60))
                result = {"resolve": "mediated", "close": "resolved"}.get(action)
                data = (
                    {"result_code": result}
                    if action == "resolve"
                    else ({"closing_reason": result} if action == "close" else {})
                )
                events.append(
                    {
                        "case_id": case_id,
                        "action": action,
                        "from_status": status,
                        "to_status": to,
                        "at": moment,
                        "data": data,
                        "internal": False,
                        "step": step_name,
                        "step_due_at": due,
                        "actor_id": handler if action in ("sign_for", "resolve") else None,
                        "result": result,
                        "seconds_since_report": int((moment - created).total_seconds()),
                        **facts,
                        "previous_counted_at": counted_at,
                    }
                )
                if action in ("accept", "resolve", "close"):
                    counted_at = moment
                status = to
                if action == "verify":  # the follow-up visit the close requires
                    events.append(
                        {
                            "case_id": case_id,
                            "action": "record_visit",
                            "from_status": status,
                            "to_status": status,
                            "at": moment + timedelta(hours=1),
                            "data": {"outcome": "gone"},
                            "internal": True,
                            "step": None,
                            "step_due_at": None,
                            "result": rng.choice(SATISFACTION),
                            "seconds_since_report": int((moment - created).total_seconds()) + 3600,
                            **facts,
                        }
                    )
        if len(cases) >= 20000:
            db.session.execute(insert(Case.__table__), cases)
            db.session.execute(insert(CaseEvent.__table__), events)
            db.session.commit()  # a batch at a time keeps the write-ahead log small
            cases, events = [], []
    if cases:
        db.session.execute(insert(Case.__table__), cases)
        db.session.execute(insert(CaseEvent.__table__), events)
    db.session.commit()
    db.session.execute(text("ANALYZE"))
    db.session.commit()
    print(f"seeded {count:,} cases with their events in {time.perf_counter() - started:.0f} s")


def timed(label: str, function, runs: int = 3) -> None:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        db.session.rollback()
        samples.append(time.perf_counter() - started)
    print(f"{label:40} {min(samples) * 1000:9.0f} ms (best of {runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--export", type=int, default=100_000)
    parser.add_argument(
        "--database",
        type=Path,
        help="keep the seeded database in this file and reuse it next time "
        "(seeding a million cases takes minutes)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INSTANCE_PATH"] = tmp
        database = args.database or Path(tmp) / "figures.sqlite3"
        reuse = database.exists()
        app = create_app({"DATABASE_URL": f"sqlite:///{database.resolve()}"})
        with app.app_context():
            if reuse:
                from flask_migrate import upgrade

                started = time.perf_counter()
                upgrade()  # a database seeded by an older version
                print(f"reusing {database} (migrated in {time.perf_counter() - started:.0f} s)")
            else:
                seed(args.cases)
            started = time.perf_counter()
            kept = 0
            while batch := partials.keep_month_figures():  # what the sweep does
                kept += batch
                db.session.commit()
            print(f"the sweep kept {kept} months' figures in {time.perf_counter() - started:.1f} s")
            today = clock.local(clock.now()).date()
            this_year, last_year = statistics.year(today.year), statistics.year(today.year - 1)
            this_month = statistics.month(today.year, today.month)
            previous = today.replace(day=1) - timedelta(days=1)
            last_month = statistics.month(previous.year, previous.month)
            for period, goal in (
                (last_year, 1000),
                (this_year, 1000),
                (last_month, 300),
                (this_month, 300),
            ):
                timed(
                    f"dashboard, {period.label} (goal < {goal})",
                    lambda p=period: statistics.compute(p),
                )
            for period in (last_month, this_month):
                timed(
                    f"league tables (考核), {period.label}",
                    lambda p=period: league.compute(p),
                )
                timed(
                    f"joint meeting's brief (研判), {period.label}",
                    lambda p=period: brief.compute(p),
                )
            village = db.session.scalar(select(Village.id).limit(1))
            timed(
                f"dashboard, {last_year.label}, one village (counted, no goal)",
                lambda: statistics.compute(last_year, village_id=village),
                runs=1,
            )
            # Export enough days to reach about --export cases.
            share = args.export / args.cases
            days = max(1, int(5 * 365 * share))
            period = statistics.Period(today - timedelta(days=days), today, "导出")
            Path("/proc/self/clear_refs").write_text("5")
            before = status_kb("VmRSS")
            started = time.perf_counter()
            # The case list: every case of the period, with each step's time.
            rows = ledgers.write("cases", period, Path(tmp) / "ledger.xlsx")
            peak = status_kb("VmHWM")
            print(
                f"case-list ledger, {rows:,} cases: {time.perf_counter() - started:.0f} s, "
                f"peak +{max(0, peak - before) / 1024:.0f} MB (goal < 200 MB; the "
                f"process held {before / 1024:.0f} MB before, {peak / 1024:.0f} MB at most)"
            )


if __name__ == "__main__":
    main()
