"""What a new report's rows cost to write: one INSERT each (server/db/new_rows.py) beside
SQLAlchemy's unit-of-work flush, on the same rows.

Builds each report as the API does (`operations._checked_case`: the case, its first event
and two parties, every check made) and writes it one way or the other, alternating, in
one process on a SQLite file with grid-report's settings; prints the CPU milliseconds per
report of each way (the checks excluded), and their ratio. new_rows earns its place while
this costs the flush clearly more: the report create is CPU-bound on a small server
(bench_reports.py), so the difference goes straight to its throughput.

    .venv/bin/python benchmarks/bench_new_rows.py [--reports 400] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

from sqlalchemy import select
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.session import make_transient_to_detached
from town import demo_town

from server import create_app
from server.cases import operations
from server.db import db, new_rows, unit
from server.models import Role, User

BODY = {
    "category": "D02",
    "description": "两户邻居因排水沟争吵。",
    "place_text": "村东头",
    "people_involved": 2,
}


def draft(worker: User, n: int) -> operations.ReportDraft:
    village = min(worker.village_ids)
    return operations.ReportDraft(
        village=village,
        source="grid_worker",
        parties=[
            operations.Party(name=f"张三{n}"),
            operations.Party(name=f"李四{n}", side="respondent"),
        ],
        **BODY,
    )


def write_with_flush(case, event) -> None:
    # As the ORM writes it: built for the INSERTs, the event holds its case quietly.
    set_committed_value(event, "case", None)
    event.case = case
    db.session.add_all([case, event])
    db.session.flush()


def write_with_inserts(case, event) -> None:
    connection = db.session.connection()
    new_rows.insert(connection, case, unless_conflict=True)
    new_rows.insert(connection, event)
    for party in case.parties:
        new_rows.insert(connection, party)
    for row in (case, event, *case.parties):
        make_transient_to_detached(row)
    db.session.add_all([case, event])


def timed(write, worker: User, start: int, count: int) -> float:
    """CPU ms per report spent writing `count` reports (built beforehand, untimed)."""
    built = [operations._checked_case(draft(worker, start + i), worker) for i in range(count)]
    began = time.process_time()
    for case, event in built:
        write(case, event)
    spent = time.process_time() - began
    unit.finish()
    db.session.expunge_all()
    return 1000 * spent / count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reports", type=int, default=400)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INSTANCE_PATH"] = tmp
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp}/rows.sqlite3"})
        with app.app_context():
            demo_town()
            worker_id = db.session.scalar(select(User.id).where(User.role == Role.GRID_WORKER))
            figures = {"flush": [], "inserts": []}
            n = 0
            for _ in range(args.rounds):
                for name, write in (("flush", write_with_flush), ("inserts", write_with_inserts)):
                    worker = db.session.get(User, worker_id)
                    figures[name].append(timed(write, worker, n, args.reports))
                    n += args.reports
    flush, inserts = (statistics.median(figures[k]) for k in ("flush", "inserts"))
    print(f"{args.reports} reports x {args.rounds} rounds, each way in turn (CPU ms per report)")
    print(f"unit-of-work flush:  {flush:.3f}  ({', '.join(f'{v:.3f}' for v in figures['flush'])})")
    rounds = ", ".join(f"{v:.3f}" for v in figures["inserts"])
    print(f"one INSERT each:     {inserts:.3f}  ({rounds})")
    print(f"flush / inserts:     {flush / inserts:.2f}")


if __name__ == "__main__":
    main()
