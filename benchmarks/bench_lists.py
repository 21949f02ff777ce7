"""Every list of cases at a million cases: the center's, a leader's, a grid worker's of a
busy and of a quiet village, a handler's of the busiest and the quietest department, with
each filter; and the queue page as the center sees it (HTML, through the app).

Issue 20, point 2 and its "must show": each list's median under 50 ms at 1,000,000 cases
on SQLite and on PostgreSQL; the queue page's median under 50 ms and p99 under 150 ms. The
ceilings are printed beside each figure. The lists are timed as the API runs them
(server.cases.queries.list_cases, a page of 20 and the page after it); the queue page is
GET /admin/ through Flask's test client, signed in as the center, 200 times by default
(a full collection of Python's garbage comes every few dozen requests, and a p99 of 30
requests may miss it). The app is built as a gunicorn worker builds it, with
server/gunicorn_conf.py's post_worker_init (the start-up objects frozen out of the
collector's sight); --no-freeze leaves that out, to see what it is worth. Beside each
page: how many full collections ran during it and the longest pause one made.

    .venv/bin/python benchmarks/bench_lists.py [--cases 1000000] [--runs 30]
        [--page-runs 200] [--no-freeze]
    .venv/bin/python benchmarks/bench_lists.py --database-url URL   # already seeded
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

from sqlalchemy import func, select

from server import create_app
from server.cases import queries
from server.db import db
from server.gunicorn_conf import post_worker_init
from server.models import Case, CaseAssignment, Category, Role, Town, User, Village

LIST_CEILING_MS = 50
PAGE_MEDIAN_MS, PAGE_P99_MS = 50, 150


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def people() -> list[tuple[str, User]]:
    """Whose lists: the (first town's) center, a leader, the district's center and leader
    where the database holds a district, the grid workers of the busiest and the quietest
    village, the handlers of the busiest and the quietest department."""
    named = lambda name: db.session.scalar(select(User).where(User.username == name))  # noqa: E731
    by_village = db.session.execute(
        select(Case.village_id, func.count()).group_by(Case.village_id).order_by(func.count())
    ).all()
    by_department = db.session.execute(
        select(CaseAssignment.department_id, func.count())
        .group_by(CaseAssignment.department_id)
        .order_by(func.count())
    ).all()
    chosen = [("center", named("center")), ("leader", named("leader"))]
    if len(db.session.scalars(select(Town.id)).all()) > 1:
        chosen += [
            ("district center", named("district")),
            ("district leader", named("district-leader")),
        ]
    for label, village_id in (("busy", by_village[-1][0]), ("quiet", by_village[0][0])):
        worker = next(
            u
            for u in db.session.scalars(select(User).where(User.role == Role.GRID_WORKER))
            if village_id in u.village_ids
        )
        chosen.append((f"grid worker, {label} village", worker))
    for label, department_id in (
        ("busiest", by_department[-1][0]),
        ("quietest", by_department[0][0]),
    ):
        handler = db.session.scalar(
            select(User).where(User.role == Role.HANDLER, User.department_id == department_id)
        )
        if handler is not None:
            chosen.append((f"handler, {label} department", handler))
    return chosen


def filters() -> list[tuple[str, queries.CaseFilters]]:
    F = queries.CaseFilters  # noqa: N806
    village = db.session.scalar(select(Village.id).order_by(Village.id).limit(1))
    category = db.session.scalar(select(Category.code).order_by(Category.id).limit(1))
    return [
        ("all", F()),
        ("submitted", F(status="submitted")),
        ("in_progress", F(status="in_progress")),
        ("closed", F(status="closed")),
        ("rejected", F(status="rejected")),
        (f"category {category}", F(category=category)),
        ("one village", F(village=village)),
        ("overdue", F(overdue=True)),
        ("not overdue", F(overdue=False)),
        ("awaiting review", F(awaiting_review=True)),
    ]


def time_list(user: User, f, runs: int) -> tuple[list[float], list[float]]:
    first, second = [], []
    for _ in range(runs):
        started = time.perf_counter()
        page = queries.list_cases(user, f, limit=20)
        first.append(time.perf_counter() - started)
        if page.next_cursor:
            started = time.perf_counter()
            queries.list_cases(user, f, limit=20, cursor=page.next_cursor)
            second.append(time.perf_counter() - started)
        db.session.rollback()
    return first, second


def time_queue_page(app, runs: int, username: str = "center", path: str = "/admin/") -> list[float]:
    """GET `path` (the queue) as `username`, through the app (templates, time left,
    counts), in an app context of its own: requests inside one share its `g`, and a
    sign-in after another's would carry the first one's form token."""
    with app.app_context():
        return _time_queue_page(app, runs, username, path)


class Collections:
    """The full collections of Python's garbage collector while it is watching, and the
    longest pause one made."""

    def __init__(self):
        self.count, self.longest, self._began = 0, 0.0, None

    def __call__(self, phase: str, info: dict) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._began = time.perf_counter()
        elif self._began is not None:
            self.count += 1
            self.longest = max(self.longest, time.perf_counter() - self._began)
            self._began = None

    def __enter__(self):
        gc.callbacks.append(self)
        return self

    def __exit__(self, *exc) -> None:
        gc.callbacks.remove(self)


def _time_queue_page(app, runs: int, username: str, path: str) -> list[float]:
    client = app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    signed = client.post(
        "/admin/login",
        data={"csrf_token": token, "username": username, "password": app.config["DEMO_PASSWORD"]},
    )
    assert signed.status_code == 302, signed.status_code
    times = []
    for _ in range(runs + 3):
        started = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.status_code
    return times[3:]  # the first few fill the caches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--database-url", help="an already seeded database (else SQLite)")
    parser.add_argument("--page-runs", type=int, default=200, help="requests of each page")
    parser.add_argument(
        "--no-freeze", action="store_true", help="without gunicorn_conf's post_worker_init"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.setdefault("INSTANCE_PATH", tmp)
        url = args.database_url or f"sqlite:///{Path(tmp) / 'lists.sqlite3'}"
        app = create_app({"DATABASE_URL": url})
        if not args.no_freeze:
            post_worker_init(None)  # as each gunicorn worker does once it has the app
        with app.app_context():
            if not args.database_url:
                from seed import bulk_seed
                from town import demo_town

                demo_town()
                bulk_seed(args.cases)
                db.session.commit()
            total = db.session.scalar(select(func.count(Case.id)))
            print(f"{db.engine.dialect.name}, {total:,} cases; ceiling {LIST_CEILING_MS} ms")
            print(f"{'whose list':34} {'filter':18} {'median':>7} {'p99':>7} {'next pg':>8}")
            worst = 0.0
            for who, user in people():
                for name, f in filters():
                    first, second = time_list(user, f, args.runs)
                    median = statistics.median(first) * 1000
                    worst = max(worst, median)
                    after = f"{statistics.median(second) * 1000:8.1f}" if second else "       -"
                    print(f"{who:34} {name:18} {median:7.1f} {p99(first) * 1000:7.1f} {after}")
            print(f"slowest list median: {worst:.1f} ms (ceiling {LIST_CEILING_MS} ms)")
            pages = [("center", "center", "/admin/")]
            if len(db.session.scalars(select(Town.id)).all()) > 1:
                pages += [
                    ("district center, its desk", "district", "/admin/"),
                    ("district center, every town", "district", "/admin/?desk=all"),
                ]
            print(f"objects the collector tracks before the pages: {len(gc.get_objects()):,}")
            for label, username, path in pages:
                with Collections() as collections:
                    page = time_queue_page(app, args.page_runs, username, path)
                print(
                    f"queue page (HTML, {label}): median {statistics.median(page) * 1000:.1f} ms"
                    f" (ceiling {PAGE_MEDIAN_MS}), p99 {p99(page) * 1000:.1f} ms"
                    f" (ceiling {PAGE_P99_MS}); {collections.count} full collections,"
                    f" the longest {collections.longest * 1000:.0f} ms"
                )
            print("start-up objects frozen: " + ("no" if args.no_freeze else "yes"))


if __name__ == "__main__":
    main()
