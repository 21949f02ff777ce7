"""The deadline sweep's cost, with nothing due and with 1,000 steps due, at two sizes.

Issue 20, point 3: the sweep must cost what is due, not what the table holds; a sweep with
nothing due at 1,000,000 cases within 1.2x of the same sweep at 100,000 (the ceiling,
printed beside it). For each size the script seeds a scratch database of its own
(benchmarks/seed.py; SQLite, or on the PostgreSQL server of --server-url) with the same
reports a year (--cases-a-year): a town of a million cases is a town of a longer history,
not of busier months, and what the sweep must look at is the recent months' work. Then:
- marks every running step as already chased (nothing due), lets the sweep keep the
  months' figures it would keep on its first runs, and times whole sweeps;
- arms 1,000 open cases (their steps red and not yet chased) and times the sweep that
  chases them, re-arming before each run;
and prints the plan of each query the sweep sends while nothing is due.

    .venv/bin/python benchmarks/bench_sweep.py [--sizes 100000,1000000] [--runs 5]
    .venv/bin/python benchmarks/bench_sweep.py --server-url postgresql+psycopg://... [--sizes N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

from sqlalchemy import event, func, select, update

from server import create_app
from server.db import db
from server.follow_through import sweep
from server.infra import clock
from server.models import Case

# A town in its steady state: the seeder leaves years of ended cases still naming their
# informants, which a real town's sweep forgot day by day; its first sweeps here would
# forget them 5,000 a minute (identity.PURGE_BATCH) and time that instead.
STEADY = {"IDENTITY_RETENTION_DAYS": 36500}


@contextmanager
def seeded(url: str):
    """An app on a database seeded before (benchmarks/seed.py), as it is: the runs below
    move its open cases' clocks (it is a benchmark's database, not a town's)."""
    app = create_app({"DATABASE_URL": url, **STEADY})
    try:
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()


@contextmanager
def database(server_url: str, size: int, folder: Path, years: float = 5, towns: int = 1):
    """An app on a scratch database seeded with `size` cases (benchmarks/seed.py): a
    SQLite file in `folder`, or a database of its own on the PostgreSQL server of
    `server_url`, dropped afterwards (benchmarks/scratch.py)."""
    import scratch
    from seed import bulk_seed
    from town import demo_town

    place = folder / str(size)
    place.mkdir()
    url = scratch.create(server_url, place)
    try:
        app = create_app({"DATABASE_URL": url, **STEADY})
        with app.app_context():
            demo_town()
            summary = bulk_seed(size, years=years, towns=towns)
            print(
                f"seeded {summary['cases']:,} cases over {years:g} years"
                f" in {summary['seconds']:.0f} s",
                flush=True,
            )
            db.engine.dispose()
        yield app
    finally:
        with app.app_context():
            db.engine.dispose()
        scratch.drop(url)


def nothing_due() -> None:
    """A quiet minute: of the open cases, one in ten red and already chased, the rest on
    clocks that run out from tomorrow to a month on (none yellow yet)."""
    now = clock.now()
    ids = db.session.scalars(select(Case.id).where(Case.due_at.is_not(None))).all()
    for offset in range(10):
        chunk = ids[offset::10]
        if offset == 0:
            values = {"clock_alert": "overdue", "due_at": now - timedelta(days=2)}
            values["warn_at"] = values["due_at"] - timedelta(hours=12)
        else:
            due = now + timedelta(days=1 + 3 * offset)
            values = {"clock_alert": None, "due_at": due, "warn_at": due - timedelta(hours=12)}
        for start in range(0, len(chunk), 20000):
            db.session.execute(
                update(Case).where(Case.id.in_(chunk[start : start + 20000])).values(**values)
            )
    db.session.commit()


def arm(count: int) -> None:
    """`count` open cases whose step is red and not yet chased."""
    ids = db.session.scalars(
        select(Case.id).where(Case.due_at.is_not(None)).order_by(Case.id).limit(count)
    ).all()
    past = clock.now() - timedelta(days=1)
    db.session.execute(
        update(Case)
        .where(Case.id.in_(ids))
        .values(clock_alert=None, due_at=past, warn_at=past - timedelta(hours=12))
    )
    db.session.commit()


