"""The town's figures on a large data set: the yearly and monthly dashboard, and a ledger.

On a town of N cases over five years, each with the events of its life (most of them
closed), keeps the monthly figures as the sweep does, then prints how long
statistics.compute takes for last year, this year so far, last month and this month
(goals, issue 7: a year under 1 s and a month under 300 ms at 1,000,000 cases), the
month's league tables (the district's and, of several towns, one town's) and joint
meeting's brief (issue 19, no goal), and the time and peak extra memory of exporting
100,000 cases' ledger (goal: under 200 MB). Beside each, the yardstick of the same run:
the statements it sent, straight through the DB-API cursor (the database's own time).

The town: the database --database-url names, seeded before (`make bench`:
benchmarks/seed.py; seeding a million cases takes minutes, so seed once and reuse it),
or else a fresh SQLite file seeded here by benchmarks/seed.py.

    .venv/bin/python benchmarks/bench_figures.py [--cases 1000000] [--export 100000]
        [--database-url URL]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from town import raw_ms, seeded_app, selects_of, status_kb

from server.db import db
from server.figures import brief, league, ledgers, partials, statistics
from server.infra import clock
from server.models import Case, Town, Village


def timed(label: str, function, runs: int = 3) -> None:
    """Best of `runs` of `function()`, beside its statements sent raw."""
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        db.session.rollback()
        samples.append(time.perf_counter() - started)
    raw = raw_ms(selects_of(function), runs)
    print(f"{label:52} {min(samples) * 1000:7.0f} ms  raw SQL {raw:7.0f} ms  (best of {runs})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--export", type=int, default=100_000)
    parser.add_argument("--database-url", help="a database seeded before (benchmarks/seed.py)")
    args = parser.parse_args()
    with seeded_app(args.database_url, args.cases, "figures"), tempfile.TemporaryDirectory() as tmp:
        cases = db.session.scalar(select(func.count()).select_from(Case))
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
        # Every case's: one town's, or the district's when the database holds several.
        towns = db.session.scalars(select(Town.id).order_by(Town.id)).all()
        whole = "the district" if len(towns) > 1 else "the town"
        for period, goal in (
            (last_year, 1000),
            (this_year, 1000),
            (last_month, 300),
            (this_month, 300),
        ):
            timed(
                f"dashboard, {whole}, {period.label} (goal < {goal})",
                lambda p=period: statistics.compute(p),
            )
        if len(towns) > 1:  # a town's own center's (the demo's first town)
            for period, goal in ((last_year, 1000), (last_month, 300), (this_month, 300)):
                timed(
                    f"dashboard, one town, {period.label} (goal < {goal})",
                    lambda p=period: statistics.compute(p, town_id=towns[0]),
                )
        for period in (last_month, this_month):
            timed(
                f"league tables (考核), {whole}, {period.label}",
                lambda p=period: league.compute(p),
            )
            if len(towns) > 1:  # a town's own: reads its own cases, not the district's
                timed(
                    f"league tables (考核), one town, {period.label}",
                    lambda p=period: league.compute(p, town_id=towns[0]),
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
        share = args.export / max(cases, 1)
        days = max(1, int(5 * 365 * share))
        period = statistics.Period(today - timedelta(days=days), today, "导出")
        Path("/proc/self/clear_refs").write_text("5")
        before = status_kb("VmRSS")
        started = time.perf_counter()
        # The case list: every case of the period, with each step's time.
        rows = ledgers.write("cases", period, Path(tmp) / "ledger.xlsx")
        peak = status_kb("VmHWM")
        elapsed = time.perf_counter() - started
        again = selects_of(lambda: ledgers.write("cases", period, Path(tmp) / "again.xlsx"))
        print(
            f"case-list ledger, {rows:,} cases: {elapsed:.0f} s, "
            f"peak +{max(0, peak - before) / 1024:.0f} MB (goal < 200 MB; the "
            f"process held {before / 1024:.0f} MB before, {peak / 1024:.0f} MB at most); "
            f"raw SQL {raw_ms(again, 1) / 1000:.1f} s"
        )


if __name__ == "__main__":
    main()