def timed(runs: int, before=None) -> list[float]:
    times = []
    for _ in range(runs):
        if before:
            before()
        started = time.perf_counter()
        sweep.run()
        times.append(time.perf_counter() - started)
        db.session.remove()
    return times


def plans() -> list[str]:
    """The plan of each statement the sweep sends while nothing is due, with the time it
    took in that sweep (slowest first), and the sweep's time outside the database."""
    captured: list[list] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        captured.append([statement, parameters, time.perf_counter()])

    def after(conn, cursor, statement, parameters, context, executemany):
        captured[-1][2] = time.perf_counter() - captured[-1][2]

    event.listen(db.engine, "before_cursor_execute", before)
    event.listen(db.engine, "after_cursor_execute", after)
    started = time.perf_counter()
    try:
        sweep.run()
    finally:
        whole = time.perf_counter() - started
        event.remove(db.engine, "before_cursor_execute", before)
        event.remove(db.engine, "after_cursor_execute", after)
    db.session.remove()
    in_sql = sum(took for _s, _p, took in captured)
    postgres = db.engine.dialect.name == "postgresql"
    lines = [
        f"    one quiet sweep: {whole * 1000:.1f} ms, of which {len(captured)} statements"
        f" {in_sql * 1000:.1f} ms"
    ]
    connection = db.session.connection()
    for statement, parameters, took in sorted(captured, key=lambda c: -c[2]):
        lines.append(f"    {took * 1000:7.1f} ms  " + " ".join(statement.split())[:110])
        if not statement.lstrip().upper().startswith("SELECT"):
            continue
        prefix = "EXPLAIN (COSTS OFF) " if postgres else "EXPLAIN QUERY PLAN "
        rows = connection.exec_driver_sql(prefix + statement, parameters).all()
        lines += [f"               {row[0] if postgres else row[-1]}" for row in rows]
    db.session.remove()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100000,1000000", help="case counts, comma separated")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--due", type=int, default=1000)
    parser.add_argument(
        "--server-url", default="", help="a PostgreSQL server to seed scratch databases on"
    )
    parser.add_argument("--plans", action="store_true", help="print the queries' plans")
    parser.add_argument("--towns", type=int, default=1, help="towns sharing each size's cases")
    parser.add_argument(
        "--database-url",
        action="append",
        default=[],
        help="a database seeded before, timed as it is after the scratch sizes (repeatable)",
    )
    parser.add_argument(
        "--cases-a-year",
        type=int,
        default=100_000,
        help="the town's yearly reports: a bigger table is a longer history, not a busier"
        " month (the sweep reads the recent months' cases, which are its work)",
    )
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("INSTANCE_PATH", tmp)
        places = [
            (size, lambda size=size: database(
                args.server_url, size, Path(tmp), max(1.0, size / args.cases_a_year), args.towns
            ))
            for size in sizes
        ] + [(None, lambda url=url: seeded(url)) for url in args.database_url]  # fmt: skip
        for size, place in places:
            with place() as app, app.app_context():
                if size is None:
                    size = db.session.scalar(select(func.count(Case.id)))
                    print(f"{size:,} cases seeded before", flush=True)
                nothing_due()
                while sweep.run()["months_kept"]:  # the months the first sweeps keep
                    db.session.remove()
                idle = timed(args.runs)
                if args.plans:
                    print("\n".join(plans()))
                busy = timed(args.runs, before=lambda: arm(args.due))
                figures[size] = (statistics.median(idle), statistics.median(busy))
                db.engine.dispose()
    kind = (
        "PostgreSQL"
        if (args.server_url or "".join(args.database_url)).startswith("postgresql")
        else "SQLite"
    )
    print(f"the sweep on {kind}, median of {args.runs} runs")
    print(f"{'cases':>10} {'nothing due ms':>15} {f'{args.due:,} due ms':>13}")
    for size, (idle, busy) in figures.items():
        print(f"{size:>10,} {idle * 1000:15.1f} {busy * 1000:13.1f}")
    measured = list(figures)
    if len(measured) > 1:
        small, large = figures[measured[0]], figures[measured[-1]]
        print(
            f"nothing due at {measured[-1]:,} / at {measured[0]:,}: {large[0] / small[0]:.2f}x"
            f" (ceiling 1.20x); {args.due:,} due: {large[1] / small[1]:.2f}x"
        )


if __name__ == "__main__":
    main()
